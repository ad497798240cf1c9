#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace paxlock::net {
namespace {

constexpr size_t kGatherMax = 64;  // frames per write
// What a closing connection reads and drops, at most, before it closes.
constexpr size_t kLingerBytesMax = 256 << 10;

using Clock = std::chrono::steady_clock;

}  // namespace

std::string make_frame(const google::protobuf::MessageLite& message) {
  const size_t n = message.ByteSizeLong();
  std::string out(kFrameHeaderBytes + n, '\0');
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  message.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out.data() + kFrameHeaderBytes));
  return out;
}

Connection::Connection(Stream stream, size_t max_frame_bytes, size_t max_queue_bytes,
                       std::shared_ptr<OutputBudget> budget)
    : stream_(std::move(stream)),
      reader_(max_frame_bytes),
      max_queue_(max_queue_bytes),
      budget_(std::move(budget)),
      opened_at_(Clock::now()),
      last_frame_at_(opened_at_),
      wake_(stream_.socket().get_executor()) {
  tcp::socket& socket = stream_.socket();
  asio::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  remote_address_ = ec ? "?" : ep.address().to_string();
  remote_ = ec ? "?" : remote_address_ + ":" + std::to_string(ep.port());
  socket.set_option(tcp::no_delay(true), ec);
  // Reads happen only once the socket is readable, and must never block.
  socket.non_blocking(true, ec);
  wake_.expires_at(asio::steady_timer::time_point::max());
}

Connection::~Connection() {
  release_budget(budget_held_);
}

asio::awaitable<ReadStatus> Connection::read_frame(std::string_view& frame) {
  for (;;) {
    switch (reader_.next(frame)) {
      case FrameReader::Next::kFrame: {
        last_frame_at_ = Clock::now();
        // What is left is the start of the next frame.
        partial_since_.reset();
        if (reader_.buffered() > 0) partial_since_ = last_frame_at_;
        co_return ReadStatus::kFrame;
      }
      case FrameReader::Next::kTooBig:
        co_return ReadStatus::kTooBig;
      case FrameReader::Next::kNeedMore:
        break;
    }
    if (closed_) co_return ReadStatus::kClosed;
    const bool open = stream_.is_tls() ? co_await read_tls() : co_await read_plain();
    if (!open || closed_) co_return ReadStatus::kClosed;
    if (reader_.buffered() > 0 && !partial_since_) partial_since_ = Clock::now();
  }
}

asio::awaitable<asio::error_code> Connection::handshake(
    asio::ssl::stream_base::handshake_type type) {
  if (!stream_.is_tls()) co_return asio::error_code();
  co_return co_await stream_.handshake(type);
}

asio::awaitable<bool> Connection::read_plain() {
  tcp::socket& socket = stream_.socket();
  // Room is made only for bytes that are there: an idle connection holds
  // no buffer, and a read never asks for more than arrived.
  asio::error_code ec;
  co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || closed_) co_return false;
  const size_t ready = socket.available(ec);
  if (ec) co_return false;
  std::span<char> room = reader_.prepare(ready);
  const size_t got = socket.read_some(asio::buffer(room.data(), room.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    reader_.commit(0);
    co_return true;
  }
  if (ec || got == 0) {
    reader_.commit(0);
    co_return false;
  }
  reader_.commit(got);
  co_return true;
}

asio::awaitable<bool> Connection::read_tls() {
  // What the engine holds decrypted is there: room for it alone. When it
  // holds nothing, one byte is waited for outside the reader (an idle
  // connection holds no read buffer), and then what came with it.
  asio::error_code ec;
  size_t pending = stream_.tls_pending();
  if (pending > 0) {
    std::span<char> room = reader_.prepare(pending);
    const size_t got = co_await stream_.read_some(asio::buffer(room.data(), room.size()), ec);
    reader_.commit(ec ? 0 : got);
    co_return !ec && got > 0;
  }
  char first = 0;
  const size_t got = co_await stream_.read_some(asio::buffer(&first, 1), ec);
  if (ec || got == 0 || closed_) co_return false;
  pending = stream_.tls_pending();
  std::span<char> room = reader_.prepare(1 + pending);
  room[0] = first;
  size_t written = 1;
  if (room.size() > 1 && pending > 0) {
    written += co_await stream_.read_some(asio::buffer(room.data() + 1, room.size() - 1), ec);
    if (ec) {
      reader_.commit(0);
      co_return false;
    }
  }
  reader_.commit(written);
  co_return true;
}

SendStatus Connection::send(std::string&& frame) {
  if (closed_ || flush_then_close_) return SendStatus::kClosed;
  if (queued_bytes_ + frame.size() > max_queue_) return SendStatus::kQueueFull;
  if (budget_ && budget_->bytes + frame.size() > budget_->bytes_max) {
    return SendStatus::kBudgetFull;
  }
  if (out_.empty()) pending_since_ = Clock::now();
  queued_bytes_ += frame.size();
  if (budget_) {
    budget_->bytes += frame.size();
    budget_held_ += frame.size();
  }
  out_.push_back(std::move(frame));
  wake_.cancel_one();
  return SendStatus::kQueued;
}

void Connection::release_budget(size_t bytes) {
  bytes = std::min(bytes, budget_held_);
  if (!budget_ || bytes == 0) return;
  budget_held_ -= bytes;
  budget_->bytes -= bytes;
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (out_.empty()) {
      if (flush_then_close_) {
        co_await linger_and_close();
        break;
      }
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
    co_await stream_.write(buffers, ec);
    if (ec) {
      close();
      break;
    }
    for (size_t i = 0; i < n; ++i) {
      queued_bytes_ -= out_.front().size();
      release_budget(out_.front().size());
      out_.pop_front();
    }
    pending_since_ = Clock::now();
  }
}

asio::awaitable<void> Connection::linger_and_close() {
  // On the TCP layer, TLS or not: every record is written, and what comes
  // back is dropped unread (no close_notify is waited for).
  tcp::socket& socket = stream_.socket();
  asio::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  // On the heap: with a 4 KiB array in the coroutine frame, GCC 12's ASan
  // build (-O1) reports a false -Wmismatched-new-delete on Asio's frame
  // allocator.
  std::vector<char> scratch(4096);
  size_t dropped = 0;
  while (!ec && !closed_ && dropped < kLingerBytesMax) {
    const size_t got = co_await socket.async_read_some(
        asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
    dropped += got;
  }
  close();
}

void Connection::close_after_flush(std::chrono::milliseconds linger) {
  if (closed_ || flush_then_close_) return;
  flush_then_close_ = true;
  wake_.cancel_one();
  auto timer = std::make_shared<asio::steady_timer>(stream_.socket().get_executor(), linger);
  timer->async_wait([weak = weak_from_this(), timer](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->close();
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  tcp::socket& socket = stream_.socket();
  asio::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  // The queued frames stay until the write loop ends (a write in flight
  // may still point into them), but no longer count against the budget:
  // the cancelled write ends at once.
  release_budget(budget_held_);
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

asio::awaitable<asio::error_code> handshake_with_timeout(
    const std::shared_ptr<Connection>& conn, asio::ssl::stream_base::handshake_type type,
    std::chrono::milliseconds timeout) {
  if (!conn->is_tls()) co_return asio::error_code();
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, timeout);
  auto timed_out = std::make_shared<bool>(false);
  timer->async_wait(
      [weak = std::weak_ptr<Connection>(conn), timed_out](const asio::error_code& ec) {
        if (ec) return;
        *timed_out = true;
        if (auto c = weak.lock()) c->close();
      });
  const asio::error_code ec = co_await conn->handshake(type);
  timer->cancel();
  if (*timed_out) co_return asio::error::timed_out;
  co_return ec;
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
