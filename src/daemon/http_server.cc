#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "net/stats.h"
#include "tls/context.h"

namespace paxlock::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// Connections taken from the listen queue per round of the reactor, so that a
// flood of new connections cannot evict one whose request already arrived
// before the reactor reads it (the next round reads before it accepts).
constexpr int kAcceptsPerRound = 16;
// After accept() failed for lack of file descriptors: how long to leave the
// listen queue alone (it stays readable, and poll would spin).
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

const char* refusal_text(HttpRefusal why) {
  switch (why) {
    case HttpRefusal::kConnections:
      return "every HTTP connection is in use (http_connections_max)";
    case HttpRefusal::kEvicted:
      return "closed while still sending its request, to make room (http_connections_max)";
    case HttpRefusal::kHeaderTooLarge:
      return "request head over http_header_bytes_max";
    case HttpRefusal::kBodyTooLarge:
      return "request body over http_body_bytes_max";
    case HttpRefusal::kLengthRequired:
      return "a request body needs a Content-Length";
    case HttpRefusal::kBadRequest:
      return "bad Content-Length";
    case HttpRefusal::kRequestTimeout:
      return "request not complete within http_request_timeout_ms";
    case HttpRefusal::kWriteTimeout:
      return "answer not read within http_write_timeout_ms";
    case HttpRefusal::kTlsHandshake:
      return "TLS handshake failed";
  }
  return "refused";
}

std::string address_text(const sockaddr_storage& addr) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    return fmt::format("{}:{}", ip, ntohs(a->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    return fmt::format("[{}]:{}", ip, ntohs(a->sin6_port));
  }
  return "?";
}

void split_address(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

int ms_until(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return 0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count() + 1;
  return static_cast<int>(std::min<int64_t>(ms, 60000));
}

// The TLS session of the request a worker thread is answering (null: plain
// HTTP, or no request): what current_peer_certificate() reads.
thread_local SSL* serving_ssl = nullptr;

// A complete request, read from memory, and its connection for the answer:
// what httplib's router reads and writes through (through the connection's
// TLS session if it has one). Writes wait for the socket at most until the
// deadline.
class RequestStream final : public httplib::Stream {
 public:
  RequestStream(int fd, SSL* ssl, std::string_view request, Clock::time_point write_deadline)
      : fd_(fd), ssl_(ssl), request_(request), deadline_(write_deadline) {}

  bool is_readable() const override { return read_ < request_.size(); }
  bool is_writable() const override { return !failed_ && Clock::now() < deadline_; }

  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, request_.size() - read_);
    std::memcpy(ptr, request_.data() + read_, n);
    read_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (!failed_ && done < size) {
      short wait_for = 0;  // the socket event to wait for before trying again
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n =
            SSL_write(ssl_, ptr + done, static_cast<int>(std::min<size_t>(size - done, 1 << 30)));
        if (n > 0) {
          done += static_cast<size_t>(n);
          continue;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_WRITE) {
          wait_for = POLLOUT;
        } else if (e == SSL_ERROR_WANT_READ) {
          wait_for = POLLIN;
        } else {
          failed_ = true;
          break;
        }
      } else {
        const ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          done += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          failed_ = true;
          break;
        }
        wait_for = POLLOUT;
      }
      const auto now = Clock::now();
      if (now >= deadline_) {
        timed_out_ = true;
        failed_ = true;
        break;
      }
      pollfd p{fd_, wait_for, 0};
      ::poll(&p, 1, ms_until(deadline_, now));
    }
    return failed_ ? -1 : static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      split_address(addr, ip, port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      split_address(addr, ip, port);
    }
  }
  socket_t socket() const override { return fd_; }

  bool timed_out() const { return timed_out_; }
  bool failed() const { return failed_; }

 private:
  int fd_;
  SSL* ssl_;
  std::string_view request_;
  size_t read_ = 0;
  Clock::time_point deadline_;
  bool failed_ = false;
  bool timed_out_ = false;
};

// Logs refusals, at most one line per reason every 5 s, from any HTTP thread.
class RefusalLog {
 public:
  void note(HttpRefusal why, const std::string& peer) {
    line(kHttpRefusalReasons[static_cast<size_t>(why)],
         fmt::format("refused {}: {}", peer, refusal_text(why)));
  }
  void line(std::string_view key, const std::string& text) {
    std::lock_guard lock(mu_);
    uint64_t suppressed = 0;
    if (!limiter_.allow(std::string(key), suppressed)) return;
    spdlog::warn("http: {} ({} similar suppressed)", text, suppressed);
  }

 private:
  std::mutex mu_;
  net::RateLimiter limiter_;
};

RefusalLog& refusal_log() {
  static RefusalLog log;
  return log;
}

}  // namespace

// ------------------------------------------------------------ RequestBuffer

size_t RequestBuffer::room() const {
  if (state_ != State::kIncomplete) return 0;
  if (head_bytes_ == 0) return header_max_ - data_.size();
  return static_cast<size_t>(head_bytes_ + body_bytes_ - data_.size());
}

void RequestBuffer::add(std::string_view bytes) {
  PAXLOCK_CHECK(bytes.size() <= room());
  data_.append(bytes);
  if (head_bytes_ == 0) scan_head();
  if (state_ == State::kIncomplete && head_bytes_ != 0 &&
      data_.size() == head_bytes_ + body_bytes_) {
    state_ = State::kComplete;
  }
}

int RequestBuffer::status() const {
  switch (refusal_) {
    case HttpRefusal::kHeaderTooLarge:
      return 431;
    case HttpRefusal::kBodyTooLarge:
      return 413;
    case HttpRefusal::kLengthRequired:
      return 411;
    case HttpRefusal::kRequestTimeout:
      return 408;
    case HttpRefusal::kConnections:
      return 503;
    default:
      return 400;
  }
}

void RequestBuffer::scan_head() {
  // Resume the search where the last one stopped (a trickle of single bytes
  // costs linear time), allowing for a blank line split across reads.
  const size_t from = searched_ >= 3 ? searched_ - 3 : 0;
  const size_t at = data_.find("\r\n\r\n", from);
  if (at == std::string::npos) {
    searched_ = data_.size();
    if (data_.size() >= header_max_) refuse(HttpRefusal::kHeaderTooLarge);
    return;
  }
  if (at + 4 > header_max_) return refuse(HttpRefusal::kHeaderTooLarge);
  head_bytes_ = at + 4;
  parse_head();
}

// Only what frames the body matters here; httplib parses the rest.
void RequestBuffer::parse_head() {
  std::string_view head(data_.data(), head_bytes_ - 2);  // lines, each ending in CRLF
  bool first = true;
  bool have_length = false;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (first) {  // the request line
      first = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "transfer-encoding")) return refuse(HttpRefusal::kLengthRequired);
    if (!iequals(name, "content-length")) continue;
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return refuse(HttpRefusal::kBadRequest);
    }
    const uint64_t length = std::stoull(std::string(value));
    if (have_length && length != body_bytes_) return refuse(HttpRefusal::kBadRequest);
    have_length = true;
    body_bytes_ = length;
  }
  if (body_bytes_ > body_max_) refuse(HttpRefusal::kBodyTooLarge);
}

// --------------------------------------------------------------- HttpServer

// httplib's server, used for parsing and routing only: its own listener and
// thread pool are never started.
class HttpServer::Router : public httplib::Server {
 public:
  void serve(httplib::Stream& stream) {
    bool closed = false;
    process_request(stream, /*close_connection=*/true, closed, nullptr);
  }
};

HttpServer::HttpServer(HttpLimits limits) : limits_(limits), router_(std::make_unique<Router>()) {
  PAXLOCK_CHECK(limits_.connections_max > 0);
  PAXLOCK_CHECK(limits_.threads > 0);
  PAXLOCK_CHECK(limits_.header_bytes_max > 0);
  router_->set_payload_max_length(limits_.body_bytes_max);
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::get(const std::string& pattern, Handler handler) {
  router_->Get(pattern, std::move(handler));
}

void HttpServer::set_tls(std::shared_ptr<asio::ssl::context> context) {
  std::lock_guard lock(tls_mu_);
  // Plain or TLS is decided before start(): a rotation cannot turn it off.
  PAXLOCK_CHECK(context != nullptr || port_ == 0);
  tls_ = std::move(context);
}

tls::X509Ptr HttpServer::current_peer_certificate() {
  return serving_ssl != nullptr ? tls::peer_certificate(serving_ssl) : nullptr;
}

Status HttpServer::start(const std::string& ip, uint16_t port) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(ip.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return Status::error(EINVAL, fmt::format("{}: {}", ip, ::gai_strerror(rc)));
  }
  const auto fail = [&](const char* what) {
    const int e = errno;
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    ::freeaddrinfo(found);
    return Status::error(e, fmt::format("{} {}:{}: {}", what, ip, port, std::strerror(e)));
  };
  listen_fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail("socket for");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listen_fd_, found->ai_addr, found->ai_addrlen) != 0) return fail("bind");
  if (::listen(listen_fd_, SOMAXCONN) != 0) return fail("listen on");
  ::freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  std::string bound_ip;
  int bound_port = 0;
  split_address(bound, bound_ip, bound_port);
  port_ = static_cast<uint16_t>(bound_port);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Status::error(errno, std::string("pipe: ") + std::strerror(errno));
  }
  reactor_thread_ = std::thread([this] { reactor(); });
  for (size_t i = 0; i < limits_.threads; ++i)
    workers_.emplace_back([this] { worker(); });
  return {};
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_[1] >= 0) {
    const char x = 0;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &x, 1);
  }
  {
    std::lock_guard lock(mu_);
    for (int fd : serving_)
      ::shutdown(fd, SHUT_RDWR);
  }
  ready_cv_.notify_all();
  if (reactor_thread_.joinable()) reactor_thread_.join();
  for (std::thread& t : workers_)
    t.join();
  workers_.clear();
  for (Pending& p : pending_)
    close_fd(p.fd);
  pending_.clear();
  for (Ready& r : ready_)
    close_fd(r.fd);
  ready_.clear();
  for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void HttpServer::reactor() {
  std::vector<pollfd> fds;
  Clock::time_point accept_paused_until{};
  while (!stopping_) {
    auto now = Clock::now();
    const bool accepting = now >= accept_paused_until;
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    for (const Pending& p : pending_)
      fds.push_back({p.fd, static_cast<short>(p.want_write ? POLLIN | POLLOUT : POLLIN), 0});
    int timeout = -1;
    // Every connection gets the same time, so the oldest ends first.
    if (!pending_.empty()) timeout = ms_until(pending_.front().deadline, now);
    if (!accepting) {
      const int pause = ms_until(accept_paused_until, now);
      timeout = timeout < 0 ? pause : std::min(timeout, pause);
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      spdlog::error("http: poll: {}", std::strerror(errno));
      return;
    }
    if (stopping_) return;
    // Reads first, then time-outs, then new connections (which may evict the
    // oldest still sending: never one whose request came in this round).
    size_t i = 2;
    for (Pending& p : pending_) {
      const short ev = fds[i++].revents;
      if (ev != 0 && on_readable(p)) p.fd = -1;
    }
    std::erase_if(pending_, [](const Pending& p) { return p.fd < 0; });
    now = Clock::now();
    while (!pending_.empty() && pending_.front().deadline <= now) {
      Pending& p = pending_.front();
      refuse(p.fd, p.ssl.get(), p.peer, HttpRefusal::kRequestTimeout, 408);
      pending_.pop_front();
    }
    if (accepting && (fds[1].revents & POLLIN) != 0 && !accept_some()) {
      accept_paused_until = Clock::now() + kAcceptPause;
    }
  }
}

bool HttpServer::accept_some() {
  for (int k = 0; k < kAcceptsPerRound; ++k) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EMFILE && errno != ENFILE) return true;  // EAGAIN: the queue is empty
      refusal_log().line("accept", fmt::format("cannot accept: {}", std::strerror(errno)));
      return false;
    }
    ++stats_.open;
    const std::string peer = address_text(addr);
    if (stats_.open > limits_.connections_max) {
      if (pending_.empty()) {
        // Under TLS the 503 cannot be said before a handshake: closed.
        bool tls = false;
        {
          std::lock_guard lock(tls_mu_);
          tls = tls_ != nullptr;
        }
        if (tls) {
          stats_.refused(HttpRefusal::kConnections);
          refusal_log().note(HttpRefusal::kConnections, peer);
          close_fd(fd);
        } else {
          refuse(fd, nullptr, peer, HttpRefusal::kConnections, 503);
        }
        continue;
      }
      refuse(pending_.front().fd, pending_.front().ssl.get(), pending_.front().peer,
             HttpRefusal::kEvicted, 408);
      pending_.pop_front();
    }
    SslPtr ssl;
    {
      std::lock_guard lock(tls_mu_);
      if (tls_) ssl.reset(SSL_new(tls_->native_handle()));
      if (tls_ && (!ssl || SSL_set_fd(ssl.get(), fd) != 1)) {
        refusal_log().line("tls", "cannot start a TLS session: " + tls::openssl_errors());
        close_fd(fd);
        continue;
      }
    }
    if (ssl) {
      SSL_set_accept_state(ssl.get());
      // Buffers only while a record is in flight: an idle handshake holds less.
      SSL_set_mode(ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
    }
    pending_.push_back(Pending{fd, peer, Clock::now() + limits_.request_timeout,
                               RequestBuffer(limits_.header_bytes_max, limits_.body_bytes_max),
                               std::move(ssl)});
  }
  return true;
}

bool HttpServer::handshake(Pending& p) {
  if (BIO_number_read(SSL_get_rbio(p.ssl.get())) == 0) {
    // The connection's first byte (OpenSSL has read none: a ClientHello
    // split over segments is never looked at again). A plain HTTP request
    // to this HTTPS port (a TLS record starts with 0x16) is told so in
    // plain HTTP rather than cut off.
    char first = 0;
    if (::recv(p.fd, &first, 1, MSG_PEEK) == 1 && std::isalpha(static_cast<unsigned char>(first))) {
      stats_.refused(HttpRefusal::kTlsHandshake);
      refusal_log().line("plain_http",
                         fmt::format("refused {}: plain HTTP on the HTTPS port", p.peer));
      const std::string text =
          "this port speaks HTTPS only (the cluster has [tls]): use https://\n";
      const std::string answer = fmt::format(
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
          "Connection: close\r\n\r\n{}",
          text.size(), text);
      [[maybe_unused]] const ssize_t n =
          ::send(p.fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(p.fd, SHUT_WR);
      // Read what the request left unread (bounded, never waiting): closing
      // with it unread would send a reset that may discard the answer.
      char drain[4096];
      for (int k = 0; k < 4 && ::recv(p.fd, drain, sizeof drain, MSG_DONTWAIT) > 0; ++k) {
      }
      close_fd(p.fd);
      return true;
    }
  }
  ERR_clear_error();
  const int rc = SSL_do_handshake(p.ssl.get());
  p.want_write = false;
  if (rc == 1) return false;
  const int e = SSL_get_error(p.ssl.get(), rc);
  if (e == SSL_ERROR_WANT_READ) return false;
  if (e == SSL_ERROR_WANT_WRITE) {
    p.want_write = true;
    return false;
  }
  stats_.refused(HttpRefusal::kTlsHandshake);
  const std::string why = tls::openssl_errors();
  refusal_log().line(kHttpRefusalReasons[static_cast<size_t>(HttpRefusal::kTlsHandshake)],
                     fmt::format("refused {}: TLS handshake failed: {}", p.peer,
                                 why == "no detail" ? "the connection ended" : why));
  close_fd(p.fd);
  return true;
}

bool HttpServer::on_readable(Pending& p) {
  if (p.ssl && !SSL_is_init_finished(p.ssl.get()) && handshake(p)) return true;
  if (p.ssl && !SSL_is_init_finished(p.ssl.get())) return false;
  char buf[16 << 10];
  for (;;) {
    const size_t want = std::min(sizeof buf, p.buffer.room());
    ssize_t n = 0;
    if (p.ssl) {
      ERR_clear_error();
      p.want_write = false;
      const int got = SSL_read(p.ssl.get(), buf, static_cast<int>(want));
      if (got <= 0) {
        const int e = SSL_get_error(p.ssl.get(), got);
        if (e == SSL_ERROR_WANT_READ) return false;
        if (e == SSL_ERROR_WANT_WRITE) {
          p.want_write = true;
          return false;
        }
        close_fd(p.fd);  // gone (or failed) before its request was whole
        return true;
      }
      n = got;
    } else {
      n = ::recv(p.fd, buf, want, 0);
    }
    if (n > 0) {
      p.buffer.add(std::string_view(buf, static_cast<size_t>(n)));
      if (p.buffer.state() == RequestBuffer::State::kIncomplete) continue;
      if (p.buffer.state() == RequestBuffer::State::kRefused) {
        refuse(p.fd, p.ssl.get(), p.peer, p.buffer.refusal(), p.buffer.status());
        return true;
      }
      {
        std::lock_guard lock(mu_);
        ready_.push_back(Ready{p.fd, std::string(p.buffer.request()), std::move(p.ssl)});
      }
      ready_cv_.notify_one();
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    close_fd(p.fd);  // gone (or failed) before its request was whole
    return true;
  }
}

void HttpServer::refuse(int fd, SSL* ssl, const std::string& peer, HttpRefusal why, int status) {
  stats_.refused(why);
  refusal_log().note(why, peer);
  const std::string text = std::string(refusal_text(why)) + "\n";
  const std::string answer = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: "
      "close\r\n\r\n{}",
      status, reason_phrase(status), text.size(), text);
  // Best effort, never waiting: the socket's buffer takes it or it is lost.
  // A TLS connection still in its handshake cannot be answered.
  if (ssl == nullptr) {
    [[maybe_unused]] const ssize_t n =
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } else if (SSL_is_init_finished(ssl)) {
    ERR_clear_error();
    if (SSL_write(ssl, answer.data(), static_cast<int>(answer.size())) > 0) SSL_shutdown(ssl);
    ERR_clear_error();
  }
  close_fd(fd);
}

void HttpServer::close_fd(int fd) {
  ::close(fd);
  --stats_.open;
}

void HttpServer::worker() {
  for (;;) {
    Ready r;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      r = std::move(ready_.front());
      ready_.pop_front();
      serving_.insert(r.fd);
    }
    const bool written = serve(r);
    {
      std::lock_guard lock(mu_);
      serving_.erase(r.fd);
    }
    if (r.ssl && written) {  // close_notify, best effort (never after a fatal error)
      ERR_clear_error();
      SSL_shutdown(r.ssl.get());
      ERR_clear_error();
    }
    r.ssl.reset();
    ::shutdown(r.fd, SHUT_WR);
    close_fd(r.fd);
  }
}

bool HttpServer::serve(Ready& r) {
  RequestStream stream(r.fd, r.ssl.get(), r.request, Clock::now() + limits_.write_timeout);
  ++stats_.answered;
  serving_ssl = r.ssl.get();
  router_->serve(stream);
  serving_ssl = nullptr;
  if (stream.timed_out()) {
    stats_.refused(HttpRefusal::kWriteTimeout);
    std::string ip;
    int port = 0;
    stream.get_remote_ip_and_port(ip, port);
    refusal_log().note(HttpRefusal::kWriteTimeout, fmt::format("{}:{}", ip, port));
  }
  return !stream.failed();
}

}  // namespace paxlock::daemon
