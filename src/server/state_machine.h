// The replicated state machine the driver applies chosen commands to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "paxos/types.h"

namespace paxlock::server {

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
};

}  // namespace paxlock::server
