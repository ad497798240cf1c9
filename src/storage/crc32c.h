// CRC32C (Castagnoli), the checksum of every WAL record, WAL batch, snapshot
// file and snapshot chunk. Uses the SSE4.2 instruction when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace paxlock::storage {

// Extends `crc` (0 to start) over `n` bytes.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

inline uint32_t crc32c(std::string_view s) {
  return crc32c(0, s.data(), s.size());
}

// The two implementations behind crc32c(), same contract, for the test that
// they agree. crc32c_hardware() may be called only if crc32c_has_hardware().
uint32_t crc32c_software(uint32_t crc, const void* data, size_t n);
uint32_t crc32c_hardware(uint32_t crc, const void* data, size_t n);
bool crc32c_has_hardware();

}  // namespace paxlock::storage
