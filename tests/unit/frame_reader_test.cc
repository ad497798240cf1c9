// net::FrameReader: frames cut out of bytes as they arrive, memory bounded
// by the bytes received (issue 16, observation 6).
#include "net/frame_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace paxlock::net {
namespace {

std::string header(uint32_t n) {
  std::string h(kFrameHeaderBytes, '\0');
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    h[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return h;
}

std::string frame(const std::string& body) {
  return header(static_cast<uint32_t>(body.size())) + body;
}

std::vector<std::string> drain(FrameReader& r) {
  std::vector<std::string> out;
  std::string_view f;
  while (r.next(f) == FrameReader::Next::kFrame)
    out.emplace_back(f);
  return out;
}

TEST(FrameReader, AnnouncedSizeIsNotAllocatedBeforeTheBytesArrive) {
  FrameReader r(8 << 20);
  r.feed(header(8 << 20));
  std::string_view f;
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);
  EXPECT_EQ(r.buffered(), kFrameHeaderBytes);
  EXPECT_LE(r.capacity(), kFrameReadChunk);  // not 8 MiB
  // A kilobyte of the body: still nowhere near the announced size.
  r.feed(std::string(1024, 'x'));
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);
  EXPECT_LE(r.capacity(), kFrameReadChunk);
}

TEST(FrameReader, CapacityFollowsTheBytesReceived) {
  const size_t n = 3 << 20;
  FrameReader r(8 << 20);
  r.feed(header(static_cast<uint32_t>(n)));
  const std::string piece(kFrameReadChunk, 'y');
  std::string_view f;
  for (size_t got = 0; got < n; got += piece.size()) {
    r.feed(std::string_view(piece).substr(0, std::min(piece.size(), n - got)));
    EXPECT_LE(r.capacity(), 4 * (r.buffered() + kFrameReadChunk)) << got;
  }
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  EXPECT_EQ(f.size(), n);
  // Drained: the large buffer is given back.
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);
  EXPECT_LE(r.capacity(), kFrameRetainBytes);
}

TEST(FrameReader, ASmallFrameAfterALargeOneShrinksTheBuffer) {
  FrameReader r(8 << 20);
  const std::string big(2 << 20, 'b');
  r.feed(frame(big) + header(10) + "01234");  // a large frame, then half a small one
  std::string_view f;
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  EXPECT_EQ(f.size(), big.size());
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);
  r.prepare(16);
  EXPECT_LE(r.capacity(), 4 * (r.buffered() + 16) + kFrameRetainBytes);
  r.commit(0);
  r.feed("56789");
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  EXPECT_EQ(f, "0123456789");
}

TEST(FrameReader, PartialFramesCompleteAcrossFeeds) {
  FrameReader r(1024);
  const std::string bytes = frame("hello") + frame("") + frame("world!");
  std::vector<std::string> got;
  // One byte at a time: the header itself arrives in pieces.
  for (char c : bytes) {
    r.feed(std::string_view(&c, 1));
    for (auto& s : drain(r))
      got.push_back(s);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"hello", "", "world!"}));
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, ManyFramesInOneRead) {
  FrameReader r(1024);
  std::string bytes;
  for (int i = 0; i < 1000; ++i)
    bytes += frame("m" + std::to_string(i));
  bytes += header(7) + "par";  // and the start of one more
  r.feed(bytes);
  const auto got = drain(r);
  ASSERT_EQ(got.size(), 1000u);
  EXPECT_EQ(got.front(), "m0");
  EXPECT_EQ(got.back(), "m999");
  EXPECT_EQ(r.buffered(), kFrameHeaderBytes + 3);
  r.feed("tial");
  EXPECT_EQ(drain(r), std::vector<std::string>{"partial"});
}

TEST(FrameReader, TooBigIsRefusedFromTheHeaderAloneAndStaysRefused) {
  FrameReader r(1000);
  r.feed(frame(std::string(1000, 'a')));  // exactly the limit is fine
  std::string_view f;
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  r.feed(header(1001));  // no body needed to refuse it
  EXPECT_EQ(r.next(f), FrameReader::Next::kTooBig);
  EXPECT_TRUE(r.failed());
  r.feed(frame("later"));
  EXPECT_EQ(r.next(f), FrameReader::Next::kTooBig);
}

TEST(FrameReader, AFourGibibyteHeaderAllocatesNothing) {
  FrameReader r(SIZE_MAX - 2);
  r.feed(header(0xffffffffu));
  std::string_view f;
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);  // allowed, and nothing allocated for it
  EXPECT_LE(r.capacity(), kFrameReadChunk);
  FrameReader small(64);
  small.feed(header(0xffffffffu));
  EXPECT_EQ(small.next(f), FrameReader::Next::kTooBig);
}

TEST(FrameReader, ALowerLimitAppliesToFramesNotYetStarted) {
  FrameReader r(16);  // a hello's limit
  r.feed(frame("hi") + header(100));
  std::string_view f;
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  r.set_max_frame_bytes(1000);  // after the hello
  EXPECT_EQ(r.next(f), FrameReader::Next::kNeedMore);
  r.feed(std::string(100, 'z'));
  ASSERT_EQ(r.next(f), FrameReader::Next::kFrame);
  EXPECT_EQ(f.size(), 100u);
}

TEST(FrameReader, PrepareOffersAtMostOneChunk) {
  FrameReader r(8 << 20);
  EXPECT_EQ(r.prepare(0).size(), 1u);
  r.commit(0);
  EXPECT_EQ(r.prepare(10).size(), 10u);
  r.commit(0);
  EXPECT_EQ(r.prepare(1 << 30).size(), kFrameReadChunk);
  r.commit(0);
  EXPECT_LE(r.capacity(), kFrameReadChunk);
}

}  // namespace
}  // namespace paxlock::net
