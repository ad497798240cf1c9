// paxlockd's HTTP endpoint (/status, /metrics, /chosen) with a limit on
// everything a client can make it spend. cpp-httplib parses and routes each
// request (httplib::Server::process_request); this class owns the sockets and
// the threads, because cpp-httplib 0.11 bounds neither a request's size (no
// body limit by default, header lines read whole before their length is
// checked, no limit on their number) nor the time one client may hold a
// thread (its read timeout is per read, so a trickle never ends), and queues
// accepted connections without limit:
//
//   * one reactor thread accepts and reads every request, head and body, into
//     a buffer that never exceeds header_bytes_max + body_bytes_max; it never
//     blocks on one client. A request must arrive whole within
//     request_timeout after its connection was accepted.
//   * `threads` workers: each takes a complete request, routes it, and writes
//     the answer within write_timeout; then the connection is closed. There
//     is no keep-alive, so every connection is one bounded request.
//   * at most connections_max connections are open. A new one beyond that
//     closes the oldest connection still sending its request (a client that
//     sends its request at once, like a scraper, is never the oldest for
//     long); if every open connection is a complete request being served,
//     the new one is answered 503 at once.
//
// With TLS (set_tls: the daemon's [tls]), the reactor also does each
// connection's handshake, non-blocking, within the same request_timeout, and
// the workers write the answer through the connection's TLS session. A
// client certificate is optional and verified against the cluster's CA when
// shown; a handler reads it with current_peer_certificate(). A handshake
// that fails is counted as "tls_handshake".
//
// Memory is thus bounded by connections_max × (header_bytes_max +
// body_bytes_max) plus what the workers' answers take, threads by `threads`
// plus one. Every refusal is counted (HttpStats, /metrics
// paxlock_http_refusals_total) and logged at most once per 5 s per reason.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "tls/openssl.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib
namespace asio::ssl {
class context;  // tls/context.h (not included: config.h includes this header)
}  // namespace asio::ssl

namespace paxlock::daemon {

struct HttpLimits {
  size_t connections_max = 64;
  size_t threads = 4;
  size_t header_bytes_max = 16 << 10;  // request line and headers, up to the blank line
  size_t body_bytes_max = 64 << 10;    // a larger Content-Length is refused before reading
  std::chrono::milliseconds request_timeout{5000};  // from accept to the last byte of the request
  std::chrono::milliseconds write_timeout{5000};    // for the whole answer
};

// Why a connection was refused or closed early.
enum class HttpRefusal : uint8_t {
  kConnections,     // 503: connections_max connections, all being served
  kEvicted,         // closed while still sending its request, to make room
  kHeaderTooLarge,  // 431: no end of the head within header_bytes_max
  kBodyTooLarge,    // 413: a Content-Length over body_bytes_max
  kLengthRequired,  // 411: a body of unknown length (Transfer-Encoding)
  kBadRequest,      // 400: a Content-Length that is no number, or two that differ
  kRequestTimeout,  // 408: the request did not arrive whole within request_timeout
  kWriteTimeout,    // the answer could not be written within write_timeout
  kTlsHandshake,    // the TLS handshake failed (not TLS, a certificate the CA did not sign)
};
// /metrics labels, in HttpRefusal's order; each is exported from zero.
inline constexpr std::array<std::string_view, 9> kHttpRefusalReasons = {
    "connections", "evicted",         "header_too_large", "body_too_large", "length_required",
    "bad_request", "request_timeout", "write_timeout",    "tls_handshake"};

// Counters, written by the HTTP threads and read by /metrics on the event loop.
class HttpStats {
 public:
  void refused(HttpRefusal why) { ++refusals_[static_cast<size_t>(why)]; }
  uint64_t refusals(HttpRefusal why) const { return refusals_[static_cast<size_t>(why)]; }
  std::atomic<uint64_t> open{0};      // connections open now
  std::atomic<uint64_t> answered{0};  // requests handed to the router

 private:
  std::array<std::atomic<uint64_t>, kHttpRefusalReasons.size()> refusals_{};
};

// One request's bytes as they arrive, and whether they make a request yet.
// Pure: the reactor feeds it, tests too. The head ends at the first blank
// line ("\r\n\r\n"); the body is Content-Length bytes (none without one).
class RequestBuffer {
 public:
  enum class State : uint8_t { kIncomplete, kComplete, kRefused };

  RequestBuffer(size_t header_bytes_max, size_t body_bytes_max)
      : header_max_(header_bytes_max), body_max_(body_bytes_max) {}

  // How many more bytes the request can use: never more than its limits
  // allow, 0 once complete or refused.
  size_t room() const;
  // Appends bytes (at most room()) and re-evaluates.
  void add(std::string_view bytes);

  State state() const { return state_; }
  // kRefused: why, and the HTTP status to answer.
  HttpRefusal refusal() const { return refusal_; }
  int status() const;
  // kComplete: the request, head and body.
  std::string_view request() const { return data_; }

 private:
  void scan_head();
  void parse_head();
  void refuse(HttpRefusal why) { state_ = State::kRefused, refusal_ = why; }

  size_t header_max_;
  size_t body_max_;
  std::string data_;
  size_t searched_ = 0;    // the head does not end before this offset
  size_t head_bytes_ = 0;  // 0 until the head is complete
  uint64_t body_bytes_ = 0;
  State state_ = State::kIncomplete;
  HttpRefusal refusal_ = HttpRefusal::kBadRequest;
};

class HttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  explicit HttpServer(HttpLimits limits);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes GET (and HEAD) requests for `pattern` to `handler`; before start().
  void get(const std::string& pattern, Handler handler);
  // Serve HTTPS with this server context (client certificates optional):
  // before start() to turn TLS on, and again at any time to rotate (new
  // connections use the new context). Null before start(): plain HTTP.
  void set_tls(std::shared_ptr<asio::ssl::context> context);
  // In a handler: the certificate the client showed in the handshake of
  // the request being answered (verified against the CA), or null (plain
  // HTTP, or none shown).
  static tls::X509Ptr current_peer_certificate();
  // Listens on ip:port (numeric; port 0 picks one) and starts the threads.
  Status start(const std::string& ip, uint16_t port);
  uint16_t port() const { return port_; }
  // Closes everything and joins the threads; answers being written are cut
  // off. Idempotent.
  void stop();

  const HttpStats& stats() const { return stats_; }

 private:
  class Router;
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  using SslPtr = std::unique_ptr<SSL, SslFree>;
  struct Pending {
    int fd = -1;
    std::string peer;  // ip:port, for the log
    std::chrono::steady_clock::time_point deadline;
    RequestBuffer buffer;
    SslPtr ssl;               // null: plain HTTP
    bool want_write = false;  // the TLS session waits for the socket to take bytes
  };
  struct Ready {
    int fd = -1;
    std::string request;
    SslPtr ssl;
  };

  void reactor();
  bool accept_some();            // false: out of file descriptors
  bool on_readable(Pending& p);  // true: the connection left the reactor
  bool handshake(Pending& p);    // true: the connection failed and is closed
  void refuse(int fd, SSL* ssl, const std::string& peer, HttpRefusal why, int status);
  void close_fd(int fd);
  void worker();
  bool serve(Ready& r);  // false: the answer could not be written whole

  HttpLimits limits_;
  HttpStats stats_;
  std::unique_ptr<Router> router_;
  std::mutex tls_mu_;
  std::shared_ptr<asio::ssl::context>
      tls_;  // null: plain HTTP; fixed once started (it may only be replaced)
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: stop() wakes the reactor's poll
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread reactor_thread_;
  std::vector<std::thread> workers_;
  // Reactor thread only: connections still sending, oldest first.
  std::deque<Pending> pending_;
  // Complete requests waiting for a worker, and the connections workers
  // serve (stop() shuts them down so that no write waits out its timeout).
  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::deque<Ready> ready_;
  std::set<int> serving_;
};

}  // namespace paxlock::daemon
