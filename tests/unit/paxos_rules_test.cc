// Named scenarios for the consensus core's rules, in the style of etcd raft's
// raft_paper_test.go: each test is a small script over one pure paxos::Node
// (tick, step, propose, take_ready) or a few of them, with simulated time. It
// is named after the rule it checks, quotes the rule, and checks what the
// node does (messages it sends, its role, what it marks chosen, what it asks
// to persist). Each says which code change makes it fail ("Breaks if").
//
// The scripted tests start elections with Node::campaign() (a forced
// election), never by letting a follower's election timer run out, so that
// they do not depend on how a timeout turns into an election. (The random
// schedule in PersistBeforeSend lets timers run too, but checks nothing
// about elections.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>

#include "cluster_harness.h"
#include "scenario_access.h"

namespace paxlock::paxos {
namespace {

using testing::make_command;

// Three members; tests drive node `self` by hand. Timeouts are the defaults:
// heartbeat 50 ms, election timeout 300 ms.
Node make_node(NodeId self, const std::function<void(Config&)>& tweak = {}) {
  Config c;
  c.self = self;
  c.members = {1, 2, 3};
  if (tweak) tweak(c);
  Node n(c);
  n.restore(Restored{}, 0);
  return n;
}

void not_sticky(Config& c) {
  c.sticky_leader = false;
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

Value value_of(const std::string& payload) {
  auto batch = std::make_shared<Batch>();
  batch->commands.push_back(make_command(99, 1, payload));
  return batch;
}

Entry entry(Instance i, Ballot b, const std::string& payload, bool chosen = false) {
  return Entry{i, b, value_of(payload), chosen};
}

std::string payload(const Value& v) {
  std::string s;
  for (const Command& c : v->commands)
    s += c.payload;
  return s;
}

std::vector<const Message*> all(const Ready& r, MessageType t, NodeId to = 0) {
  std::vector<const Message*> out;
  for (const auto* v : {&r.send_now, &r.send_after_sync}) {
    for (const Message& m : *v) {
      if (m.type == t && (to == 0 || m.to == to)) out.push_back(&m);
    }
  }
  return out;
}

const Message* find(const std::vector<Message>& v, MessageType t, NodeId to = 0) {
  for (const Message& m : v) {
    if (m.type == t && (to == 0 || m.to == to)) return &m;
  }
  return nullptr;
}

std::vector<Instance> instances(const std::vector<Entry>& entries) {
  std::vector<Instance> out;
  for (const Entry& e : entries)
    out.push_back(e.instance);
  return out;
}

// Node 1 elected at time 0 by the promises of nodes 2 and 3.
Node elected_leader(const std::function<void(Config&)>& tweak = {}) {
  Node n = make_node(1, tweak);
  n.campaign();
  n.take_ready();
  n.step(msg(MessageType::kPromise, 2, 1, n.ballot()));
  n.step(msg(MessageType::kPromise, 3, 1, n.ballot()));
  EXPECT_EQ(n.role(), Role::kLeader);
  n.take_ready();
  return n;
}

// Ticks a leader elected at 0 through its heartbeats at 50, 100, 150, 200 and
// 260, so that its next heartbeat is due at 310; `acks` are CommitAcks stepped
// in right after the heartbeat at 100.
void run_heartbeats_until_260(Node& n, const std::vector<NodeId>& acks) {
  for (TimeMs t : {50, 100, 150, 200, 260}) {
    n.tick(t);
    if (t == 100) {
      for (NodeId from : acks)
        n.step(msg(MessageType::kCommitAck, from, 1, n.ballot()));
    }
    n.take_ready();
    ASSERT_EQ(n.role(), Role::kLeader) << "at " << t;
  }
}

// ------------------------------------------------------------ sticky leader
//
// acceptor.cc on_prepare: "while this node follows a live leader (or leads
// with a live quorum) it does not answer anyone else's higher prepare, so a
// node that was cut off cannot depose a working leader when it returns."

// Node 2, following node 1, which was last heard at time 0 (an Accept).
Node follower_of_node_1() {
  Node n = make_node(2);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(1, Ballot{1, 1}, "a")};
  n.step(acc);
  n.take_ready();
  EXPECT_EQ(n.leader(), std::optional<NodeId>(1));
  return n;
}

// Breaks if the follower half of the sticky check in on_prepare is removed
// (`if (role_ != Role::kLeader && leader_alive() ...) return;`).
TEST(StickyLeader, FollowerOfALiveLeaderDoesNotAnswerAnotherNodesHigherPrepare) {
  Node n = follower_of_node_1();
  n.tick(299);  // the leader was heard 299 ms ago: still alive
  ASSERT_EQ(n.role(), Role::kFollower);
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}));
  Ready r = n.take_ready();
  EXPECT_TRUE(all(r, MessageType::kPromise).empty());
  EXPECT_TRUE(all(r, MessageType::kNack).empty());
  EXPECT_FALSE(r.promised.has_value());
  EXPECT_EQ(n.promised(), (Ballot{1, 1}));
  EXPECT_EQ(n.leader(), std::optional<NodeId>(1));
}

// Breaks if leader_alive() ignores the time since the leader was last heard,
// or if the sticky check also applies to a dead leader.
TEST(StickyLeader, FollowerAnswersTheHigherPrepareOnceItsLeaderIsSilentForTheElectionTimeout) {
  Node n = follower_of_node_1();
  n.tick(299);
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}));
  n.take_ready();  // ignored, as above
  n.tick(300);     // silent for exactly election_timeout_ms
  ASSERT_EQ(n.role(), Role::kFollower);
  ASSERT_EQ(n.leader(), std::nullopt);
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}));  // the candidate's resend
  Ready r = n.take_ready();
  const Message* p = find(r.send_after_sync, MessageType::kPromise, 3);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->ballot, (Ballot{2, 3}));
  ASSERT_EQ(p->entries.size(), 1u);  // and it reports what it accepted from node 1
  EXPECT_EQ(payload(p->entries[0].value), "a");
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(*r.promised, (Ballot{2, 3}));
  EXPECT_EQ(n.promised(), (Ballot{2, 3}));
}

// The leader itself may raise its ballot: the sticky rule only shields it from
// others. Breaks if the `leader_ != m.from` exception is dropped.
TEST(StickyLeader, FollowerAnswersItsOwnLeadersHigherPrepare) {
  Node n = follower_of_node_1();
  n.tick(100);
  n.step(msg(MessageType::kPrepare, 1, 2, Ballot{2, 1}));
  Ready r = n.take_ready();
  EXPECT_NE(find(r.send_after_sync, MessageType::kPromise, 1), nullptr);
  EXPECT_EQ(n.promised(), (Ballot{2, 1}));
}

// Breaks if the leader half of the sticky check is removed
// (`if (role_ == Role::kLeader && quorum_alive()) return;`).
TEST(StickyLeader, LeaderWithALiveQuorumDoesNotAnswerAHigherPrepare) {
  Node n = elected_leader();
  run_heartbeats_until_260(n, /*acks=*/{2});
  n.tick(310);  // node 2 answered at 100: {1, 2} is a live quorum
  n.take_ready();
  ASSERT_EQ(n.role(), Role::kLeader);
  const Ballot mine = n.ballot();
  n.step(msg(MessageType::kPrepare, 3, 1, Ballot{mine.round + 1, 3}));
  Ready r = n.take_ready();
  EXPECT_TRUE(all(r, MessageType::kPromise).empty());
  EXPECT_TRUE(all(r, MessageType::kNack).empty());
  EXPECT_FALSE(r.promised.has_value());
  EXPECT_EQ(n.promised(), mine);
  EXPECT_EQ(n.role(), Role::kLeader);
}

// Breaks if a leader ignores higher prepares whatever its quorum (for example
// `if (role_ == Role::kLeader) return;`), or if quorum_alive() counts peers
// not heard within the election timeout. It needs a leader whose quorum
// lapsed between two heartbeats, so it also fails (at its precondition) if
// check_quorum runs at every tick.
TEST(StickyLeader, LeaderWithoutALiveQuorumAnswersAHigherPrepareAndStepsDown) {
  Node n = elected_leader();
  run_heartbeats_until_260(n, /*acks=*/{});
  n.tick(305);  // no peer answered since 0; the next heartbeat (check) is at 310
  n.take_ready();
  ASSERT_EQ(n.role(), Role::kLeader);
  const Ballot higher{n.ballot().round + 1, 3};
  n.step(msg(MessageType::kPrepare, 3, 1, higher));
  Ready r = n.take_ready();
  const Message* p = find(r.send_after_sync, MessageType::kPromise, 3);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->ballot, higher);
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(*r.promised, higher);
  EXPECT_EQ(n.role(), Role::kFollower);
}

// ------------------------------------------------------------- check-quorum
//
// proposer.cc check_quorum, run at every heartbeat: "Cut off from a quorum:
// stop claiming leadership so that commands taken here are sent to whoever
// leads the majority." A peer counts while its last answer to our ballot is
// less than election_timeout_ms old.

// Breaks if check_quorum() is not called at heartbeats, does nothing, or is
// called on every tick (the leader would step down at 305 already).
TEST(CheckQuorum, LeaderThatHeardFromNoQuorumWithinTheElectionTimeoutStepsDownAtItsNextHeartbeat) {
  Node n = elected_leader();
  run_heartbeats_until_260(n, /*acks=*/{});
  n.tick(305);
  Ready r = n.take_ready();
  EXPECT_EQ(n.role(), Role::kLeader) << "steps down at a heartbeat, not at any tick";
  n.tick(310);
  r = n.take_ready();
  EXPECT_EQ(n.role(), Role::kFollower);
  EXPECT_NE(n.leader(), std::optional<NodeId>(1));
  EXPECT_EQ(n.stats().stepped_down, 1u);
  EXPECT_TRUE(all(r, MessageType::kCommit).empty()) << "no heartbeat from a deposed leader";
  EXPECT_TRUE(all(r, MessageType::kAccept).empty());
}

// Breaks if quorum_alive() ignores the peers' answers (for example counts
// only itself) or if CommitAck does not refresh the peer's time.
TEST(CheckQuorum, LeaderThatHeardFromAQuorumWithinTheElectionTimeoutStays) {
  Node n = elected_leader();
  run_heartbeats_until_260(n, /*acks=*/{2});
  n.tick(310);
  Ready r = n.take_ready();
  EXPECT_EQ(n.role(), Role::kLeader);
  EXPECT_EQ(n.leader(), std::optional<NodeId>(1));
  EXPECT_EQ(n.stats().stepped_down, 0u);
  EXPECT_NE(find(r.send_now, MessageType::kCommit, 2), nullptr);
  EXPECT_NE(find(r.send_now, MessageType::kCommit, 3), nullptr);
  // Node 2's answer at 100 expires at 400: the heartbeat at 410 finds no quorum.
  for (TimeMs t : {360, 410}) {
    n.tick(t);
    n.take_ready();
  }
  EXPECT_EQ(n.role(), Role::kFollower);
}

// ------------------------------------------ a chosen instance, only its value
//
// acceptor.cc on_accept: "Acknowledge only the value that was chosen: any
// other would let a stale leader count this node for a value that can no
// longer win." And the acceptor keeps the chosen value in its log.

// Node 2, which learned that instance 1 is chosen with "v" at ballot (1,1).
Node node_that_learned_instance_1_is_v() {
  Node n = make_node(2);
  ScenarioAccess::asked_to_learn(n, 1, 1);
  Message learn = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 1);
  learn.entries = {entry(1, Ballot{1, 1}, "v", /*chosen=*/true)};
  n.step(learn);
  Ready r = n.take_ready();
  EXPECT_EQ(r.apply.size(), 1u);
  EXPECT_EQ(n.first_unchosen(), 2u);
  return n;
}

// Breaks if on_accept acknowledges a chosen instance whatever the value, or
// treats a chosen slot like any other (accepting and overwriting it).
TEST(ChosenInstance, AcceptorDoesNotAcknowledgeAnotherValueForAChosenInstanceNorOverwriteIt) {
  Node n = node_that_learned_instance_1_is_v();
  Message acc = msg(MessageType::kAccept, 3, 2, Ballot{2, 3});
  acc.entries = {entry(1, Ballot{2, 3}, "w")};
  n.step(acc);
  Ready r = n.take_ready();
  for (const Message* m : all(r, MessageType::kAccepted))
    EXPECT_EQ(std::count(m->instances.begin(), m->instances.end(), 1u), 0);
  EXPECT_TRUE(r.entries.empty()) << "nothing to persist: the log keeps v";
  ASSERT_NE(n.slot(1), nullptr);
  EXPECT_TRUE(n.slot(1)->chosen);
  EXPECT_EQ(payload(n.slot(1)->value), "v");
  EXPECT_EQ(n.slot(1)->ballot, (Ballot{1, 1}));
  EXPECT_TRUE(r.apply.empty());

  // In one Accept with an open instance, only the open one is acknowledged.
  Message mixed = msg(MessageType::kAccept, 3, 2, Ballot{3, 3});
  mixed.entries = {entry(1, Ballot{3, 3}, "w"), entry(2, Ballot{3, 3}, "x")};
  n.step(mixed);
  r = n.take_ready();
  const Message* ack = find(r.send_after_sync, MessageType::kAccepted, 3);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->instances, (std::vector<Instance>{2}));
  EXPECT_EQ(instances(r.entries), (std::vector<Instance>{2}));
  EXPECT_EQ(payload(n.slot(1)->value), "v");
}

// Breaks if on_accept never acknowledges a chosen instance (a new leader
// that re-proposes the chosen value could then be stuck without a quorum),
// or compares values by pointer instead of by content.
TEST(ChosenInstance, AcceptorAcknowledgesTheChosenValueAtAnyBallotAtLeastItsPromise) {
  Node n = node_that_learned_instance_1_is_v();
  for (const Ballot b : {Ballot{2, 3}, Ballot{5, 1}}) {
    Message acc = msg(MessageType::kAccept, b.node, 2, b);
    acc.entries = {entry(1, b, "v")};  // equal content, another object
    n.step(acc);
    Ready r = n.take_ready();
    const Message* ack = find(r.send_after_sync, MessageType::kAccepted, b.node);
    ASSERT_NE(ack, nullptr) << b.to_string();
    EXPECT_EQ(ack->ballot, b);
    EXPECT_EQ(ack->instances, (std::vector<Instance>{1}));
    EXPECT_TRUE(r.entries.empty()) << "already on disk, chosen: not rewritten";
    EXPECT_EQ(n.slot(1)->ballot, (Ballot{1, 1}));
    EXPECT_TRUE(n.slot(1)->chosen);
  }
  // Below the promise (5,1), even the chosen value gets a Nack.
  Message low = msg(MessageType::kAccept, 3, 2, Ballot{4, 3});
  low.entries = {entry(1, Ballot{4, 3}, "v")};
  n.step(low);
  Ready r = n.take_ready();
  EXPECT_TRUE(all(r, MessageType::kAccepted).empty());
  EXPECT_NE(find(r.send_after_sync, MessageType::kNack, 3), nullptr);
}

// ---------------------------------------------------------- install_snapshot
//
// node.cc install_snapshot: "The snapshot covers everything below `next`.
// What this acceptor accepted at or above it stays: it may have been
// acknowledged." A candidate or leader steps down.

// Breaks if install_snapshot drops the whole log (log_.reset(next) instead
// of log_.discard_below(next)), or keeps the slots below next.
TEST(InstallSnapshot, KeepsAcceptancesAtOrAboveTheSnapshotPointAndDiscardsThoseBelow) {
  Node n = make_node(2, not_sticky);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(1, Ballot{1, 1}, "a"), entry(2, Ballot{1, 1}, "b"),
                 entry(3, Ballot{1, 1}, "c"), entry(4, Ballot{1, 1}, "d"),
                 entry(5, Ballot{1, 1}, "e")};
  n.step(acc);
  Ready r = n.take_ready();
  ASSERT_EQ(r.entries.size(), 5u);

  n.install_snapshot(4);
  EXPECT_EQ(n.log_start(), 4u);
  for (Instance i = 1; i < 4; ++i)
    EXPECT_EQ(n.slot(i), nullptr) << i;
  for (Instance i : {4, 5}) {
    const Slot* s = n.slot(i);
    ASSERT_NE(s, nullptr) << i;
    EXPECT_EQ(s->ballot, (Ballot{1, 1})) << i;
    EXPECT_EQ(payload(s->value), i == 4 ? "d" : "e");
    EXPECT_FALSE(s->chosen) << i;
  }
  EXPECT_EQ(n.first_unchosen(), 4u);
  EXPECT_EQ(n.next_apply(), 4u);

  // A new candidate hears of them: they may be chosen (acknowledged to node 1).
  n.step(msg(MessageType::kPrepare, 3, 2, Ballot{2, 3}, /*from instance*/ 1));
  r = n.take_ready();
  const Message* p = find(r.send_after_sync, MessageType::kPromise, 3);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->log_start, 4u);
  ASSERT_EQ(instances(p->entries), (std::vector<Instance>{4, 5}));
  EXPECT_EQ(p->entries[0].ballot, (Ballot{1, 1}));
  EXPECT_EQ(payload(p->entries[1].value), "e");
  // And the new leader's Accept of instance 5 is answered as usual.
  Message again = msg(MessageType::kAccept, 3, 2, Ballot{2, 3});
  again.entries = {entry(5, Ballot{2, 3}, "e")};
  n.step(again);
  r = n.take_ready();
  EXPECT_NE(find(r.send_after_sync, MessageType::kAccepted, 3), nullptr);
}

// Breaks if install_snapshot advances first_unchosen only to `next` and not
// past the chosen instances it kept.
TEST(InstallSnapshot, FirstUnchosenMovesPastChosenInstancesItKept) {
  Node n = make_node(2);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(3, Ballot{1, 1}, "c"), entry(4, Ballot{1, 1}, "d")};
  n.step(acc);
  ScenarioAccess::asked_to_learn(n, 1, 3);
  Message learn = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 3);
  learn.entries = {entry(3, Ballot{1, 1}, "c", /*chosen=*/true)};
  n.step(learn);
  n.take_ready();
  ASSERT_EQ(n.first_unchosen(), 1u);  // 1 and 2 still unknown here
  n.install_snapshot(3);
  EXPECT_EQ(n.first_unchosen(), 4u);
  Ready r = n.take_ready();
  ASSERT_EQ(r.apply.size(), 1u);  // instance 3, from the log, after the snapshot
  EXPECT_EQ(r.apply[0].instance, 3u);
  EXPECT_EQ(payload(r.apply[0].value), "c");
}

// Breaks if install_snapshot does not step a candidate or leader down.
TEST(InstallSnapshot, CandidateAndLeaderStepDown) {
  Node candidate = make_node(1);
  candidate.campaign();
  candidate.take_ready();
  ASSERT_EQ(candidate.role(), Role::kCandidate);
  candidate.install_snapshot(10);
  EXPECT_EQ(candidate.role(), Role::kFollower);
  candidate.take_ready();

  Node leader = elected_leader();
  leader.install_snapshot(10);
  EXPECT_EQ(leader.role(), Role::kFollower);
  EXPECT_EQ(leader.leader(), std::nullopt);
  EXPECT_EQ(leader.inflight_instances(), 0u);
  leader.take_ready();
  // Its next phase 1 starts at the snapshot point.
  leader.campaign();
  Ready r = leader.take_ready();
  const Message* prep = find(r.send_after_sync, MessageType::kPrepare, 2);
  ASSERT_NE(prep, nullptr);
  EXPECT_EQ(prep->instance, 10u);
}

// ---------------------------------------------------------- accept_ahead_max
//
// config.h: "acceptor ignores instances this far past its commit"; acceptor.cc
// on_accept skips e.instance >= first_unchosen_ + accept_ahead_max.

// Breaks if the bound is dropped, off by one (> instead of >=), or measured
// from something other than first_unchosen (the second half slides it).
TEST(AcceptAheadMax, AcceptorIgnoresInstancesAtOrBeyondFirstUnchosenPlusTheBound) {
  Node n = make_node(2, [](Config& c) { c.accept_ahead_max = 4; });
  const Ballot b{1, 1};
  Message acc = msg(MessageType::kAccept, 1, 2, b);
  for (Instance i = 1; i <= 6; ++i)
    acc.entries.push_back(entry(i, b, "v" + std::to_string(i)));
  n.step(acc);
  Ready r = n.take_ready();
  // first_unchosen = 1: instances 1..4 are taken, 5 = 1 + 4 and 6 are not.
  EXPECT_EQ(instances(r.entries), (std::vector<Instance>{1, 2, 3, 4}));
  const Message* ack = find(r.send_after_sync, MessageType::kAccepted, 1);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->instances, (std::vector<Instance>{1, 2, 3, 4}));
  EXPECT_EQ(n.slot(5), nullptr);
  EXPECT_EQ(n.slot(6), nullptr);
  EXPECT_EQ(n.log_end(), 5u);

  // Instances 1 and 2 are chosen: the window now ends before 3 + 4 = 7.
  Message commit = msg(MessageType::kCommit, 1, 2, b);
  commit.commit = 3;
  n.step(commit);
  n.take_ready();
  ASSERT_EQ(n.first_unchosen(), 3u);
  Message resend = msg(MessageType::kAccept, 1, 2, b);
  for (Instance i = 5; i <= 7; ++i)
    resend.entries.push_back(entry(i, b, "v" + std::to_string(i)));
  n.step(resend);
  r = n.take_ready();
  EXPECT_EQ(instances(r.entries), (std::vector<Instance>{5, 6}));
  ack = find(r.send_after_sync, MessageType::kAccepted, 1);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->instances, (std::vector<Instance>{5, 6}));
  EXPECT_EQ(n.slot(7), nullptr);
}

// ------------------------------------------------------- persist before send
//
// node.h: "`send_after_sync` messages leave only once every record of that
// Ready (and all earlier ones) is durable"; acceptor.cc: "Promises and
// acceptances leave only after they are durable (send_after_sync)." So a
// Promise, Accepted or Nack is never in send_now, and what it reveals (the
// promise, each acceptance) is on disk once its own Ready is.

// A hand-driven cluster that checks every Ready of every node against that
// node's disk, under a long seeded random schedule of deliveries, losses,
// duplicates, ticks, forced campaigns, commands and restarts.
class CheckedCluster {
 public:
  explicit CheckedCluster(uint64_t seed) : rng_(seed) {
    for (NodeId id : ids_)
      boot(id);
  }

  void run(int steps) {
    for (int s = 0; s < steps; ++s) {
      const int64_t action = rng_.uniform(0, 99);
      if (action < 50) {
        if (!net_.empty()) deliver(pick(net_.size()), /*duplicate=*/rng_.chance(0.05));
      } else if (action < 58) {
        if (!net_.empty()) net_.erase(net_.begin() + static_cast<ptrdiff_t>(pick(net_.size())));
      } else if (action < 75) {
        now_ += 10;
        for (auto& [id, n] : nodes_)
          n->tick(now_);
      } else if (action < 79) {
        if (Node* n = random_up()) n->campaign();
      } else if (action < 92) {
        if (Node* n = random_up()) n->propose(make_command(n->id(), ++seq_));
      } else if (action < 95) {
        if (nodes_.size() == ids_.size()) nodes_.erase(ids_[pick(ids_.size())]);
      } else if (action < 98) {
        for (NodeId id : ids_) {
          if (!nodes_.count(id)) boot(id);
        }
      }
      flush();
    }
  }

  int promises = 0, promise_entries = 0, accepteds = 0, nacks = 0;

 private:
  size_t pick(size_t n) {
    return static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(n) - 1));
  }

  Node* random_up() {
    NodeId id = ids_[pick(ids_.size())];
    return nodes_.count(id) ? nodes_[id].get() : nullptr;
  }

  void boot(NodeId id) {
    Config c;
    c.self = id;
    c.members = ids_;
    c.rng_seed = id * 31 + 5;
    c.sticky_leader = false;  // let forced campaigns really take over
    nodes_[id] = std::make_unique<Node>(c);
    nodes_[id]->restore(disks_[id], now_);
  }

  void deliver(size_t i, bool duplicate) {
    Message m = net_[i];
    if (!duplicate) net_.erase(net_.begin() + static_cast<ptrdiff_t>(i));
    if (nodes_.count(m.to)) nodes_[m.to]->step(m);
  }

  void flush() {
    for (bool again = true; again;) {
      again = false;
      for (auto& [id, n] : nodes_) {
        Ready r = n->take_ready();
        if (r.empty()) continue;
        again = true;
        persist(disks_[id], r);
        check(id, r);
        for (auto* v : {&r.send_now, &r.send_after_sync}) {
          for (Message& m : *v)
            net_.push_back(std::move(m));
        }
      }
    }
  }

  static void persist(Restored& d, const Ready& r) {
    if (r.promised) d.promised = std::max(d.promised, *r.promised);
    for (const Entry& e : r.entries) {
      auto it = std::find_if(d.entries.begin(), d.entries.end(),
                             [&](const Entry& x) { return x.instance == e.instance; });
      if (it == d.entries.end()) {
        d.entries.push_back(e);
      } else {
        *it = e;
      }
    }
    d.commit = std::max(d.commit, r.commit);
  }

  const Entry* on_disk(NodeId id, Instance i) const {
    const auto& es = disks_.at(id).entries;
    auto it = std::find_if(es.begin(), es.end(), [&](const Entry& e) { return e.instance == i; });
    return it == es.end() ? nullptr : &*it;
  }

  // `d` already holds this Ready's records, as it will when send_after_sync
  // may leave.
  void check(NodeId id, const Ready& r) {
    const Restored& d = disks_.at(id);
    for (const Message& m : r.send_now) {
      if (m.type == MessageType::kAccept) {
        for (const Entry& e : m.entries)
          proposed_[{m.ballot, e.instance}] = e.value;
      }
      EXPECT_NE(m.type, MessageType::kPromise) << "node " << id << ": " << m.to_string();
      EXPECT_NE(m.type, MessageType::kAccepted) << "node " << id << ": " << m.to_string();
      EXPECT_NE(m.type, MessageType::kNack) << "node " << id << ": " << m.to_string();
    }
    for (const Message& m : r.send_after_sync) {
      switch (m.type) {
        case MessageType::kPromise:
          ++promises;
          EXPECT_LE(m.ballot, d.promised) << "node " << id << ": promise not durable";
          for (const Entry& e : m.entries) {
            ++promise_entries;
            const Entry* disk = on_disk(id, e.instance);
            ASSERT_NE(disk, nullptr) << "node " << id << " reports " << e.instance;
            EXPECT_EQ(disk->ballot, e.ballot) << "node " << id << " instance " << e.instance;
            EXPECT_TRUE(same_value(disk->value, e.value)) << "node " << id;
          }
          break;
        case MessageType::kAccepted:
          ++accepteds;
          EXPECT_LE(m.ballot, d.promised) << "node " << id;
          for (Instance i : m.instances) {
            const Entry* disk = on_disk(id, i);
            ASSERT_NE(disk, nullptr) << "node " << id << " acknowledges " << i;
            auto it = proposed_.find({m.ballot, i});
            ASSERT_NE(it, proposed_.end());
            EXPECT_TRUE(same_value(disk->value, it->second))
                << "node " << id << " acknowledges " << i << " at " << m.ballot.to_string()
                << " without that value on disk";
          }
          break;
        case MessageType::kNack:
          ++nacks;
          EXPECT_LE(m.ballot, d.promised) << "node " << id;
          break;
        default:
          break;
      }
    }
  }

  std::vector<NodeId> ids_{1, 2, 3};
  Rng rng_;
  TimeMs now_ = 0;
  uint64_t seq_ = 0;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::map<NodeId, Restored> disks_;
  std::deque<Message> net_;
  std::map<std::pair<Ballot, Instance>, Value> proposed_;
};

// Breaks if send_promise, nack or flush_outboxes (Accepted) send with
// after_sync = false, if on_accept acknowledges an entry without putting it
// into ready_.entries, or if it takes any earlier acceptance of the instance
// for a resend (`if (s.value)` instead of `s.value && s.ballot == m.ballot`).
TEST(PersistBeforeSend, PromiseAcceptedAndNackLeaveAfterSyncWithWhatTheyRevealInTheirReady) {
  for (uint64_t seed : {1, 2, 3}) {
    CheckedCluster c(seed);
    c.run(4000);
    if (::testing::Test::HasFailure()) FAIL() << "seed " << seed;
    // The schedule reached the interesting cases.
    EXPECT_GT(c.promises, 50) << "seed " << seed;
    EXPECT_GT(c.promise_entries, 50) << "seed " << seed;
    EXPECT_GT(c.accepteds, 100) << "seed " << seed;
    EXPECT_GT(c.nacks, 5) << "seed " << seed;
  }
}

// The single-step form: the Promise for a fresh prepare and the Accepted for
// a fresh accept travel in the very Ready that persists what they reveal.
// Breaks like the test above, except for the resend case.
TEST(PersistBeforeSend, PromiseAndAcceptedTravelWithTheirRecordsInOneReady) {
  Node n = make_node(2, not_sticky);
  n.step(msg(MessageType::kPrepare, 1, 2, Ballot{1, 1}));
  Ready r = n.take_ready();
  ASSERT_NE(find(r.send_after_sync, MessageType::kPromise, 1), nullptr);
  EXPECT_EQ(find(r.send_now, MessageType::kPromise), nullptr);
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(*r.promised, (Ballot{1, 1}));

  // An Accept at a higher ballot raises the promise and accepts in one step.
  Message acc = msg(MessageType::kAccept, 3, 2, Ballot{2, 3});
  acc.entries = {entry(1, Ballot{2, 3}, "x"), entry(2, Ballot{2, 3}, "y")};
  n.step(acc);
  r = n.take_ready();
  const Message* ack = find(r.send_after_sync, MessageType::kAccepted, 3);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(find(r.send_now, MessageType::kAccepted), nullptr);
  EXPECT_EQ(ack->instances, (std::vector<Instance>{1, 2}));
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(*r.promised, (Ballot{2, 3}));
  ASSERT_EQ(instances(r.entries), (std::vector<Instance>{1, 2}));
  for (const Entry& e : r.entries)
    EXPECT_EQ(e.ballot, (Ballot{2, 3}));
  EXPECT_TRUE(r.needs_sync());
}

// ---------------------------------------------------------------- Nack
//
// proposer.cc on_nack: a candidate or leader steps down for a Nack whose
// ballot (the acceptor's promise) is above its own ballot; a Nack at or below
// it is an answer to something older and changes nothing.

// Breaks if on_nack compares with >= (or ignores the ballot), or ignores
// Nacks while a candidate.
TEST(Nack, CandidateStepsDownOnlyForANackAboveItsBallot) {
  Node n = make_node(1);
  n.step(msg(MessageType::kPrepare, 3, 1, Ballot{1, 3}));
  n.take_ready();
  n.campaign();
  n.take_ready();
  ASSERT_EQ(n.ballot(), (Ballot{2, 1}));
  for (const Ballot b : {Ballot{1, 3}, Ballot{2, 1}}) {
    n.step(msg(MessageType::kNack, 2, 1, b));
    n.take_ready();
    EXPECT_EQ(n.role(), Role::kCandidate) << b.to_string();
  }
  n.step(msg(MessageType::kNack, 2, 1, Ballot{2, 3}));
  n.take_ready();
  EXPECT_EQ(n.role(), Role::kFollower);
  // The next campaign goes above the ballot the Nack revealed.
  n.campaign();
  EXPECT_GT(n.ballot(), (Ballot{2, 3}));
  // And promises for the old ballot no longer make it leader.
  n.take_ready();
  n.step(msg(MessageType::kPromise, 2, 1, Ballot{2, 1}));
  n.step(msg(MessageType::kPromise, 3, 1, Ballot{2, 1}));
  EXPECT_EQ(n.role(), Role::kCandidate);
}

// Breaks if on_nack compares with >= (or ignores the ballot), or ignores
// Nacks while leading.
// A leader is refused by one acceptor whose promise is above its ballot. If a
// quorum answered its ballot within the election timeout, that promise comes
// from an election that did not finish (a candidate cut off before its
// Prepares arrived): the leader runs phase 1 again above it instead of
// leaving the cluster without a leader (issue 13, Liveness C). Once per
// election timeout; otherwise it steps down.
// Breaks if: on_nack steps down whenever the ballot is higher (the old rule),
// or re-runs phase 1 without the once-per-timeout limit.
TEST(Nack, LeaderWithALiveQuorumRunsPhase1AgainAboveAHigherNackOncePerTimeout) {
  Node n = elected_leader();
  n.propose(make_command(1, 1, "x"));
  n.take_ready();
  ASSERT_EQ(n.inflight_instances(), 1u);
  const Ballot mine = n.ballot();
  for (const Ballot b : {Ballot{}, Ballot{mine.round, 0}, mine}) {
    n.step(msg(MessageType::kNack, 2, 1, b));
    n.take_ready();
    EXPECT_EQ(n.role(), Role::kLeader) << b.to_string();
  }
  const Ballot higher{mine.round, 3};  // same round, higher node id
  ASSERT_GT(higher, mine);
  n.step(msg(MessageType::kNack, 2, 1, higher));
  Ready r = n.take_ready();
  EXPECT_EQ(n.role(), Role::kCandidate);
  EXPECT_GT(n.ballot(), higher);
  EXPECT_EQ(all(r, MessageType::kPrepare).size(), 3u);
  EXPECT_EQ(n.pending_commands(), 1u) << "its command waits for the next leader";
  // Elected again at the new ballot; a second higher Nack within the same
  // election timeout makes it step down.
  n.step(msg(MessageType::kPromise, 2, 1, n.ballot()));
  n.step(msg(MessageType::kPromise, 3, 1, n.ballot()));
  n.take_ready();
  ASSERT_EQ(n.role(), Role::kLeader);
  const Ballot even_higher{n.ballot().round + 1, 2};
  n.step(msg(MessageType::kNack, 2, 1, even_higher));
  r = n.take_ready();
  EXPECT_EQ(n.role(), Role::kFollower);
  EXPECT_EQ(n.leader(), std::nullopt);
  EXPECT_TRUE(all(r, MessageType::kAccept).empty());
}

// Without answers at its ballot from a quorum, a higher Nack makes a leader
// step down at once.
// Breaks if: on_nack ignores the quorum condition.
TEST(Nack, LeaderWithoutALiveQuorumStepsDownForAHigherNack) {
  // Heartbeats every 200 ms, so that the leader is still leading at 350 ms,
  // when the promises it was elected with (at 0) are older than the timeout.
  Node n = elected_leader([](Config& c) { c.heartbeat_ms = 200; });
  n.propose(make_command(1, 1, "x"));
  n.take_ready();
  n.tick(200);  // heartbeat; no answers come
  n.take_ready();
  n.tick(350);
  n.take_ready();
  ASSERT_EQ(n.role(), Role::kLeader);
  n.step(msg(MessageType::kNack, 2, 1, Ballot{n.ballot().round, 3}));
  n.take_ready();
  EXPECT_EQ(n.role(), Role::kFollower);
  EXPECT_EQ(n.inflight_instances(), 0u);
}

}  // namespace
}  // namespace paxlock::paxos
