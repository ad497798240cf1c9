// The `paxlock` command line: shared options, output and exit codes.
//
// Exit codes: 0 done; 1 refused (held by another, not the owner, stale token,
// deadlock, ...); 2 usage error; 3 outcome unknown (timeout, unreachable);
// 4 a held lock was lost (hold). `--json` prints one JSON object per result.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/json.h"
#include "paxlock/client.h"

namespace paxlock::cli {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnknown = 3;
constexpr int kExitLost = 4;

struct Global {
  std::string cluster_file;
  std::string replica = "random";  // random, hash, leader or a node id
  std::string owner;
  double session_ttl_s = 0;
  double timeout_s = 10;
  bool json = false;
};

// Builds client options from the global flags; on error prints one line and
// returns false.
bool client_options(const Global& g, ClientOptions& out);
std::string default_owner();

int exit_code(Code code);
// Prints a result: human-readable, or one JSON object with --json.
void print(const Global& g, const std::string& command, const std::string& name, const Reply& r);
void fail(const std::string& message);  // one line on stderr

int cmd_lock(const Global& g, const std::string& name);
int cmd_acquire(const Global& g, const std::string& name, double max_wait_s);
int cmd_unlock(const Global& g, const std::string& name, uint64_t token);
int cmd_check(const Global& g, const std::string& name, uint64_t token);
int cmd_status(const Global& g, const std::string& name);
int cmd_list(const Global& g, const std::string& after, uint32_t limit);
int cmd_cluster(const Global& g);
int cmd_hold(const Global& g, const std::string& name, double max_wait_s,
             const std::vector<std::string>& command);

struct BenchOptions {
  int clients = 16;
  int locks = 100;  // lock names per client (uncontended) or shared (contended)
  double duration_s = 10;
  double warmup_s = 1;
  bool contended = false;
  uint64_t max_cycles = 0;  // 0: no limit but the duration
};
int cmd_bench(const Global& g, const BenchOptions& b);

struct LocalOptions {
  std::string action;  // up, down, status, kill, restart
  std::string dir;
  int nodes = 3;
  uint32_t id = 0;
  std::string build = "";               // where paxlockd is (default: next to this binary)
  std::vector<std::string> extra_args;  // passed to every paxlockd (test options)
  std::vector<std::string> tuning;      // key=value for the config's [tuning] (up, first time)
  double wait_s = 20;
};
int cmd_local(const Global& g, const LocalOptions& l);

}  // namespace paxlock::cli
