// paxlock-explore: a bounded exhaustive explorer (an explicit-state model
// checker) of the real consensus core. Every node is the production
// paxos::Node; with the WAL disk model its durable state is the production
// storage::Wal over a simulated disk (sim::SimFs). docs/TESTING.md has the
// long form; in short:
//
// World state: N nodes (a Node, its clock and its disk), the network (the
// messages in flight), the ground truth (durable acceptances per instance and
// ballot, and the value a majority of them chose), and the budgets used.
//
// Actions (each one transition; after each, the node's Ready is handled as
// driver::Replica does it: persist, then sync, then send, self-addressed
// messages stepped at once):
//   deliver M    step M at its node. By default the network is a set: a
//                delivered message stays deliverable, which models
//                duplication, and never delivering it models loss (safety
//                depends on node states only, so an explicit drop adds no
//                node state). `--network bag` uses a multiset with three
//                actions per message instead: deliver (consume one copy),
//                dup (deliver, keep it) and drop.
//   sync N       (WAL model) the write in flight at N becomes durable and the
//                messages that waited for it leave; the next group-commit
//                write is appended.
//   restart N    power loss and restart: N restores from what its disk
//                keeps (WAL model: every unsynced sector and directory
//                operation is lost, then the real recovery runs).
//   campaign N   forced phase 1 (Node::campaign).
//   propose N C  client command C handed to N (each command once).
//   timeout N    N's clock jumps past every timer and lease (tick).
//   tick N       N's clock advances by `tick_ms` (resends and heartbeats
//                without losing leases); only with `--ticks`.
//
// Invariants, after every action:
//   (a) a leader's next instance is never below its first unchosen instance;
//   (b) every instance a node holds as chosen has the value a majority of
//       durable acceptances at one ballot chose (ground truth), so no two
//       nodes hold different chosen values; two majorities for different
//       values of one instance, or two values at one (instance, ballot), fail;
//   (c) the same check on a restarted node right after restore;
//   (d) (WAL model) the commit point a power loss would leave on disk never
//       covers an instance whose newest written acceptance would be lost;
//   and a planted mutation's Node::violation_seen() is a failure.
//
// Search: iterative deepening DFS with a visited table (fingerprint -> least
// depth reached), so the first failure found is a shortest one; each
// iteration is exhaustive for its depth bound unless a budget (states, time)
// stops it, which the result says.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paxos/config.h"
#include "paxos/types.h"

namespace paxlock::explore {

enum class DiskModel : uint8_t {
  kMemory,  // durable at once when a Ready is handled (as cluster_harness.h)
  kWal,     // the real WAL over SimFs; durable only at `sync`
};

struct Options {
  int nodes = 3;
  paxos::Mutation mutation = paxos::Mutation::kNone;
  bool checkpoint_unwritten = false;  // WAL planted bug B (set by --mutation checkpoint-unwritten)
  bool sticky_leader = true;
  DiskModel disk = DiskModel::kMemory;
  uint64_t segment_bytes = 600;  // WAL segments: small, so that they rotate every batch or two
  int commands = 1;              // client commands c1..cN, each proposed once
  size_t pipeline_window = 8;
  size_t batch_commands_max = 256;
  bool bag = false;               // literal multiset network with deliver/dup/drop
  bool check_disk_commit = true;  // invariant (d); off to see what a restart makes of it

  // Bounds.
  int max_depth = 8;  // actions after the prefix
  int min_depth = 1;  // first iterative-deepening bound
  int max_campaigns = 1;
  int max_restarts = 1;
  int max_timeouts = 0;
  int max_ticks = 0;                 // short ticks; > 0 makes timers part of the fingerprint
  uint64_t max_states = 20'000'000;  // distinct states per iteration
  double time_budget_s = 300;

  // Script run before the exploration (one action per line, as in replay
  // files, plus `settle` and `lose`); the exploration starts where it ends.
  std::string prefix;
  bool verbose = false;
};

struct Result {
  bool violation = false;
  std::string what;                // the broken invariant, with details
  std::vector<std::string> trace;  // the failing actions after the prefix
  std::string script;              // replayable: config, prefix, trace
  int depth_completed = 0;         // every state within this depth was explored
  int depth_reached = 0;           // deepest action applied
  uint64_t transitions = 0;        // actions applied, all iterations
  uint64_t distinct = 0;           // distinct states in the last iteration
  uint64_t distinct_total = 0;     // summed over iterations
  double seconds = 0;
  bool budget_hit = false;  // stopped by max_states or time_budget_s
  std::string budget_note;
  std::string prefix_error;  // the prefix could not be run
};

Result explore(const Options& options);

// Replays a script file's text (config lines, then actions); prints every
// node's state after each action to `out`. Returns the first violation.
Result replay(const std::string& script, const std::function<void(const std::string&)>& out,
              const Options* overrides = nullptr);

// Mutation names ("none", "small-quorum", ...): the core's one table.
using paxos::parse_mutation;

// The canned prefixes used by the tests and docs.
std::string prefix_leader(int leader);  // `leader` campaigns, everything delivered, network empty

// Canned bounds (docs/TESTING.md): "bug-a", "bug-b", "pass-a", "pass-b", ...
std::optional<Options> scenario(const std::string& name);
std::string scenario_names();

}  // namespace paxlock::explore
