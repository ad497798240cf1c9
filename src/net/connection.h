// One TCP connection carrying length-prefixed protobuf frames
// (u32 little-endian length, then the message), on the single event loop.
// Reading cuts frames out of what arrived with a FrameReader (frame_reader.h):
// memory follows the bytes received, never what a header announces, and an
// idle connection holds no read buffer (it waits for bytes before making
// room for them). Writing queues frames, bounded in bytes per connection and
// optionally against an OutputBudget shared by many connections (over
// either, send() refuses and the caller drops or closes), and drains them
// with one gathered write at a time.
//
// The bytes travel over a Stream (net/stream.h): plain TCP, or TLS. A TLS
// connection is handshaken by its owner (handshake()) before its first frame,
// within the same hello deadline; its reads take one byte from the TLS
// engine when it has nothing decrypted, then exactly what the engine then
// holds decrypted. The TLS engine itself is made only once the other side
// sent its first bytes (a server's handshake waits for them), and then costs
// ~85 KB for as long as the connection lives (Asio's two 17 KB record
// buffers, OpenSSL's BIO pair and SSL object; OpenSSL's own record buffers
// are freed while the connection is idle): a connection that sends nothing
// costs what a plain one does, one that handshook costs that much more.
#pragma once

#include <google/protobuf/message_lite.h>

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/frame_reader.h"
#include "net/stream.h"

namespace paxlock::net {

using asio::ip::tcp;

std::string make_frame(const google::protobuf::MessageLite& message);

// Bytes queued for sending on a set of connections, against one limit: the
// client port's process-wide output budget. Touched only on the event loop.
struct OutputBudget {
  size_t bytes_max = SIZE_MAX;
  size_t bytes = 0;
};

enum class ReadStatus : uint8_t { kFrame, kClosed, kTooBig };
enum class SendStatus : uint8_t {
  kQueued,
  kClosed,      // closed, or closing after a flush
  kQueueFull,   // over this connection's max_queue_bytes
  kBudgetFull,  // over the shared OutputBudget
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Time = std::chrono::steady_clock::time_point;

  Connection(Stream stream, size_t max_frame_bytes, size_t max_queue_bytes,
             std::shared_ptr<OutputBudget> budget = nullptr);
  // Plain TCP.
  Connection(tcp::socket socket, size_t max_frame_bytes, size_t max_queue_bytes,
             std::shared_ptr<OutputBudget> budget = nullptr)
      : Connection(Stream(std::move(socket)), max_frame_bytes, max_queue_bytes, std::move(budget)) {
  }
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool is_tls() const { return stream_.is_tls(); }
  // A server, before anything is spent on a connection (its TLS engine, a
  // handshake): waits until the other side sent something or closed.
  asio::awaitable<asio::error_code> wait_readable() { return stream_.wait_readable(); }
  // TLS: the handshake, before the first frame is read or written (an error
  // for a plain connection is never returned: it has none to do).
  asio::awaitable<asio::error_code> handshake(asio::ssl::stream_base::handshake_type type);
  // False while a TLS handshake has not completed (what a hello deadline
  // that expires is counted as).
  bool handshake_done() const { return stream_.handshake_done(); }
  // Why the handshake failed with `ec` (Stream::handshake_failure).
  std::string handshake_failure(const asio::error_code& ec) const {
    return stream_.handshake_failure(ec);
  }
  // TLS, after the handshake: the other end's verified certificate, or null.
  tls::X509Ptr peer_certificate() { return stream_.peer_certificate(); }

  // Reads the next frame; `frame` stays valid until the next call.
  asio::awaitable<ReadStatus> read_frame(std::string_view& frame);
  // The limit for frames not started yet (a hello gets a small one).
  void set_max_frame_bytes(size_t max_frame_bytes) { reader_.set_max_frame_bytes(max_frame_bytes); }
  // Queues a frame; `frame` is moved from only if it was queued.
  SendStatus send(std::string&& frame);
  // Drains the queue until the connection closes. Run it as its own coroutine.
  asio::awaitable<void> write_loop();
  void close();
  // Writes what is queued (write_loop must run), then closes: a refusal
  // reaches the other side before the close. Sending is shut down after the
  // last frame, and what the other side still sends is read and dropped
  // until it closes too, so that closing with unread input does not reset
  // the connection and destroy the refusal on its way. Closes after
  // `linger` in any case.
  void close_after_flush(std::chrono::milliseconds linger);

  bool closed() const { return closed_; }
  size_t queued_bytes() const { return queued_bytes_; }
  // When the oldest queued frame started waiting (for stall detection).
  Time write_pending_since() const { return pending_since_; }
  tcp::socket& socket() { return stream_.socket(); }
  std::string remote() const { return remote_; }
  // The other side's address without the port: what per-source limits count.
  const std::string& remote_address() const { return remote_address_; }

  // What the timeouts look at (net/admission.h): when it opened, when the
  // last complete frame arrived, since when a frame is started. The owner
  // marks the connection greeted once its hello is accepted.
  Time opened_at() const { return opened_at_; }
  Time last_frame_at() const { return last_frame_at_; }
  std::optional<Time> partial_since() const { return partial_since_; }
  bool greeted() const { return greeted_; }
  void set_greeted() { greeted_ = true; }

 private:
  asio::awaitable<void> linger_and_close();
  void release_budget(size_t bytes);

  // Reads what arrived into the reader: false if the connection closed.
  asio::awaitable<bool> read_plain();
  asio::awaitable<bool> read_tls();

  Stream stream_;
  FrameReader reader_;
  size_t max_queue_;
  std::shared_ptr<OutputBudget> budget_;
  size_t budget_held_ = 0;  // of budget_->bytes, this connection's
  std::string remote_;
  std::string remote_address_;
  std::deque<std::string> out_;
  size_t queued_bytes_ = 0;
  Time pending_since_{};
  Time opened_at_;
  Time last_frame_at_;
  std::optional<Time> partial_since_;
  asio::steady_timer wake_;
  bool greeted_ = false;
  bool flush_then_close_ = false;
  bool closed_ = false;
};

// Connects within `timeout` (a blackholed peer would otherwise hold a
// connect for minutes). Returns the error, or success.
// The endpoint of a numeric address (the cluster file resolves host names
// when it is read); an error names the address.
Result<tcp::endpoint> endpoint_of(const std::string& ip, uint16_t port);

// Runs `conn`'s TLS handshake; past `timeout` the connection is closed and
// the result is asio::error::timed_out. Plain connections succeed at once.
asio::awaitable<asio::error_code> handshake_with_timeout(
    const std::shared_ptr<Connection>& conn, asio::ssl::stream_base::handshake_type type,
    std::chrono::milliseconds timeout);

asio::awaitable<asio::error_code> connect_with_timeout(tcp::socket& socket,
                                                       const tcp::endpoint& endpoint,
                                                       std::chrono::milliseconds timeout);

}  // namespace paxlock::net
