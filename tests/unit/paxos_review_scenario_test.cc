// The sequences an outside review of the core found (issue 13, bugs A and C),
// each scripted message by message over the pure core. Each runs twice: with
// the bug planted as a mutation, where it must show, and on the real core,
// where the same script must not.
#include <gtest/gtest.h>

#include "cluster_harness.h"
#include "scenario_access.h"

namespace paxlock::paxos {
namespace {

using testing::Cluster;
using testing::make_command;

bool between(const Message& m, std::initializer_list<NodeId> group) {
  auto in = [&](NodeId n) { return std::find(group.begin(), group.end(), n) != group.end(); };
  return in(m.from) && in(m.to);
}

std::string payload_at(Node& n, Instance i) {
  const Slot* s = n.slot(i);
  if (!s || !s->chosen || !s->value || s->value->commands.empty()) return "";
  return s->value->commands.front().payload;
}

struct BugAResult {
  std::string chosen_on_2;  // what node 2 marked chosen at instance 1
  std::string chosen_on_3;  // what node 3 marked chosen at instance 1
  bool node1_leads_after_learning = false;
  std::string violation;  // what node 1's own invariant check reported
};

// Bug A: a stale leader re-proposes an instance that is already chosen
// (5 nodes, sticky leader on, the default configuration).
BugAResult bug_a_interleaving(Mutation mutation) {
  Cluster c(5, [&](Config& cfg) { cfg.mutation = mutation; });
  // 1. Node 1 leads at b1; all promised it.
  c.elect(1);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  // 2. Nodes 4 and 5 restart and know no leader. Node 3 campaigns; nodes 1
  //    and 2 ignore its Prepare (sticky leader), 4 and 5 promise, and node 3
  //    leads with {3, 4, 5}. Its messages to 1 and 2 are lost.
  c.crash(4);
  c.restart(4);
  c.crash(5);
  c.restart(5);
  c.node(3).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.from == 3 && (m.to == 1 || m.to == 2); });
  c.deliver([](const Message& m) { return between(m, {3, 4, 5}); });
  EXPECT_EQ(c.node(3).role(), Role::kLeader);
  // 3. Node 3 gets Y chosen at instance 1 with {3, 4, 5}; 4 and 5 learn it.
  EXPECT_EQ(c.node(3).propose(make_command(3, 1, "Y")), ProposeStatus::kOk);
  c.flush();
  c.drop([](const Message& m) { return m.from == 3 && (m.to == 1 || m.to == 2); });
  c.deliver([](const Message& m) { return between(m, {3, 4, 5}); });
  c.advance(60);  // node 3's heartbeat carries the commit point to 4 and 5
  c.drop([](const Message& m) { return m.from == 3 && (m.to == 1 || m.to == 2); });
  c.deliver([](const Message& m) { return between(m, {3, 4, 5}); });
  EXPECT_EQ(payload_at(c.node(3), 1), "Y");
  EXPECT_EQ(payload_at(c.node(4), 1), "Y");
  c.drop([](const Message& m) { return !between(m, {1, 2}); });
  // 4. Node 4 campaigns; its Prepare reaches node 1 only. Node 1, a leader
  //    with a live quorum, ignores it, but takes its commit point and learns
  //    instance 1 = Y from node 4.
  c.node(4).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.from == 4 && m.to != 1; });
  //    (Its other messages to node 4, the new commit point among them, are lost.)
  c.deliver([](const Message& m) {
    const bool pair = (m.from == 4 && m.to == 1) || (m.from == 1 && m.to == 4);
    return pair && (m.type == MessageType::kPrepare || m.type == MessageType::kLearnRequest ||
                    m.type == MessageType::kLearnReply);
  });
  EXPECT_EQ(payload_at(c.node(1), 1), "Y");
  BugAResult r;
  r.node1_leads_after_learning = c.node(1).role() == Role::kLeader;
  c.drop([](const Message& m) { return !between(m, {1, 2}); });
  // 5. A client hands node 1 a command X; 6. node 2, still promised to b1,
  //    hears from node 1 only.
  c.node(1).propose(make_command(1, 1, "X"));
  c.flush();
  c.deliver([](const Message& m) { return between(m, {1, 2}); });
  r.chosen_on_2 = payload_at(c.node(2), 1);
  r.chosen_on_3 = payload_at(c.node(3), 1);
  r.violation = c.node(1).violation_seen();
  return r;
}

TEST(ReviewScenario, BugA_StaleLeaderReproposesAChosenInstance_Planted) {
  const BugAResult r = bug_a_interleaving(Mutation::kNoStepDownOnLearn);
  EXPECT_TRUE(r.node1_leads_after_learning);
  // Two values chosen for instance 1: the worst failure there is.
  EXPECT_EQ(r.chosen_on_3, "Y");
  EXPECT_EQ(r.chosen_on_2, "X");
  EXPECT_EQ(r.violation, "a leader's next instance is below its first unchosen");
}

TEST(ReviewScenario, BugA_LeaderStepsDownWhenItLearnsAnInstancePastItsNext) {
  const BugAResult r = bug_a_interleaving(Mutation::kNone);
  EXPECT_FALSE(r.node1_leads_after_learning);
  EXPECT_EQ(r.chosen_on_3, "Y");
  EXPECT_TRUE(r.chosen_on_2.empty() || r.chosen_on_2 == "Y") << r.chosen_on_2;
  EXPECT_EQ(r.violation, "");
}

// A second review of the fix for A: a candidate learns, from a LearnReply,
// an instance chosen at a higher ballot that none of its promisers reported
// (their promises predate that ballot), then completes phase 1 with delayed
// promises and leads with next_instance at that chosen instance. Before the
// fix it proposed X2 there, learned #1 with its own value (so no step-down)
// and announced a commit point that made node 1 mark X2 chosen at #2, where
// Y2 was chosen. 5 nodes, sticky rule off. Node 2's two LearnRequests are
// injected (its own learn traffic); every answer is the real core's.
struct GapResult {
  std::string at_2_on_1, at_2_on_3;
  bool node2_led_with_a_chosen_next = false;
};

GapResult candidate_learns_a_gap(Mutation mutation) {
  Cluster c(5, [&](Config& cfg) {
    cfg.sticky_leader = false;
    cfg.mutation = mutation;
  });
  auto all = [](const Message&) { return true; };
  auto in345 = [](const Message& m) { return m.from >= 3 && m.to >= 3; };
  auto in12 = [](const Message& m) { return m.from <= 2 && m.to <= 2; };
  // Node 1 leads at b0; V1 is accepted at #1 by nodes 1, 2 and 4.
  c.elect(1);
  c.node(1).propose(make_command(1, 1, "V1"));
  c.flush();
  c.drop(
      [](const Message& m) { return m.type == MessageType::kAccept && (m.to == 3 || m.to == 5); });
  c.deliver([](const Message& m) { return m.type == MessageType::kAccept; });
  c.drop(all);
  // Node 2 campaigns at bA; nodes 1 and 4 promise, and the promises are held.
  c.node(2).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.from == 2 && (m.to == 3 || m.to == 5); });
  c.deliver([](const Message& m) { return m.type == MessageType::kPrepare && m.from == 2; });
  c.deliver([](const Message& m) { return m.from == 2 && m.to == 2; });
  EXPECT_EQ(c.node(2).role(), Role::kCandidate);
  std::deque<Message> held;
  for (const Message& m : c.network()) {
    if (m.type == MessageType::kPromise && m.to == 2) held.push_back(m);
  }
  c.drop(all);
  // Node 3 leads at bB > bA with {3, 4, 5}; its Accepts of #1 to others are
  // lost, and Y2 is chosen at #2.
  c.node(3).campaign();
  c.flush();
  c.drop([&](const Message& m) { return !in345(m); });
  c.deliver([&](const Message& m) {
    return in345(m) && (m.type == MessageType::kPrepare || m.type == MessageType::kPromise);
  });
  EXPECT_EQ(c.node(3).role(), Role::kLeader);
  c.drop([](const Message& m) { return m.to != 3; });
  c.node(3).propose(make_command(3, 1, "Y2"));
  c.flush();
  c.drop([&](const Message& m) { return !in345(m); });
  c.deliver(in345);
  EXPECT_EQ(payload_at(c.node(3), 2), "Y2");
  // Node 2 asks node 3 for [1, 3): the answer holds #2 = Y2 only.
  Message lr;
  lr.type = MessageType::kLearnRequest;
  lr.from = 2;
  lr.to = 3;
  lr.instance = 1;
  lr.end = 3;
  lr.commit = 1;
  c.node(3).step(lr);
  ScenarioAccess::asked_to_learn(c.node(2), 3, lr.instance);
  c.flush();
  c.drop([](const Message& m) {
    return !(m.from == 3 && m.to == 2 && m.type == MessageType::kLearnReply);
  });
  c.deliver();
  EXPECT_EQ(payload_at(c.node(2), 2), "Y2");
  // The held promises arrive.
  for (const Message& m : held)
    c.node(2).step(m);
  c.flush();
  GapResult r;
  r.node2_led_with_a_chosen_next = c.node(2).role() == Role::kLeader &&
                                   c.node(2).slot(c.node(2).next_instance()) &&
                                   c.node(2).slot(c.node(2).next_instance())->chosen;
  // A command at node 2, then node 3 finishes #1 and node 2 learns it.
  c.node(2).propose(make_command(2, 1, "X2"));
  c.flush();
  c.drop([&](const Message& m) { return !in12(m); });
  c.deliver(in12);
  c.drop(all);
  c.advance(100);
  c.drop([&](const Message& m) { return !in345(m); });
  c.deliver(in345);
  c.drop(all);
  c.node(3).step(lr);
  ScenarioAccess::asked_to_learn(c.node(2), 3, lr.instance);
  c.flush();
  c.drop([](const Message& m) {
    return !(m.from == 3 && m.to == 2 && m.type == MessageType::kLearnReply);
  });
  c.deliver();
  c.flush();
  c.deliver(in12);
  c.advance(60);
  c.deliver(in12);
  r.at_2_on_1 = payload_at(c.node(1), 2);
  r.at_2_on_3 = payload_at(c.node(3), 2);
  return r;
}

TEST(ReviewScenario, BugA2_Planted_CandidateThatLearnedAChosenInstanceLeadsOverIt) {
  const GapResult r = candidate_learns_a_gap(Mutation::kNoStepDownOnLearn);
  EXPECT_TRUE(r.node2_led_with_a_chosen_next);
  EXPECT_EQ(r.at_2_on_3, "Y2");
  EXPECT_EQ(r.at_2_on_1, "X2");  // two values chosen for #2
}

TEST(ReviewScenario, BugA2_CandidateThatLearnedAChosenInstanceAboveItsPromisesDoesNotLead) {
  const GapResult r = candidate_learns_a_gap(Mutation::kNone);
  EXPECT_FALSE(r.node2_led_with_a_chosen_next);
  EXPECT_EQ(r.at_2_on_3, "Y2");
  EXPECT_TRUE(r.at_2_on_1.empty() || r.at_2_on_1 == "Y2") << r.at_2_on_1;
}

struct BugCResult {
  uint64_t leader_step_downs = 0;   // node 1's, after it was elected
  Ballot isolated_promise;          // node 3's promise when it returns
  uint64_t isolated_pre_votes = 0;  // pre-vote rounds node 3 started while cut off
  uint64_t isolated_pre_votes_won = 0;
  bool node1_leads_at_end = false;
  bool commands_chosen_after_heal = false;
};

// Liveness C: a node that rejoins after a partition deposes a healthy leader.
BugCResult bug_c_isolate_and_heal(Mutation mutation) {
  Cluster c(3, [&](Config& cfg) { cfg.mutation = mutation; });
  c.elect(1);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  const uint64_t before = c.node(1).stats().stepped_down;
  auto touches_3 = [](const Message& m) { return m.from == 3 || m.to == 3; };
  // Node 3 is cut off for 3 s: every message to or from it is lost.
  for (TimeMs t = 0; t < 3000; t += 5) {
    c.drop(touches_3);
    c.deliver([&](const Message& m) { return !touches_3(m); });
    c.advance(5);
  }
  c.drop(touches_3);
  BugCResult r;
  r.isolated_promise = c.node(3).promised();
  r.isolated_pre_votes = c.node(3).stats().pre_votes_started;
  r.isolated_pre_votes_won = c.node(3).stats().pre_votes_won;
  // Healed: two more seconds of normal traffic, with a command to choose.
  const Instance fu = c.node(1).first_unchosen();
  c.node(2).propose(make_command(2, 1, "after-heal"));
  c.run_until([] { return false; }, 2000);
  r.leader_step_downs = c.node(1).stats().stepped_down - before;
  r.node1_leads_at_end = c.node(1).role() == Role::kLeader;
  r.commands_chosen_after_heal = c.node(3).first_unchosen() > fu;
  return r;
}

TEST(ReviewScenario, BugC_Planted_RejoiningNodeDeposesTheLeaderWithoutPreVote) {
  const BugCResult r = bug_c_isolate_and_heal(Mutation::kNoPreVote);
  EXPECT_GE(r.leader_step_downs, 1u);
  EXPECT_GT(r.isolated_promise.round, 1u);  // it kept raising its ballot while cut off
}

TEST(ReviewScenario, BugC_PreVoteKeepsTheLeaderWhenAnIsolatedNodeReturns) {
  const BugCResult r = bug_c_isolate_and_heal(Mutation::kNone);
  EXPECT_EQ(r.leader_step_downs, 0u);
  EXPECT_TRUE(r.node1_leads_at_end);
  EXPECT_EQ(r.isolated_promise.round, 1u);  // no ballot raised without a majority
  EXPECT_GE(r.isolated_pre_votes, 3u);      // it kept asking, every timeout
  EXPECT_EQ(r.isolated_pre_votes_won, 0u);  // and never won
  EXPECT_TRUE(r.commands_chosen_after_heal);
}

}  // namespace
}  // namespace paxlock::paxos
