// paxlock-explore: the bounded exhaustive explorer of the real core
// (explorer.h; docs/TESTING.md).
//   paxlock-explore --scenario bug-a          find Bug A with its canned bounds
//   paxlock-explore --nodes 3 --depth 8       explore from a fresh cluster
//   paxlock-explore --replay trace.txt        replay a failing trace step by step
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "explore/explorer.h"

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  using paxlock::explore::DiskModel;
  CLI::App app{"paxlock-explore: bounded exhaustive explorer of the consensus core"};
  std::string scenario, mutation = "none", disk = "memory", network = "set", prefix_file, out_file,
                        replay_file, leader_prefix;
  paxlock::explore::Options o;
  bool no_sticky = false;
  app.add_option("--scenario", scenario,
                 "canned bounds: " + paxlock::explore::scenario_names() +
                     " (other options given after it override)");
  app.add_option("--nodes", o.nodes, "cluster size");
  app.add_option("--mutation", mutation, "planted bug (none, no-stepdown-on-learn, ...)");
  app.add_flag("--no-sticky", no_sticky, "turn the sticky-leader rule off");
  app.add_option("--disk", disk, "memory (durable at once) or wal (real WAL, sync actions)");
  app.add_option("--segment-bytes", o.segment_bytes, "WAL segment size (wal disk)");
  app.add_option("--commands", o.commands, "client commands, each proposed once");
  app.add_option("--pipeline-window", o.pipeline_window, "Config::pipeline_window");
  app.add_option("--batch-commands-max", o.batch_commands_max, "Config::batch_commands_max");
  app.add_option("--network", network, "set (deliver keeps the message) or bag (deliver/dup/drop)");
  app.add_option("--depth", o.max_depth, "depth bound (actions after the prefix)");
  app.add_option("--min-depth", o.min_depth, "first iterative-deepening bound");
  app.add_option("--campaigns", o.max_campaigns, "forced campaigns allowed");
  app.add_option("--restarts", o.max_restarts, "restarts (power losses) allowed");
  app.add_option("--timeouts", o.max_timeouts, "timeouts (clock jumps past every timer) allowed");
  app.add_option("--ticks", o.max_ticks, "short ticks (resends without lease expiry) allowed");
  app.add_option("--max-states", o.max_states, "distinct-state budget per iteration");
  app.add_option("--time-budget", o.time_budget_s, "seconds");
  app.add_option("--prefix", prefix_file, "script file run before exploring");
  app.add_option("--leader", leader_prefix, "prefix: this node campaigns, then settle");
  app.add_option("--out", out_file, "write the failing trace (replay script) here");
  app.add_option("--replay", replay_file, "replay a script file and print every state");
  bool no_disk_check = false;
  app.add_flag("--no-disk-commit-check", no_disk_check,
               "skip invariant (d): see what a restart makes of the disk instead");
  app.add_flag("-v,--verbose", o.verbose, "per-depth progress on stderr");

  // A scenario sets defaults; explicit options are applied over it.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--scenario") {
      auto s = paxlock::explore::scenario(argv[i + 1]);
      if (!s) {
        std::fprintf(stderr, "unknown scenario %s (%s)\n", argv[i + 1],
                     paxlock::explore::scenario_names().c_str());
        return 2;
      }
      o = *s;
      mutation =
          o.checkpoint_unwritten ? "checkpoint-unwritten" : paxlock::paxos::to_string(o.mutation);
      disk = o.disk == DiskModel::kWal ? "wal" : "memory";
      network = o.bag ? "bag" : "set";
      no_sticky = !o.sticky_leader;
    }
  }
  CLI11_PARSE(app, argc, argv);

  if (!replay_file.empty()) {
    const paxlock::explore::Result r = paxlock::explore::replay(
        read_all(replay_file), [](const std::string& s) { std::printf("%s\n", s.c_str()); });
    if (!r.prefix_error.empty()) {
      std::printf("replay stopped: %s\n", r.prefix_error.c_str());
      return 2;
    }
    if (r.violation) {
      std::printf("VIOLATION after step %d: %s\n", r.depth_reached, r.what.c_str());
      return 1;
    }
    std::printf("no violation in %d steps\n", r.depth_reached);
    return 0;
  }

  auto m = paxlock::explore::parse_mutation(mutation);
  if (!m) {
    std::fprintf(stderr, "unknown mutation %s\n", mutation.c_str());
    return 2;
  }
  o.mutation = *m;
  o.checkpoint_unwritten = mutation == "checkpoint-unwritten";
#if !PAXLOCK_MUTATIONS
  if (o.mutation != paxlock::paxos::Mutation::kNone) {
    std::fprintf(stderr,
                 "this build has no planted mutations (PAXLOCK_MUTATIONS is off): use "
                 "the dev or asan build\n");
    return 2;
  }
#endif
  o.sticky_leader = !no_sticky;
  if (no_disk_check) o.check_disk_commit = false;
  o.disk = disk == "wal" ? DiskModel::kWal : DiskModel::kMemory;
  o.bag = network == "bag";
  if (!prefix_file.empty()) o.prefix = read_all(prefix_file);
  if (!leader_prefix.empty()) o.prefix = paxlock::explore::prefix_leader(std::stoi(leader_prefix));

  const paxlock::explore::Result r = paxlock::explore::explore(o);
  if (!r.prefix_error.empty()) {
    std::printf("prefix failed: %s\n", r.prefix_error.c_str());
    return 2;
  }
  std::printf(
      "paxlock-explore: %d nodes, mutation %s, disk %s, network %s, depth bound %d\n"
      "  transitions %llu, distinct states %llu (last iteration; %llu over all), "
      "deepest %d, exhaustive to depth %d, %.2f s%s%s\n",
      o.nodes, mutation.c_str(), disk.c_str(), network.c_str(), o.max_depth,
      (unsigned long long)r.transitions, (unsigned long long)r.distinct,
      (unsigned long long)r.distinct_total, r.depth_reached, r.depth_completed, r.seconds,
      r.budget_hit ? ", stopped: " : "", r.budget_note.c_str());
  if (!r.violation) {
    std::printf("  no violation\n");
    return 0;
  }
  std::printf("  VIOLATION at depth %zu: %s\n  trace:\n", r.trace.size(), r.what.c_str());
  for (const std::string& a : r.trace)
    std::printf("    %s\n", a.c_str());
  if (!out_file.empty()) {
    std::ofstream out(out_file);
    out << r.script;
    std::printf("  replay script written to %s (paxlock-explore --replay %s)\n", out_file.c_str(),
                out_file.c_str());
  }
  return 1;
}
