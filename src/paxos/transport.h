// Where the driver hands messages for other replicas. Delivery is best
// effort: the protocol resends what is lost.
#pragma once

#include "paxos/message.h"

namespace paxlock::paxos {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(const paxos::Message& msg) = 0;
};

}  // namespace paxlock::paxos
