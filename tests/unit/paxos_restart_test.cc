// A restarted replica does not disturb the leader (DESIGN.md section 10,
// issue 15 item 11): it waits 2-3 election timeouts, counted from its first
// tick, before it campaigns, and a client command it takes meanwhile does not
// cut that wait short.
#include <gtest/gtest.h>

#include "cluster_harness.h"

namespace paxlock::paxos {
namespace {

using testing::Cluster;
using testing::make_command;

constexpr TimeMs kElection = 300;  // Config's default election_timeout_ms

bool sends(const Ready& r, MessageType t) {
  for (const auto* v : {&r.send_now, &r.send_after_sync}) {
    for (const Message& m : *v) {
      if (m.type == t) return true;
    }
  }
  return false;
}

// Node 3 leads at ballot 1.3 and dies; node 1 is elected at 2.1 with node 2's
// promise, but its first Commit and Accepts to node 2 are late, and so is
// everything it sends to node 3 once node 3 restarts (its connection to the
// restarted node is being re-established). Node 3 restarts and a client hands
// it a command at once. Node 3 would pick ballot 2.3, above node 1's 2.1,
// and node 2, which has not heard its new leader yet, would grant its
// pre-vote and promise it: the restarted node would depose a working leader
// within about 100 ms. Breaks if route() may pull the election timer of a
// restarted node before its hold-off ends (the old code did, to 50-100 ms).
TEST(RestartHoldOff, RestartedOldLeaderTakingACommandDoesNotDeposeTheNewLeader) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Cluster c(3, [seed](Config& cfg) { cfg.rng_seed = cfg.self * 101 + seed; });
    c.elect(3);
    ASSERT_EQ(c.node(3).role(), Role::kLeader);
    ASSERT_EQ(c.node(3).propose(make_command(1, 1)), ProposeStatus::kOk);
    c.deliver();
    c.crash(3);
    // Node 3's lease at its followers runs out; whatever they started
    // meanwhile is lost.
    c.advance(kElection + 10);
    c.drop([](const Message&) { return true; });
    // Node 1 campaigns; only the Prepares and Promises get through.
    c.node(1).campaign();
    c.deliver([](const Message& m) {
      return m.type == MessageType::kPrepare || m.type == MessageType::kPromise;
    });
    ASSERT_EQ(c.node(1).role(), Role::kLeader);
    const Ballot led = c.node(1).ballot();
    ASSERT_EQ(led, (Ballot{2, 1}));
    c.drop([](const Message& m) { return m.to == 3; });  // node 3 is down

    c.restart(3);
    const TimeMs restarted = c.now();
    ASSERT_EQ(c.node(3).propose(make_command(9, 1)), ProposeStatus::kOk);
    // For 150 ms nothing from node 1 arrives; then everything flows.
    const auto from_leader = [](const Message& m) { return m.from == 1; };
    bool deposed = false;
    for (TimeMs t = 0; t < 2 * kElection; t += 5) {
      if (t < 150) {
        c.deliver([&](const Message& m) { return !from_leader(m); });
      } else {
        c.deliver();
      }
      if (c.node(3).role() != Role::kFollower) deposed = true;
      EXPECT_EQ(c.node(3).stats().pre_votes_started, 0u)
          << "node 3 asked for a pre-vote " << c.now() - restarted << " ms after its restart";
      EXPECT_EQ(c.node(3).stats().elections_started, 0u);
      EXPECT_EQ(c.node(2).stats().elections_started, 0u);
      if (::testing::Test::HasFailure()) break;
      c.advance(5);
    }
    EXPECT_FALSE(deposed) << "node 3 campaigned within two election timeouts of its restart";
    EXPECT_EQ(c.node(1).role(), Role::kLeader);
    EXPECT_EQ(c.node(1).ballot(), led);
    // The command it took reaches the leader and is chosen.
    EXPECT_TRUE(c.run_until([&] { return c.node(3).pending_commands() == 0; }, 2000));
    EXPECT_EQ(c.node(1).ballot(), led);
    if (::testing::Test::HasFailure()) break;
  }
}

// The driver reads the clock before it loads the disk, and hands that time to
// restore(); a slow recovery must not eat the hold-off. Breaks if the
// hold-off is drawn at restore() only.
TEST(RestartHoldOff, CountsFromTheFirstTickAfterRestore) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Config cfg;
    cfg.self = 2;
    cfg.members = {1, 2, 3};
    cfg.rng_seed = seed;
    Node n(cfg);
    Restored disk;
    disk.promised = Ballot{1, 1};
    n.restore(disk, 0);
    n.take_ready();
    const TimeMs first_tick = 3 * kElection + 100;  // recovery took longer than the hold-off
    for (TimeMs t = first_tick; t < first_tick + 2 * kElection; t += 5) {
      n.tick(t);
      ASSERT_FALSE(sends(n.take_ready(), MessageType::kPreVote))
          << "pre-vote " << t - first_tick << " ms after the first tick";
    }
    bool asked = false;
    for (TimeMs t = first_tick + 2 * kElection; t <= first_tick + 3 * kElection && !asked; t += 5) {
      n.tick(t);
      asked = sends(n.take_ready(), MessageType::kPreVote);
    }
    EXPECT_TRUE(asked) << "no pre-vote within three election timeouts of the first tick";
  }
}

// A restarted node that hears the leader before its first tick keeps the
// timer the leader set: the hold-off does not override it (and it does not
// campaign while the leader is heard).
TEST(RestartHoldOff, ANodeThatHeardTheLeaderFollowsIt) {
  Cluster c(3);
  c.elect(1);
  c.crash(2);
  c.advance(50);
  c.restart(2);
  const TimeMs restarted = c.now();
  EXPECT_TRUE(c.run_until(
      [&] { return c.now() - restarted > 3 * kElection && c.node(2).leader() == NodeId{1}; }));
  EXPECT_EQ(c.node(2).stats().pre_votes_started, 0u);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

}  // namespace
}  // namespace paxlock::paxos
