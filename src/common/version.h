// What was built: the release, the git revision (`git describe --always
// --dirty --tags` at build time, "unknown" outside a checkout) and the CMake
// build type. Every binary's --version prints version_line(); paxlockd
// exports the same as paxlock_build_info.
#pragma once

#include <string>

namespace paxlock {

const char* version();       // "0.1.0"
const char* git_revision();  // "8a12c2f" or "8a12c2f-dirty"
const char* build_type();    // "Release", "Debug", "RelWithDebInfo"

// "<program> 0.1.0 (git 8a12c2f, Release)"
inline std::string version_line(const std::string& program) {
  return program + " " + version() + " (git " + git_revision() + ", " + build_type() + ")";
}

}  // namespace paxlock
