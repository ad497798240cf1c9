// A time-boxed pass of paxlock-explore in `make test`: the explorer must find
// the planted bugs A and B (and older ones) within its bounds, its traces
// must replay, and the correct core must pass within the same bounds.
//
// The bounds here are the canned scenarios (explorer.cc) with smaller action
// budgets, so that the dev build finishes in well under a minute per test.
// PAXLOCK_SIM_SCALE < 1 (make test-asan sets 0.25) lowers the depth of the
// correct-core passes by one; the bug searches keep their depth (they stop
// at the first violation).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "explore/explorer.h"

namespace paxlock::explore {
namespace {

double scale() {
  const char* s = std::getenv("PAXLOCK_SIM_SCALE");
  return s ? std::atof(s) : 1.0;
}

Options from(const std::string& name) {
  auto o = scenario(name);
  EXPECT_TRUE(o.has_value()) << name;
  return o.value_or(Options{});
}

void report(const char* what, const Result& r) {
  std::printf(
      "%s: %s; %llu transitions, %llu distinct states in the last iteration, deepest %d, "
      "exhaustive to depth %d, %.2f s%s%s\n",
      what, r.violation ? r.what.c_str() : "no violation", (unsigned long long)r.transitions,
      (unsigned long long)r.distinct, r.depth_reached, r.depth_completed, r.seconds,
      r.budget_hit ? ", stopped: " : "", r.budget_note.c_str());
  for (const std::string& a : r.trace)
    std::printf("    %s\n", a.c_str());
}

// Bug A's bounds for the test: one campaign, no restart, no timeout after
// the prefix (scenario "bug-a" allows one of each).
Options bounds_a(const std::string& name) {
  Options o = from(name);
  o.max_restarts = 0;
  o.max_timeouts = 0;
  o.time_budget_s = 240;
  return o;
}

Options bounds_b(const std::string& name) {
  Options o = from(name);
  o.max_timeouts = 0;
  o.time_budget_s = 240;
  return o;
}

void expect_replays(const Result& r) {
  std::string printed;
  const Result again = replay(r.script, [&](const std::string& s) { printed += s + "\n"; });
  EXPECT_TRUE(again.prefix_error.empty()) << again.prefix_error;
  EXPECT_TRUE(again.violation) << printed;
  EXPECT_EQ(again.what, r.what);
}

TEST(Explore, FindsBugAStaleLeaderKeepsLeading) {
  if (!parse_mutation("no-stepdown-on-learn")) GTEST_SKIP() << "mutation not in this build";
  const Result r = explore(bounds_a("bug-a"));
  report("bug A", r);
  ASSERT_TRUE(r.violation) << "Bug A survived the explorer's bounds";
  EXPECT_FALSE(r.budget_hit);
  EXPECT_LE(r.trace.size(), 9u);
  expect_replays(r);
}

TEST(Explore, CorrectCorePassesBugABounds) {
  Options o = bounds_a("pass-a");
  if (scale() < 1) --o.max_depth;
  const Result r = explore(o);
  report("pass A", r);
  EXPECT_FALSE(r.violation) << r.what << "\n" << r.script;
  EXPECT_FALSE(r.budget_hit) << r.budget_note;
  EXPECT_EQ(r.depth_completed, o.max_depth);
}

TEST(Explore, FindsBugBCheckpointFromUnwrittenState) {
  if (!parse_mutation("checkpoint-unwritten")) GTEST_SKIP() << "mutation not in this build";
  const Result r = explore(bounds_b("bug-b"));
  report("bug B", r);
  ASSERT_TRUE(r.violation) << "Bug B survived the explorer's bounds";
  EXPECT_NE(r.what.find("(d)"), std::string::npos) << r.what;
  EXPECT_FALSE(r.budget_hit);
  expect_replays(r);
}

TEST(Explore, CorrectCorePassesBugBBounds) {
  Options o = bounds_b("pass-b");
  if (scale() < 1) --o.max_depth;
  const Result r = explore(o);
  report("pass B", r);
  EXPECT_FALSE(r.violation) << r.what << "\n" << r.script;
  EXPECT_FALSE(r.budget_hit) << r.budget_note;
  EXPECT_EQ(r.depth_completed, o.max_depth);
}

// Bug B's issue form: with invariant (d) off, the restart after the lost
// batch marks a stale value chosen (invariant c).
TEST(Explore, FindsBugBStaleValueChosenAfterRestart) {
  if (!parse_mutation("checkpoint-unwritten")) GTEST_SKIP() << "mutation not in this build";
  const Result r = explore(from("bug-b-stale"));
  report("bug B (stale value)", r);
  ASSERT_TRUE(r.violation) << "Bug B survived the explorer's bounds";
  EXPECT_NE(r.what.find("(c) after restart"), std::string::npos) << r.what;
  expect_replays(r);
}

TEST(Explore, CorrectCorePassesBugBStaleBounds) {
  Options o = from("pass-b-stale");
  if (scale() < 1) --o.max_depth;
  const Result r = explore(o);
  report("pass B (stale value)", r);
  EXPECT_FALSE(r.violation) << r.what << "\n" << r.script;
  EXPECT_EQ(r.depth_completed, o.max_depth);
}

TEST(Explore, CorrectCorePassesFromAFreshThreeNodeCluster) {
  Options o = from("small");
  o.max_depth = scale() < 1 ? 6 : 7;
  o.time_budget_s = 240;
  const Result r = explore(o);
  report("small", r);
  EXPECT_FALSE(r.violation) << r.what << "\n" << r.script;
  EXPECT_FALSE(r.budget_hit) << r.budget_note;
}

// The older planted bugs, from a fresh 3-node cluster, in both network models.
class OlderMutation : public ::testing::TestWithParam<std::tuple<paxos::Mutation, bool>> {};

TEST_P(OlderMutation, IsFound) {
  Options o = from("small");
  o.mutation = std::get<0>(GetParam());
  o.bag = std::get<1>(GetParam());
  o.max_restarts = o.mutation == paxos::Mutation::kForgetPromiseOnRestart ? 1 : 0;
  o.max_timeouts = 0;
  o.max_depth = 12;
  o.time_budget_s = 120;
  const Result r = explore(o);
  report(paxos::to_string(o.mutation), r);
  ASSERT_TRUE(r.violation);
  expect_replays(r);
}

// The bag network (deliver/dup/drop) is the literal model and much slower
// than the set (docs/TESTING.md); one quick bug suffices to exercise it.
INSTANTIATE_TEST_SUITE_P(
    Mutations, OlderMutation,
    ::testing::Values(std::make_tuple(paxos::Mutation::kSmallQuorum, false),
                      std::make_tuple(paxos::Mutation::kSmallQuorum, true),
                      std::make_tuple(paxos::Mutation::kAcceptBelowPromise, false),
                      std::make_tuple(paxos::Mutation::kIgnorePhase1Values, false)),
    [](const auto& info) {
      std::string name = paxos::to_string(std::get<0>(info.param));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name + (std::get<1>(info.param) ? "_bag" : "_set");
    });

TEST(Explore, ReplayRejectsAMessageNotInFlight) {
  const Result r = replay("config nodes 3\ndeliver Prepare 1->2 b=1.1 i=1 end=0 commit=1 start=1\n",
                          [](const std::string&) {});
  EXPECT_FALSE(r.prefix_error.empty());
}

}  // namespace
}  // namespace paxlock::explore
