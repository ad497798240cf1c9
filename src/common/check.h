// Assertions that stay on in release builds.
//
// PAXLOCK_CHECK is for invariants: a broken one means the process's state can no
// longer be trusted, so it logs where and why and aborts. Expected outcomes (a
// stale ballot, a held lock, a timeout) are values, never checks.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace paxlock::detail {

[[noreturn]] inline void check_failed(const char* expr, const char* file, int line,
                                      const char* msg) {
  std::fprintf(stderr, "paxlock: invariant violated: %s at %s:%d%s%s\n", expr, file, line,
               msg[0] != '\0' ? ": " : "", msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace paxlock::detail

#define PAXLOCK_CHECK(cond)                                           \
  do {                                                                \
    if (!(cond)) [[unlikely]] {                                       \
      ::paxlock::detail::check_failed(#cond, __FILE__, __LINE__, ""); \
    }                                                                 \
  } while (0)

#define PAXLOCK_CHECK_MSG(cond, msg)                                     \
  do {                                                                   \
    if (!(cond)) [[unlikely]] {                                          \
      ::paxlock::detail::check_failed(#cond, __FILE__, __LINE__, (msg)); \
    }                                                                    \
  } while (0)
