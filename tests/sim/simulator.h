// The deterministic simulator: N replicas in one process, driven through the
// real driver (driver::Replica) and core, with simulated time, a seeded
// network that drops, duplicates, delays, reorders and partitions, simulated
// disks that lose unsynced writes on a crash, and clients that are the
// client library's own core (src/client/client_core.h): their requests and
// answers travel over the simulated network to each replica's client service
// (server/request_handler.h), lost, delayed, duplicated and reordered like
// peer messages, and dropped by a crashed replica.
//
// Everything random comes from one seed, so a run replays exactly; the trace
// hash (over every event processed) proves it. After every event the
// simulator checks the invariants:
//   agreement  no two replicas learn different values for one instance;
//   validity   every applied command was submitted by a client;
//   order      every replica applies instances 1, 2, 3, ... without gaps;
//   durability every acknowledged command sits at its acknowledged position on
//              every replica at the end of the run;
//   liveness   after the faults heal, every client finishes within a bound;
//   exactly-once  no workload request takes effect twice in the log (under
//              two seqs), no (client, seq) names two requests, and no client
//              is answered DUPLICATE_IGNORED for a request it waits for, with
//              the clients' first_outstanding trimming the reply caches.
// and, after every event, on every node that is up:
//   (a) a leader's next instance is never below its first unchosen instance;
//   (b) every instance a node has marked chosen (by its own quorum, a commit
//       point or a LearnReply) holds the value a majority durably accepted at
//       one ballot (the ground truth computed from every node's synced
//       acceptances);
//   (c) after every restart, every instance the restored node believes
//       chosen is truly chosen;
//   (d) the commit point on disk (Commit records and segment checkpoints)
//       never covers an instance whose newest acceptance is not on disk.
// With `isolate_one`, a follower is cut off during the fault window and
// rejoins at the heal; no other node may lead after that (pre-vote). With
// `restart_leader`, a killed leader that restarts while another node leads
// must not disturb it (no phase 1 anywhere for two election timeouts).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "client/client_core.h"
#include "common/rng.h"
#include "paxos/config.h"

namespace paxlock::sim {

enum class Workload : uint8_t {
  kRegister,  // an append-only register: positions check durability and order
  kLocks,     // the real lock machine, checked against a reference model
};

struct Options {
  uint64_t seed = 1;
  int nodes = 3;
  Workload workload = Workload::kRegister;
  int lock_names = 4;  // hot lock names in the lock workload
  int clients = 8;
  int commands_per_client = 20;
  paxos::TimeMs fault_ms = 3000;      // faults are injected during this window
  paxos::TimeMs liveness_ms = 15000;  // after healing, everything must finish within this
  paxos::TimeMs tick_ms = 10;
  uint64_t max_events = 2000000;  // a run beyond this is a message storm: a failure
  // Fault rates. With randomize_faults, each run draws its own from the seed.
  bool randomize_faults = true;
  double loss = 0.0;
  double duplicate = 0.0;
  paxos::TimeMs delay_max_ms = 5;
  double spike = 0.0;      // share of messages delayed by 100-1000 ms
  double nack_loss = 0.0;  // extra loss for Nacks only (stale leaders live on)
  bool partitions = false;
  bool crashes = false;
  double campaign_per_s = 0.0;  // forced elections per simulated second (dueling proposers)
  bool sticky_leader = true;
  paxos::TimeMs crash_gap_max_ms = 1500;  // next crash within this after the previous
  paxos::TimeMs restart_max_ms = 1500;    // a crashed node restarts within this
  // Chance that a node crashes right after a promise became durable (and
  // restarts at once): the moment where forgetting a promise would hurt.
  double crash_after_promise = 0.0;
  // Chance that a node loses power right after a WAL append that opened a new
  // segment, before the batch is synced (a tenth of it after any append).
  double crash_after_append = 0.0;
  // Crashes sometimes take down a minority at once and bring it back quickly,
  // with no known leader: the start of Bug A's sequence.
  bool minority_restarts = false;
  // When a node is elected while another still leads at a lower ballot, the
  // old leader sometimes hears neither the new one nor any Nack for a while,
  // and a third node campaigns (Bug A's states).
  bool stale_leader_faults = false;
  // Scripted liveness check (off by default): at `isolate_at_ms` a node that
  // is not the leader is cut off until the heal; from the heal on, no node
  // may become leader. The run lasts at least `run_at_least_ms`.
  bool isolate_one = false;
  paxos::TimeMs isolate_at_ms = 500;
  paxos::TimeMs run_at_least_ms = 0;
  // Scripted restart check (off by default): `restart_leader` times, from
  // `restart_leader_at_ms` on, the leader is killed; once another node leads,
  // the old one restarts 0-1000 ms later. From its restart on it must not
  // campaign or lead while that leader leads, and for two election timeouts
  // no node may start phase 1 and the leader keeps its ballot (DESIGN.md
  // section 10). Meant for runs without other faults.
  int restart_leader = 0;
  paxos::TimeMs restart_leader_at_ms = 500;
  // Storage: the real WAL and snapshot code over a simulated disk.
  paxos::Instance snapshot_every = 40;  // instances between snapshots
  uint64_t wal_segment_bytes = 4096;
  bool wal_preallocate = true;
  double read_flip_rate = 0.0;  // share of disk reads with one flipped bit
  size_t batch_commands_max = 256;
  // Scripted faults (off by default): one node down from `outage_from_ms`
  // until the heal; one node's disk full (ENOSPC) during a window.
  int outage_node = -1;
  paxos::TimeMs outage_from_ms = 0;
  int disk_full_node = -1;
  paxos::TimeMs disk_full_from_ms = 0;
  paxos::TimeMs disk_full_until_ms = 0;
  paxos::Mutation mutation = paxos::Mutation::kNone;
  bool lock_mutation_no_dedup = false;                         // planted bug in the lock machine
  bool lock_mutation_sessions_before_waits = false;            // planted bug E (issue 13)
  client::Mutation client_mutation = client::Mutation::kNone;  // planted bug in the client core
  // A client request completes with kUnavailable (outcome unknown) after
  // this; 0: never within a run.
  paxos::TimeMs client_request_timeout_ms = 0;
  bool verbose = false;

  bool operator==(const Options&) const = default;
};

struct Outcome {
  bool ok = true;
  std::string violation;  // the first broken invariant, with details
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  paxos::TimeMs end_ms = 0;
  uint64_t commands_acked = 0;
  uint64_t instances_chosen = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;
  uint64_t messages_in_fault_window = 0;  // sent while faults were on
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t elections = 0;
  uint64_t campaigns = 0;
  uint64_t snapshots_installed = 0;  // by the incarnations alive at the end
  uint64_t write_failures = 0;       // likewise
  uint64_t max_disk_bytes = 0;       // largest data directory seen on any node
  uint64_t max_log_disk_bytes = 0;   // largest WAL (segments only) seen on any node
  uint64_t log_bytes_written = 0;    // by the incarnations alive at the end
  uint64_t acks_while_disk_failed = 0;
  uint64_t leader_changes_after_rejoin = 0;  // isolate_one
  uint64_t leader_restarts = 0;              // restart_leader: restarts watched to the end
  uint64_t chosen_checks = 0;                // instances checked against the ground truth
  uint64_t power_losses_after_append = 0;
  uint64_t stale_leader_faults = 0;
  uint64_t lock_grants_acked = 0;  // lock workload
  uint64_t unlocks_acked = 0;
  uint64_t sessions_opened = 0;
  uint64_t client_give_ups = 0;    // requests that completed with kUnavailable
  uint64_t client_attempts = 0;    // attempts over all completed requests
  uint64_t keep_alives_acked = 0;  // renewals the client cores sent by themselves
  // Attempts sent while an older request of the same client was outstanding
  // (first_outstanding below the seq: the reply cache keeps the older one).
  uint64_t sent_behind_first_outstanding = 0;
  uint64_t client_messages_dropped = 0;  // client requests and responses lost
  std::string faults;                    // the fault mix this run drew
};

// Runs one simulation to the end (or the first violation).
Outcome run(const Options& options);

// The command line that replays `options` exactly (sim_flags.cc: every
// option that differs from its default, from the one flag table).
std::string replay_command(const Options& options);

}  // namespace paxlock::sim
