// paxlock-demo: the main job (`make demo`). Starts a 5-node local cluster,
// runs clients on many locks spread over every replica with a live view,
// kills the leader and one more node with kill -9 mid-run, restarts them,
// and ends with a verdict: a mutual-exclusion check of the recorded history.
//
// It deletes only a directory it made: it leaves a marker file (.paxlock-demo)
// in its --dir, and a later run wipes the directory only if the marker is
// there. It runs `paxlock local` with an argument vector, never a shell.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "cluster/cluster_file.h"
#include "common/json.h"
#include "common/rng.h"
#include "common/version.h"
#include "paxlock/client.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using paxlock::Json;
using paxlock::to_json_line;

struct Op {
  int client = 0;
  std::string kind;  // lock, unlock
  std::string lock;
  double invoke_s = 0;
  double reply_s = 0;
  std::string result;
  uint64_t token = 0;
  uint32_t served_by = 0;
};

struct Options {
  std::string dir = "/tmp/paxlock-demo";
  std::string bin;
  int clients = 12;
  int locks = 60;
  int duration_s = 60;
};

std::string bin_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "./paxlock-demo";
  return self.substr(0, self.rfind('/'));
}

// What a command run by the demo may print.
enum class Output { kAll, kErrors, kNothing };

// Runs args[0] with these arguments (no shell) and waits; its exit code, or 1
// if it could not start or died of a signal.
int run(const std::vector<std::string>& args, Output output = Output::kAll) {
  std::vector<char*> argv;
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (output != Output::kAll) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  if (output == Output::kNothing) posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::cout.flush();  // its output after ours
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    std::cerr << fmt::format("paxlock-demo: cannot run {}: {}", args[0], std::strerror(err))
              << std::endl;
    return 1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// The node's /status, or null if it does not answer (with JSON). Under
// [tls], over HTTPS with the cluster file's admin credentials.
Json node_status(const paxlock::ClientOptions& o, uint32_t id) {
  paxlock::HttpAnswer answer;
  if (!paxlock::http_get(o, id, "/status", 300ms, answer, nullptr) || answer.status != 200) {
    return nullptr;
  }
  Json status = Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  return status.is_discarded() ? Json(nullptr) : status;
}

// No two owners held one lock over overlapping intervals: for each lock, the
// grants in fencing-token order, each from the answer that granted it to the
// invocation of its release, must not overlap in time.
std::vector<std::string> check_mutual_exclusion(const std::vector<Op>& history) {
  struct Grant {
    uint64_t token;
    int client;
    double from;
    double to;
  };
  std::map<std::string, std::vector<Grant>> grants;
  std::map<std::pair<int, std::string>, size_t> open;           // (client, lock) -> index in grants
  std::map<std::pair<std::string, uint64_t>, size_t> by_token;  // (lock, token) -> index
  std::vector<Op> ops = history;
  std::sort(ops.begin(), ops.end(),
            [](const Op& a, const Op& b) { return a.invoke_s < b.invoke_s; });
  for (const Op& op : ops) {
    if (op.kind == "lock" && op.result == "OK") {
      // The same token to the same owner again: its unlock did not take
      // effect (an UNAVAILABLE answer), and the lock answers a holder's
      // lock with its grant. One hold, still going; to another client, the
      // same token is a violation (kept as a second grant below).
      auto same = by_token.find({op.lock, op.token});
      if (same != by_token.end() && grants[op.lock][same->second].client == op.client) {
        grants[op.lock][same->second].to = 1e18;
        open[{op.client, op.lock}] = same->second;
        continue;
      }
      grants[op.lock].push_back({op.token, op.client, op.reply_s, 1e18});
      open[{op.client, op.lock}] = grants[op.lock].size() - 1;
      by_token[{op.lock, op.token}] = grants[op.lock].size() - 1;
    } else if (op.kind == "unlock") {
      auto it = open.find({op.client, op.lock});
      if (it != open.end()) {
        grants[op.lock][it->second].to = op.invoke_s;
        open.erase(it);
      }
    }
  }
  std::vector<std::string> violations;
  for (auto& [lock, g] : grants) {
    std::sort(g.begin(), g.end(), [](const Grant& a, const Grant& b) { return a.token < b.token; });
    for (size_t i = 1; i < g.size(); ++i) {
      if (g[i].token == g[i - 1].token) {
        violations.push_back(fmt::format("{}: token {} granted twice", lock, g[i].token));
      } else if (g[i].from < g[i - 1].to && g[i].client != g[i - 1].client) {
        violations.push_back(fmt::format(
            "{}: client {} (token {}) held it from {:.3f}s while client {} (token {}) held it "
            "until {:.3f}s",
            lock, g[i].client, g[i].token, g[i].from, g[i - 1].client, g[i - 1].token,
            g[i - 1].to));
      }
    }
  }
  return violations;
}

constexpr int kExitUsage = 2;
constexpr const char* kMarker = ".paxlock-demo";
constexpr int kMinDuration = 20;  // a third before the kills, a third after the restarts

// The options, or the exit code: 0 after --help or --version, kExitUsage for
// a usage error (CLI11 said what).
std::variant<Options, int> parse_args(int argc, char** argv) {
  Options o;
  CLI::App app{
      "paxlock-demo: a 5-node local cluster under load for --duration seconds, with a live "
      "view, kill -9 of the leader and one more node a third of the way in, their restarts two "
      "thirds in, and a mutual-exclusion verdict (exit 1 if it fails). `make demo` runs it.\n"
      "It deletes and recreates --dir only if an earlier run made it (a .paxlock-demo file in "
      "it); it refuses any other non-empty directory (exit 2)."};
  app.set_version_flag("--version", paxlock::version_line("paxlock-demo"));
  app.add_option("--dir", o.dir, "directory for the cluster's config, data, logs and history")
      ->capture_default_str();
  app.add_option("--duration", o.duration_s,
                 fmt::format("seconds of load (at least {})", kMinDuration))
      ->check(CLI::Range(kMinDuration, 86400))
      ->capture_default_str();
  app.add_option("--clients", o.clients, "concurrent clients")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--locks", o.locks, "lock names the clients pick from")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (o.dir.empty()) {
    std::cerr << "paxlock-demo: --dir must not be empty" << std::endl;
    return kExitUsage;
  }
  return o;
}

// The `paxlock` command next to this binary.
class Cli {
 public:
  explicit Cli(std::string dir) : paxlock_(bin_dir() + "/paxlock"), dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string cluster_file() const { return dir_ + "/cluster.toml"; }
  // `paxlock local ARGS... --dir DIR`; its exit code.
  int local(std::vector<std::string> args, Output output = Output::kAll) const {
    args.insert(args.begin(), {paxlock_, "local"});
    args.insert(args.end(), {"--dir", dir_});
    return run(args, output);
  }
  void print_cluster() const { run({paxlock_, "--cluster", cluster_file(), "cluster"}); }

 private:
  std::string paxlock_;
  std::string dir_;
};

// Makes o.dir ready for a new cluster: creates it if it does not exist, uses
// it if it is an empty directory, and if an earlier run made it (the marker
// is in it) stops that run's nodes, deletes it and creates it again. Anything
// else is refused. Leaves the marker in it. 0, or the exit code (it said why).
int prepare_dir(const Cli& cli) {
  const fs::path dir = cli.dir();
  auto fail = [&](int code, const std::string& why) {
    std::cerr << fmt::format("paxlock-demo: {}: {}", dir.string(), why) << std::endl;
    return code;
  };
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && st.type() != fs::file_type::not_found) return fail(1, ec.message());
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) return fail(kExitUsage, "exists and is not a directory; refused");
    const bool ours = fs::is_regular_file(fs::symlink_status(dir / kMarker, ec));
    if (ours) {
      // The nodes of an earlier run that did not stop, then its files.
      if (fs::exists(dir / "cluster.toml", ec)) cli.local({"down"}, Output::kNothing);
      fs::remove_all(dir, ec);
      if (ec) return fail(1, "cannot delete the previous run's directory: " + ec.message());
    } else {
      const bool empty = fs::is_empty(dir, ec);
      if (ec) return fail(1, ec.message());
      if (!empty) {
        return fail(kExitUsage,
                    fmt::format("not empty and not made by paxlock-demo (no {} file in it); "
                                "refused, nothing deleted. Give a new or empty directory, or "
                                "delete this one yourself (a demo before the marker made it?)",
                                kMarker));
      }
    }
  }
  fs::create_directories(dir, ec);
  if (ec) return fail(1, "cannot create it: " + ec.message());
  std::ofstream marker(dir / kMarker);
  marker << "Made by paxlock-demo; its next run with --dir here deletes this directory.\n";
  marker.close();
  if (!marker) return fail(1, fmt::format("cannot write {}", (dir / kMarker).string()));
  return 0;
}

// o.clients threads on one client: each tries to lock a random lock; if
// granted, holds it 0-50 ms, then unlocks with the token; if held, moves on
// to another lock after a pause. Records every operation.
class Load {
 public:
  Load(const Options& o, const std::string& cluster_file)
      : o_(o), client_(client_options(cluster_file)) {}

  void start() {
    for (int c = 0; c < o_.clients; ++c)
      workers_.emplace_back([this, c] { client_loop(c); });
  }
  void stop() {
    stop_ = true;
    for (std::thread& t : workers_)
      t.join();
  }
  // The latencies of the operations answered since the last call.
  std::vector<uint32_t> take_latencies() {
    std::vector<uint32_t> lat;
    std::lock_guard<std::mutex> g(mu_);
    lat.swap(latencies_us_);
    return lat;
  }
  // After stop().
  const std::vector<Op>& history() const { return history_; }
  const std::map<uint32_t, uint64_t>& per_replica() const { return per_replica_; }

 private:
  static paxlock::ClientOptions client_options(const std::string& cluster_file) {
    paxlock::ClientOptions copt;
    std::string error;
    paxlock::load_cluster_file(cluster_file, copt, &error);
    copt.request_timeout = 5s;
    copt.attempt_timeout = 500ms;
    return copt;
  }

  double now_s() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  void client_loop(int c) {
    paxlock::Rng rng(static_cast<uint64_t>(c) * 7919 + 1);
    const std::string owner = fmt::format("demo-client-{}", c);
    while (!stop_) {
      const std::string lock = fmt::format("demo-lock-{}", rng.uniform(0, o_.locks - 1));
      const paxlock::Reply r = lock_once(c, owner, lock);
      if (r.code != paxlock::Code::kOk) {
        std::this_thread::sleep_for(std::chrono::milliseconds(rng.uniform(1, 20)));
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng.uniform(0, 50)));
      unlock_once(c, owner, lock, r.token);
    }
  }

  paxlock::Reply lock_once(int c, const std::string& owner, const std::string& lock) {
    Op op{c, "lock", lock, now_s(), 0, "", 0, 0};
    const auto started = Clock::now();
    paxlock::Reply r = client_.lock(lock, owner).get();
    op.token = r.token;
    record(op, r, started);
    return r;
  }

  void unlock_once(int c, const std::string& owner, const std::string& lock, uint64_t token) {
    Op op{c, "unlock", lock, now_s(), 0, "", token, 0};
    const auto started = Clock::now();
    record(op, client_.unlock(lock, owner, token).get(), started);
  }

  void record(Op& op, const paxlock::Reply& r, Clock::time_point started) {
    op.reply_s = now_s();
    op.result = paxlock::to_string(r.code);
    op.served_by = r.served_by;
    std::lock_guard<std::mutex> g(mu_);
    history_.push_back(op);
    latencies_us_.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
    ++per_replica_[r.served_by];
  }

  const Options& o_;
  paxlock::Client client_;
  const Clock::time_point t0_ = Clock::now();
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Op> history_;
  std::vector<uint32_t> latencies_us_;  // since the last take_latencies()
  std::map<uint32_t, uint64_t> per_replica_;
  std::vector<std::thread> workers_;
};

// What the replicas' /status pages say, for the live view.
struct ClusterView {
  int up = 0;
  uint32_t leader = 0;
  uint64_t chosen = 0;  // the highest applied instance
  std::string applied;  // " n1:123 n2:down ..."
};

ClusterView observe(const paxlock::cluster::ClusterFile& config, const paxlock::ClientOptions& o) {
  ClusterView v;
  for (const auto& m : config.members) {
    const Json st = node_status(o, m.id);
    if (st.is_null()) {
      v.applied += fmt::format(" n{}:down", m.id);
      continue;
    }
    ++v.up;
    if (st.value("role", "") == "leader") v.leader = m.id;
    const uint64_t applied = st.value("applied", uint64_t{0});
    v.chosen = std::max(v.chosen, applied);
    v.applied += fmt::format(" n{}:{}", m.id, applied);
  }
  return v;
}

void print_second(int sec, std::vector<uint32_t> lat, const ClusterView& v) {
  std::sort(lat.begin(), lat.end());
  auto q = [&](double p) {
    return lat.empty() ? 0.0
                       : lat[static_cast<size_t>(p * static_cast<double>(lat.size() - 1))] / 1000.0;
  };
  std::cout << fmt::format(
                   "[{:>3}s] {:>6} ops/s  p50 {:>6.2f} ms  p99 {:>7.2f} ms  leader {}  "
                   "nodes up {}/5  chosen {}  applied{}",
                   sec, lat.size(), q(0.5), q(0.99), v.leader ? std::to_string(v.leader) : "-",
                   v.up, v.chosen, v.applied)
            << std::endl;
}

// kill -9 of the leader and the node after it; the two killed.
std::vector<uint32_t> kill_leader_and_one(const Cli& cli, uint32_t leader) {
  const uint32_t other = leader % 5 + 1;
  std::cout << fmt::format("== kill -9 the leader (node {}) and node {}", leader, other)
            << std::endl;
  cli.local({"kill", std::to_string(leader)}, Output::kErrors);
  cli.local({"kill", std::to_string(other)}, Output::kErrors);
  return {leader, other};
}

void restart_nodes(const Cli& cli, const std::vector<uint32_t>& killed) {
  std::cout << fmt::format("== restarting nodes {} and {} from their disks", killed[0], killed[1])
            << std::endl;
  for (uint32_t id : killed)
    cli.local({"restart", std::to_string(id)}, Output::kErrors);
}

// The live view, one line a second for o.duration_s, with the kills a third
// of the way in and the restarts at two thirds.
void watch(const Options& o, const Cli& cli, const paxlock::cluster::ClusterFile& config,
           Load& load) {
  const auto t0 = Clock::now();
  std::vector<uint32_t> killed;
  paxlock::ClientOptions http;  // the cluster file's: HTTPS and the admin's credentials
  std::string error;
  paxlock::load_cluster_file(cli.cluster_file(), http, &error);
  const int kill_at = o.duration_s / 3;
  const int restart_at = 2 * o.duration_s / 3;
  for (int sec = 1; sec <= o.duration_s; ++sec) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(sec));
    std::vector<uint32_t> lat = load.take_latencies();
    const ClusterView v = observe(config, http);
    print_second(sec, std::move(lat), v);
    if (sec == kill_at && v.leader != 0) killed = kill_leader_and_one(cli, v.leader);
    if (sec == restart_at && !killed.empty()) restart_nodes(cli, killed);
  }
}

// DIR/history.jsonl, one operation a line; the count of each (op, result).
std::map<std::string, uint64_t> write_history(const std::string& path,
                                              const std::vector<Op>& history) {
  auto micro = [](double s) { return std::round(s * 1e6) / 1e6; };
  std::ofstream out(path);
  std::map<std::string, uint64_t> totals;
  for (const Op& op : history) {
    out << to_json_line({{"client", op.client},
                         {"op", op.kind},
                         {"lock", op.lock},
                         {"invoke", micro(op.invoke_s)},
                         {"reply", micro(op.reply_s)},
                         {"result", op.result},
                         {"token", op.token},
                         {"replica", op.served_by}})
        << "\n";
    ++totals[op.kind + " " + op.result];
  }
  return totals;
}

void print_verdict(const Options& o, const Cli& cli, const Load& load,
                   const std::map<std::string, uint64_t>& totals,
                   const std::vector<std::string>& violations) {
  std::cout << "== verdict" << std::endl;
  std::cout << fmt::format("operations recorded: {} (history in {}/history.jsonl)",
                           load.history().size(), o.dir)
            << std::endl;
  for (const auto& [k, v] : totals)
    std::cout << fmt::format("  {:<24} {}", k, v) << std::endl;
  std::string spread;
  for (const auto& [id, n] : load.per_replica())
    spread += fmt::format(" n{}:{}", id, n);
  std::cout << "answers by replica:" << spread << std::endl;
  cli.print_cluster();
  if (violations.empty()) {
    std::cout << "mutual exclusion: OK (no two owners held one lock over overlapping intervals)"
              << std::endl;
  } else {
    std::cout << fmt::format("mutual exclusion: VIOLATED ({} cases)", violations.size())
              << std::endl;
    for (size_t i = 0; i < std::min<size_t>(violations.size(), 10); ++i) {
      std::cout << "  " << violations[i] << std::endl;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse_args(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const Options& o = std::get<Options>(parsed);
  const Cli cli(o.dir);
  if (const int code = prepare_dir(cli); code != 0) return code;
  std::cout << "== starting a 5-node cluster in " << o.dir << std::endl;
  if (cli.local({"up", "--nodes", "5"}) != 0) {
    cli.local({"down"}, Output::kNothing);
    return 1;
  }
  auto config = paxlock::cluster::load_cluster_file(cli.cluster_file());
  if (!config.ok()) {
    cli.local({"down"}, Output::kNothing);
    return 1;
  }

  Load load(o, cli.cluster_file());
  load.start();
  std::cout << fmt::format("== {} clients on {} locks, spread over all replicas, for {} s",
                           o.clients, o.locks, o.duration_s)
            << std::endl;
  watch(o, cli, *config, load);
  load.stop();

  const auto totals = write_history(o.dir + "/history.jsonl", load.history());
  const auto violations = check_mutual_exclusion(load.history());
  print_verdict(o, cli, load, totals, violations);
  cli.local({"down"}, Output::kErrors);
  std::cout << "cluster stopped" << std::endl;
  return violations.empty() ? 0 : 1;
}
