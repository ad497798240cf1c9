// Scripted runs of the planted bugs: each shows, step by step, the exact
// interleaving in which the bug breaks agreement, and that the correct core
// survives the very same interleaving.
#include <gtest/gtest.h>

#include "cluster_harness.h"

namespace paxlock::paxos {
namespace {

using testing::Cluster;
using testing::make_command;

bool to(const Message& m, NodeId n) {
  return m.to == n;
}
bool from(const Message& m, NodeId n) {
  return m.from == n;
}

// The values each node applied, instance by instance, as comparable strings.
std::string describe(const Entry& e) {
  std::string s = std::to_string(e.instance) + ":";
  for (const Command& c : e.value->commands)
    s += c.payload + ",";
  return s;
}

// Node 1 leads at b1. Node 3 gets node 2's promise for b2 and leads too.
// Node 2 restarts. Node 1 then sends an accept at b1 to node 2.
// Returns true if two different values were applied for one instance.
bool forget_promise_interleaving(Mutation mutation) {
  Cluster c(3, [&](Config& cfg) {
    cfg.mutation = mutation;
    cfg.sticky_leader = false;
  });
  c.elect(1);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  // Node 3 runs phase 1; its prepare never reaches node 1.
  c.node(3).propose(make_command(3, 1, "from-3"));
  c.node(3).campaign();
  c.flush();
  c.drop([](const Message& m) { return m.to == 1 && m.from == 3; });
  c.deliver([](const Message& m) {
    return m.type == MessageType::kPrepare || m.type == MessageType::kPromise;
  });
  EXPECT_EQ(c.node(3).role(), Role::kLeader);
  // Node 3's accepts are held back; node 2 restarts.
  c.flush();
  std::deque<Message> held;
  for (const Message& m : c.network()) {
    if (from(m, 3)) held.push_back(m);
  }
  c.drop([](const Message& m) { return m.from == 3; });
  c.crash(2);
  c.restart(2);
  // Node 1, still leading at b1, gets a command chosen with node 2's help.
  c.node(1).propose(make_command(1, 1, "from-1"));
  c.flush();
  c.drop([](const Message& m) { return to(m, 3); });
  c.deliver([](const Message& m) {
    return m.type == MessageType::kAccept || m.type == MessageType::kAccepted;
  });
  c.drop([](const Message& m) { return from(m, 1); });  // its commit to node 2 is lost
  // Now node 3's accepts arrive.
  for (Message& m : held)
    c.network().push_back(m);
  c.deliver([](const Message& m) { return m.to != 1 && m.from != 1; });
  std::map<Instance, std::string> seen;
  for (NodeId n : {1, 3}) {
    for (const Entry& e : c.applied(n)) {
      auto [it, fresh] = seen.emplace(e.instance, describe(e));
      if (!fresh && it->second != describe(e)) return true;
    }
  }
  return false;
}

TEST(MutationScenario, ForgottenPromiseLetsTwoValuesBeChosen) {
  EXPECT_TRUE(forget_promise_interleaving(Mutation::kForgetPromiseOnRestart));
}

TEST(MutationScenario, KeptPromiseSurvivesTheSameInterleaving) {
  EXPECT_FALSE(forget_promise_interleaving(Mutation::kNone));
}

}  // namespace
}  // namespace paxlock::paxos
