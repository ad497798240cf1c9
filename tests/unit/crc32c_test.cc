// CRC32C: the standard check values (RFC 3720, appendix B.4, and the usual
// "123456789" check), and the SSE4.2 and table-driven paths agreeing on random
// data of every length up to a few blocks, at every alignment, including
// continuation from a nonzero crc.
#include "storage/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace paxlock::storage {
namespace {

struct Vector {
  const char* name;
  std::string data;
  uint32_t crc;
};

std::vector<Vector> known_answers() {
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i)
    ascending[i] = static_cast<char>(i);
  return {
      {"\"123456789\"", "123456789", 0xE3069283},
      {"32 zero bytes", std::string(32, '\0'), 0x8A9136AA},
      {"32 0xFF bytes", std::string(32, '\xff'), 0x62A8AB43},
      {"0..31 ascending", ascending, 0x46DD794E},
      {"empty", "", 0x00000000},
  };
}

TEST(Crc32c, KnownAnswers) {
  for (const Vector& v : known_answers()) {
    EXPECT_EQ(crc32c(v.data), v.crc) << v.name;
    EXPECT_EQ(crc32c_software(0, v.data.data(), v.data.size()), v.crc) << v.name;
    if (crc32c_has_hardware()) {
      EXPECT_EQ(crc32c_hardware(0, v.data.data(), v.data.size()), v.crc) << v.name;
    }
    // Extending byte by byte gives the same value as one call.
    uint32_t crc = 0;
    for (char c : v.data)
      crc = crc32c(crc, &c, 1);
    EXPECT_EQ(crc, v.crc) << v.name;
  }
}

TEST(Crc32c, HardwareAndSoftwareAgreeAtEveryLengthAndAlignment) {
  if (!crc32c_has_hardware()) GTEST_SKIP() << "no SSE4.2 on this CPU: one path only";
  std::mt19937_64 gen(20261202);
  std::string buf(600, '\0');
  for (char& c : buf)
    c = static_cast<char>(gen());
  int compared = 0;
  for (size_t align = 0; align < 16; ++align) {
    for (size_t len = 0; align + len <= 300; ++len) {
      const char* p = buf.data() + align;
      const auto seed = static_cast<uint32_t>(gen());
      for (uint32_t start : {0u, seed}) {
        const uint32_t sw = crc32c_software(start, p, len);
        const uint32_t hw = crc32c_hardware(start, p, len);
        ASSERT_EQ(sw, hw) << "align " << align << " length " << len << " start " << start;
        ASSERT_EQ(crc32c(start, p, len), hw);
        ++compared;
      }
    }
  }
  // Long buffers, split at a random point: continuation agrees too.
  std::string big(1 << 16, '\0');
  for (char& c : big)
    c = static_cast<char>(gen());
  for (int k = 0; k < 64; ++k) {
    const size_t len = gen() % big.size();
    const size_t cut = len == 0 ? 0 : gen() % len;
    const uint32_t whole = crc32c_software(0, big.data(), len);
    ASSERT_EQ(crc32c_hardware(0, big.data(), len), whole) << len;
    const uint32_t head = crc32c_hardware(0, big.data(), cut);
    ASSERT_EQ(crc32c_software(head, big.data() + cut, len - cut), whole) << len << " " << cut;
    ++compared;
  }
  EXPECT_GT(compared, 9000);
}

}  // namespace
}  // namespace paxlock::storage
