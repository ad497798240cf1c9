// Ballots: the (round, node id) pairs that order Paxos proposals.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace paxlock::paxos {

using NodeId = uint32_t;

// A ballot is unique to the proposer that owns it (node id breaks ties between
// equal rounds) and totally ordered: first by round, then by node id. The zero
// ballot is below every ballot a proposer can use (rounds start at 1).
struct Ballot {
  // No ballot from the network may have a higher round (validate.cc): with
  // it, next_above() can never wrap around, however many elections a hostile
  // or confused peer forces (2^62 is far beyond any real count).
  static constexpr uint64_t kRoundMax = uint64_t{1} << 62;

  uint64_t round = 0;
  NodeId node = 0;

  friend constexpr auto operator<=>(const Ballot&, const Ballot&) = default;

  constexpr bool is_zero() const { return round == 0 && node == 0; }

  // The smallest ballot owned by `owner` that is strictly above `floor`.
  static constexpr Ballot next_above(const Ballot& floor, NodeId owner) {
    Ballot b{floor.round > 0 ? floor.round : 1, owner};
    if (!(floor < b)) b.round = floor.round + 1;
    return b;
  }

  std::string to_string() const;
};

}  // namespace paxlock::paxos
