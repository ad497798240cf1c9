// paxlock: the command-line client and local cluster launcher.
#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace paxlock::cli;
  CLI::App app{"paxlock: locks from a paxlock cluster"};
  app.require_subcommand(1);
  Global g;
  app.add_option("--cluster", g.cluster_file,
                 "cluster file (default: $PAXLOCK_CLUSTER or ./cluster.toml)");
  app.add_option("--replica", g.replica, "random, hash, leader or a node id")
      ->capture_default_str();
  app.add_option("--owner", g.owner, "lock owner name (default: host:pid)");
  app.add_option("--session-ttl", g.session_ttl_s,
                 "hold locks under a session of this many seconds")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--timeout", g.timeout_s, "give up (exit 3) after this many seconds")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_flag("--json", g.json, "print one JSON object per result");

  std::string name;
  uint64_t token = 0;
  double max_wait = 30;

  auto* lock = app.add_subcommand("lock", "try once to take a lock (prints the fencing token)");
  lock->add_option("NAME", name, "lock name")->required();
  auto* acquire = app.add_subcommand("acquire", "take a lock, retrying with back-off");
  acquire->add_option("NAME", name, "lock name")->required();
  acquire->add_option("--max-wait", max_wait, "give up after this many seconds")
      ->check(CLI::Range(0.0, 86400.0));
  auto* unlock = app.add_subcommand("unlock", "release a lock");
  unlock->add_option("NAME", name, "lock name")->required();
  unlock->add_option("--token", token, "only if this is still the current token");
  auto* check = app.add_subcommand("check", "is a fencing token still current?");
  check->add_option("NAME", name, "lock name")->required();
  check->add_option("--token", token, "the token")->required();
  auto* status = app.add_subcommand("status", "a lock's holder, token and waiters");
  status->add_option("NAME", name, "lock name (none: list held locks)");
  std::string after;
  uint32_t limit = 100;
  auto* list = app.add_subcommand("list", "held locks, in name order");
  list->add_option("--after", after, "start after this name");
  list->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 1000));
  auto* cluster = app.add_subcommand("cluster", "members, leader, indices, up or down");

  std::vector<std::string> command;
  auto* hold =
      app.add_subcommand("hold", "run a command while holding a lock: hold NAME -- CMD...");
  hold->add_option("NAME", name, "lock name")->required();
  hold->add_option("--max-wait", max_wait, "give up acquiring after this many seconds");
  hold->add_option("command", command, "the command and its arguments (after --)");

  BenchOptions b;
  auto* bench = app.add_subcommand("bench", "load generator: lock-then-unlock cycles");
  bench->add_option("--clients", b.clients, "concurrent clients")->check(CLI::Range(1, 100000));
  bench->add_option("--locks", b.locks, "lock names per client (shared with --contended)")
      ->check(CLI::Range(1, 100000000));
  bench->add_option("--duration", b.duration_s, "seconds measured")
      ->check(CLI::Range(0.1, 86400.0));
  bench->add_option("--warmup", b.warmup_s, "seconds before measuring")
      ->check(CLI::Range(0.0, 3600.0));
  bench->add_flag("--contended", b.contended,
                  "all clients on --locks shared names, try-lock with back-off");
  bench->add_option("--max-cycles", b.max_cycles, "stop after this many cycles");

  LocalOptions l;
  auto* local =
      app.add_subcommand("local", "a local cluster: up, down, status, kill ID, restart ID");
  local->add_option("action", l.action, "up, down, status, kill or restart")
      ->required()
      ->check(CLI::IsMember({"up", "down", "status", "kill", "restart"}));
  local->add_option("id", l.id, "node id (kill, restart)");
  local->add_option("--dir", l.dir, "directory for config, data and logs")->required();
  local->add_option("--nodes", l.nodes, "how many nodes (up, first time)")
      ->check(CLI::Range(1, 15));
  local->add_option("--paxlockd", l.build, "path of paxlockd (default: next to paxlock)");
  std::string daemon_args;
  local->add_option("--daemon-args", daemon_args,
                    "extra arguments for every paxlockd (test options)");
  local->add_option("--wait", l.wait_s, "seconds to wait for nodes to serve");
  local->add_option("--tuning", l.tuning, "key=value for the generated config's [tuning]");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (g.owner.empty()) g.owner = default_owner();
  if (*lock) return cmd_lock(g, name);
  if (*acquire) return cmd_acquire(g, name, max_wait);
  if (*unlock) return cmd_unlock(g, name, token);
  if (*check) return cmd_check(g, name, token);
  if (*status) return name.empty() ? cmd_list(g, "", 100) : cmd_status(g, name);
  if (*list) return cmd_list(g, after, limit);
  if (*cluster) return cmd_cluster(g);
  if (*hold) return cmd_hold(g, name, max_wait, command);
  if (*bench) return cmd_bench(g, b);
  if (*local) {
    if ((l.action == "kill" || l.action == "restart") && l.id == 0) {
      fail("local " + l.action + " needs a node id");
      return kExitUsage;
    }
    std::istringstream in(daemon_args);
    for (std::string a; in >> a;)
      l.extra_args.push_back(a);
    return cmd_local(g, l);
  }
  return kExitUsage;
}
