// The lock commands of `paxlock`: lock, acquire, unlock, check, status, list
// and cluster (hold is in hold.cc). Each prints one JSON object with --json
// (schemas in docs/CLI.md) or a short human answer, and exits with one of
// the codes of cli.h.
#include <fmt/format.h>

#include <iostream>

#include "cli/cli.h"

namespace paxlock::cli {
namespace {

using Clock = std::chrono::steady_clock;

int64_t elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// What every answered command adds to its JSON object.
void add_tail(Json& j, const Reply& r, Clock::time_point start) {
  j["served_by"] = r.served_by;
  j["attempts"] = r.attempts;
  j["elapsed_ms"] = elapsed_ms(start);
  j["error"] = r.error;
}

}  // namespace

Json cycle_json(const std::vector<WaitEdge>& cycle) {
  Json out = Json::array();
  for (const WaitEdge& e : cycle)
    out.push_back({{"owner", e.owner}, {"lock", e.lock}, {"holder", e.holder}});
  return out;
}

namespace {

Json lock_json(const LockInfo& l) {
  Json waiters = Json::array();
  for (const Waiter& w : l.waiters) {
    waiters.push_back({{"owner", w.owner},
                       {"session", w.session},
                       {"deadline", w.deadline_ms > 0 ? Json(rfc3339(w.deadline_ms)) : Json()}});
  }
  return {{"name", l.name},
          {"holder", l.holder},
          {"token", l.token},
          {"session", l.session},
          {"since", l.since_ms > 0 ? Json(rfc3339(l.since_ms)) : Json()},
          {"waiters", std::move(waiters)}};
}

// A refusal made before anything was sent (a bad name, no cluster file).
int usage_error(const Global& g, const std::string& command, const std::string& message,
                bool said = false) {
  if (g.json) {
    Json j = json_head(command, Code::kInvalid, kExitUsage);
    j["result"] = "USAGE";
    j["error"] = message;
    print_json(j);
  }
  if (!said) fail(message);
  return kExitUsage;
}

// client_options() has said what is wrong on stderr.
int no_cluster(const Global& g, const std::string& command) {
  return usage_error(g, command, "no usable cluster file (see the error above)", true);
}

int check_name(const Global& g, const std::string& command, const std::string& name) {
  if (auto why = invalid_name(name)) return usage_error(g, command, *why);
  return kExitOk;
}

int check_owner(const Global& g, const std::string& command) {
  if (auto why = invalid_owner(g.owner)) {
    return usage_error(g, command, *why + " (set by --owner or PAXLOCK_OWNER)");
  }
  return kExitOk;
}

}  // namespace

std::string refusal_text(const std::string& command, const std::string& name, const Reply& r) {
  const std::string n = printable(name);
  switch (r.code) {
    case Code::kHeld:
      return fmt::format("{}: held by {}", n, printable(r.holder));
    case Code::kNotOwner:
      return fmt::format("{}: held by {}, not by this owner", n, printable(r.holder));
    case Code::kNotHeld:
      return fmt::format("{}: not held", n);
    case Code::kStaleToken:
      return fmt::format("{}: stale token (current: {})", n, r.token);
    case Code::kTimeout:
      return fmt::format("{}: timed out waiting; still held{}", n,
                         r.holder.empty() ? "" : " by " + printable(r.holder));
    case Code::kDeadlock: {
      std::string text = fmt::format("{}: DEADLOCK: waiting would close a cycle:", n);
      for (const WaitEdge& e : r.cycle) {
        text += fmt::format(" {} waits for {} held by {};", printable(e.owner), printable(e.lock),
                            printable(e.holder));
      }
      return text + " nothing was queued; release what you hold and retry";
    }
    case Code::kSessionExpired:
      return fmt::format("{}: SESSION_EXPIRED: the session is unknown or its lease ran out", n);
    case Code::kInvalid:
      return fmt::format(
          "{} {}: INVALID: the service refused the request (names are 1-512 bytes, owners 1-256, "
          "TTLs 0.1 s-24 h, waits up to 1 h; a session must belong to the owner){}{}",
          command, n, r.error.empty() ? "" : ": ", printable(r.error));
    case Code::kPermissionDenied:
      return fmt::format("{} {}: PERMISSION_DENIED: {}", command, n,
                         r.error.empty() ? "refused for this identity" : printable(r.error));
    case Code::kTooManyWaiters:
      return fmt::format("{}: TOO_MANY_WAITERS: 1024 owners already queued", n);
    case Code::kUnavailable:  // r.error says that the outcome is unknown
      return fmt::format("{} {}: UNAVAILABLE: {}", command, n, printable(r.error));
    default:
      return fmt::format("{} {}: {}{}{}", command, n, to_string(r.code),
                         r.error.empty() ? "" : ": ", printable(r.error));
  }
}

namespace {

// A session for --ttl: its reply (OK with the id, or why not).
Reply open_session(const Global& g, Client& c) {
  std::promise<Reply> p;
  auto f = p.get_future();
  c.open_session(g.owner, ms(g.ttl_s), [&p](const Reply& r) { p.set_value(r); });
  Reply s = f.get();
  if (s.code != Code::kOk) s.error = "opening the session: " + s.error;
  return s;
}

// lock and acquire answer alike.
int print_lock_answer(const Global& g, const std::string& command, const std::string& name,
                      const Reply& r, uint64_t session, Clock::time_point start) {
  const int exit = exit_code(r.code);
  if (g.json) {
    Json j = json_head(command, r.code, exit);
    j["name"] = name;
    j["owner"] = g.owner;
    j["token"] = r.token;
    j["holder"] = r.holder;
    j["session"] = session;
    j["ttl_ms"] = session != 0 ? ms(g.ttl_s).count() : 0;
    j["cycle"] = cycle_json(r.cycle);
    add_tail(j, r, start);
    print_json(j);
    return exit;
  }
  if (r.code == Code::kOk) {
    std::cout << r.token << std::endl;
    if (session == 0) {
      note(g, fmt::format("{} locked by {} (token {}); held until `paxlock unlock {}` by the same "
                          "owner",
                          printable(name), printable(g.owner), r.token, printable(name)));
    } else {
      note(g, fmt::format("{} locked by {} (token {}) under session {}; released {} s after "
                          "this command unless unlocked first (nothing renews it)",
                          printable(name), printable(g.owner), r.token, session, g.ttl_s));
    }
    return exit;
  }
  if (r.code == Code::kHeld) {
    std::cout << "held by " << printable(r.holder) << std::endl;  // scripts read this
    return exit;
  }
  fail(refusal_text(command, name, r));
  return exit;
}

}  // namespace

int cmd_lock(const Global& g, const std::string& name) {
  if (int e = check_name(g, "lock", name)) return e;
  if (int e = check_owner(g, "lock")) return e;
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "lock");
  const auto start = Clock::now();
  Client c(o);
  LockOptions lo;
  if (g.ttl_s > 0) {
    const Reply s = open_session(g, c);
    if (s.code != Code::kOk) return print_lock_answer(g, "lock", name, s, 0, start);
    lo.session = s.session;
  }
  const Reply r = c.lock(name, g.owner, lo).get();
  return print_lock_answer(g, "lock", name, r, lo.session, start);
}

int cmd_acquire(const Global& g, const std::string& name, double max_wait_s) {
  if (int e = check_name(g, "acquire", name)) return e;
  if (int e = check_owner(g, "acquire")) return e;
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "acquire");
  const auto start = Clock::now();
  Client c(o);
  AcquireOptions ao;
  ao.max_wait = effective_wait(g, max_wait_s);
  if (g.ttl_s > 0) {
    const Reply s = open_session(g, c);
    if (s.code != Code::kOk) return print_lock_answer(g, "acquire", name, s, 0, start);
    ao.session = s.session;
    ao.max_wait -= std::min(
        ao.max_wait, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
  }
  const Reply r = c.acquire(name, g.owner, ao);
  return print_lock_answer(g, "acquire", name, r, ao.session, start);
}

int cmd_unlock(const Global& g, const std::string& name, uint64_t token) {
  if (int e = check_name(g, "unlock", name)) return e;
  if (int e = check_owner(g, "unlock")) return e;
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "unlock");
  const auto start = Clock::now();
  Client c(o);
  const Reply r = c.unlock(name, g.owner, token).get();
  const int exit = exit_code(r.code);
  if (g.json) {
    Json j = json_head("unlock", r.code, exit);
    j["name"] = name;
    j["owner"] = g.owner;
    j["token"] = r.token;
    j["holder"] = r.holder;
    add_tail(j, r, start);
    print_json(j);
  } else if (r.code == Code::kOk) {
    std::cout << "released " << printable(name) << std::endl;
  } else if (r.code == Code::kNotOwner) {
    std::cout << "held by " << printable(r.holder) << std::endl;
    note(g, fmt::format("{} is held by {}, not by {} (give --owner or PAXLOCK_OWNER)",
                        printable(name), printable(r.holder), printable(g.owner)));
  } else {
    fail(refusal_text("unlock", name, r));
  }
  return exit;
}

int cmd_check(const Global& g, const std::string& name, uint64_t token) {
  if (int e = check_name(g, "check", name)) return e;
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "check");
  const auto start = Clock::now();
  Client c(o);
  const Reply r = c.check(name, token).get();
  const int exit = exit_code(r.code);
  if (g.json) {
    Json j = json_head("check", r.code, exit);
    j["name"] = name;
    j["token"] = r.token;
    j["current"] = r.code == Code::kOk && r.current;
    add_tail(j, r, start);
    print_json(j);
  } else if (r.code == Code::kOk) {
    std::cout << "current (token " << r.token << ")" << std::endl;
  } else if (r.code == Code::kStaleToken) {
    std::cout << (r.token == 0 ? std::string("stale (the lock is free)")
                               : fmt::format("stale (current: {})", r.token))
              << std::endl;
  } else {
    fail(refusal_text("check", name, r));
  }
  return exit;
}

int cmd_status(const Global& g, const std::string& name) {
  if (int e = check_name(g, "status", name)) return e;
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "status");
  const auto start = Clock::now();
  Client c(o);
  const Reply r = c.status(name).get();
  // A free lock is an answer, not a failure.
  const bool free = r.code == Code::kNotHeld;
  const int exit = free ? kExitOk : exit_code(r.code);
  const bool held = r.code == Code::kOk && !r.locks.empty();
  if (g.json) {
    Json j = json_head("status", r.code, exit);
    j["name"] = name;
    j["held"] = held;
    const Json l = held ? lock_json(r.locks[0]) : Json();
    j["holder"] = held ? l["holder"] : Json("");
    j["token"] = held ? l["token"] : Json(0);
    j["session"] = held ? l["session"] : Json(0);
    j["since"] = held ? l["since"] : Json();
    j["waiters"] = held ? l["waiters"] : Json::array();
    add_tail(j, r, start);
    print_json(j);
  } else if (free) {
    std::cout << printable(name) << ": free" << std::endl;
  } else if (held) {
    const LockInfo& l = r.locks[0];
    std::cout << fmt::format("{}: held by {} token {} session {} since {} waiters {}",
                             printable(l.name), printable(l.holder), l.token, l.session,
                             l.since_ms > 0 ? rfc3339(l.since_ms) : "-", l.waiters.size())
              << std::endl;
    for (const Waiter& w : l.waiters)
      std::cout << "  waiting: " << printable(w.owner) << std::endl;
  } else {
    fail(refusal_text("status", name, r));
  }
  return exit;
}

int cmd_list(const Global& g, const std::string& after, uint32_t limit) {
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "list");
  const auto start = Clock::now();
  Client c(o);
  const Reply r = c.list(after, limit).get();
  const int exit = exit_code(r.code);
  if (g.json) {
    Json j = json_head("list", r.code, exit);
    Json locks = Json::array();
    for (const LockInfo& l : r.locks)
      locks.push_back(lock_json(l));
    j["locks"] = std::move(locks);
    j["next"] = r.next;
    add_tail(j, r, start);
    print_json(j);
  } else if (r.code == Code::kOk) {
    for (const LockInfo& l : r.locks) {
      std::cout << fmt::format("{}\t{}\ttoken={}\tsession={}\twaiters={}", printable(l.name),
                               printable(l.holder), l.token, l.session, l.waiters.size())
                << std::endl;
    }
    if (!r.next.empty()) std::cout << "(more: --after " << printable(r.next) << ")" << std::endl;
  } else {
    fail(refusal_text("list", after, r));
  }
  return exit;
}

int cmd_cluster(const Global& g) {
  ClientOptions o;
  if (!client_options(g, o)) return no_cluster(g, "cluster");
  const auto start = Clock::now();
  o.request_timeout = std::min(o.request_timeout, std::chrono::milliseconds(2000));
  Client c(o);
  std::vector<std::future<Reply>> answers;
  for (const Member& m : o.replicas)
    answers.push_back(c.cluster_info(m.id));
  int up = 0;
  uint32_t leader = 0;
  Json members = Json::array();
  if (!g.json) std::cout << "id\tclient\tstate\trole\tleader\tfirst_unchosen\tapplied" << std::endl;
  for (size_t i = 0; i < o.replicas.size(); ++i) {
    const Member& m = o.replicas[i];
    const Reply r = answers[i].get();
    const bool alive = r.code == Code::kOk && r.served_by == m.id;
    up += alive ? 1 : 0;
    if (alive && r.cluster.role == "leader") leader = m.id;
    if (g.json) {
      members.push_back({{"id", m.id},
                         {"client", m.client_address},
                         {"up", alive},
                         {"role", alive ? r.cluster.role : ""},
                         {"leader", alive ? r.cluster.leader : 0},
                         {"first_unchosen", alive ? r.cluster.first_unchosen : 0},
                         {"applied", alive ? r.cluster.applied : 0}});
    } else if (alive) {
      std::cout << fmt::format("{}\t{}\tup\t{}\t{}\t{}\t{}", m.id, m.client_address,
                               printable(r.cluster.role), r.cluster.leader,
                               r.cluster.first_unchosen, r.cluster.applied)
                << std::endl;
    } else {
      std::cout << fmt::format("{}\t{}\tdown", m.id, m.client_address) << std::endl;
    }
  }
  const bool majority = up * 2 > static_cast<int>(o.replicas.size());
  const int exit = majority ? kExitOk : kExitUnavailable;
  if (g.json) {
    Json j = json_head("cluster", majority ? Code::kOk : Code::kUnavailable, exit);
    j["up"] = up;
    j["size"] = o.replicas.size();
    j["leader"] = leader;
    j["members"] = std::move(members);
    j["elapsed_ms"] = elapsed_ms(start);
    print_json(j);
  }
  return exit;
}

}  // namespace paxlock::cli
