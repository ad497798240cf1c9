// Scripted scenarios for the consensus core, one per protocol rule (named
// rule_scenario), driven message by message through the Cluster harness or
// by hand-made messages into a single node.
#include <gtest/gtest.h>

#include "cluster_harness.h"
#include "scenario_access.h"

namespace paxlock::paxos {
namespace {

using testing::Cluster;
using testing::make_command;

Node lone_node(NodeId self, std::function<void(Config&)> tweak = {}) {
  Config c;
  c.self = self;
  c.members = {1, 2, 3};
  if (tweak) tweak(c);
  Node n(c);
  n.restore(Restored{}, 0);
  return n;
}

Message msg(MessageType type, NodeId from, NodeId to, Ballot b, Instance i = 1) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.ballot = b;
  m.instance = i;
  return m;
}

Entry entry(Instance i, Ballot b, const std::string& payload) {
  auto batch = std::make_shared<Batch>();
  batch->commands.push_back(make_command(99, i, payload));
  return Entry{i, b, batch, false};
}

const Message* find(const std::vector<Message>& v, MessageType t, NodeId to = 0) {
  for (const Message& m : v) {
    if (m.type == t && (to == 0 || m.to == to)) return &m;
  }
  return nullptr;
}

std::string payloads(const Value& v) {
  std::string s;
  for (const Command& c : v->commands)
    s += c.payload + ";";
  return s;
}

// ---------------------------------------------------------------- acceptor

TEST(Acceptor, PrepareBelowPromiseIsNackedWithThePromise) {
  Node n = lone_node(2);
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{5, 3}));
  n.take_ready();
  n.step(msg(MessageType::kPrepare, 1, 2, Ballot{4, 1}));
  Ready r = n.take_ready();
  const Message* nack = find(r.send_after_sync, MessageType::kNack, 1);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->ballot, (Ballot{5, 3}));
  EXPECT_EQ(find(r.send_after_sync, MessageType::kPromise), nullptr);
  EXPECT_EQ(n.promised(), (Ballot{5, 3}));
}

TEST(Acceptor, PromiseIsPersistedBeforeItLeaves) {
  Node n = lone_node(2);
  n.step(msg(MessageType::kPrepare, 1, 2, Ballot{1, 1}));
  Ready r = n.take_ready();
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(*r.promised, (Ballot{1, 1}));
  EXPECT_TRUE(r.needs_sync());
  EXPECT_NE(find(r.send_after_sync, MessageType::kPromise, 1), nullptr);
  EXPECT_EQ(find(r.send_now, MessageType::kPromise), nullptr);
}

// These acceptors just heard a leader; stickiness would make them ignore
// the next prepare, so it is off where a test prepares right after accepts.
void not_sticky(Config& c) {
  c.sticky_leader = false;
}

TEST(Acceptor, PromiseReportsAcceptedValuesFromTheRequestedInstance) {
  Node n = lone_node(2, not_sticky);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(1, Ballot{1, 1}, "a"), entry(2, Ballot{1, 1}, "b"),
                 entry(3, Ballot{1, 1}, "c")};
  n.step(acc);
  n.take_ready();
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}, /*from instance*/ 2));
  Ready r = n.take_ready();
  const Message* p = find(r.send_after_sync, MessageType::kPromise, 3);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->entries.size(), 2u);
  EXPECT_EQ(p->entries[0].instance, 2u);
  EXPECT_EQ(p->entries[1].instance, 3u);
  EXPECT_EQ(p->entries[0].ballot, (Ballot{1, 1}));
  EXPECT_FALSE(p->more);
}

TEST(Acceptor, LargePromiseComesInChunks) {
  Node n = lone_node(2, [](Config& c) {
    c.message_bytes_max = 100;
    c.sticky_leader = false;
  });
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  for (Instance i = 1; i <= 5; ++i)
    acc.entries.push_back(entry(i, Ballot{1, 1}, "x"));
  n.step(acc);
  n.take_ready();
  Instance from = 1;
  std::vector<Instance> seen;
  for (int chunk = 0; chunk < 10; ++chunk) {
    n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}, from));
    Ready r = n.take_ready();
    const Message* p = find(r.send_after_sync, MessageType::kPromise, 3);
    ASSERT_NE(p, nullptr);
    for (const Entry& e : p->entries)
      seen.push_back(e.instance);
    if (!p->more) break;
    EXPECT_GT(p->end, from);
    from = p->end;
  }
  EXPECT_EQ(seen, (std::vector<Instance>{1, 2, 3, 4, 5}));
}

TEST(Acceptor, AcceptBelowPromiseIsNackedAndNotStored) {
  Node n = lone_node(2);
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{5, 3}));
  n.take_ready();
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{4, 1});
  acc.entries = {entry(1, Ballot{4, 1}, "old")};
  n.step(acc);
  Ready r = n.take_ready();
  EXPECT_NE(find(r.send_after_sync, MessageType::kNack, 1), nullptr);
  EXPECT_EQ(find(r.send_after_sync, MessageType::kAccepted), nullptr);
  EXPECT_TRUE(r.entries.empty());
  EXPECT_EQ(n.slot(1), nullptr);
}

TEST(Acceptor, AcceptIsPersistedBeforeItIsAcknowledged) {
  Node n = lone_node(2);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(1, Ballot{1, 1}, "v")};
  n.step(acc);
  Ready r = n.take_ready();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].instance, 1u);
  EXPECT_FALSE(r.entries[0].chosen);
  const Message* ack = find(r.send_after_sync, MessageType::kAccepted, 1);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->instances, (std::vector<Instance>{1}));
  EXPECT_EQ(find(r.send_now, MessageType::kAccepted), nullptr);
  // The accept raised the promise to its ballot.
  EXPECT_EQ(n.promised(), (Ballot{1, 1}));
}

// ---------------------------------------------------------------- proposer

TEST(Proposer, NewLeaderReproposesTheHighestBallotValue) {
  Node n = lone_node(1);
  n.step(msg(MessageType::kPrepare, 3, 1, Ballot{3, 3}));  // seen: rounds up to 3
  n.take_ready();
  n.campaign();
  Ready r = n.take_ready();
  const Ballot b = n.ballot();
  ASSERT_NE(find(r.send_after_sync, MessageType::kPrepare, 2), nullptr);
  // Node 2 accepted "low" at an old ballot, node 3 "high" at a newer one.
  Message p2 = msg(MessageType::kPromise, 2, 1, b);
  p2.entries = {entry(1, Ballot{1, 2}, "low")};
  Message p3 = msg(MessageType::kPromise, 3, 1, b);
  p3.entries = {entry(1, Ballot{2, 3}, "high")};
  // Ballots must be below ours to have been accepted before our prepare.
  ASSERT_LT(p3.entries[0].ballot, b);
  n.step(p2);
  n.step(p3);
  EXPECT_EQ(n.role(), Role::kLeader);
  r = n.take_ready();
  const Message* acc = find(r.send_now, MessageType::kAccept, 2);
  ASSERT_NE(acc, nullptr);
  ASSERT_EQ(acc->entries.size(), 1u);
  EXPECT_EQ(acc->entries[0].instance, 1u);
  EXPECT_EQ(payloads(acc->entries[0].value), "high;");
  EXPECT_EQ(acc->ballot, b);
}

TEST(Proposer, NewLeaderFillsHolesWithNoops) {
  Node n = lone_node(1);
  n.campaign();
  n.take_ready();
  const Ballot b = n.ballot();
  Message p2 = msg(MessageType::kPromise, 2, 1, b);
  p2.entries = {entry(3, Ballot{1, 2}, "three")};
  n.step(p2);
  n.step(msg(MessageType::kPromise, 3, 1, b));
  ASSERT_EQ(n.role(), Role::kLeader);
  Ready r = n.take_ready();
  const Message* acc = find(r.send_now, MessageType::kAccept, 3);
  ASSERT_NE(acc, nullptr);
  ASSERT_EQ(acc->entries.size(), 3u);
  EXPECT_TRUE(acc->entries[0].value->is_noop());
  EXPECT_TRUE(acc->entries[1].value->is_noop());
  EXPECT_EQ(payloads(acc->entries[2].value), "three;");
}

TEST(Proposer, LeaderRunsOnlyPhase2ForNewCommands) {
  Cluster c(3);
  c.elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  c.node(1).propose(make_command(1, 1));
  c.flush();
  for (const Message& m : c.network())
    EXPECT_NE(m.type, MessageType::kPrepare);
  ASSERT_TRUE(c.run_until([&] { return c.applied(3).size() >= 1; }));
}

TEST(Proposer, PipelineWindowBoundsInstancesInFlight) {
  Cluster c(3, [](Config& cfg) {
    cfg.pipeline_window = 4;
    cfg.batch_commands_max = 1;
  });
  c.elect(1);
  for (uint64_t s = 1; s <= 20; ++s)
    c.node(1).propose(make_command(1, s));
  c.flush();
  EXPECT_LE(c.node(1).inflight_instances(), 4u);
  ASSERT_TRUE(c.run_until([&] { return c.node(1).pending_commands() == 0; }));
  size_t commands = 0;
  for (const Entry& e : c.applied(2))
    commands += e.value->commands.size();
  EXPECT_EQ(commands, 20u);
}

TEST(Proposer, CommandsWaitingTogetherShareOneInstance) {
  Cluster c(3, [](Config& cfg) { cfg.pipeline_window = 1; });
  c.elect(1);
  c.node(1).propose(make_command(1, 1));
  c.flush();  // instance for command 1 goes out; the window is now full
  for (uint64_t s = 2; s <= 50; ++s)
    c.node(1).propose(make_command(1, s));
  ASSERT_TRUE(c.run_until([&] { return c.node(1).pending_commands() == 0; }));
  // Command 1 alone, then the other 49 in one batch.
  std::vector<size_t> sizes;
  for (const Entry& e : c.applied(1)) {
    if (!e.value->is_noop()) sizes.push_back(e.value->commands.size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 49}));
}

TEST(Proposer, AcceptIsResentUntilAnswered) {
  Cluster c(3);
  c.elect(1);
  c.node(1).propose(make_command(1, 1));
  c.flush();
  c.drop([](const Message& m) { return m.type == MessageType::kAccept && m.to != 1; });
  c.deliver();
  EXPECT_EQ(c.node(1).first_unchosen(), 1u);  // only its own vote
  c.advance(c.node(1).config().resend_ms);
  bool resent = false;
  for (const Message& m : c.network())
    resent |= m.type == MessageType::kAccept && m.to == 2;
  EXPECT_TRUE(resent);
  EXPECT_GT(c.node(1).stats().resent_accepts, 0u);
  ASSERT_TRUE(c.run_until([&] { return c.node(1).first_unchosen() == 2; }));
}

TEST(Proposer, PrepareIsResentUntilAnswered) {
  Cluster c(3);
  c.node(1).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.type == MessageType::kPrepare && m.to != 1; });
  c.deliver();
  EXPECT_EQ(c.node(1).role(), Role::kCandidate);
  c.advance(c.node(1).config().resend_ms);
  EXPECT_GT(c.node(1).stats().resent_prepares, 0u);
  c.deliver();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(Proposer, StaleLeaderStepsDownOnNack) {
  Cluster c(3, [](Config& cfg) { cfg.sticky_leader = false; });
  c.elect(1);
  c.elect(2);
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  // Node 1 may have heard node 2's prepare directly; either way it follows now.
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).leader(), std::optional<NodeId>(2));
}

TEST(Proposer, CommandThatLosesItsInstanceIsProposedAgain) {
  Cluster c(3, [](Config& cfg) { cfg.sticky_leader = false; });
  c.elect(1);
  // Node 1 proposes X at instance 1, but only its own acceptor takes it.
  c.node(1).propose(make_command(1, 1, "X"));
  c.flush();
  c.drop([](const Message& m) { return m.from == 1 && m.to != 1; });
  c.deliver([](const Message& m) { return m.to == 1; });
  // Node 2 leads without hearing from node 1 and fills instance 1 with Y.
  c.node(2).propose(make_command(2, 1, "Y"));
  c.node(2).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.to == 1 || m.from == 1; });
  c.deliver([](const Message& m) { return m.to != 1 && m.from != 1; });
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  ASSERT_TRUE(c.run_until([&] { return c.node(1).pending_commands() == 0; }));
  std::vector<std::string> order;
  for (const Entry& e : c.applied(1)) {
    if (!e.value->is_noop()) order.push_back(payloads(e.value));
  }
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], "Y;");  // Y won instance 1 ...
  EXPECT_EQ(order[1], "X;");  // ... and X was chosen later
}

// ----------------------------------------------------------------- learner

TEST(Learner, FollowerLearnsFromTheLeadersCommitAtTheSameBallot) {
  Cluster c(3);
  c.elect(1);
  c.node(1).propose(make_command(1, 1));
  ASSERT_TRUE(c.run_until([&] { return c.node(3).first_unchosen() == 2; }));
  // Node 3 learned without a LearnRequest: its acceptance matched the ballot.
  EXPECT_EQ(c.node(3).stats().learn_requests, 0u);
  ASSERT_EQ(c.applied(3).size(), 1u);
}

TEST(Learner, NodeThatMissedAcceptsFetchesTheChosenValues) {
  Cluster c(3);
  c.elect(1);
  for (uint64_t s = 1; s <= 5; ++s) {
    c.node(1).propose(make_command(1, s));
    c.flush();
    c.drop([](const Message& m) { return m.to == 3 && m.type == MessageType::kAccept; });
    c.deliver([](const Message& m) { return m.to != 3; });
  }
  EXPECT_EQ(c.node(3).first_unchosen(), 1u);
  EXPECT_EQ(c.node(1).first_unchosen(), 6u);
  ASSERT_TRUE(c.run_until([&] { return c.node(3).first_unchosen() == 6; }));
  EXPECT_GT(c.node(3).stats().learn_requests, 0u);
  EXPECT_EQ(c.applied(3).size(), 5u);
}

TEST(Learner, AppliesOnlyInInstanceOrder) {
  Node n = lone_node(2);
  const Ballot b{1, 1};
  Message acc = msg(MessageType::kAccept, 1, 2, b);
  acc.entries = {entry(2, b, "two")};
  acc.commit = 1;
  n.step(acc);
  n.take_ready();
  // Instance 2 is chosen (learn reply), instance 1 is not yet known.
  Message learn = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 1);
  Entry two = entry(2, b, "two");
  two.chosen = true;
  learn.entries = {two};
  ScenarioAccess::asked_to_learn(n, 1, 1);  // its own request, from instance 1
  n.step(learn);
  Ready r = n.take_ready();
  EXPECT_TRUE(r.apply.empty());
  Entry one = entry(1, b, "one");
  one.chosen = true;
  learn.entries = {one};
  ScenarioAccess::asked_to_learn(n, 1, 1);
  n.step(learn);
  r = n.take_ready();
  ASSERT_EQ(r.apply.size(), 2u);
  EXPECT_EQ(r.apply[0].instance, 1u);
  EXPECT_EQ(r.apply[1].instance, 2u);
}

TEST(Learner, NodeCutOffForLongConverges) {
  Cluster c(3);
  c.elect(1);
  c.crash(3);
  for (uint64_t s = 1; s <= 200; ++s)
    c.node(1).propose(make_command(1, s));
  ASSERT_TRUE(c.run_until([&] { return c.node(1).pending_commands() == 0; }));
  c.restart(3);
  const Instance target = c.node(1).first_unchosen();
  ASSERT_TRUE(c.run_until([&] { return c.node(3).first_unchosen() >= target; }));
  size_t commands = 0;
  for (const Entry& e : c.applied(3))
    commands += e.value->commands.size();
  EXPECT_EQ(commands, 200u);
}

// ---------------------------------------------------------------- handover

TEST(Handover, NewLeaderKeepsEveryChosenValue) {
  Cluster c(3);
  c.elect(1);
  for (uint64_t s = 1; s <= 10; ++s)
    c.node(1).propose(make_command(1, s));
  ASSERT_TRUE(c.run_until([&] { return c.node(1).pending_commands() == 0; }));
  const std::vector<Entry> before = c.applied(1);
  c.crash(1);
  c.node(2).propose(make_command(2, 1));
  ASSERT_TRUE(c.run_until([&] { return c.node(2).pending_commands() == 0; }));
  EXPECT_TRUE(c.node(2).role() == Role::kLeader || c.node(3).role() == Role::kLeader);
  const std::vector<Entry>& after = c.applied(2);
  ASSERT_GT(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].instance, before[i].instance);
    EXPECT_TRUE(same_value(after[i].value, before[i].value)) << "instance " << i + 1;
  }
}

TEST(Handover, FollowerForwardsToTheLeaderAndAnswersAfterApplying) {
  Cluster c(3);
  c.elect(1);
  c.node(3).propose(make_command(3, 1));
  c.flush();
  const std::vector<Message> sent(c.network().begin(), c.network().end());
  const Message* fwd = find(sent, MessageType::kForward, 1);
  ASSERT_NE(fwd, nullptr);
  EXPECT_EQ(fwd->commands.size(), 1u);
  ASSERT_TRUE(c.run_until([&] { return c.node(3).pending_commands() == 0; }));
  ASSERT_EQ(c.applied(3).size(), 1u);
  EXPECT_EQ(c.node(3).stats().commands_forwarded, 1u);
}

TEST(Handover, CommandIsRetriedWhenTheLeaderDiesBeforeProposingIt) {
  Cluster c(3);
  c.elect(1);
  c.node(3).propose(make_command(3, 1));
  c.flush();
  c.crash(1);
  c.drop([](const Message& m) { return m.to == 1; });
  ASSERT_TRUE(c.run_until([&] { return c.node(3).pending_commands() == 0; }));
  EXPECT_GT(c.node(3).stats().commands_retried, 0u);
  ASSERT_FALSE(c.applied(3).empty());
}

TEST(Handover, TwoCandidatesAtOnceAgreeOnEveryValue) {
  Cluster c(5, [](Config& cfg) { cfg.sticky_leader = false; });
  c.node(1).propose(make_command(1, 1, "one"));
  c.node(5).propose(make_command(5, 1, "five"));
  c.node(1).campaign();
  c.node(5).campaign();
  ASSERT_TRUE(c.run_until(
      [&] { return c.node(1).pending_commands() == 0 && c.node(5).pending_commands() == 0; }));
  ASSERT_TRUE(c.run_until([&] {
    return c.node(2).first_unchosen() == c.node(1).first_unchosen() &&
           c.node(4).first_unchosen() == c.node(1).first_unchosen();
  }));
  for (NodeId n = 2; n <= 5; ++n) {
    const auto& a = c.applied(1);
    const auto& b = c.applied(n);
    const size_t common = std::min(a.size(), b.size());
    for (size_t i = 0; i < common; ++i)
      EXPECT_TRUE(same_value(a[i].value, b[i].value));
  }
}

// ----------------------------------------------------------------- restart

TEST(Restart, PromiseSurvivesRestart) {
  Cluster c(3);
  c.elect(2);
  const Ballot b = c.node(1).promised();
  ASSERT_FALSE(b.is_zero());
  c.crash(1);
  c.restart(1);
  EXPECT_EQ(c.node(1).promised(), b);
}

TEST(Restart, ChosenValuesAreAppliedAgainFromDisk) {
  Cluster c(3);
  c.elect(1);
  for (uint64_t s = 1; s <= 3; ++s)
    c.node(1).propose(make_command(1, s));
  ASSERT_TRUE(c.run_until([&] {
    return c.node(2).first_unchosen() == c.node(1).first_unchosen() &&
           c.node(1).pending_commands() == 0;
  }));
  const Instance fu = c.node(2).first_unchosen();
  c.crash(2);
  c.restart(2);
  EXPECT_EQ(c.node(2).first_unchosen(), fu);
  c.flush();
  EXPECT_EQ(c.applied(2).size(), fu - 1);
}

TEST(Restart, CandidateNeverReusesABallotAfterRestart) {
  Cluster c(3);
  c.node(1).campaign();
  const Ballot first = c.node(1).ballot();
  c.flush();  // the self-promise is on disk before any prepare leaves
  c.crash(1);
  c.restart(1);
  c.node(1).campaign();
  EXPECT_GT(c.node(1).ballot(), first);
}

}  // namespace
}  // namespace paxlock::paxos
