// paxlock-demo: the main job (`make demo`). Starts a 5-node local cluster,
// runs clients on many locks spread over every replica with a live view,
// kills the leader and one more node with kill -9 mid-run, restarts them,
// and ends with a verdict: a mutual-exclusion check of the recorded history.
#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/cluster_file.h"
#include "common/rng.h"
#include "paxlock/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

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

int run(const std::string& cmd) {
  const int r = std::system(cmd.c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : 1;
}

std::string get(const paxlock::cluster::Member& m, const std::string& path) {
  httplib::Client http(m.http.host, m.http.port);
  http.set_connection_timeout(0, 200000);
  http.set_read_timeout(0, 300000);
  auto res = http.Get(path);
  return res && res->status == 200 ? res->body : "";
}

std::string field(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return "";
  const size_t b = at + key.size() + 4;
  std::string v = json.substr(b, json.find_first_of(",}", b) - b);
  if (!v.empty() && v.front() == '"') v = v.substr(1, v.size() - 2);
  return v;
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
  std::map<std::pair<int, std::string>, size_t> open;  // (client, lock) -> index in grants
  std::vector<Op> ops = history;
  std::sort(ops.begin(), ops.end(),
            [](const Op& a, const Op& b) { return a.invoke_s < b.invoke_s; });
  for (const Op& op : ops) {
    if (op.kind == "lock" && op.result == "OK") {
      grants[op.lock].push_back({op.token, op.client, op.reply_s, 1e18});
      open[{op.client, op.lock}] = grants[op.lock].size() - 1;
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") o.dir = argv[i + 1];
    if (a == "--duration") o.duration_s = std::atoi(argv[i + 1]);
    if (a == "--clients") o.clients = std::atoi(argv[i + 1]);
    if (a == "--locks") o.locks = std::atoi(argv[i + 1]);
  }
  o.duration_s = std::max(o.duration_s, 20);
  const std::string paxlock = bin_dir() + "/paxlock";
  run(fmt::format("{} local down --dir {} >/dev/null 2>&1", paxlock, o.dir));
  run(fmt::format("rm -rf {}", o.dir));
  std::cout << "== starting a 5-node cluster in " << o.dir << std::endl;
  if (run(fmt::format("{} local up --dir {} --nodes 5", paxlock, o.dir)) != 0) return 1;
  const std::string cluster_file = o.dir + "/cluster.toml";
  auto config = paxlock::cluster::load_cluster_file(cluster_file);
  if (!config.ok()) return 1;

  paxlock::ClientOptions copt;
  std::string error;
  paxlock::load_cluster_file(cluster_file, copt, &error);
  copt.request_timeout = 5s;
  copt.attempt_timeout = 500ms;
  paxlock::Client client(copt);

  std::mutex mu;
  std::vector<Op> history;
  std::vector<uint32_t> latencies_us;  // this second's
  std::map<uint32_t, uint64_t> per_replica;
  std::atomic<bool> stop{false};
  const auto t0 = Clock::now();
  auto now_s = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  // Each client: try-lock a random lock; if granted, hold it 0-50 ms, then
  // unlock with the token; if held, move on to another lock after a pause.
  std::vector<std::thread> workers;
  for (int c = 0; c < o.clients; ++c) {
    workers.emplace_back([&, c] {
      paxlock::Rng rng(static_cast<uint64_t>(c) * 7919 + 1);
      const std::string owner = fmt::format("demo-client-{}", c);
      while (!stop) {
        const std::string lock = fmt::format("demo-lock-{}", rng.uniform(0, o.locks - 1));
        Op l{c, "lock", lock, now_s(), 0, "", 0, 0};
        const auto started = Clock::now();
        paxlock::Reply r = client.lock(lock, owner).get();
        l.reply_s = now_s();
        l.result = paxlock::to_string(r.code);
        l.token = r.token;
        l.served_by = r.served_by;
        {
          std::lock_guard<std::mutex> g(mu);
          history.push_back(l);
          latencies_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started)
                  .count()));
          ++per_replica[r.served_by];
        }
        if (r.code != paxlock::Code::kOk) {
          std::this_thread::sleep_for(std::chrono::milliseconds(rng.uniform(1, 20)));
          continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(rng.uniform(0, 50)));
        Op u{c, "unlock", lock, now_s(), 0, "", r.token, 0};
        const auto ustart = Clock::now();
        paxlock::Reply ur = client.unlock(lock, owner, r.token).get();
        u.reply_s = now_s();
        u.result = paxlock::to_string(ur.code);
        u.served_by = ur.served_by;
        std::lock_guard<std::mutex> g(mu);
        history.push_back(u);
        latencies_us.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ustart).count()));
        ++per_replica[ur.served_by];
      }
    });
  }

  std::cout << fmt::format("== {} clients on {} locks, spread over all replicas, for {} s",
                           o.clients, o.locks, o.duration_s)
            << std::endl;
  std::vector<uint32_t> killed;
  const int kill_at = o.duration_s / 3;
  const int restart_at = 2 * o.duration_s / 3;
  for (int sec = 1; sec <= o.duration_s; ++sec) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(sec));
    std::vector<uint32_t> lat;
    size_t ops = 0;
    {
      std::lock_guard<std::mutex> g(mu);
      lat.swap(latencies_us);
      ops = lat.size();
    }
    std::sort(lat.begin(), lat.end());
    auto q = [&](double p) {
      return lat.empty()
                 ? 0.0
                 : lat[static_cast<size_t>(p * static_cast<double>(lat.size() - 1))] / 1000.0;
    };
    int up = 0;
    uint32_t leader = 0;
    uint64_t chosen = 0;
    std::string applied;
    for (const auto& m : config->members) {
      const std::string st = get(m, "/status");
      if (st.empty()) {
        applied += fmt::format(" n{}:down", m.id);
        continue;
      }
      ++up;
      if (field(st, "role") == "leader") leader = m.id;
      chosen = std::max<uint64_t>(chosen, std::strtoull(field(st, "applied").c_str(), nullptr, 10));
      applied += fmt::format(" n{}:{}", m.id, field(st, "applied"));
    }
    std::cout << fmt::format(
                     "[{:>3}s] {:>6} ops/s  p50 {:>6.2f} ms  p99 {:>7.2f} ms  leader {}  "
                     "nodes up {}/5  chosen {}  applied{}",
                     sec, ops, q(0.5), q(0.99), leader ? std::to_string(leader) : "-", up, chosen,
                     applied)
              << std::endl;
    if (sec == kill_at && leader != 0) {
      uint32_t other = leader % 5 + 1;
      std::cout << fmt::format("== kill -9 the leader (node {}) and node {}", leader, other)
                << std::endl;
      run(fmt::format("{} local kill {} --dir {} >/dev/null", paxlock, leader, o.dir));
      run(fmt::format("{} local kill {} --dir {} >/dev/null", paxlock, other, o.dir));
      killed = {leader, other};
    }
    if (sec == restart_at && !killed.empty()) {
      std::cout << fmt::format("== restarting nodes {} and {} from their disks", killed[0],
                               killed[1])
                << std::endl;
      for (uint32_t id : killed) {
        run(fmt::format("{} local restart {} --dir {} >/dev/null", paxlock, id, o.dir));
      }
    }
  }
  stop = true;
  for (std::thread& t : workers)
    t.join();

  std::ofstream out(o.dir + "/history.jsonl");
  std::map<std::string, uint64_t> totals;
  for (const Op& op : history) {
    out << fmt::format(
        "{{\"client\": {}, \"op\": \"{}\", \"lock\": \"{}\", \"invoke\": {:.6f}, "
        "\"reply\": {:.6f}, \"result\": \"{}\", \"token\": {}, \"replica\": {}}}\n",
        op.client, op.kind, op.lock, op.invoke_s, op.reply_s, op.result, op.token, op.served_by);
    ++totals[op.kind + " " + op.result];
  }
  out.close();
  const auto violations = check_mutual_exclusion(history);
  std::cout << "== verdict" << std::endl;
  std::cout << fmt::format("operations recorded: {} (history in {}/history.jsonl)", history.size(),
                           o.dir)
            << std::endl;
  for (const auto& [k, v] : totals)
    std::cout << fmt::format("  {:<24} {}", k, v) << std::endl;
  std::string spread;
  for (const auto& [id, n] : per_replica)
    spread += fmt::format(" n{}:{}", id, n);
  std::cout << "answers by replica:" << spread << std::endl;
  run(fmt::format("{} --cluster {} cluster", paxlock, cluster_file));
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
  run(fmt::format("{} local down --dir {} >/dev/null", paxlock, o.dir));
  std::cout << "cluster stopped" << std::endl;
  return violations.empty() ? 0 : 1;
}
