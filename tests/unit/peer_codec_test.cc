// Peer frames from the network before they reach the core (issue 16): the
// decoder's memory follows the bytes that really arrived, never a count a
// peer announced, and a frame announcing more entries, instances or
// commands than a message may hold is refused before it is parsed.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "net/codec.h"
#include "paxos/value_codec.h"

// The largest single allocation since the last reset, over every operator new
// of the test binary.
namespace {
std::atomic<size_t> largest_allocation{0};
}

// GCC 12 at -O2 inlines these replacements into gtest's `new TestClass` and
// reports free() on memory from operator new, which is what a replacement
// of the global allocator is: the warning does not apply here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t n) {
  size_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (n > seen && !largest_allocation.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace paxlock {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// A value whose command count says `count` and whose bytes hold none.
std::string value_announcing(uint64_t count, size_t junk) {
  std::string v;
  put_varint(v, 0);  // timestamp
  put_varint(v, count);
  v.append(junk, '\xff');
  return v;
}

TEST(PeerCodec, AValueIsDecodedIntoWhatArrivedNotWhatItsCountAnnounced) {
  // 1M commands announced in 1 MB of junk: the decoder used to resize to the
  // count first (48 MB for 1 MB received; 384 MB for a value that fills an
  // 8 MiB frame), then fail on the first command.
  const std::string v = value_announcing(1'000'000, 1'000'000);
  paxos::Value out;
  largest_allocation = 0;
  Reader r(v);
  EXPECT_FALSE(paxos::decode_value(r, out));
  EXPECT_LT(largest_allocation.load(), size_t{64} << 10);
}

TEST(PeerCodec, ValuesStillRoundTrip) {
  paxos::Batch b;
  b.timestamp_ms = 1234;
  for (uint64_t i = 1; i <= 1000; ++i)
    b.commands.push_back(paxos::Command{paxos::CommandId{i, i + 1}, std::string(i % 7, 'x')});
  std::string bytes;
  paxos::encode_value(b, bytes);
  paxos::Value out;
  Reader r(bytes);
  ASSERT_TRUE(paxos::decode_value(r, out));
  EXPECT_TRUE(r.done());
  ASSERT_EQ(out->commands.size(), 1000u);
  EXPECT_EQ(out->timestamp_ms, 1234);
  EXPECT_EQ(out->commands[999].id.client, 1000u);
  EXPECT_EQ(out->commands[999].payload, std::string(1000 % 7, 'x'));
}

std::string field(int number, int wire_type) {
  std::string out;
  put_varint(out, static_cast<uint64_t>(number) << 3 | static_cast<uint64_t>(wire_type));
  return out;
}

// A PeerMessage with `n` empty commands (field 13), `m` packed instances
// (field 12) and `k` entries (field 11) on the wire.
std::string peer_message(size_t n, size_t m, size_t k) {
  std::string out = field(1, 0) + '\x09' + field(2, 0) + '\x01' + field(3, 0) + '\x02';
  for (size_t i = 0; i < n; ++i)
    out += field(13, 2) + '\x00';
  if (m > 0) {
    out += field(12, 2);
    put_varint(out, m);
    out.append(m, '\x01');
  }
  for (size_t i = 0; i < k; ++i)
    out += field(11, 2) + '\x00';
  return out;
}

TEST(PeerCodec, AFrameAnnouncingMoreThanAMessageMayHoldIsRefusedBeforeItIsParsed) {
  constexpr size_t most = net::kPeerRepeatedMax;
  EXPECT_TRUE(net::check_peer_frame(peer_message(most, most, most)).ok());
  for (const std::string& f :
       {peer_message(most + 1, 0, 0), peer_message(0, most + 1, 0), peer_message(0, 0, most + 1)}) {
    largest_allocation = 0;
    const Status s = net::check_peer_frame(f);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("more than"), std::string::npos) << s.message();
    EXPECT_LT(largest_allocation.load(), size_t{4} << 10) << "the check parses nothing";
  }
  // Unpacked instances count too.
  std::string unpacked = peer_message(0, 0, 0);
  for (size_t i = 0; i <= most; ++i)
    unpacked += field(12, 0) + '\x01';
  EXPECT_FALSE(net::check_peer_frame(unpacked).ok());
  // Malformed wire is left to the parser (it refuses it as not parsing).
  EXPECT_TRUE(net::check_peer_frame(std::string("\xff\xff\xff", 3)).ok());
}

}  // namespace
}  // namespace paxlock
