#include "paxos/ballot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "net/codec.h"

namespace paxlock::paxos {
namespace {

TEST(Ballot, OrderedByRoundThenNode) {
  EXPECT_LT((Ballot{1, 9}), (Ballot{2, 1}));
  EXPECT_LT((Ballot{2, 1}), (Ballot{2, 3}));
  EXPECT_EQ((Ballot{2, 3}), (Ballot{2, 3}));
  EXPECT_GT((Ballot{3, 0}), (Ballot{2, 7}));
}

TEST(Ballot, ZeroIsBelowEveryUsableBallot) {
  EXPECT_TRUE(Ballot{}.is_zero());
  EXPECT_LT(Ballot{}, (Ballot{1, 0}));
  EXPECT_LT(Ballot{}, (Ballot{0, 1}));
}

TEST(Ballot, NextAboveIsStrictlyGreaterAndOwned) {
  const std::vector<Ballot> floors = {{0, 0}, {1, 1}, {1, 3}, {5, 2}, {7, 9}};
  for (const Ballot& floor : floors) {
    for (NodeId owner = 0; owner < 5; ++owner) {
      const Ballot next = Ballot::next_above(floor, owner);
      EXPECT_LT(floor, next) << floor.to_string() << " owner " << owner;
      EXPECT_EQ(next.node, owner);
      // Smallest: no ballot of this owner lies strictly between.
      EXPECT_LE(next.round, floor.round + 1);
    }
  }
}

TEST(Ballot, TotalOrderSortsUniquely) {
  std::vector<Ballot> v = {{3, 1}, {1, 2}, {3, 0}, {2, 2}, {1, 1}};
  std::sort(v.begin(), v.end());
  const std::vector<Ballot> want = {{1, 1}, {1, 2}, {2, 2}, {3, 0}, {3, 1}};
  EXPECT_EQ(v, want);
}

TEST(Ballot, ProtobufRoundTrip) {
  for (const Ballot& b : {Ballot{}, Ballot{1, 2}, Ballot{UINT64_MAX, UINT32_MAX}}) {
    pb::Ballot wire;
    net::to_proto(b, &wire);
    pb::Ballot parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire.SerializeAsString()));
    EXPECT_EQ(net::from_proto(parsed), b);
  }
}

TEST(Ballot, ToStringShowsRoundAndNode) {
  EXPECT_EQ((Ballot{12, 3}).to_string(), "12.3");
}

}  // namespace
}  // namespace paxlock::paxos
