// paxlock-sim: runs the deterministic simulator from the command line.
//   paxlock-sim --seed 42 --nodes 5           replay one run (prints its trace hash)
//   paxlock-sim --seed 1 --seeds 10000        a soak over consecutive seeds
//   paxlock-sim --seed 1 --seeds 0 --budget 600   as many seeds as 600 s allow
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>

#include "sim/simulator.h"

namespace {

const std::map<std::string, paxlock::paxos::Mutation> kMutations = {
    {"none", paxlock::paxos::Mutation::kNone},
    {"accept-below-promise", paxlock::paxos::Mutation::kAcceptBelowPromise},
    {"ignore-phase1-values", paxlock::paxos::Mutation::kIgnorePhase1Values},
    {"apply-out-of-order", paxlock::paxos::Mutation::kApplyOutOfOrder},
    {"forget-promise-on-restart", paxlock::paxos::Mutation::kForgetPromiseOnRestart},
    {"small-quorum", paxlock::paxos::Mutation::kSmallQuorum},
    {"skip-ballot-check", paxlock::paxos::Mutation::kSkipBallotCheck},
    {"no-stepdown-on-learn", paxlock::paxos::Mutation::kNoStepDownOnLearn},
    {"checkpoint-unwritten", paxlock::paxos::Mutation::kCheckpointUnwritten},
    {"no-pre-vote", paxlock::paxos::Mutation::kNoPreVote},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"paxlock deterministic simulator"};
  paxlock::sim::Options o;
  uint64_t seeds = 1;
  double budget_s = 0;
  std::string mutation = "none";
  app.add_option("--seed", o.seed, "first seed")->required();
  app.add_option("--seeds", seeds, "how many consecutive seeds (0: until --budget)");
  app.add_option("--budget", budget_s, "stop starting new seeds after this many seconds");
  app.add_option("--nodes", o.nodes, "replicas (3, 5, 7, ...)")->check(CLI::Range(1, 15));
  app.add_option("--clients", o.clients, "concurrent clients")->check(CLI::Range(1, 1000));
  app.add_option("--commands", o.commands_per_client, "commands per client")
      ->check(CLI::Range(1, 100000));
  app.add_option("--fault-ms", o.fault_ms, "length of the fault window (simulated ms)");
  app.add_option("--mutation", mutation, "plant a protocol bug")->check(CLI::IsMember([] {
    std::vector<std::string> names;
    for (const auto& [k, v] : kMutations)
      names.push_back(k);
    return names;
  }()));
  app.add_flag("--verbose", o.verbose, "log crashes and other faults");
  std::string workload = "register";
  app.add_option("--workload", workload, "register or locks")
      ->check(CLI::IsMember({"register", "locks"}));
  app.add_option("--lock-names", o.lock_names, "hot lock names (locks workload)")
      ->check(CLI::Range(1, 1000));
  std::string lock_mutation = "none";
  app.add_option("--lock-mutation", lock_mutation, "plant a bug in the lock machine")
      ->check(CLI::IsMember({"none", "no-dedup", "sessions-before-waits"}));
  std::string client_mutation = "none";
  app.add_option("--client-mutation", client_mutation, "plant a bug in the client core")
      ->check(CLI::IsMember({"none", "new-seq-on-retry"}));
  app.add_option("--client-request-timeout-ms", o.client_request_timeout_ms,
                 "clients give up on a request after this (0: never within a run)");
  bool fixed = false;
  auto* faults = app.add_option_group("faults", "fixed fault mix (otherwise drawn per seed)");
  faults->add_flag("--fixed-faults", fixed, "use the rates below instead of drawing them");
  faults->add_option("--loss", o.loss)->check(CLI::Range(0.0, 1.0));
  faults->add_option("--duplicate", o.duplicate)->check(CLI::Range(0.0, 1.0));
  faults->add_option("--nack-loss", o.nack_loss)->check(CLI::Range(0.0, 1.0));
  faults->add_option("--delay-max-ms", o.delay_max_ms)->check(CLI::Range(0, 10000));
  faults->add_option("--spike", o.spike)->check(CLI::Range(0.0, 1.0));
  faults->add_flag("--partitions", o.partitions);
  faults->add_flag("--crashes", o.crashes);
  faults->add_option("--campaigns-per-s", o.campaign_per_s)->check(CLI::Range(0.0, 100.0));
  faults->add_option("--sticky", o.sticky_leader);
  faults->add_option("--crash-gap-max-ms", o.crash_gap_max_ms)->check(CLI::Range(10, 100000));
  faults->add_option("--restart-max-ms", o.restart_max_ms)->check(CLI::Range(1, 100000));
  faults->add_option("--crash-after-promise", o.crash_after_promise)->check(CLI::Range(0.0, 1.0));
  faults->add_option("--crash-after-append", o.crash_after_append)->check(CLI::Range(0.0, 1.0));
  faults->add_flag("--minority-restarts", o.minority_restarts);
  faults->add_flag("--stale-leader-faults", o.stale_leader_faults);
  faults->add_option("--segment-bytes", o.wal_segment_bytes)->check(CLI::Range(512, 1 << 30));
  faults->add_flag("--isolate-one", o.isolate_one,
                   "cut a follower off until the heal; no leader change allowed after it");
  faults->add_option("--isolate-at-ms", o.isolate_at_ms);
  faults->add_option("--run-at-least-ms", o.run_at_least_ms);
  CLI11_PARSE(app, argc, argv);
  o.randomize_faults = !fixed;
  o.workload =
      workload == "locks" ? paxlock::sim::Workload::kLocks : paxlock::sim::Workload::kRegister;
  o.mutation = kMutations.at(mutation);
  o.lock_mutation_no_dedup = lock_mutation == "no-dedup";
  o.lock_mutation_sessions_before_waits = lock_mutation == "sessions-before-waits";
  o.client_mutation = *paxlock::client::client_mutation_from_string(client_mutation);

  const auto start = std::chrono::steady_clock::now();
  uint64_t ran = 0;
  uint64_t failed = 0;
  for (uint64_t k = 0; seeds == 0 || k < seeds; ++k) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (budget_s > 0 && elapsed >= budget_s) break;
    if (seeds == 0 && budget_s <= 0) break;
    paxlock::sim::Options run = o;
    run.seed = o.seed + k;
    const paxlock::sim::Outcome r = paxlock::sim::run(run);
    ++ran;
    if (!r.ok) ++failed;
    if (!r.ok || seeds == 1) {
      std::printf(
          "seed %llu nodes %d: %s hash=%016llx events=%llu acked=%llu chosen=%llu "
          "sent=%llu dropped=%llu crashes=%llu elections=%llu campaigns=%llu end=%lldms\n  faults: "
          "%s\n",
          (unsigned long long)run.seed, run.nodes, r.ok ? "ok" : "VIOLATION",
          (unsigned long long)r.trace_hash, (unsigned long long)r.events,
          (unsigned long long)r.commands_acked, (unsigned long long)r.instances_chosen,
          (unsigned long long)r.messages_sent, (unsigned long long)r.messages_dropped,
          (unsigned long long)r.crashes, (unsigned long long)r.elections,
          (unsigned long long)r.campaigns, (long long)r.end_ms, r.faults.c_str());
      std::printf(
          "  checks: %llu chosen marks against the ground truth, %llu power losses after "
          "an append, %llu leader changes after a rejoin, %llu stale-leader faults\n",
          (unsigned long long)r.chosen_checks, (unsigned long long)r.power_losses_after_append,
          (unsigned long long)r.leader_changes_after_rejoin,
          (unsigned long long)r.stale_leader_faults);
      if (run.workload == paxlock::sim::Workload::kLocks) {
        std::printf("  locks: %llu grants, %llu unlocks, %llu sessions acknowledged\n",
                    (unsigned long long)r.lock_grants_acked, (unsigned long long)r.unlocks_acked,
                    (unsigned long long)r.sessions_opened);
      }
      std::printf(
          "  clients: %llu attempts, %llu requests given up, %llu keep-alives acknowledged, %llu "
          "attempts behind first_outstanding\n",
          (unsigned long long)r.client_attempts, (unsigned long long)r.client_give_ups,
          (unsigned long long)r.keep_alives_acked,
          (unsigned long long)r.sent_behind_first_outstanding);
      if (!r.ok) {
        std::printf("  %s\n  replay: %s\n", r.violation.c_str(),
                    paxlock::sim::replay_command(run).c_str());
      }
    }
  }
  std::printf("%llu seeds, %llu failed\n", (unsigned long long)ran, (unsigned long long)failed);
  return failed == 0 ? 0 : 1;
}
