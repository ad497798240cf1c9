#include "storage/crc32c.h"

#include <array>
#include <cstring>

#include "common/check.h"

namespace paxlock::storage {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;  // reflected Castagnoli polynomial

constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k)
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

constexpr auto kTables = make_tables();

uint32_t crc_software(uint32_t crc, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= crc;
    crc = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^ kTables[5][(v >> 16) & 0xff] ^
          kTables[4][(v >> 24) & 0xff] ^ kTables[3][(v >> 32) & 0xff] ^
          kTables[2][(v >> 40) & 0xff] ^ kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_hardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0)
    c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

bool has_sse42() {
  return __builtin_cpu_supports("sse4.2");
}
#endif

}  // namespace

bool crc32c_has_hardware() {
#if defined(__x86_64__)
  static const bool hardware = has_sse42();
  return hardware;
#else
  return false;
#endif
}

uint32_t crc32c_software(uint32_t crc, const void* data, size_t n) {
  return ~crc_software(~crc, static_cast<const uint8_t*>(data), n);
}

uint32_t crc32c_hardware(uint32_t crc, const void* data, size_t n) {
  PAXLOCK_CHECK_MSG(crc32c_has_hardware(), "crc32c_hardware without SSE4.2");
#if defined(__x86_64__)
  return ~crc_hardware(~crc, static_cast<const uint8_t*>(data), n);
#else
  return crc32c_software(crc, data, n);  // unreachable: the check above fails
#endif
}

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  crc = crc32c_has_hardware() ? crc_hardware(crc, p, n) : crc_software(crc, p, n);
#else
  crc = crc_software(crc, p, n);
#endif
  return ~crc;
}

}  // namespace paxlock::storage
