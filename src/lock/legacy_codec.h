// The hand-written encoding of commands and results of paxlock 0.1, read
// only: logs and snapshots written by 0.1 hold it, and the lock machine must
// apply them exactly as 0.1 did. New code writes proto/lock.proto messages,
// which never start with a byte below 0x10 (their field 1 is unused), while a
// legacy command starts with its op (1 to 8) and a legacy result with its
// code (0 to 10).
#pragma once

#include <string_view>

#include "lock/command.h"

namespace paxlock::lock::legacy {

inline bool is_legacy(std::string_view bytes) {
  return !bytes.empty() && static_cast<unsigned char>(bytes[0]) < 0x10;
}

bool decode(std::string_view bytes, Command& out);
bool decode(std::string_view bytes, Result& out);

}  // namespace paxlock::lock::legacy
