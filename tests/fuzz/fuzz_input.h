// Helpers shared by the fuzz targets (docs/TESTING.md, "Fuzzing").
//
// Every target is a libFuzzer entry point, LLVMFuzzerTestOneInput, built two
// ways: with clang-14 and -fsanitize=fuzzer (the fuzz preset, build/fuzz/),
// and with the project's own compiler around replay_main.cc, which runs the
// checked-in corpus in ctest on the dev and asan builds.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// A property of the target that failed: a finding, reported like a crash.
#define FUZZ_CHECK(cond)                                                                         \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "fuzz: property violated: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace paxlock::fuzz {

// Reads the fuzz input front to back; past the end every read gives zeros
// or empty strings, so a target never needs to check the length itself.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return pos_ >= data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }

  uint8_t u8() { return pos_ < data_.size() ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  uint16_t u16() {
    const uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (u8() << 8));
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(u8()) << (8 * i);
    return v;
  }
  // Up to `n` bytes (fewer at the end).
  std::string_view bytes(size_t n) {
    n = std::min(n, remaining());
    const std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  // A record: u16 length, then that many bytes (fewer at the end).
  std::string_view record() { return bytes(u16()); }
  std::string_view rest() { return bytes(remaining()); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace paxlock::fuzz
