// FNV-1a (64-bit): the one hash of the tree where a stable, cheap,
// non-cryptographic digest is enough (replica choice by lock name, comparing
// replicas' logs and states in tests, a restored snapshot's digest).
#pragma once

#include <cstdint>
#include <string_view>

namespace paxlock {

// Not the published FNV offset basis (14695981039346656037, one digit
// longer): this is the value the tree has always used. Every digest is only
// compared with digests of the same code (replica against replica), so it is
// kept: changing it would change the digests that `paxlockd --restore`
// prints and operators compare.
inline constexpr uint64_t kFnvOffsetBasis = 1469598103934665603ULL;
inline constexpr uint64_t kFnvPrime = 1099511628211ULL;

// The hash of `data`, continuing from `h` (chain calls to hash several
// strings as one).
constexpr uint64_t fnv1a(std::string_view data, uint64_t h = kFnvOffsetBasis) {
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// Known answers (the digests printed so far must not change).
static_assert(fnv1a("") == kFnvOffsetBasis);
static_assert(fnv1a("a") == 0x44bd8ad473cd9906ULL);
static_assert(fnv1a("foobar") == 0x88fad7c0a8ff07f2ULL);
static_assert(fnv1a("bar", fnv1a("foo")) == fnv1a("foobar"));
static_assert(fnv1a("\xff") != fnv1a("\x7f"));  // bytes are unsigned

}  // namespace paxlock
