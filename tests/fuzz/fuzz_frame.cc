// Fuzz target: the frame decoder every connection reads through
// (net::FrameReader, src/net/frame_reader.h), fed the way a socket feeds it:
// bytes in pieces of any size, through prepare/commit or feed, frames asked
// for at any moment, the limit changed between frames (a connection's hello
// gets a small one, the frames after it the configured one).
//
// The input is a program of steps, each a u8 opcode and its operands:
//   0: prepare(u16 want), then commit a prefix of the next record's bytes
//   1: feed(the next record)
//   2: next() until it hands out no frame
//   3: set_max_frame_bytes(u16, or u32 if the opcode's high bit is set)
//
// Properties:
// - the frames handed out are exactly those of a reference decoder reading
//   the same bytes, in order, with the limit in force when each header was
//   judged; a header over the limit is kTooBig, and kTooBig is final;
// - prepare() offers between 1 and min(want, kFrameReadChunk) bytes;
// - memory follows the bytes that arrived, never what a header announced:
//   after each prepare(), capacity() <= max(kFrameRetainBytes,
//   4 x (buffered() + kFrameReadChunk)), and a drained reader keeps at most
//   kFrameRetainBytes.
#include <cstring>
#include <string>

#include "fuzz/fuzz_input.h"
#include "net/frame_reader.h"

namespace paxlock::fuzz {
namespace {

using net::FrameReader;

// The specification: the stream so far, decoded front to back.
class Reference {
 public:
  void append(std::string_view bytes) { stream_.append(bytes); }

  FrameReader::Next next(size_t max_frame_bytes, std::string& frame) {
    if (failed_) return FrameReader::Next::kTooBig;
    const size_t have = stream_.size() - pos_;
    if (have < net::kFrameHeaderBytes) return FrameReader::Next::kNeedMore;
    uint64_t announced = 0;
    for (size_t i = 0; i < net::kFrameHeaderBytes; ++i)
      announced |= static_cast<uint64_t>(static_cast<uint8_t>(stream_[pos_ + i])) << (8 * i);
    if (announced > max_frame_bytes) {
      failed_ = true;
      return FrameReader::Next::kTooBig;
    }
    if (have - net::kFrameHeaderBytes < announced) return FrameReader::Next::kNeedMore;
    frame = stream_.substr(pos_ + net::kFrameHeaderBytes, announced);
    pos_ += net::kFrameHeaderBytes + announced;
    return FrameReader::Next::kFrame;
  }

  size_t buffered() const { return stream_.size() - pos_; }

 private:
  std::string stream_;
  size_t pos_ = 0;
  bool failed_ = false;
};

size_t capacity_bound(const FrameReader& r) {
  return std::max(net::kFrameRetainBytes, 4 * (r.buffered() + net::kFrameReadChunk));
}

void drain(FrameReader& reader, Reference& ref) {
  for (;;) {
    std::string_view got;
    std::string want;
    const FrameReader::Next n = reader.next(got);
    FUZZ_CHECK(n == ref.next(reader.max_frame_bytes(), want));
    FUZZ_CHECK(reader.failed() == (n == FrameReader::Next::kTooBig));
    if (n != FrameReader::Next::kFrame) {
      FUZZ_CHECK(reader.buffered() == ref.buffered());
      if (n == FrameReader::Next::kNeedMore && reader.buffered() == 0) {
        FUZZ_CHECK(reader.capacity() <= net::kFrameRetainBytes);
      }
      return;
    }
    FUZZ_CHECK(got == want);
  }
}

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paxlock;
  using namespace paxlock::fuzz;
  Input in(data, size);
  FrameReader reader(in.u16());
  Reference ref;
  while (!in.empty()) {
    const uint8_t op = in.u8();
    switch (op & 3) {
      case 0: {
        const size_t want = in.u16();
        std::span<char> room = reader.prepare(want);
        FUZZ_CHECK(!room.empty());
        FUZZ_CHECK(room.size() <= std::clamp<size_t>(want, 1, net::kFrameReadChunk));
        FUZZ_CHECK(reader.capacity() <= capacity_bound(reader) + room.size());
        const std::string_view bytes = in.record().substr(0, room.size());
        std::memcpy(room.data(), bytes.data(), bytes.size());
        reader.commit(bytes.size());
        ref.append(bytes);
        break;
      }
      case 1: {
        const std::string_view bytes = in.record();
        reader.feed(bytes);
        ref.append(bytes);
        FUZZ_CHECK(reader.capacity() <= capacity_bound(reader));
        break;
      }
      case 2:
        drain(reader, ref);
        break;
      case 3:
        reader.set_max_frame_bytes((op & 0x80) ? static_cast<uint32_t>(in.u64()) : in.u16());
        break;
    }
    FUZZ_CHECK(reader.buffered() == ref.buffered());
  }
  drain(reader, ref);
  return 0;
}
