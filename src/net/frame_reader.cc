#include "net/frame_reader.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace paxlock::net {

std::span<char> FrameReader::prepare(size_t want) {
  want = std::clamp<size_t>(want, 1, kFrameReadChunk);
  release_if_drained();
  const size_t held = end_ - begin_;
  if (capacity_ > kFrameRetainBytes && capacity_ > 4 * (held + want)) {
    // A large frame was handed out and a small one started: shrink.
    const size_t smaller = std::max(kFrameRetainBytes, 2 * (held + want));
    auto fresh = std::make_unique_for_overwrite<char[]>(smaller);
    std::memcpy(fresh.get(), buffer_.get() + begin_, held);
    buffer_ = std::move(fresh);
    capacity_ = smaller;
    begin_ = 0;
    end_ = held;
  }
  if (capacity_ - end_ < want && begin_ > 0) {
    // Move what is left of a started frame to the front.
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (capacity_ - end_ < want) {
    // Grow by what arrived, never by what a header announced: at most
    // double, and only because the bytes received fill the buffer.
    const size_t grown = std::max(end_ + want, 2 * capacity_);
    auto bigger = std::make_unique_for_overwrite<char[]>(grown);
    if (end_ > 0) std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
  }
  return {buffer_.get() + end_, want};
}

void FrameReader::commit(size_t written) {
  PAXLOCK_CHECK(written <= capacity_ - end_);
  end_ += written;
}

void FrameReader::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    std::span<char> room = prepare(bytes.size());
    std::memcpy(room.data(), bytes.data(), room.size());
    commit(room.size());
    bytes.remove_prefix(room.size());
  }
}

FrameReader::Next FrameReader::next(std::string_view& frame) {
  if (failed_) return Next::kTooBig;
  const size_t have = end_ - begin_;
  if (have < kFrameHeaderBytes) {
    release_if_drained();
    return Next::kNeedMore;
  }
  const auto* header = reinterpret_cast<const uint8_t*>(buffer_.get() + begin_);
  uint64_t announced = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    announced |= static_cast<uint64_t>(header[i]) << (8 * i);
  if (announced > max_frame_bytes_) {
    failed_ = true;
    return Next::kTooBig;
  }
  if (have - kFrameHeaderBytes < announced) return Next::kNeedMore;
  frame = std::string_view(buffer_.get() + begin_ + kFrameHeaderBytes, announced);
  begin_ += kFrameHeaderBytes + announced;
  return Next::kFrame;
}

void FrameReader::release_if_drained() {
  if (begin_ != end_) return;
  begin_ = end_ = 0;
  if (capacity_ > kFrameRetainBytes) {
    buffer_.reset();
    capacity_ = 0;
  }
}

}  // namespace paxlock::net
