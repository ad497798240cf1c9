// One TCP connection carrying length-prefixed protobuf frames
// (u32 little-endian length, then the message), on the single event loop.
// Reading buffers so that many small frames cost one read; writing queues
// frames (bounded in bytes: over the limit, send() refuses and the caller
// drops or closes) and drains them with one gathered write at a time.
#pragma once

#include <google/protobuf/message_lite.h>

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace paxlock::net {

using asio::ip::tcp;

std::string make_frame(const google::protobuf::MessageLite& message);

enum class ReadStatus : uint8_t { kFrame, kClosed, kTooBig };

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, size_t max_frame_bytes, size_t max_queue_bytes);

  // Reads the next frame; `frame` stays valid until the next call.
  asio::awaitable<ReadStatus> read_frame(std::string_view& frame);
  // Queues a frame; false if the queue is full or the connection closed.
  bool send(std::string frame);
  // Drains the queue until the connection closes. Run it as its own coroutine.
  asio::awaitable<void> write_loop();
  void close();

  bool closed() const { return closed_; }
  size_t queued_bytes() const { return queued_bytes_; }
  // When the oldest queued frame started waiting (for stall detection).
  std::chrono::steady_clock::time_point write_pending_since() const { return pending_since_; }
  tcp::socket& socket() { return socket_; }
  std::string remote() const { return remote_; }

 private:
  tcp::socket socket_;
  size_t max_frame_;
  size_t max_queue_;
  std::string remote_;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::deque<std::string> out_;
  size_t queued_bytes_ = 0;
  std::chrono::steady_clock::time_point pending_since_{};
  asio::steady_timer wake_;
  bool closed_ = false;
};

// Connects within `timeout` (a blackholed peer would otherwise hold a
// connect for minutes). Returns the error, or success.
// The endpoint of a numeric address (the cluster file resolves host names
// when it is read); an error names the address.
Result<tcp::endpoint> endpoint_of(const std::string& ip, uint16_t port);

asio::awaitable<asio::error_code> connect_with_timeout(tcp::socket& socket,
                                                       const tcp::endpoint& endpoint,
                                                       std::chrono::milliseconds timeout);

}  // namespace paxlock::net
