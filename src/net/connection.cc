#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace paxlock::net {
namespace {

constexpr size_t kHeader = 4;
constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kGatherMax = 64;  // frames per write

}  // namespace

std::string make_frame(const google::protobuf::MessageLite& message) {
  const size_t n = message.ByteSizeLong();
  std::string out(kHeader + n, '\0');
  for (size_t i = 0; i < kHeader; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + kHeader));
  return out;
}

Connection::Connection(tcp::socket socket, size_t max_frame_bytes, size_t max_queue_bytes)
    : socket_(std::move(socket)),
      max_frame_(max_frame_bytes),
      max_queue_(max_queue_bytes),
      in_(kReadChunk),
      wake_(socket_.get_executor()) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(tcp::no_delay(true), ec);
  wake_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<ReadStatus> Connection::read_frame(std::string_view& frame) {
  // Shrink a buffer that grew for one large frame once it has drained.
  if (in_begin_ == in_end_ && in_.size() > 4 * kReadChunk) {
    in_.assign(kReadChunk, '\0');
    in_begin_ = in_end_ = 0;
  }
  for (;;) {
    const size_t have = in_end_ - in_begin_;
    if (have >= kHeader) {
      uint32_t n = 0;
      for (size_t i = 0; i < kHeader; ++i) {
        n |= static_cast<uint32_t>(static_cast<uint8_t>(in_[in_begin_ + i])) << (8 * i);
      }
      if (n > max_frame_) co_return ReadStatus::kTooBig;
      if (have >= kHeader + n) {
        frame = std::string_view(in_.data() + in_begin_ + kHeader, n);
        in_begin_ += kHeader + n;
        co_return ReadStatus::kFrame;
      }
      if (in_.size() < kHeader + n) in_.resize(std::max(kHeader + n, in_.size()));
    }
    // Make room at the end: move what is left of a partial frame to the front.
    if (in_begin_ > 0) {
      std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    }
    if (in_end_ == in_.size()) in_.resize(in_.size() * 2);
    asio::error_code ec;
    const size_t got =
        co_await socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                                         asio::redirect_error(asio::use_awaitable, ec));
    if (ec || got == 0) co_return ReadStatus::kClosed;
    in_end_ += got;
  }
}

bool Connection::send(std::string frame) {
  if (closed_ || queued_bytes_ + frame.size() > max_queue_) return false;
  if (out_.empty()) pending_since_ = std::chrono::steady_clock::now();
  queued_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  wake_.cancel_one();
  return true;
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (out_.empty()) {
      asio::error_code ec;
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Frames queued after this point go in the next write; the deque keeps
    // the ones being written in place.
    const size_t n = std::min(out_.size(), kGatherMax);
    buffers.clear();
    for (size_t i = 0; i < n; ++i)
      buffers.push_back(asio::buffer(out_[i]));
    asio::error_code ec;
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      close();
      break;
    }
    for (size_t i = 0; i < n; ++i) {
      queued_bytes_ -= out_.front().size();
      out_.pop_front();
    }
    pending_since_ = std::chrono::steady_clock::now();
  }
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  // The queued frames stay until the write loop ends: a write in flight
  // may still point into them.
  wake_.cancel();
}

Result<tcp::endpoint> endpoint_of(const std::string& ip, uint16_t port) {
  asio::error_code ec;
  const auto addr = asio::ip::make_address(ip, ec);
  if (ec) {
    return Status::error(EINVAL, "'" + ip + "' is not a numeric address (" + ec.message() + ")");
  }
  return tcp::endpoint(addr, port);
}

asio::awaitable<asio::error_code> connect_with_timeout(tcp::socket& socket,
                                                       const tcp::endpoint& endpoint,
                                                       std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, timeout);
  auto timed_out = std::make_shared<bool>(false);
  timer->async_wait([&socket, timed_out](const asio::error_code& ec) {
    if (ec) return;  // cancelled: the connect finished first
    *timed_out = true;
    asio::error_code ignored;
    socket.cancel(ignored);
  });
  asio::error_code ec;
  if (!socket.is_open()) {
    // Opened close-on-exec: a process the caller starts (paxlock hold's
    // command) must not inherit the connection.
    const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) co_return asio::error_code(errno, asio::system_category());
    socket.assign(endpoint.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      co_return ec;
    }
  }
  co_await socket.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
  timer->cancel();
  if (*timed_out) co_return asio::error::timed_out;
  co_return ec;
}

}  // namespace paxlock::net
