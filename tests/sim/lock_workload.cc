#include "sim/lock_workload.h"

#include <fmt/format.h>

namespace paxlock::sim {

lock::Command LockWorkload::next(int c, paxlock::Rng& rng, paxos::TimeMs now) {
  Client& cl = clients_[static_cast<size_t>(c)];
  lock::Command cmd;
  cmd.owner = fmt::format("owner{}", c);
  cl.pending_ms = now;
  if (cl.uses_session && cl.session == 0) {
    const paxos::TimeMs ttls[] = {150, 300, 600, 1500};
    cmd.op = lock::Op::kOpenSession;
    cmd.ttl_ms = ttls[rng.uniform(0, 3)];
    cl.ttl_ms = cmd.ttl_ms;
    cl.abandoned = rng.chance(1.0 / 3);
  } else if (cl.holding && !cl.abandoned && !rng.chance(0.1)) {
    // (A client whose session is abandoned keeps what it holds: its lease
    // ends with waiters queued.)
    cmd.op = lock::Op::kUnlock;
    cmd.name = cl.holding->first;
    cmd.token = cl.holding->second;
  } else {
    cmd.name = fmt::format("lock{}", rng.uniform(0, names_ - 1));
    const int64_t dice = rng.uniform(0, 99);
    if (cl.holding && dice < 50) {
      cmd.op = lock::Op::kUnlock;  // a stray unlock of some other lock
    } else if (dice < 60) {
      cmd.op = lock::Op::kStatus;
    } else if (dice < 75) {
      cmd.op = lock::Op::kLock;
      cmd.wait_ms = rng.uniform(20, 300);
    } else {
      cmd.op = lock::Op::kLock;
      cmd.will_retry = rng.chance(0.5);
    }
    if (cmd.op == lock::Op::kLock) cmd.session = cl.session;
  }
  cl.pending = cmd;
  return cmd;
}

std::vector<paxos::CommandId> LockWorkload::chosen(paxos::Instance instance,
                                                   const paxos::Batch& batch) {
  std::vector<paxos::CommandId> effective;
  model_.tick(batch.timestamp_ms, instance);  // time moves with every batch
  for (const paxos::Command& pc : batch.commands) {
    auto c = lock::decode_command(pc.payload);
    if (!c.ok()) continue;
    auto r = model_.apply(pc.id, *c, batch.timestamp_ms, instance);
    const bool first = seen_.insert(pc.id).second;
    // (A blocking lock queued here has no answer yet, but took effect.)
    if (first && !lock::is_read_only(c->op) && (!r || r->code != lock::Code::kDuplicateIgnored)) {
      effective.push_back(pc.id);
    }
    if (r && !answers_.count(pc.id)) answers_[pc.id] = *r;
  }
  for (auto& [id, r] : model_.deferred)
    answers_[id] = r;
  model_.deferred.clear();
  return effective;
}

std::string LockWorkload::keep_alive_acked(int c, const paxos::CommandId& id,
                                           const Reply& reply) const {
  lock::Command cmd;
  cmd.op = lock::Op::kKeepAlive;
  lock::Result got;
  return check(c, id, cmd, reply, got);
}

std::optional<LockWorkload::Renewal> LockWorkload::session_to_renew(int c) const {
  const Client& cl = clients_[static_cast<size_t>(c)];
  if (cl.session == 0 || cl.abandoned) return std::nullopt;
  return Renewal{cl.session, cl.ttl_ms, cl.opened_ms};
}

void LockWorkload::session_lost(int c, uint64_t session) {
  Client& cl = clients_[static_cast<size_t>(c)];
  if (cl.session != session) return;
  // Every lock taken under it counts as lost; open a new one.
  cl.session = 0;
  cl.holding.reset();
}

void LockWorkload::gave_up(int c) {
  (void)c;  // whatever it held or opened, it does not know: nothing changes
}

std::string LockWorkload::check(int c, const paxos::CommandId& id, const lock::Command& cmd,
                                const Reply& reply, lock::Result& got) const {
  if (reply.code == paxlock::Code::kBadRequest) {
    return fmt::format("client {} seq {}: refused as a bad request: {}", c, id.seq, reply.error);
  }
  // The public Reply, back in the lock machine's terms (same code values).
  got.code = static_cast<lock::Code>(reply.code);
  got.token = reply.token;
  got.holder = reply.holder;
  got.session = reply.session;
  got.applied_at = reply.applied_at;
  if (lock::is_read_only(cmd.op)) return "";  // reads run where they land, at any point
  auto want = answers_.find(id);
  if (want == answers_.end()) {
    return fmt::format("client {} seq {}: acknowledged {} that the log never answered", c, id.seq,
                       lock::to_string(cmd.op));
  }
  const lock::Result& w = want->second;
  if (got.code != w.code || got.token != w.token || got.holder != w.holder ||
      got.applied_at != w.applied_at) {
    return fmt::format(
        "client {} seq {} {} {}: acknowledged {} token {} holder '{}' at {}, but the log gives "
        "{} token {} holder '{}' at {}",
        c, id.seq, lock::to_string(cmd.op), cmd.name, lock::to_string(got.code), got.token,
        got.holder, got.applied_at, lock::to_string(w.code), w.token, w.holder, w.applied_at);
  }
  return "";
}

std::string LockWorkload::acked(int c, const paxos::CommandId& id, const Reply& reply) {
  Client& cl = clients_[static_cast<size_t>(c)];
  const lock::Command& cmd = cl.pending;
  lock::Result got;
  const std::string violation = check(c, id, cmd, reply, got);
  if (!violation.empty() || lock::is_read_only(cmd.op)) return violation;
  if (cmd.op == lock::Op::kOpenSession && got.code == lock::Code::kOk) {
    cl.session = got.session;
    cl.opened_ms = cl.pending_ms;
    ++sessions_opened_;
  }
  if (got.code == lock::Code::kSessionExpired) {
    // The lease ran out (the cluster was unreachable for too long): every
    // lock taken under it is gone; open a new one.
    cl.session = 0;
    cl.holding.reset();
  }
  if (cmd.op == lock::Op::kLock && got.code == lock::Code::kOk) {
    ++grants_acked_;
    cl.holding = std::make_pair(cmd.name, got.token);
  }
  if (cmd.op == lock::Op::kUnlock && cl.holding && cmd.name == cl.holding->first) {
    if (got.code == lock::Code::kOk) ++unlocks_acked_;
    cl.holding.reset();  // released, or lost to a stale token: either way not ours
  }
  return "";
}

}  // namespace paxlock::sim
