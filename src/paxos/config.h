// Tunables of the consensus core. Times are in milliseconds of the clock the
// caller drives the core with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "paxos/types.h"

namespace paxlock::paxos {

// Protocol bugs that tests plant on purpose to prove the simulator and the
// chaos checker can catch them. Compiled in only when PAXLOCK_MUTATIONS is set
// (dev and asan builds); release builds contain none of them.
enum class Mutation : uint8_t {
  kNone = 0,
  kAcceptBelowPromise,      // acceptor accepts a ballot below its promise
  kIgnorePhase1Values,      // new leader proposes no-ops instead of reported values
  kApplyOutOfOrder,         // learner delivers chosen values without waiting for gaps
  kForgetPromiseOnRestart,  // restore() drops the promised ballot
  kSmallQuorum,             // a quorum is one less than a majority
  kSkipBallotCheck,         // acceptor takes prepares/accepts whatever their ballot
  kNoStepDownOnLearn,       // Bug A: a leader that learns an instance at or past its next
                            // instance chosen keeps leading (and re-proposes it)
  kCheckpointUnwritten,     // Bug B: the WAL checkpoints a commit point (and promise) taken
                            // from a batch that is not written yet
  kNoPreVote,               // Bug C: elections start without a pre-vote, and a leader steps
                            // down for any higher Nack
};

// Every mutation with its name: the one table that to_string, parse_mutation
// and the --mutation flags of paxlockd, paxlock-sim and the explorer use.
struct MutationName {
  Mutation mutation;
  const char* name;
};
inline constexpr MutationName kMutationNames[] = {
    {Mutation::kNone, "none"},
    {Mutation::kAcceptBelowPromise, "accept-below-promise"},
    {Mutation::kIgnorePhase1Values, "ignore-phase1-values"},
    {Mutation::kApplyOutOfOrder, "apply-out-of-order"},
    {Mutation::kForgetPromiseOnRestart, "forget-promise-on-restart"},
    {Mutation::kSmallQuorum, "small-quorum"},
    {Mutation::kSkipBallotCheck, "skip-ballot-check"},
    {Mutation::kNoStepDownOnLearn, "no-stepdown-on-learn"},
    {Mutation::kCheckpointUnwritten, "checkpoint-unwritten"},
    {Mutation::kNoPreVote, "no-pre-vote"},
};
// Entry k names the mutation of value k, and the last value has an entry.
constexpr bool mutation_names_complete() {
  size_t k = 0;
  for (const MutationName& n : kMutationNames) {
    if (static_cast<size_t>(n.mutation) != k++) return false;
  }
  return k == static_cast<size_t>(Mutation::kNoPreVote) + 1;
}
static_assert(mutation_names_complete(), "kMutationNames must list every Mutation in order");

const char* to_string(Mutation m);
// The mutation of that name ("none", "small-quorum", ...), or nullopt.
std::optional<Mutation> parse_mutation(std::string_view name);

struct Config {
  NodeId self = 0;
  std::vector<NodeId> members;  // every replica, including self
  uint64_t rng_seed = 1;

  TimeMs heartbeat_ms = 50;          // leader's Commit interval
  TimeMs election_timeout_ms = 300;  // followers wait [T, 2T) without a leader
  TimeMs resend_ms = 100;            // unanswered prepare/accept/learn resent after this
  TimeMs command_retry_ms = 400;     // a pending command not chosen by then is re-sent
  TimeMs idle_tick_ms = 200;         // leader proposes a time tick when idle this long
  TimeMs deadline_tick_gap_ms = 5;   // ...and at a state deadline, at most this often

  // Instances in flight beyond the first unchosen. Small on purpose: while
  // they are in flight, new commands queue and share the next instance, so
  // load turns into batches (8 measured 1.55x the cycles/s of 64 at 64
  // clients, docs/PERFORMANCE.md). Raise it where round trips are long.
  size_t pipeline_window = 8;
  size_t batch_commands_max = 256;     // commands in one instance's value
  size_t batch_bytes_max = 256 << 10;  // bytes in one instance's value
  size_t message_bytes_max = 1 << 20;  // chunk limit for promises and learn replies
  size_t pending_commands_max = 100000;
  Instance accept_ahead_max = 1 << 16;  // acceptor ignores instances this far past its commit
  // Followers of a live leader ignore other nodes' prepares (see on_prepare).
  // Safety never depends on it; the simulator turns it off in some runs so
  // that proposers really duel.
  bool sticky_leader = true;

  Mutation mutation = Mutation::kNone;

  size_t quorum() const;
};

}  // namespace paxlock::paxos
