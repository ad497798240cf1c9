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
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "paxlock/client.h"
#include "paxos/rng.h"

namespace {

using Clock = std::chrono::steady_clock;

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
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class History {
 public:
  explicit History(const std::string& path) : out_(path, std::ios::app) {}
  void write(const std::string& line) {
    out_ << line << "\n";
    out_.flush();
  }

 private:
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
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      reply.append(buf, static_cast<size_t>(n));
      if (reply.find('\n') != std::string::npos) break;
    }
    ok = reply.find('\n') != std::string::npos;
  }
  ::close(fd);
  return reply;
}

class Worker {
 public:
  Worker(Args a) : a_(std::move(a)), hist_(a_.history), rng_(a_.seed) { renew(); }

  int run() {
    const auto deadline = Clock::now() + std::chrono::duration<double>(a_.duration_s);
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
      const std::string& name = a_.locks[static_cast<size_t>(rng_.uniform(0, a_.locks.size() - 1))];
      const int64_t dice = rng_.uniform(0, 99);
      if (dice < 5) {
        unlock(name, 0);  // a stray unlock: probably NOT_HELD or NOT_OWNER
        continue;
      }
      if (dice < 15) {
        status(name);
        continue;
      }
      const paxlock::Reply r = lock(name);
      if (r.code == paxlock::Code::kOk) {
        if (a_.workload == "counter") {
          increment(name, r.token);
        } else {
          sleep_ms(rng_.uniform(0, 200));
        }
        unlock(name, r.token);
      } else {
        sleep_ms(rng_.uniform(10, 100));  // back off
      }
    }
    return 0;
  }

 private:
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
    client_ = std::make_unique<paxlock::Client>(o);
    proc_ = fmt::format("{}#{}", a_.owner, incarnation_);
  }

  void sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

  void invoke(const std::string& f, const std::string& name, const std::string& extra = "") {
    hist_.write(
        fmt::format("{{\"t\": {}, \"proc\": {}, \"owner\": {}, \"type\": \"invoke\", "
                    "\"f\": \"{}\", \"lock\": {}{}}}",
                    now_ns(), q(proc_), q(a_.owner), f, q(name), extra));
  }

  // Records the completion; after an unknown outcome, becomes a new process.
  void complete(const std::string& f, const std::string& name, const paxlock::Reply& r) {
    const bool unknown = r.code == paxlock::Code::kUnavailable;
    const char* type = r.code == paxlock::Code::kOk ? "ok" : unknown ? "info" : "fail";
    hist_.write(fmt::format(
        "{{\"t\": {}, \"proc\": {}, \"owner\": {}, \"type\": \"{}\", \"f\": \"{}\", \"lock\": {}, "
        "\"code\": \"{}\", \"token\": {}, \"holder\": {}, \"req\": \"{}:{}\", \"node\": {}}}",
        now_ns(), q(proc_), q(a_.owner), type, f, q(name), paxlock::to_string(r.code), r.token,
        q(r.holder), r.client_id, r.seq, r.served_by));
    if (unknown) {
      ++incarnation_;
      renew();
    }
  }

  paxlock::Reply lock(const std::string& name) {
    invoke("lock", name);
    paxlock::Reply r = client_->lock(name, a_.owner).get();
    complete("lock", name, r);
    return r;
  }

  void unlock(const std::string& name, uint64_t token) {
    invoke("unlock", name, fmt::format(", \"token\": {}", token));
    complete("unlock", name, client_->unlock(name, a_.owner, token).get());
  }

  void status(const std::string& name) {
    invoke("status", name);
    paxlock::Reply r = client_->status(name).get();
    // A free lock is a successful read too.
    if (r.code == paxlock::Code::kNotHeld) r.code = paxlock::Code::kOk;
    complete("status", name, r);
  }

  void increment(const std::string& name, uint64_t token) {
    bool ok = false;
    invoke("read", name, fmt::format(", \"token\": {}", token));
    const std::string got = resource_call(a_.resource, "READ " + name + "\n", ok);
    long long value = 0;
    if (!ok || std::sscanf(got.c_str(), "OK %lld", &value) != 1) {
      hist_.write(
          fmt::format("{{\"t\": {}, \"proc\": {}, \"owner\": {}, \"type\": \"fail\", \"f\": "
                      "\"read\", \"lock\": {}}}",
                      now_ns(), q(proc_), q(a_.owner), q(name)));
      return;
    }
    hist_.write(
        fmt::format("{{\"t\": {}, \"proc\": {}, \"owner\": {}, \"type\": \"ok\", \"f\": "
                    "\"read\", \"lock\": {}, \"value\": {}}}",
                    now_ns(), q(proc_), q(a_.owner), q(name), value));
    invoke("write", name, fmt::format(", \"token\": {}, \"value\": {}", token, value + 1));
    const std::string w =
        resource_call(a_.resource, fmt::format("WRITE {} {} {}\n", name, value + 1, token), ok);
    const char* type = !ok ? "info" : w.rfind("OK", 0) == 0 ? "ok" : "fail";
    hist_.write(
        fmt::format("{{\"t\": {}, \"proc\": {}, \"owner\": {}, \"type\": \"{}\", \"f\": "
                    "\"write\", \"lock\": {}, \"token\": {}, \"value\": {}}}",
                    now_ns(), q(proc_), q(a_.owner), type, q(name), token, value + 1));
  }

  Args a_;
  History hist_;
  paxlock::paxos::Rng rng_;
  std::unique_ptr<paxlock::Client> client_;
  int incarnation_ = 0;
  std::string proc_;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--cluster")
      a.cluster = v;
    else if (k == "--replica")
      a.replica = v;
    else if (k == "--owner")
      a.owner = v;
    else if (k == "--workload")
      a.workload = v;
    else if (k == "--duration")
      a.duration_s = std::stod(v);
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else if (k == "--history")
      a.history = v;
    else if (k == "--resource")
      a.resource = v;
    else if (k == "--timeout")
      a.timeout_s = std::stod(v);
    else if (k == "--locks") {
      std::stringstream ss(v);
      for (std::string l; std::getline(ss, l, ',');)
        a.locks.push_back(l);
    } else {
      std::fprintf(stderr, "chaos-client: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.cluster.empty() || a.owner.empty() || a.locks.empty() || a.history.empty()) {
    std::fprintf(stderr, "chaos-client: --cluster, --owner, --locks and --history are required\n");
    return 2;
  }
  return Worker(a).run();
}
