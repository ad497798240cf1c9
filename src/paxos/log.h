// The in-memory instance log of one replica: for every instance from the log
// start on, what its acceptor accepted and whether it is known chosen.
// Instances below the log start were compacted into a snapshot: all chosen
// and applied.
#pragma once

#include <deque>

#include "paxos/types.h"

namespace paxlock::paxos {

struct Slot {
  Ballot ballot;  // ballot of the accepted (or learned) value; zero if none
  Value value;    // null if nothing accepted yet
  bool chosen = false;
};

class InstanceLog {
 public:
  explicit InstanceLog(Instance start = 1) : start_(start) {}

  Instance start() const { return start_; }
  // One past the highest instance with a slot.
  Instance end() const { return start_ + slots_.size(); }

  // The slot of `i`, or nullptr if i is compacted away or beyond end().
  const Slot* find(Instance i) const;
  Slot* find(Instance i);
  // The slot of `i`, created empty if needed. Requires i >= start().
  Slot& at(Instance i);

  // Drops every slot below `new_start` (requires them chosen).
  void compact(Instance new_start);
  // Forgets everything and starts over at `new_start` (restore).
  void reset(Instance new_start);
  // Drops every slot below `new_start`, chosen or not, and keeps the rest
  // (snapshot install: the snapshot covers what is dropped).
  void discard_below(Instance new_start);

 private:
  Instance start_;
  std::deque<Slot> slots_;
};

}  // namespace paxlock::paxos
