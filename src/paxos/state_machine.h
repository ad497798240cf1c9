// The replicated state machine the driver applies chosen commands to.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paxos/types.h"

namespace paxlock::paxos {

struct Reply {
  paxos::CommandId id;
  std::string payload;
};

class StateMachine {
 public:
  virtual ~StateMachine() = default;

  // Applies the value chosen for `instance` (instances arrive in order, each
  // once) and appends one reply per command, duplicates included: a command
  // applied before gets its original reply again and changes nothing.
  virtual void apply(paxos::Instance instance, const paxos::Batch& batch,
                     std::vector<Reply>& replies) = 0;

  // The whole state, serialised; equal states give equal bytes.
  virtual std::string snapshot() const = 0;
  // True if `data` is a well-formed snapshot of the state after every
  // instance below `next` and none at or above it (it may come from a peer,
  // which may claim anything: a state that says it applied instance `next` or
  // later would fail apply's order check on the next instance).
  virtual bool validate(std::string_view data, paxos::Instance next) const = 0;
  // Replaces the state with a validated snapshot; false leaves it unchanged.
  virtual bool restore(std::string_view data) = 0;

  // The earliest log time at which the machine changes by itself (a blocking
  // wait ends, a lease runs out), if any: the leader proposes a time tick
  // then (Node::set_state_deadline). A hint for timeliness only.
  virtual std::optional<paxos::TimeMs> next_deadline() const { return std::nullopt; }

  // Tells the machine which commands a client waits for on this replica, so
  // that it may skip computing answers nobody will read (e.g. reads).
  virtual void set_reply_filter(std::function<bool(const paxos::CommandId&)> wants) { (void)wants; }
};

}  // namespace paxlock::paxos
