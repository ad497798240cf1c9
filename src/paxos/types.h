// Plain value types shared by the consensus core and everything around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "paxos/ballot.h"

namespace paxlock::paxos {

// Index of a Paxos instance: instance i decides the i-th value of the log.
// Instance 0 is never used, so 0 can mean "none".
using Instance = uint64_t;
// The largest instance number a peer may name, in a message or a snapshot:
// at a million instances a second, 146,000 years away, and far enough from
// 2^64 that no instance arithmetic (next, end, + window) can wrap. A forged
// snapshot at 2^64-1 was installed, and the next instance was 0.
inline constexpr Instance kInstanceMax = Instance{1} << 62;

// Milliseconds on whatever clock the caller drives the core with. The core
// never reads a clock; it only compares the `now` values it is given.
using TimeMs = int64_t;

// Identifies a client command for exactly-once application: the client picks
// a unique client id and numbers its commands.
struct CommandId {
  uint64_t client = 0;
  uint64_t seq = 0;

  friend constexpr auto operator<=>(const CommandId&, const CommandId&) = default;
};

struct CommandIdHash {
  size_t operator()(const CommandId& id) const {
    return std::hash<uint64_t>{}(id.client * 0x9e3779b97f4a7c15ULL ^ id.seq);
  }
};

// One client command. The payload is opaque to the core.
struct Command {
  CommandId id;
  std::string payload;

  size_t bytes() const { return payload.size() + sizeof(CommandId); }
  friend bool operator==(const Command&, const Command&) = default;
};

// The value decided by one instance: a batch of commands stamped with the
// proposing leader's clock (the lock state machine's only source of time). An
// empty batch is a no-op; timestamp 0 means "carries no time".
struct Batch {
  TimeMs timestamp_ms = 0;
  std::vector<Command> commands;

  bool is_noop() const { return commands.empty(); }
  size_t bytes() const {
    size_t n = sizeof(timestamp_ms);
    for (const Command& c : commands)
      n += c.bytes();
    return n;
  }
  friend bool operator==(const Batch&, const Batch&) = default;
};

// Values are immutable once built and shared between the log, messages and
// the apply queue, so copying a message never copies its commands.
using Value = std::shared_ptr<const Batch>;

inline bool same_value(const Value& a, const Value& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return *a == *b;
}

inline Value make_noop() {
  return std::make_shared<const Batch>();
}

// One instance's state as carried in messages and persisted records: the
// ballot at which `value` was accepted, and whether it is known chosen.
struct Entry {
  Instance instance = 0;
  Ballot ballot;
  Value value;
  bool chosen = false;
};

}  // namespace paxlock::paxos
