// The lock commands of `paxlock`: lock, acquire, unlock, check, status, list,
// cluster and hold.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>

#include "cli/cli.h"

namespace paxlock::cli {
namespace {

std::atomic<pid_t> g_child{0};

void forward_signal(int sig) {
  const pid_t child = g_child.load();
  if (child > 0) ::kill(child, sig);
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

void fail(const std::string& message) {
  std::cerr << "paxlock: " << message << "\n";
}

std::string default_owner() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

bool client_options(const Global& g, ClientOptions& out) {
  std::string error;
  std::string file = g.cluster_file;
  if (file.empty()) {
    const char* env = std::getenv("PAXLOCK_CLUSTER");
    file = env ? env : "cluster.toml";
  }
  if (!load_cluster_file(file, out, &error)) {
    fail(error);
    return false;
  }
  out.request_timeout = ms(g.timeout_s);
  out.attempt_timeout =
      std::min(out.attempt_timeout, std::max(ms(g.timeout_s / 3), std::chrono::milliseconds(50)));
  if (g.replica == "random") {
    out.choice = ReplicaChoice::kRandom;
  } else if (g.replica == "hash") {
    out.choice = ReplicaChoice::kHash;
  } else if (g.replica == "leader") {
    Client probe(out);
    const Reply r = probe.cluster_info().get();
    if (r.code != Code::kOk || r.cluster.leader == 0) {
      fail("no leader known: " + std::string(to_string(r.code)) + " " + r.error);
      return false;
    }
    out.choice = ReplicaChoice::kFixed;
    out.fixed_replica = r.cluster.leader;
  } else {
    char* end = nullptr;
    const unsigned long id = std::strtoul(g.replica.c_str(), &end, 10);
    bool known = false;
    for (const Member& m : out.replicas)
      known |= m.id == id;
    if (*end != '\0' || !known) {
      fail("--replica must be random, hash, leader or a node id of the cluster");
      return false;
    }
    out.choice = ReplicaChoice::kFixed;
    out.fixed_replica = static_cast<uint32_t>(id);
  }
  return true;
}

int exit_code(Code code) {
  switch (code) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalid:
    case Code::kBadRequest:
      return kExitUsage;
    case Code::kUnavailable:
      return kExitUnknown;
    default:
      return kExitRefused;
  }
}

namespace {

Json locks_json(const std::vector<LockInfo>& locks) {
  Json out = Json::array();
  for (const LockInfo& l : locks) {
    Json waiters = Json::array();
    for (const Waiter& w : l.waiters)
      waiters.push_back({{"owner", w.owner}, {"session", w.session}});
    out.push_back({{"name", l.name},
                   {"holder", l.holder},
                   {"token", l.token},
                   {"session", l.session},
                   {"since_ms", l.since_ms},
                   {"waiters", std::move(waiters)}});
  }
  return out;
}

Json reply_json(const std::string& command, const std::string& name, const Reply& r) {
  Json cycle = Json::array();
  for (const WaitEdge& e : r.cycle)
    cycle.push_back({{"owner", e.owner}, {"lock", e.lock}, {"holder", e.holder}});
  return {{"command", command},           {"name", name},
          {"result", to_string(r.code)},  {"token", r.token},
          {"holder", r.holder},           {"session", r.session},
          {"current", r.current},         {"applied_at", r.applied_at},
          {"served_by", r.served_by},     {"attempts", r.attempts},
          {"locks", locks_json(r.locks)}, {"next", r.next},
          {"cycle", std::move(cycle)},    {"error", r.error}};
}

}  // namespace

void print(const Global& g, const std::string& command, const std::string& name, const Reply& r) {
  if (g.json) {
    std::cout << to_json_line(reply_json(command, name, r)) << std::endl;
    return;
  }
  switch (r.code) {
    case Code::kOk:
      if (command == "lock" || command == "acquire") {
        std::cout << r.token << std::endl;
      } else if (command == "unlock") {
        std::cout << "released " << name << std::endl;
      } else if (command == "check") {
        std::cout << "current (token " << r.token << ")" << std::endl;
      }
      return;
    case Code::kHeld:
    case Code::kNotOwner:
      std::cout << "held by " << r.holder << std::endl;
      return;
    case Code::kNotHeld:
      std::cout << "not held" << std::endl;
      return;
    case Code::kStaleToken:
      std::cout << "stale token (current: " << r.token << ")" << std::endl;
      return;
    case Code::kDeadlock: {
      std::string text = "deadlock:";
      for (const WaitEdge& e : r.cycle) {
        text += fmt::format(" {} waits for {} held by {};", e.owner, e.lock, e.holder);
      }
      std::cout << text << std::endl;
      return;
    }
    default:
      fail(fmt::format("{} {}: {}{}{}", command, name, to_string(r.code),
                       r.error.empty() ? "" : ": ", r.error));
  }
}

int cmd_lock(const Global& g, const std::string& name) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  LockOptions lo;
  if (g.session_ttl_s > 0) {
    // The lock lives until unlocked or until the session's TTL runs out
    // (nobody renews it after this process exits).
    const Reply s = [&] {
      std::promise<Reply> p;
      auto f = p.get_future();
      c.open_session(g.owner, ms(g.session_ttl_s), [&p](const Reply& r) { p.set_value(r); });
      return f.get();
    }();
    if (s.code != Code::kOk) {
      print(g, "lock", name, s);
      return exit_code(s.code);
    }
    lo.session = s.session;
  }
  const Reply r = c.lock(name, g.owner, lo).get();
  print(g, "lock", name, r);
  return exit_code(r.code);
}

int cmd_acquire(const Global& g, const std::string& name, double max_wait_s) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  AcquireOptions ao;
  ao.max_wait = ms(max_wait_s);
  if (g.session_ttl_s > 0) {
    std::promise<Reply> p;
    auto f = p.get_future();
    c.open_session(g.owner, ms(g.session_ttl_s), [&p](const Reply& r) { p.set_value(r); });
    const Reply s = f.get();
    if (s.code != Code::kOk) {
      print(g, "acquire", name, s);
      return exit_code(s.code);
    }
    ao.session = s.session;
  }
  const Reply r = c.acquire(name, g.owner, ao);
  print(g, "acquire", name, r);
  return exit_code(r.code);
}

int cmd_unlock(const Global& g, const std::string& name, uint64_t token) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  const Reply r = c.unlock(name, g.owner, token).get();
  print(g, "unlock", name, r);
  return exit_code(r.code);
}

int cmd_check(const Global& g, const std::string& name, uint64_t token) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  const Reply r = c.check(name, token).get();
  print(g, "check", name, r);
  return exit_code(r.code);
}

int cmd_status(const Global& g, const std::string& name) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  const Reply r = c.status(name).get();
  if (g.json) {
    print(g, "status", name, r);
  } else if (r.code == Code::kNotHeld) {
    std::cout << name << ": free" << std::endl;
  } else if (r.code == Code::kOk && !r.locks.empty()) {
    const LockInfo& l = r.locks[0];
    std::cout << fmt::format("{}: held by {} token {} session {} waiters {}", l.name, l.holder,
                             l.token, l.session, l.waiters.size())
              << std::endl;
    for (const Waiter& w : l.waiters)
      std::cout << "  waiting: " << w.owner << std::endl;
  } else {
    print(g, "status", name, r);
  }
  return r.code == Code::kNotHeld ? kExitOk : exit_code(r.code);
}

int cmd_list(const Global& g, const std::string& after, uint32_t limit) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  const Reply r = c.list(after, limit).get();
  if (g.json) {
    print(g, "list", after, r);
  } else if (r.code == Code::kOk) {
    for (const LockInfo& l : r.locks) {
      std::cout << fmt::format("{}\t{}\ttoken={}\tsession={}\twaiters={}", l.name, l.holder,
                               l.token, l.session, l.waiters.size())
                << std::endl;
    }
    if (!r.next.empty()) std::cout << "(more: --after " << r.next << ")" << std::endl;
  } else {
    print(g, "list", after, r);
  }
  return exit_code(r.code);
}

int cmd_cluster(const Global& g) {
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  o.request_timeout = std::min(o.request_timeout, std::chrono::milliseconds(2000));
  Client c(o);
  std::vector<std::future<Reply>> answers;
  for (const Member& m : o.replicas)
    answers.push_back(c.cluster_info(m.id));
  int up = 0;
  Json members = Json::array();
  if (!g.json) std::cout << "id\tclient\tstate\trole\tleader\tfirst_unchosen\tapplied" << std::endl;
  for (size_t i = 0; i < o.replicas.size(); ++i) {
    const Member& m = o.replicas[i];
    const Reply r = answers[i].get();
    const bool alive = r.code == Code::kOk && r.served_by == m.id;
    up += alive ? 1 : 0;
    if (g.json) {
      members.push_back({{"id", m.id},
                         {"client", m.client_address},
                         {"up", alive},
                         {"role", alive ? r.cluster.role : ""},
                         {"leader", alive ? r.cluster.leader : 0},
                         {"first_unchosen", alive ? r.cluster.first_unchosen : 0},
                         {"applied", alive ? r.cluster.applied : 0}});
    } else if (alive) {
      std::cout << fmt::format("{}\t{}\tup\t{}\t{}\t{}\t{}", m.id, m.client_address, r.cluster.role,
                               r.cluster.leader, r.cluster.first_unchosen, r.cluster.applied)
                << std::endl;
    } else {
      std::cout << fmt::format("{}\t{}\tdown", m.id, m.client_address) << std::endl;
    }
  }
  if (g.json) {
    std::cout << to_json_line({{"command", "cluster"}, {"up", up}, {"members", std::move(members)}})
              << std::endl;
  }
  return up * 2 > static_cast<int>(o.replicas.size()) ? kExitOk : kExitUnknown;
}

int cmd_hold(const Global& g, const std::string& name, double max_wait_s,
             const std::vector<std::string>& command) {
  if (command.empty()) {
    fail("hold needs a command after --");
    return kExitUsage;
  }
  ClientOptions o;
  if (!client_options(g, o)) return kExitUsage;
  Client c(o);
  const double ttl_s = g.session_ttl_s > 0 ? g.session_ttl_s : 10;
  std::atomic<bool> lost{false};
  Reply opened;
  auto session = c.start_session(
      g.owner, ms(ttl_s),
      [&lost] {
        lost = true;
        forward_signal(SIGTERM);  // the lock is gone: stop the command
      },
      &opened);
  if (!session) {
    print(g, "hold", name, opened);
    return exit_code(opened.code);
  }
  AcquireOptions ao;
  ao.max_wait = ms(max_wait_s);
  ao.session = session->id();
  const Reply r = c.acquire(name, g.owner, ao);
  if (r.code != Code::kOk) {
    print(g, "hold", name, r);
    return exit_code(r.code);
  }
  ::signal(SIGINT, forward_signal);
  ::signal(SIGTERM, forward_signal);
  const pid_t pid = ::fork();
  if (pid < 0) {
    fail("fork failed");
    return kExitUnknown;
  }
  if (pid == 0) {
    ::setenv("PAXLOCK_TOKEN", std::to_string(r.token).c_str(), 1);
    ::setenv("PAXLOCK_LOCK", name.c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& a : command)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::cerr << "paxlock: cannot run " << command[0] << std::endl;
    ::_exit(127);
  }
  g_child = pid;
  if (lost) ::kill(pid, SIGTERM);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  const int child_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (lost) {
    fail("lock " + name + " was lost while the command ran (its session could not be renewed)");
    return kExitLost;
  }
  c.unlock(name, g.owner, r.token).get();
  session.reset();  // closes the session
  return child_code;
}

}  // namespace paxlock::cli
