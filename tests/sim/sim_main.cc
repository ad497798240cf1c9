// paxlock-sim: runs the deterministic simulator from the command line.
//   paxlock-sim --seed 42 --nodes 5           replay one run (prints its trace hash)
//   paxlock-sim --seed 1 --seeds 10000        a soak over consecutive seeds
//   paxlock-sim --seed 1 --seeds 0 --budget 600   as many seeds as 600 s allow
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "sim/sim_flags.h"
#include "sim/simulator.h"

int main(int argc, char** argv) {
  CLI::App app{"paxlock deterministic simulator"};
  paxlock::sim::Options o;
  uint64_t seeds = 1;
  double budget_s = 0;
  app.add_option("--seeds", seeds, "how many consecutive seeds (0: until --budget)");
  app.add_option("--budget", budget_s, "stop starting new seeds after this many seconds");
  paxlock::sim::add_option_flags(app, o);
  CLI11_PARSE(app, argc, argv);

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
