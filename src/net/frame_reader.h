// Frames out of a byte stream, with no sockets: what a connection reads is
// fed in, complete frames come out. A frame is a u32 little-endian length,
// then that many bytes (a protobuf message; make_frame in connection.h).
//
// The promise, for input from anyone: memory follows the bytes that
// arrived, never what a header announces. A header announcing 8 MiB with no
// body behind it costs the 4 bytes and the buffer they sit in. The buffer
// grows only when what arrived does not fit (by doubling), and shrinks when
// a large frame was handed out: after each prepare(), capacity() is at most
// max(kFrameRetainBytes, 4 x (buffered() + kFrameReadChunk)), and a drained
// buffer keeps at most kFrameRetainBytes. A
// header announcing more than the limit is an error as soon as its 4 bytes
// are in, before any of its body is read, and the error is final.
//
// Use: prepare(n) gives room for up to n more bytes (at most a chunk),
// commit(got) says how many were written there, next() hands out complete
// frames one at a time (many may sit in one read). feed() is prepare, copy,
// commit, for tests and fuzzers. A frame handed out stays valid until the
// next call of a non-const member.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace paxlock::net {

inline constexpr size_t kFrameHeaderBytes = 4;
// The most one prepare() offers: one read from a socket.
inline constexpr size_t kFrameReadChunk = 64 << 10;
// A drained buffer at most this big is kept for the next read; a larger one
// (it held a large frame) is freed.
inline constexpr size_t kFrameRetainBytes = 4 << 10;

class FrameReader {
 public:
  enum class Next : uint8_t {
    kFrame,     // `frame` is the next frame's body
    kNeedMore,  // no complete frame buffered
    kTooBig,    // a header announced more than the limit: the stream is unusable
  };

  explicit FrameReader(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // The limit for frames whose header is not read yet (a connection's hello
  // gets a small one, the frames after it the configured one).
  void set_max_frame_bytes(size_t max_frame_bytes) { max_frame_bytes_ = max_frame_bytes; }
  size_t max_frame_bytes() const { return max_frame_bytes_; }

  // Room for at least one and at most min(want, kFrameReadChunk) bytes;
  // write into it, then commit() how many were written.
  std::span<char> prepare(size_t want);
  void commit(size_t written);
  // Appends `bytes` (prepare, copy, commit, as often as needed).
  void feed(std::string_view bytes);

  // The next complete frame, if one is buffered.
  Next next(std::string_view& frame);

  // Bytes received and not handed out yet: part of a frame (or frames not
  // asked for yet). Nonzero means a frame is started.
  size_t buffered() const { return end_ - begin_; }
  // Bytes allocated.
  size_t capacity() const { return capacity_; }
  bool failed() const { return failed_; }

 private:
  void release_if_drained();

  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // the first byte not handed out
  size_t end_ = 0;    // one past the last byte received
  size_t max_frame_bytes_;
  bool failed_ = false;
};

}  // namespace paxlock::net
