#include "sim/lock_workload.h"

#include <fmt/format.h>

namespace paxlock::sim {

std::string LockWorkload::next(int c, paxlock::Rng& rng, paxos::TimeMs now) {
  Client& cl = clients_[static_cast<size_t>(c)];
  lock::Command cmd;
  cmd.owner = fmt::format("owner{}", c);
  cl.pending_ms = now;
  // The client waits only for this command (like the library, which sends
  // the lowest sequence number it still waits for).
  cmd.first_outstanding = ++cl.seq;
  if (cl.uses_session && cl.session == 0) {
    const paxos::TimeMs ttls[] = {150, 300, 600, 1500};
    cmd.op = lock::Op::kOpenSession;
    cmd.ttl_ms = ttls[rng.uniform(0, 3)];
    cl.ttl_ms = cmd.ttl_ms;
    cl.abandoned = rng.chance(1.0 / 3);
  } else if (cl.uses_session && !cl.abandoned && now - cl.renewed_ms >= cl.ttl_ms / 3) {
    cmd.op = lock::Op::kKeepAlive;
    cmd.session = cl.session;
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
  return lock::encode(cmd);
}

void LockWorkload::chosen(paxos::Instance instance, const paxos::Batch& batch) {
  model_.tick(batch.timestamp_ms, instance);  // time moves with every batch
  for (const paxos::Command& pc : batch.commands) {
    auto c = lock::decode_command(pc.payload);
    if (!c.ok()) continue;
    auto r = model_.apply(pc.id, *c, batch.timestamp_ms, instance);
    if (r && !answers_.count(pc.id)) answers_[pc.id] = *r;
  }
  for (auto& [id, r] : model_.deferred)
    answers_[id] = r;
  model_.deferred.clear();
}

std::string LockWorkload::acked(int c, const paxos::CommandId& id, const std::string& payload) {
  Client& cl = clients_[static_cast<size_t>(c)];
  auto decoded = lock::decode_result(payload);
  if (!decoded.ok()) return fmt::format("client {} got an undecodable answer", c);
  const lock::Result& got = *decoded;
  const lock::Command& cmd = cl.pending;
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
  if (cmd.op == lock::Op::kOpenSession && got.code == lock::Code::kOk) {
    cl.session = got.session;
    cl.renewed_ms = cl.pending_ms;
    ++sessions_opened_;
  }
  if (cmd.op == lock::Op::kKeepAlive) cl.renewed_ms = cl.pending_ms;
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
