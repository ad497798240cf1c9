// paxlock-chaos-client: one client process of the chaos test bed
// (tests/chaos/). Runs a workload against the cluster and appends one JSON
// line per event to its history file:
//   {"t": monotonic ns, "proc": "<owner>#<incarnation>", "type": "invoke|ok|fail|info",
//    "f": "lock|unlock|status|read|write", "lock": ..., "owner": ..., ...}
// ok: the operation took effect with this answer; fail: it certainly did not
// (the service refused it, or it never left); info: unknown (no answer in
// time). After an info, the process takes a new identity (incarnation, client
// id), as a crashed client would: nothing is issued again under the old id.
//
// Workloads:
//   mutex    lock, hold 0-200 ms, unlock with the token; stray unlocks; status reads
//   counter  while holding the lock, read-increment-write a resource server
//            that rejects fencing tokens lower than the highest it has seen
//   durable  take every lock of --locks once and keep them (read back at the end)
//   final    read the status of every lock of --locks once
//   session  open a session (lease of --ttl-ms, renewed every TTL/3 by a
//            keep-alive thread whose requests are recorded too), take locks under
//            it, fenced increments, unlock; sometimes "crash" (stop renewing, keep
//            the locks: the lease's expiry must release them); close or abandon
//   blocking blocking waits (wait_ms 50-1500 ms, FIFO queue) under a session, and
//            try-locks with will_retry
//   deadlock take the first lock of --locks, then wait for the second (blocking,
//            or try-lock with will_retry); run by two owners in opposite orders,
//            so that one closes a cycle and must get DEADLOCK
//   pause    the victim of the client-pause nemesis: holds --locks[0] under a
//            short session and writes the fenced counter with its token every
//            100 ms, without looking at its lease; --state names a file that
//            holds its token while it holds the lock (the harness SIGSTOPs it
//            then). After a resume its writes carry a stale token and must be
//            refused.
// Every workload also checks tokens (`check`) while it holds a lock.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/rng.h"
#include "common/version.h"
#include "paxlock/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using paxlock::Json;
using paxlock::to_json_line;

struct Args {
  std::string cluster;
  std::string replica = "all";  // a node id, or all
  std::string owner;
  std::vector<std::string> locks;
  std::string workload = "mutex";
  double duration_s = 30;
  uint64_t seed = 1;
  std::string history;
  std::string resource;  // host:port of the counter server
  double timeout_s = 3;
  int64_t ttl_ms = 1500;  // session workloads
  std::string state;      // pause: where the token is published while held
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

class History {
 public:
  explicit History(const std::string& path) : out_(path, std::ios::app) {}
  void write(const Json& event) {
    const std::string line = to_json_line(event);
    std::lock_guard<std::mutex> lock(mu_);
    out_ << line << "\n";
    out_.flush();
  }

 private:
  std::mutex mu_;
  std::ofstream out_;
};

// The counter resource server's tiny line protocol:
//   "READ key\n" -> "OK value token\n";  "WRITE key value token\n" -> "OK\n" | "STALE max\n"
std::string resource_call(const std::string& addr, const std::string& request, bool& ok) {
  ok = false;
  const size_t colon = addr.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(colon + 1))));
  ::inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buf[256];
    for (;;) {
      // A socket with a timeout fails with EINTR after SIGSTOP and SIGCONT
      // (signal(7)): the client-pause nemesis does exactly that.
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
      if (reply.find('\n') != std::string::npos) break;
    }
    ok = reply.find('\n') != std::string::npos;
  }
  ::close(fd);
  return reply;
}

// A lease kept alive by a thread of its own, whose keep-alives are recorded
// under their own process name ("<owner>.ka#<n>").
struct Lease {
  uint64_t id = 0;
  int64_t ttl_ms = 0;
  std::atomic<bool> expired{false};    // the service said SESSION_EXPIRED
  std::atomic<int64_t> renewed_ns{0};  // invoke time of the last acknowledged renewal
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;
};

template <typename Call>
paxlock::Reply wait_reply(Call&& call) {
  auto promise = std::make_shared<std::promise<paxlock::Reply>>();
  auto future = promise->get_future();
  call([promise](const paxlock::Reply& r) { promise->set_value(r); });
  return future.get();
}

class Worker {
 public:
  Worker(Args a) : a_(std::move(a)), hist_(a_.history), rng_(a_.seed) { renew(); }
  ~Worker() { abandon_session(); }

  int run() {
    const Clock::time_point deadline =
        Clock::now() +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a_.duration_s));
    if (a_.workload == "durable") {
      for (const std::string& l : a_.locks)
        lock(l);
      return 0;
    }
    if (a_.workload == "final") {
      for (const std::string& l : a_.locks)
        status(l);
      return 0;
    }
    while (Clock::now() < deadline) {
      if (a_.workload == "session") {
        session_round(deadline);
      } else if (a_.workload == "blocking") {
        blocking_round();
      } else if (a_.workload == "deadlock") {
        deadlock_round();
      } else if (a_.workload == "pause") {
        pause_round();
      } else {
        mutex_round();
      }
    }
    if (lease_) close_session();
    return 0;
  }

 private:
  // ------------------------------------------------------------ workloads

  const std::string& pick() {
    return a_
        .locks[static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(a_.locks.size()) - 1))];
  }

  void mutex_round() {
    const std::string& name = pick();
    const int64_t dice = rng_.uniform(0, 99);
    if (dice < 5) {
      unlock(name, 0);  // a stray unlock: probably NOT_HELD or NOT_OWNER
      return;
    }
    if (dice < 15) {
      status(name);
      return;
    }
    const paxlock::Reply r = lock(name);
    if (r.code == paxlock::Code::kOk) {
      if (a_.workload == "counter") {
        increment(name, r.token, false);
      } else {
        sleep_ms(rng_.uniform(0, 200));
      }
      maybe_check(name, r.token);
      unlock(name, r.token);
    } else {
      if (dice < 20) check(name, rng_.uniform(1, 1000));  // a token it does not hold
      sleep_ms(rng_.uniform(10, 100));                    // back off
    }
  }

  // W4: locks under a lease.
  void session_round(Clock::time_point deadline) {
    if (!lease_ && !open_session(a_.ttl_ms)) {
      sleep_ms(rng_.uniform(50, 200));
      return;
    }
    const int rounds = static_cast<int>(rng_.uniform(3, 8));
    for (int k = 0; k < rounds && lease_ && Clock::now() < deadline; ++k) {
      const std::string& name = pick();
      paxlock::LockOptions o;
      o.session = lease_->id;
      const paxlock::Reply r = lock(name, o);
      if (r.code == paxlock::Code::kSessionExpired) {
        abandon_session();
        return;
      }
      if (r.code != paxlock::Code::kOk) {
        sleep_ms(rng_.uniform(10, 100));
        continue;
      }
      if (rng_.chance(0.08)) {
        // A crash: stop renewing and keep the lock. The lease's expiry must
        // release it (others find it free within TTL).
        abandon_session();
        return;
      }
      if (lease_valid()) increment(name, r.token, false);
      maybe_check(name, r.token);
      if (!lease_) return;  // an unknown outcome: a new incarnation, no lease
      unlock(name, r.token);
    }
    if (!lease_) return;
    if (rng_.chance(0.7)) {
      close_session();
    } else {
      abandon_session();  // left to expire
    }
  }

  // W5: blocking waits (FIFO queue) and will_retry, under a session so that a
  // wait granted after the client gave up is released by the lease.
  void blocking_round() {
    if (!lease_ && !open_session(2000)) {
      sleep_ms(rng_.uniform(50, 200));
      return;
    }
    const std::string& name = pick();
    paxlock::LockOptions o;
    o.session = lease_->id;
    if (rng_.chance(0.2)) {
      o.will_retry = true;
    } else {
      o.wait = std::chrono::milliseconds(rng_.uniform(50, 1500));
    }
    const paxlock::Reply r = lock(name, o);
    if (r.code == paxlock::Code::kOk) {
      sleep_ms(rng_.uniform(0, 100));
      maybe_check(name, r.token);
      if (lease_) unlock(name, r.token);
    } else if (r.code == paxlock::Code::kSessionExpired) {
      abandon_session();
    } else {
      sleep_ms(rng_.uniform(0, 50));
    }
  }

  // W6: two owners take two locks in opposite orders.
  void deadlock_round() {
    if (a_.locks.size() < 2) return;
    if (!lease_ && !open_session(3000)) {
      sleep_ms(rng_.uniform(50, 200));
      return;
    }
    const std::string& first = a_.locks[0];
    const std::string& second = a_.locks[1];
    paxlock::LockOptions o;
    o.session = lease_->id;
    const paxlock::Reply r1 = lock(first, o);
    if (r1.code != paxlock::Code::kOk) {
      if (r1.code == paxlock::Code::kSessionExpired) abandon_session();
      sleep_ms(rng_.uniform(5, 40));
      return;
    }
    sleep_ms(rng_.uniform(10, 40));  // let the other owner take its first lock
    if (!lease_) return;
    paxlock::LockOptions o2 = o;
    if (rng_.chance(0.3)) {
      o2.will_retry = true;
    } else {
      o2.wait = std::chrono::milliseconds(rng_.uniform(200, 800));
    }
    paxlock::Reply r2 = lock(second, o2);
    if (r2.code == paxlock::Code::kHeld && lease_) {
      sleep_ms(rng_.uniform(20, 60));  // the retry it announced
      r2 = lock(second, o2);
    }
    if (!lease_) return;
    if (r2.code == paxlock::Code::kOk) {
      maybe_check(second, r2.token);
      sleep_ms(rng_.uniform(0, 20));
      if (lease_) unlock(second, r2.token);
    }
    if (lease_) unlock(first, r1.token);
    // A DEADLOCK answer: release and back off (done above), a little longer.
    sleep_ms(r2.code == paxlock::Code::kDeadlock ? rng_.uniform(5, 50) : rng_.uniform(0, 20));
  }

  // The client-pause victim.
  void pause_round() {
    if (!lease_ && !open_session(a_.ttl_ms)) {
      sleep_ms(rng_.uniform(50, 200));
      return;
    }
    const std::string& name = a_.locks[0];
    paxlock::LockOptions o;
    o.session = lease_->id;
    const paxlock::Reply r = lock(name, o);
    if (r.code == paxlock::Code::kSessionExpired) {
      abandon_session();
      return;
    }
    if (r.code != paxlock::Code::kOk) {
      sleep_ms(rng_.uniform(20, 100));
      return;
    }
    publish_state(fmt::format("{}\n", r.token));
    // Writes with this token whatever happens to the lease: a process that
    // was paused does not know it was.
    for (int k = 0; k < 20 && lease_; ++k) {
      increment(name, r.token, true);
      sleep_ms(100);
    }
    publish_state("");
    if (lease_) unlock(name, r.token);
    if (lease_ && (lease_->expired || !lease_valid())) abandon_session();
    sleep_ms(rng_.uniform(100, 300));
  }

  void publish_state(const std::string& text) {
    if (a_.state.empty()) return;
    if (text.empty()) {
      std::remove(a_.state.c_str());
      return;
    }
    const std::string tmp = a_.state + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << text;
    }
    std::rename(tmp.c_str(), a_.state.c_str());
  }

  // Checks the token it holds (sometimes one it does not), unless an unknown
  // outcome made it a new incarnation meanwhile.
  void maybe_check(const std::string& name, uint64_t token) {
    const int incarnation = incarnation_;
    if (rng_.chance(0.3)) check(name, token);
    if (incarnation == incarnation_ && rng_.chance(0.05)) {
      check(name, token > 1 ? token - 1 : token + 1);  // stale
    }
  }

  // --------------------------------------------------------------- sessions

  // Is the lease still ours by the client's own reckoning (docs/LOCKS.md:
  // last acknowledged renewal's send time + TTL - margin)?
  bool lease_valid() const {
    if (!lease_ || lease_->expired) return false;
    const int64_t margin_ns = std::min<int64_t>(700, lease_->ttl_ms / 2) * 1000000;
    return now_ns() < lease_->renewed_ns.load() + lease_->ttl_ms * 1000000 - margin_ns;
  }

  bool open_session(int64_t ttl_ms) {
    const int64_t t = now_ns();
    invoke("open_session", "", {{"ttl_ms", ttl_ms}});
    std::shared_ptr<paxlock::Client> c = client_;
    const paxlock::Reply r = wait_reply([&](paxlock::Client::Callback cb) {
      c->open_session(a_.owner, std::chrono::milliseconds(ttl_ms), std::move(cb));
    });
    const bool ok = r.code == paxlock::Code::kOk;
    complete("open_session", "", r, {{"session", r.session}, {"ttl_ms", ttl_ms}});
    if (!ok) return false;
    lease_ = std::make_shared<Lease>();
    lease_->id = r.session;
    lease_->ttl_ms = ttl_ms;
    lease_->renewed_ns = t;
    lease_->thread = std::thread([this, l = lease_, c] { keep_alive_loop(l, c); });
    return true;
  }

  void keep_alive_loop(std::shared_ptr<Lease> l, std::shared_ptr<paxlock::Client> c) {
    const auto period = std::chrono::milliseconds(std::max<int64_t>(l->ttl_ms / 3, 10));
    int incarnation = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(l->mu);
        if (l->cv.wait_for(lock, period, [&] { return l->stop; })) return;
      }
      const std::string proc = fmt::format("{}.ka#{}.{}", a_.owner, l->id, incarnation);
      const int64_t t = now_ns();
      Json e = event(proc, "invoke", "keep_alive", "");
      e["t"] = t;
      e["session"] = l->id;
      hist_.write(e);
      const paxlock::Reply r =
          wait_reply([&](paxlock::Client::Callback cb) { c->keep_alive(l->id, std::move(cb)); });
      record_completion(proc, "keep_alive", "", r, {{"session", l->id}});
      if (r.code == paxlock::Code::kOk) {
        l->renewed_ns = std::max(l->renewed_ns.load(), t);
      } else if (r.code == paxlock::Code::kSessionExpired) {
        l->expired = true;
        return;
      } else if (r.code == paxlock::Code::kUnavailable) {
        ++incarnation;
      }
    }
  }

  void stop_keep_alive() {
    if (!lease_) return;
    {
      std::lock_guard<std::mutex> lock(lease_->mu);
      lease_->stop = true;
    }
    lease_->cv.notify_all();
    if (lease_->thread.joinable()) lease_->thread.join();
  }

  // Stops renewing and forgets the session: its lease runs out.
  void abandon_session() {
    stop_keep_alive();
    lease_.reset();
  }

  void close_session() {
    stop_keep_alive();
    const uint64_t id = lease_->id;
    lease_.reset();
    invoke("close_session", "", {{"session", id}});
    std::shared_ptr<paxlock::Client> c = client_;
    const paxlock::Reply r =
        wait_reply([&](paxlock::Client::Callback cb) { c->close_session(id, std::move(cb)); });
    complete("close_session", "", r, {{"session", id}});
  }

  // ------------------------------------------------------------ plumbing

  void renew() {
    paxlock::ClientOptions o;
    std::string error;
    if (!paxlock::load_cluster_file(a_.cluster, o, &error)) {
      std::fprintf(stderr, "chaos-client: %s\n", error.c_str());
      std::exit(2);
    }
    if (a_.replica != "all") {
      // Bound to one replica: only it is configured, so partitions decide
      // what this client can reach.
      const uint32_t id = static_cast<uint32_t>(std::stoul(a_.replica));
      std::vector<paxlock::Member> only;
      for (const auto& m : o.replicas) {
        if (m.id == id) only.push_back(m);
      }
      o.replicas = only;
    }
    o.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(a_.timeout_s * 1000));
    o.attempt_timeout = std::chrono::milliseconds(500);
    o.seed = a_.seed * 1000 + static_cast<uint64_t>(incarnation_);
    client_ = std::make_shared<paxlock::Client>(o);
    proc_ = fmt::format("{}#{}", a_.owner, incarnation_);
  }

  // After an unknown outcome: a new process (and client id); the session is
  // left to expire, since a lock granted late under it must not stay held.
  void new_incarnation() {
    abandon_session();
    ++incarnation_;
    renew();
  }

  void sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

  // An event line's first fields: {"t", "proc", "owner", "type", "f", "lock"}.
  Json event(const std::string& proc, const char* type, const std::string& f,
             const std::string& name) const {
    return {{"t", now_ns()}, {"proc", proc}, {"owner", a_.owner},
            {"type", type},  {"f", f},       {"lock", name}};
  }

  // Appends `extra`'s fields to the event `e`.
  static Json with(Json e, const Json& extra) {
    for (const auto& [k, v] : extra.items())
      e[k] = v;
    return e;
  }

  void invoke(const std::string& f, const std::string& name, const Json& extra = Json::object()) {
    hist_.write(with(event(proc_, "invoke", f, name), extra));
  }

  // Writes the completion; true if the outcome is unknown.
  bool record_completion(const std::string& proc, const std::string& f, const std::string& name,
                         const paxlock::Reply& r, const Json& extra) {
    const bool unknown = r.code == paxlock::Code::kUnavailable;
    const char* type = r.code == paxlock::Code::kOk ? "ok" : unknown ? "info" : "fail";
    Json e = event(proc, type, f, name);
    e["code"] = paxlock::to_string(r.code);
    e["token"] = r.token;
    e["holder"] = r.holder;
    e["req"] = fmt::format("{}:{}", r.client_id, r.seq);
    e["node"] = r.served_by;
    hist_.write(with(std::move(e), extra));
    return unknown;
  }

  // Records the completion; after an unknown outcome, becomes a new process.
  void complete(const std::string& f, const std::string& name, const paxlock::Reply& r,
                const Json& extra = Json::object()) {
    if (record_completion(proc_, f, name, r, extra)) new_incarnation();
  }

  paxlock::Reply lock(const std::string& name, const paxlock::LockOptions& o = {}) {
    invoke("lock", name,
           {{"session", o.session}, {"wait_ms", o.wait.count()}, {"will_retry", o.will_retry}});
    paxlock::Reply r = client_->lock(name, a_.owner, o).get();
    Json extra = {{"session", r.session}};
    if (r.code == paxlock::Code::kDeadlock) {
      Json cycle = Json::array();
      for (const paxlock::WaitEdge& e : r.cycle)
        cycle.push_back(Json::array({e.owner, e.lock, e.holder}));
      extra["cycle"] = std::move(cycle);
    }
    complete("lock", name, r, extra);
    return r;
  }

  void unlock(const std::string& name, uint64_t token) {
    invoke("unlock", name, {{"token", token}});
    complete("unlock", name, client_->unlock(name, a_.owner, token).get());
  }

  void check(const std::string& name, uint64_t token) {
    invoke("check", name, {{"token", token}});
    complete("check", name, client_->check(name, token).get());
  }

  void status(const std::string& name) {
    invoke("status", name);
    paxlock::Reply r = client_->status(name).get();
    // A free lock is a successful read too.
    if (r.code == paxlock::Code::kNotHeld) r.code = paxlock::Code::kOk;
    Json waiters = Json::array();
    if (!r.locks.empty()) {
      for (const paxlock::Waiter& w : r.locks[0].waiters)
        waiters.push_back(w.owner);
    }
    complete("status", name, r, {{"session", r.session}, {"waiters", std::move(waiters)}});
  }

  // Read-increment-write of the fenced counter with this token. Reads are
  // fenced too (a read with a token lower than the highest seen is refused,
  // and a higher one raises it), so a holder whose lease ran out cannot
  // write back a value read before the next holder's. `blind`: write even
  // if the read was refused (the pause victim), with the last value it saw.
  void increment(const std::string& name, uint64_t token, bool blind) {
    bool ok = false;
    invoke("read", name, {{"token", token}});
    const std::string got =
        resource_call(a_.resource, fmt::format("READ {} {}\n", name, token), ok);
    long long value = 0;
    const bool read = ok && std::sscanf(got.c_str(), "OK %lld", &value) == 1;
    Json r = event(proc_, read ? "ok" : "fail", "read", name);
    r["token"] = token;
    r["code"] = read ? "OK" : !ok ? "NO_ANSWER" : "STALE";
    if (read) r["value"] = value;
    hist_.write(r);
    if (read) {
      last_value_ = value;
    } else if (!blind) {
      return;
    } else {
      value = last_value_;
    }
    invoke("write", name, {{"token", token}, {"value", value + 1}});
    const std::string w =
        resource_call(a_.resource, fmt::format("WRITE {} {} {}\n", name, value + 1, token), ok);
    const char* type = !ok ? "info" : w.rfind("OK", 0) == 0 ? "ok" : "fail";
    Json e = event(proc_, type, "write", name);
    e["token"] = token;
    e["value"] = value + 1;
    e["code"] = !ok ? "NO_ANSWER" : w.rfind("OK", 0) == 0 ? "OK" : "STALE";
    hist_.write(e);
    if (!ok) new_incarnation();
  }

  Args a_;
  History hist_;
  paxlock::Rng rng_;
  std::shared_ptr<paxlock::Client> client_;
  std::shared_ptr<Lease> lease_;
  int incarnation_ = 0;
  long long last_value_ = 0;
  std::string proc_;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::string locks;
  CLI::App app{"paxlock-chaos-client: one client process of the chaos test bed"};
  app.set_version_flag("--version", paxlock::version_line("paxlock-chaos-client"));
  app.add_option("--cluster", a.cluster, "cluster file")->required();
  app.add_option("--replica", a.replica, "a node id, or all")->capture_default_str();
  app.add_option("--owner", a.owner, "lock owner (and process name)")->required();
  app.add_option("--locks", locks, "lock names, comma-separated")->required();
  app.add_option("--workload", a.workload, "the workload")
      ->check(CLI::IsMember(
          {"mutex", "counter", "durable", "final", "session", "blocking", "deadlock", "pause"}))
      ->capture_default_str();
  app.add_option("--duration", a.duration_s, "seconds")->check(CLI::Range(0.0, 86400.0));
  app.add_option("--seed", a.seed, "seed of the workload's choices");
  app.add_option("--history", a.history, "history file (JSON lines)")->required();
  app.add_option("--resource", a.resource, "host:port of the counter server");
  app.add_option("--timeout", a.timeout_s, "request timeout, seconds")
      ->check(CLI::Range(0.05, 3600.0));
  app.add_option("--ttl-ms", a.ttl_ms, "session TTL (session workloads)")
      ->check(CLI::Range(int64_t{100}, int64_t{86400000}));
  app.add_option("--state", a.state, "pause: file holding the token while the lock is held");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::stringstream ss(locks);
  for (std::string l; std::getline(ss, l, ',');) {
    if (!l.empty()) a.locks.push_back(l);
  }
  if (a.locks.empty()) {
    std::fprintf(stderr, "chaos-client: --locks names no lock\n");
    return 2;
  }
  return Worker(a).run();
}
