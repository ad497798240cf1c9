// `paxlock bench`: a closed-loop load generator. N logical clients each run
// lock-then-unlock cycles as fast as answers come back: on their own lock
// names (uncontended), or on a few shared names with try-lock and
// exponential back-off (contended). Prints throughput and latency
// percentiles of the whole cycle and of the acquire alone.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <queue>
#include <thread>

#include "cli/cli.h"
#include "common/rng.h"

namespace paxlock::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Runs callbacks at given times, for back-off (the client's callbacks must
// not block).
class Timers {
 public:
  Timers() : thread_([this] { run(); }) {}
  ~Timers() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void after(std::chrono::microseconds d, std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      q_.push(Item{Clock::now() + d, seq_++, std::move(fn)});
    }
    cv_.notify_all();
  }

 private:
  struct Item {
    Clock::time_point at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      if (q_.empty()) {
        cv_.wait(l);
        continue;
      }
      if (Clock::now() < q_.top().at) {
        cv_.wait_until(l, q_.top().at);
        continue;
      }
      auto fn = q_.top().fn;
      q_.pop();
      l.unlock();
      fn();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> q_;
  uint64_t seq_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

struct Stats {
  std::mutex mu;
  std::vector<uint32_t> cycle_us;
  std::vector<uint32_t> acquire_us;
  std::map<std::string, uint64_t> errors;
  std::atomic<uint64_t> cycles{0};
  std::atomic<uint64_t> retries{0};
};

double pct(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))]) /
         1000.0;
}

}  // namespace

int cmd_bench(const Global& g, const BenchOptions& b) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  if (b.clients < 1 || b.locks < 1 || b.duration_s <= 0) {
    fail("bench needs --clients, --locks and --duration above zero");
    return kExitUsage;
  }
  // Declaration order is destruction order in reverse: the timers stop
  // first, then the client (which answers what is still pending with
  // UNAVAILABLE through the callbacks below), and only then what those
  // callbacks touch.
  Stats stats;
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};

  struct Worker {
    int index = 0;
    std::string owner;
    uint64_t cycle = 0;
    paxlock::Rng rng{1};
    Clock::time_point start;
    Clock::time_point acquired;
    std::chrono::microseconds backoff{0};
  };
  std::vector<Worker> workers(static_cast<size_t>(b.clients));
  std::function<void(Worker&)> start_cycle;
  std::function<void(Worker&, const std::string&)> try_lock;
  Client client(o);
  Timers timers;
  const std::string prefix = fmt::format("bench-{}-{}", ::getpid(), client.client_id() % 100000);
  auto name_of = [&](Worker& w) {
    if (b.contended) return fmt::format("bench-shared-{}", w.rng.uniform(0, b.locks - 1));
    return fmt::format("{}-c{}-n{}", prefix, w.index, w.cycle % static_cast<uint64_t>(b.locks));
  };
  auto record_error = [&](Code c) {
    std::lock_guard<std::mutex> l(stats.mu);
    ++stats.errors[to_string(c)];
  };
  try_lock = [&](Worker& w, const std::string& name) {
    client.lock(name, w.owner, LockOptions{}, [&, name](const Reply& r) {
      if (r.code == Code::kHeld && !stopping) {
        // Contended: exponential back-off with jitter, then try again.
        ++stats.retries;
        w.backoff = std::min(std::max(w.backoff * 2, std::chrono::microseconds(200)),
                             std::chrono::microseconds(100000));
        const auto sleep =
            std::chrono::microseconds(w.rng.uniform(w.backoff.count() / 2, w.backoff.count()));
        timers.after(sleep, [&, name] { try_lock(w, name); });
        return;
      }
      if (r.code != Code::kOk) {
        record_error(r.code);
        --in_flight;
        if (!stopping) start_cycle(w);
        return;
      }
      w.acquired = Clock::now();
      w.backoff = std::chrono::microseconds(0);
      client.unlock(name, w.owner, r.token, [&](const Reply& u) {
        const auto end = Clock::now();
        if (u.code != Code::kOk) record_error(u.code);
        if (measuring && u.code == Code::kOk) {
          std::lock_guard<std::mutex> l(stats.mu);
          stats.cycle_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(end - w.start).count()));
          stats.acquire_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(w.acquired - w.start).count()));
          ++stats.cycles;
        }
        --in_flight;
        if (!stopping && (b.max_cycles == 0 || stats.cycles < b.max_cycles)) start_cycle(w);
      });
    });
  };
  start_cycle = [&](Worker& w) {
    ++in_flight;
    ++w.cycle;
    w.start = Clock::now();
    try_lock(w, name_of(w));
  };
  for (int i = 0; i < b.clients; ++i) {
    Worker& w = workers[static_cast<size_t>(i)];
    w.index = i;
    w.owner = fmt::format("{}-owner{}", prefix, i);
    w.rng = paxlock::Rng(client.client_id() + static_cast<uint64_t>(i));
    start_cycle(w);
  }
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(b.warmup_s * 1000)));
  measuring = true;
  const auto m0 = Clock::now();
  uint64_t last_cycles = 0;
  for (int sec = 1; Clock::now() - m0 < std::chrono::duration<double>(b.duration_s); ++sec) {
    std::this_thread::sleep_until(m0 + std::chrono::seconds(sec));
    const uint64_t now_cycles = stats.cycles;
    if (!g.json) {
      std::cerr << fmt::format("\r[{:>3}s] {:>8} cycles/s  {:>9} cycles  {} retries   ", sec,
                               now_cycles - last_cycles, now_cycles, stats.retries.load())
                << std::flush;
    }
    last_cycles = now_cycles;
    if (b.max_cycles && now_cycles >= b.max_cycles) break;
  }
  measuring = false;
  const double seconds = std::chrono::duration<double>(Clock::now() - m0).count();
  stopping = true;
  const auto drain_until = Clock::now() + std::chrono::seconds(5);
  while (in_flight > 0 && Clock::now() < drain_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!g.json) std::cerr << "\n";
  std::lock_guard<std::mutex> l(stats.mu);
  const double rate = static_cast<double>(stats.cycle_us.size()) / seconds;
  std::string errors;
  for (const auto& [k, v] : stats.errors) {
    errors += fmt::format("{}{}: {}", errors.empty() ? "" : ", ", json_string(k), v);
  }
  const double c50 = pct(stats.cycle_us, 0.5), c90 = pct(stats.cycle_us, 0.9),
               c99 = pct(stats.cycle_us, 0.99), c999 = pct(stats.cycle_us, 0.999);
  const double a50 = pct(stats.acquire_us, 0.5), a90 = pct(stats.acquire_us, 0.9),
               a99 = pct(stats.acquire_us, 0.99), a999 = pct(stats.acquire_us, 0.999);
  if (g.json) {
    std::cout
        << fmt::format(
               "{{\"command\": \"bench\", \"clients\": {}, \"locks\": {}, \"contended\": {}, "
               "\"replica\": {}, \"seconds\": {:.3f}, \"cycles\": {}, \"cycles_per_s\": {:.1f}, "
               "\"cycle_ms\": {{\"p50\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}, \"p999\": "
               "{:.3f}}}, \"acquire_ms\": {{\"p50\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}, "
               "\"p999\": {:.3f}}}, \"retries\": {}, \"errors\": {{{}}}}}",
               b.clients, b.locks, b.contended, json_string(g.replica), seconds,
               stats.cycle_us.size(), rate, c50, c90, c99, c999, a50, a90, a99, a999,
               stats.retries.load(), errors)
        << std::endl;
  } else {
    std::cout << fmt::format(
                     "{} clients, {} {} lock names, replica {}: {} cycles in {:.1f} s = {:.0f} "
                     "cycles/s\n  cycle   ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}\n"
                     "  acquire ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}\n"
                     "  retries on HELD: {}  errors: {{{}}}",
                     b.clients, b.locks, b.contended ? "shared" : "per-client", g.replica,
                     stats.cycle_us.size(), seconds, rate, c50, c90, c99, c999, a50, a90, a99, a999,
                     stats.retries.load(), errors)
              << std::endl;
  }
  (void)t0;
  return stats.cycle_us.empty() ? kExitUnknown : kExitOk;
}

}  // namespace paxlock::cli
