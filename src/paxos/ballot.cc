#include "paxos/ballot.h"

#include <fmt/format.h>

namespace paxlock::paxos {

std::string Ballot::to_string() const {
  return fmt::format("{}.{}", round, node);
}

}  // namespace paxlock::paxos
