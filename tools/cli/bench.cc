// `paxlock bench`: a closed-loop load generator. N logical clients each run
// lock-then-unlock cycles as fast as answers come back: on their own lock
// names (uncontended), or on a few shared names with try-lock and
// exponential back-off (contended). Prints throughput and latency
// percentiles of the whole cycle and of the acquire alone.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
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

struct Worker {
  int index = 0;
  std::string owner;
  uint64_t cycle = 0;
  paxlock::Rng rng{1};
  Clock::time_point start;
  Clock::time_point acquired;
  std::chrono::microseconds backoff{0};
};

// The closed loop: every worker runs lock-then-unlock cycles, one after the
// other, until stop().
class Load {
 public:
  Load(const BenchOptions& b, const ClientOptions& o)
      : b_(b),
        workers_(static_cast<size_t>(b.clients)),
        client_(o),
        prefix_(fmt::format("bench-{}-{}", ::getpid(), client_.client_id() % 100000)) {}

  // Starts every worker's first cycle.
  void start() {
    for (int i = 0; i < b_.clients; ++i) {
      Worker& w = workers_[static_cast<size_t>(i)];
      w.index = i;
      w.owner = fmt::format("{}-owner{}", prefix_, i);
      w.rng = paxlock::Rng(client_.client_id() + static_cast<uint64_t>(i));
      start_cycle(w);
    }
  }
  // Cycles completed while measuring are recorded.
  void measure(bool on) { measuring_ = on; }
  // No new cycles; waits (at most 5 s) for those in flight.
  void stop() {
    stopping_ = true;
    const auto drain_until = Clock::now() + std::chrono::seconds(5);
    while (in_flight_ > 0 && Clock::now() < drain_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  Stats& stats() { return stats_; }

 private:
  std::string lock_name(Worker& w) {
    if (b_.contended) return fmt::format("bench-shared-{}", w.rng.uniform(0, b_.locks - 1));
    return fmt::format("{}-c{}-n{}", prefix_, w.index, w.cycle % static_cast<uint64_t>(b_.locks));
  }

  void record_error(Code c) {
    std::lock_guard<std::mutex> l(stats_.mu);
    ++stats_.errors[to_string(c)];
  }

  void start_cycle(Worker& w) {
    ++in_flight_;
    ++w.cycle;
    w.start = Clock::now();
    try_lock(w, lock_name(w));
  }

  void try_lock(Worker& w, const std::string& name) {
    client_.lock(name, w.owner, LockOptions{},
                 [this, &w, name](const Reply& r) { on_lock(w, name, r); });
  }

  void on_lock(Worker& w, const std::string& name, const Reply& r) {
    if (r.code == Code::kHeld && !stopping_) {
      retry_later(w, name);
      return;
    }
    if (r.code != Code::kOk) {
      record_error(r.code);
      --in_flight_;
      if (!stopping_) start_cycle(w);
      return;
    }
    w.acquired = Clock::now();
    w.backoff = std::chrono::microseconds(0);
    client_.unlock(name, w.owner, r.token, [this, &w](const Reply& u) { on_unlock(w, u); });
  }

  // Contended: exponential back-off with jitter, then try again.
  void retry_later(Worker& w, const std::string& name) {
    ++stats_.retries;
    w.backoff = std::min(std::max(w.backoff * 2, std::chrono::microseconds(200)),
                         std::chrono::microseconds(100000));
    const auto sleep =
        std::chrono::microseconds(w.rng.uniform(w.backoff.count() / 2, w.backoff.count()));
    timers_.after(sleep, [this, &w, name] { try_lock(w, name); });
  }

  void on_unlock(Worker& w, const Reply& u) {
    const auto end = Clock::now();
    if (u.code != Code::kOk) record_error(u.code);
    if (measuring_ && u.code == Code::kOk) {
      std::lock_guard<std::mutex> l(stats_.mu);
      stats_.cycle_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(end - w.start).count()));
      stats_.acquire_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(w.acquired - w.start).count()));
      ++stats_.cycles;
    }
    --in_flight_;
    if (!stopping_ && (b_.max_cycles == 0 || stats_.cycles < b_.max_cycles)) start_cycle(w);
  }

  // Declaration order is destruction order in reverse: the timers stop
  // first, then the client (which answers what is still pending with
  // UNAVAILABLE through the callbacks above), and only then what those
  // callbacks touch.
  const BenchOptions& b_;
  Stats stats_;
  std::atomic<bool> measuring_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
  std::vector<Worker> workers_;
  Client client_;
  const std::string prefix_;
  Timers timers_;
};

// Runs the warm-up, then measures for b.duration_s (or until b.max_cycles),
// with a progress line a second unless --json. Returns the seconds measured.
double run_measurement(const Global& g, const BenchOptions& b, Load& load) {
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(b.warmup_s * 1000)));
  load.measure(true);
  const auto m0 = Clock::now();
  uint64_t last_cycles = 0;
  for (int sec = 1; Clock::now() - m0 < std::chrono::duration<double>(b.duration_s); ++sec) {
    std::this_thread::sleep_until(m0 + std::chrono::seconds(sec));
    const uint64_t now_cycles = load.stats().cycles;
    if (!g.json) {
      std::cerr << fmt::format("\r[{:>3}s] {:>8} cycles/s  {:>9} cycles  {} retries   ", sec,
                               now_cycles - last_cycles, now_cycles, load.stats().retries.load())
                << std::flush;
    }
    last_cycles = now_cycles;
    if (b.max_cycles && now_cycles >= b.max_cycles) break;
  }
  load.measure(false);
  return std::chrono::duration<double>(Clock::now() - m0).count();
}

struct Summary {
  double seconds = 0;
  size_t cycles = 0;
  double rate = 0;
  std::array<double, 4> cycle_ms{};    // p50, p90, p99, p99.9
  std::array<double, 4> acquire_ms{};  // the same
  uint64_t retries = 0;
  std::map<std::string, uint64_t> errors;
};

Summary summarize(Stats& stats, double seconds) {
  std::lock_guard<std::mutex> l(stats.mu);
  Summary s;
  s.seconds = seconds;
  s.cycles = stats.cycle_us.size();
  s.rate = static_cast<double>(s.cycles) / seconds;
  constexpr std::array<double, 4> kQuantiles = {0.5, 0.9, 0.99, 0.999};
  for (size_t i = 0; i < kQuantiles.size(); ++i) {
    s.cycle_ms[i] = pct(stats.cycle_us, kQuantiles[i]);
    s.acquire_ms[i] = pct(stats.acquire_us, kQuantiles[i]);
  }
  s.retries = stats.retries.load();
  s.errors = stats.errors;
  return s;
}

// `v` with `digits` decimals, as the text output shows it.
double rounded(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

Json quantiles_json(const std::array<double, 4>& ms) {
  return {{"p50", rounded(ms[0], 3)},
          {"p90", rounded(ms[1], 3)},
          {"p99", rounded(ms[2], 3)},
          {"p999", rounded(ms[3], 3)}};
}

void print_summary(const Global& g, const BenchOptions& b, const Summary& s) {
  const Json errors = s.errors;
  if (g.json) {
    Json j = json_head("bench", s.cycles > 0 ? Code::kOk : Code::kUnavailable,
                       s.cycles > 0 ? kExitOk : kExitUnavailable);
    j.update(Json{{"clients", b.clients},
                  {"locks", b.locks},
                  {"contended", b.contended},
                  {"replica", g.replica},
                  {"measured_ms", std::llround(s.seconds * 1000)},
                  {"cycles", s.cycles},
                  {"cycles_per_s", rounded(s.rate, 1)},
                  {"cycle_ms", quantiles_json(s.cycle_ms)},
                  {"acquire_ms", quantiles_json(s.acquire_ms)},
                  {"retries", s.retries},
                  {"errors", errors}});
    print_json(j);
    return;
  }
  const auto& c = s.cycle_ms;
  const auto& a = s.acquire_ms;
  std::cout << fmt::format(
                   "{} clients, {} {} lock names, replica {}: {} cycles in {:.1f} s = {:.0f} "
                   "cycles/s\n  cycle   ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}\n"
                   "  acquire ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}\n"
                   "  retries on HELD: {}  errors: {}",
                   b.clients, b.locks, b.contended ? "shared" : "per-client", g.replica, s.cycles,
                   s.seconds, s.rate, c[0], c[1], c[2], c[3], a[0], a[1], a[2], a[3], s.retries,
                   to_json_line(errors))
            << std::endl;
}

}  // namespace

int cmd_bench(const Global& g, const BenchOptions& b) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  if (b.clients < 1 || b.locks < 1 || b.duration_s <= 0) {
    fail("bench needs --clients, --locks and --duration above zero");
    return kExitUsage;
  }
  Load load(b, o);
  load.start();
  const double seconds = run_measurement(g, b, load);
  load.stop();
  if (!g.json) std::cerr << "\n";
  const Summary s = summarize(load.stats(), seconds);
  print_summary(g, b, s);
  return s.cycles == 0 ? kExitUnavailable : kExitOk;
}

}  // namespace paxlock::cli
