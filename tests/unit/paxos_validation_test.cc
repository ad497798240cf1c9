// Peer input the core refuses (issue 16): each attack of the hostile-input
// review, as a scripted test against one core. The node must not abort, must
// not take the forged value, must not grow its log past its window, and
// must count what it refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "cluster_harness.h"
#include "scenario_access.h"

namespace paxlock::paxos {
namespace {

using testing::make_command;

constexpr Instance kWindow = 1 << 16;  // Config::accept_ahead_max's default

Node make_node(NodeId self) {
  Config c;
  c.self = self;
  c.members = {1, 2, 3};
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

Entry entry(Instance i, Ballot b, const std::string& payload, bool chosen) {
  auto batch = std::make_shared<Batch>();
  batch->commands.push_back(make_command(99, 1, payload));
  return Entry{i, b, batch, chosen};
}

std::string payload_at(const Node& n, Instance i) {
  const Slot* s = n.slot(i);
  if (!s || !s->value) return "";
  std::string out;
  for (const Command& c : s->value->commands)
    out += c.payload;
  return out;
}

// Node 2 follows node 1, which chose "v" at instance 1 and "w" at 2.
Node follower_with_two_chosen() {
  Node n = make_node(2);
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(1, Ballot{1, 1}, "v", false), entry(2, Ballot{1, 1}, "w", false)};
  n.step(acc);
  Message commit = msg(MessageType::kCommit, 1, 2, Ballot{1, 1});
  commit.commit = 3;
  n.step(commit);
  n.take_ready();
  EXPECT_EQ(n.first_unchosen(), 3u);
  return n;
}

// 1. A LearnReply nobody asked for, marking first_unchosen + 25 chosen with
// a forged lock: nothing is chosen, nothing is written.
TEST(PeerInput, AnUnsolicitedLearnReplyChangesNothing) {
  Node n = follower_with_two_chosen();
  Message forged = msg(MessageType::kLearnReply, 3, 2, Ballot{}, 3);
  forged.entries = {entry(3 + 25, Ballot{1, 1}, "lock forged-lock owner mallory", true)};
  n.step(forged);
  Ready r = n.take_ready();
  EXPECT_TRUE(r.entries.empty());
  EXPECT_TRUE(r.apply.empty());
  EXPECT_EQ(n.slot(28), nullptr);
  EXPECT_EQ(n.log_end(), 3u);
}

// ...nor from a peer other than the one asked, nor for another request.
TEST(PeerInput, OnlyTheAnswerToTheOutstandingRequestFromThatPeerIsLearned) {
  Node n = follower_with_two_chosen();
  ScenarioAccess::asked_to_learn(n, 1, 3);
  Message other_peer = msg(MessageType::kLearnReply, 3, 2, Ballot{}, 3);
  other_peer.entries = {entry(3, Ballot{1, 1}, "mallory", true)};
  n.step(other_peer);
  Message other_request = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 2);
  other_request.entries = {entry(3, Ballot{1, 1}, "mallory", true)};
  n.step(other_request);
  EXPECT_EQ(n.first_unchosen(), 3u);
  EXPECT_EQ(n.slot(3), nullptr);
  // The real answer is learned.
  Message answer = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 3);
  answer.entries = {entry(3, Ballot{1, 1}, "x", true)};
  n.step(answer);
  EXPECT_EQ(n.first_unchosen(), 4u);
  EXPECT_EQ(payload_at(n, 3), "x");
}

// 2. The asked peer names another value for an instance chosen here: the
// message is refused and counted; before, the node died on "two different
// values chosen for one instance".
TEST(PeerInput, AConflictingChosenValueIsRefusedNotFatal) {
  Node n = follower_with_two_chosen();
  ScenarioAccess::asked_to_learn(n, 1, 1);
  Message forged = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 1);
  forged.entries = {entry(1, Ballot{1, 1}, "other", true), entry(3, Ballot{1, 1}, "x", true)};
  n.step(forged);
  EXPECT_EQ(payload_at(n, 1), "v");
  EXPECT_EQ(n.slot(3), nullptr) << "nothing of a refused message is taken";
  EXPECT_EQ(n.stats().chosen_conflicts, 1u);
  EXPECT_EQ(n.stats().messages_refused, 1u);
  EXPECT_NE(n.last_refusal().find("instance 1 is chosen here with another value"),
            std::string::npos)
      << n.last_refusal();
  EXPECT_EQ(n.violation_seen(), "");
}

// ...and in a promise to a candidate.
TEST(PeerInput, AConflictingChosenValueInAPromiseIsRefused) {
  Node n = follower_with_two_chosen();
  n.campaign();
  n.take_ready();
  const Ballot b = n.ballot();
  Message p = msg(MessageType::kPromise, 3, 2, b, 3);
  p.entries = {entry(2, Ballot{1, 1}, "other", true)};
  n.step(p);
  EXPECT_EQ(payload_at(n, 2), "w");
  EXPECT_EQ(n.stats().chosen_conflicts, 1u);
  EXPECT_EQ(n.role(), Role::kCandidate) << "a refused promise counts for nothing";
}

// 3. A chosen entry five million instances ahead: no slot is created (the
// log used to grow to it, and the next election proposed 5M no-ops).
TEST(PeerInput, AChosenEntryBeyondTheWindowIsIgnored) {
  Node n = follower_with_two_chosen();
  ScenarioAccess::asked_to_learn(n, 1, 3);
  Message far = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 3);
  far.entries = {entry(3 + 5'000'000, Ballot{1, 1}, "x", true),
                 entry(3 + kWindow, Ballot{1, 1}, "x", true)};
  n.step(far);
  EXPECT_EQ(n.log_end(), 3u);
  EXPECT_EQ(n.slot(3 + kWindow), nullptr);
}

TEST(PeerInput, AnAcceptBeyondTheWindowIsIgnored) {
  Node n = follower_with_two_chosen();
  Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  acc.entries = {entry(3 + 5'000'000, Ballot{1, 1}, "x", false)};
  n.step(acc);
  EXPECT_EQ(n.log_end(), 3u);
}

// A promise reporting a value far ahead: the candidate is too far behind to
// lead; it steps down instead of proposing up to there.
TEST(PeerInput, ACandidateTooFarBehindAPromiseStepsDown) {
  Node n = follower_with_two_chosen();
  n.campaign();
  n.take_ready();
  Message p = msg(MessageType::kPromise, 3, 2, n.ballot(), 3);
  p.entries = {entry(3 + 5'000'000, Ballot{1, 3}, "x", false)};
  n.step(p);
  EXPECT_EQ(n.role(), Role::kFollower);
  EXPECT_EQ(n.log_end(), 3u);
}

// A commit point from far ahead is approached within the window: learn
// requests never ask past first_unchosen + accept_ahead_max.
TEST(PeerInput, AFarCommitPointIsApproachedInSteps) {
  Node n = follower_with_two_chosen();
  Message heartbeat = msg(MessageType::kCommit, 1, 2, Ballot{1, 1});
  heartbeat.commit = 3 + 5'000'000;
  n.step(heartbeat);
  EXPECT_EQ(n.known_commit(), 3 + kWindow);
  Ready r = n.take_ready();
  bool asked = false;
  for (const Message& m : r.send_now) {
    if (m.type != MessageType::kLearnRequest) continue;
    asked = true;
    EXPECT_LE(m.end, 3 + kWindow);
  }
  EXPECT_TRUE(asked);
}

// 4. A ballot at the top of the range: the promise used to wrap around to
// round 0 (ballot 0.1, promised 0.1). Refused, counted, nothing changes.
TEST(PeerInput, BallotsOutOfRangeAreRefused) {
  Node n = follower_with_two_chosen();
  const Ballot before = n.promised();
  const Ballot bad[] = {
      {std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint32_t>::max()},
      {Ballot::kRoundMax + 1, 1},
      {5, 7},  // node 7 is not a member
  };
  uint64_t refused = 0;
  for (const Ballot& b : bad) {
    for (MessageType t : {MessageType::kAccept, MessageType::kPrepare, MessageType::kCommit,
                          MessageType::kNack, MessageType::kPromise}) {
      Message m = msg(t, 1, 2, b, 3);
      if (t == MessageType::kAccept) m.entries = {entry(3, b, "x", false)};
      n.step(m);
      ++refused;
      EXPECT_EQ(n.stats().messages_refused, refused) << to_string(t) << " " << b.to_string();
    }
  }
  EXPECT_EQ(n.promised(), before);
  EXPECT_EQ(n.log_end(), 3u);
  Ready r = n.take_ready();
  EXPECT_TRUE(r.send_now.empty() && r.send_after_sync.empty()) << "no answer to refused input";
  // An election after all that still picks a ballot just above the real one.
  n.campaign();
  EXPECT_EQ(n.ballot(), (Ballot{1, 2}));
  EXPECT_NE(n.last_refusal().find("ballot out of range"), std::string::npos);
}

// No instance number past kInstanceMax gets in: no instance arithmetic of
// the core (next, end, first unchosen + window) can wrap.
TEST(PeerInput, InstanceNumbersPastTheLargestAreRefused) {
  Node n = follower_with_two_chosen();
  const Instance far[] = {kInstanceMax + 1, std::numeric_limits<uint64_t>::max()};
  uint64_t refused = 0;
  for (Instance i : far) {
    Message commit = msg(MessageType::kCommit, 1, 2, Ballot{1, 1});
    commit.commit = i;
    n.step(commit);
    Message learn = msg(MessageType::kLearnReply, 1, 2, Ballot{}, 3);
    learn.log_start = i;
    n.step(learn);
    Message acc = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
    acc.entries = {entry(i, Ballot{1, 1}, "x", false)};
    n.step(acc);
    Message accepted = msg(MessageType::kAccepted, 1, 2, Ballot{1, 1});
    accepted.instances = {3, i};
    n.step(accepted);
    refused += 4;
    EXPECT_EQ(n.stats().messages_refused, refused) << i;
  }
  EXPECT_NE(n.last_refusal().find("instance number out of range"), std::string::npos);
  EXPECT_EQ(n.log_end(), 3u);
  EXPECT_EQ(n.first_unchosen(), 3u);
}

TEST(PeerInput, AddressingAndOwnershipAreChecked) {
  Node n = follower_with_two_chosen();
  Message to_other = msg(MessageType::kCommit, 1, 3, Ballot{1, 1});
  n.step(to_other);  // used to be a fatal check
  Message stranger = msg(MessageType::kCommit, 9, 2, Ballot{1, 1});
  n.step(stranger);
  Message borrowed = msg(MessageType::kAccept, 3, 2, Ballot{1, 1});  // node 1's ballot
  borrowed.entries = {entry(3, Ballot{1, 1}, "x", false)};
  n.step(borrowed);
  Message zero_entry = msg(MessageType::kAccept, 1, 2, Ballot{1, 1});
  zero_entry.entries = {entry(0, Ballot{1, 1}, "x", false)};
  n.step(zero_entry);
  EXPECT_EQ(n.stats().messages_refused, 4u);
  EXPECT_EQ(n.slot(3), nullptr);
}

}  // namespace
}  // namespace paxlock::paxos
