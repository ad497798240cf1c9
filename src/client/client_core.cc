#include "client/client_core.h"

#include <algorithm>

#include "common/hash.h"

namespace paxlock {

// The public codes are the schema's, value for value (kUnavailable is the
// client's own: no answer at all).
#define PAXLOCK_SAME(ours, theirs) \
  static_assert(static_cast<int>(ours) == static_cast<int>(theirs), #ours " != " #theirs)
PAXLOCK_SAME(Code::kOk, pb::OK);
PAXLOCK_SAME(Code::kHeld, pb::HELD);
PAXLOCK_SAME(Code::kNotOwner, pb::NOT_OWNER);
PAXLOCK_SAME(Code::kNotHeld, pb::NOT_HELD);
PAXLOCK_SAME(Code::kStaleToken, pb::STALE_TOKEN);
PAXLOCK_SAME(Code::kTimeout, pb::TIMEOUT);
PAXLOCK_SAME(Code::kDeadlock, pb::DEADLOCK);
PAXLOCK_SAME(Code::kSessionExpired, pb::SESSION_EXPIRED);
PAXLOCK_SAME(Code::kInvalid, pb::INVALID);
PAXLOCK_SAME(Code::kTooManyWaiters, pb::TOO_MANY_WAITERS);
PAXLOCK_SAME(Code::kDuplicateIgnored, pb::DUPLICATE_IGNORED);
PAXLOCK_SAME(Code::kPermissionDenied, pb::PERMISSION_DENIED);
PAXLOCK_SAME(Code::kBadRequest, pb::BAD_REQUEST);
#undef PAXLOCK_SAME

const char* to_string(Code code) {
  if (code == Code::kUnavailable) return "UNAVAILABLE";
  if (!pb::Code_IsValid(static_cast<int>(code))) return "UNKNOWN";
  return pb::Code_Name(static_cast<pb::Code>(code)).c_str();
}

const char* to_string(AclRole role) {
  switch (role) {
    case AclRole::kRead:
      return "read";
    case AclRole::kLock:
      return "lock";
    case AclRole::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<AclRole> acl_role_from_string(const std::string& word) {
  for (AclRole r : {AclRole::kRead, AclRole::kLock, AclRole::kAdmin}) {
    if (word == to_string(r)) return r;
  }
  return std::nullopt;
}

namespace client {
namespace {

Reply unavailable(const std::string& why) {
  Reply r;
  r.code = Code::kUnavailable;
  r.error = why;
  return r;
}

}  // namespace

const char* to_string(Mutation m) {
  switch (m) {
    case Mutation::kNone:
      return "none";
    case Mutation::kNewSeqOnRetry:
      return "new-seq-on-retry";
  }
  return "?";
}

std::optional<Mutation> client_mutation_from_string(const std::string& name) {
  for (Mutation m : {Mutation::kNone, Mutation::kNewSeqOnRetry}) {
    if (name == to_string(m)) return m;
  }
  return std::nullopt;
}

Reply to_reply(const pb::ClientResponse& r) {
  Reply out;
  const pb::LockResult& res = r.result();
  if (res.code() > pb::PERMISSION_DENIED && res.code() != pb::BAD_REQUEST) {
    out.code = Code::kBadRequest;
    out.error = "unexpected answer code " + std::to_string(res.code()) + ": " + r.error();
    return out;
  }
  out.code = static_cast<Code>(res.code());
  // The replica's detail, else the lock machine's reason (PERMISSION_DENIED
  // and some INVALID answers say what was missing there).
  out.error = !r.error().empty() ? r.error() : res.reason();
  out.token = res.token();
  out.holder = res.holder();
  out.session = res.session();
  out.ttl_ms = res.ttl_ms();
  out.applied_at = res.applied_at();
  out.current = res.current();
  for (const pb::LockInfo& l : res.locks()) {
    LockInfo li{l.name(), l.holder(), l.token(), l.session(), l.since_ms(), {}};
    for (const pb::WaiterInfo& w : l.waiters())
      li.waiters.push_back({w.owner(), w.session(), w.deadline_ms()});
    out.locks.push_back(std::move(li));
  }
  out.next = res.next();
  for (const pb::CycleEdge& e : res.cycle())
    out.cycle.push_back({e.owner(), e.lock(), e.holder()});
  for (const pb::AclGrant& g : res.grants()) {
    if (g.role() < pb::ROLE_READ || g.role() > pb::ROLE_ADMIN) {
      out = Reply{};
      out.code = Code::kBadRequest;
      out.error = "acl_list answered a grant with role " + std::to_string(g.role());
      return out;
    }
    out.grants.push_back({g.identity(), g.prefix(), static_cast<AclRole>(g.role())});
  }
  if (r.has_cluster()) {
    const pb::ClusterInfo& c = r.cluster();
    out.cluster.cluster_id = c.cluster_id();
    out.cluster.node_id = c.node_id();
    out.cluster.leader = c.leader();
    out.cluster.role = c.role();
    out.cluster.first_unchosen = c.first_unchosen();
    out.cluster.applied = c.applied();
    for (const pb::MemberInfo& m : c.members()) {
      out.cluster.members.push_back({m.id(), m.client(), m.peer(), m.http()});
    }
  }
  return out;
}

ClientCore::ClientCore(ClientOptions options, CoreConfig config)
    : opt_(std::move(options)),
      config_(config),
      rng_(opt_.seed != 0 ? opt_.seed : config.fallback_seed),
      down_until_(opt_.replicas.size()) {
  client_id_ = opt_.client_id != 0 ? opt_.client_id : (rng_.next() | 1);
}

uint64_t ClientCore::first_outstanding() const {
  return outstanding_.empty() ? next_seq_ + 1 : *outstanding_.begin();
}

size_t ClientCore::choose(const Request& r, Time now) {
  const size_t n = opt_.replicas.size();
  size_t first = 0;
  const uint32_t fixed = r.only_member != 0 ? r.only_member : opt_.fixed_replica;
  const ReplicaChoice choice = r.only_member != 0 ? ReplicaChoice::kFixed : opt_.choice;
  switch (choice) {
    case ReplicaChoice::kRandom:
      first = static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(n) - 1));
      break;
    case ReplicaChoice::kHash: {
      const pb::LockCommand& c = r.req.command();
      first = fnv1a(c.name(), fnv1a(c.owner(), static_cast<uint64_t>(c.op()))) % n;
      break;
    }
    case ReplicaChoice::kFixed:
      for (size_t i = 0; i < n; ++i) {
        if (opt_.replicas[i].id == fixed) first = i;
      }
      break;
  }
  for (size_t k = 0; k < n; ++k) {
    if (up((first + k) % n, now)) return (first + k) % n;
  }
  return first;  // all down: try anyway
}

ClientCore::Handle ClientCore::submit(pb::ClientRequest req, Time now, Ms extra_wait,
                                      uint32_t only_member, Ms give_up_after) {
  const Handle h = ++next_handle_;
  if (opt_.replicas.empty()) {
    completions_.push_back({h, unavailable("no replicas configured"), 0});
    return h;
  }
  Request& r = pending_[h];
  req.set_client_id(client_id_);
  req.set_seq(++next_seq_);
  outstanding_.insert(req.seq());
  r.req = std::move(req);
  r.deadline = now + (give_up_after > Ms(0) ? give_up_after : opt_.request_timeout + extra_wait);
  r.attempt_timeout = opt_.attempt_timeout + extra_wait;
  r.only_member = only_member;
  r.replica = choose(r, now);
  attempt(h, now);
  return h;
}

void ClientCore::attempt(Handle h, Time now, bool after_backoff) {
  Request& r = pending_.at(h);
  if (r.attempts > 0 && !after_backoff && !up(r.replica, now)) {
    // Every replica has failed recently: wait before trying again, so that a
    // dead cluster costs a few attempts per second, not a busy loop.
    park(h, r, now);
    return;
  }
  r.parked = false;
  ++r.attempts;
  const uint64_t rid = ++next_rid_;
  r.req.set_request_id(rid);
  if (r.req.has_command()) r.req.mutable_command()->set_first_outstanding(first_outstanding());
  by_rid_[rid] = h;
  attempt_deadlines_.erase({r.attempt_deadline, h});
  r.attempt_deadline = std::max(now + Ms(1), std::min(now + r.attempt_timeout, r.deadline));
  attempt_deadlines_.insert({r.attempt_deadline, h});
  sends_.push_back({r.replica, r.req, h});
}

void ClientCore::park(Handle h, Request& r, Time now) {
  r.backoff = std::clamp(r.backoff * 2, config_.retry_floor, config_.retry_ceiling);
  const int64_t whole = r.backoff.count();
  const Ms wait(rng_.uniform(std::max<int64_t>(whole / 2, 1), std::max<int64_t>(whole, 1)));
  attempt_deadlines_.erase({r.attempt_deadline, h});
  r.parked = true;
  r.attempt_deadline = std::min(now + wait, r.deadline);
  attempt_deadlines_.insert({r.attempt_deadline, h});
}

// Sends the same request (same client id and seq) to another replica.
void ClientCore::retry(Handle h, Time now, bool mark_down, bool after_backoff) {
  Request& r = pending_.at(h);
  by_rid_.erase(r.req.request_id());
  if (mark_down) down_until_[r.replica] = now + config_.down_for;
  if (now >= r.deadline) {
    Reply out = unavailable(
        "no replica answered in time; the request may or may not have taken "
        "effect");
    finish(h, std::move(out));
    return;
  }
  const size_t n = opt_.replicas.size();
  if (n > 1) {
    size_t next = choose(r, now);
    if (next == r.replica) next = (r.replica + 1 + rng_.next() % (n - 1)) % n;
    r.replica = next;
  }
#if PAXLOCK_MUTATIONS
  if (config_.mutation == Mutation::kNewSeqOnRetry) {
    // Planted bug: the retry is a new command, not the same one again.
    outstanding_.erase(r.req.seq());
    r.req.set_seq(++next_seq_);
    outstanding_.insert(r.req.seq());
  }
#endif
  attempt(h, now, after_backoff);
}

void ClientCore::finish(Handle h, Reply reply) {
  auto it = pending_.find(h);
  Request& r = it->second;
  outstanding_.erase(r.req.seq());
  by_rid_.erase(r.req.request_id());
  attempt_deadlines_.erase({r.attempt_deadline, h});
  reply.attempts = r.attempts;
  reply.client_id = client_id_;
  reply.seq = r.req.seq();
  pending_.erase(it);
  uint64_t session = 0;
  if (auto ka = keep_alives_.find(h); ka != keep_alives_.end()) {
    session = ka->second.first;
    const Time sent = ka->second.second;
    keep_alives_.erase(ka);
    keep_alive_done(session, sent, reply);
  }
  completions_.push_back({h, std::move(reply), session});
}

void ClientCore::on_response(size_t replica, const pb::ClientResponse& resp, Time now) {
  auto it = by_rid_.find(resp.request_id());
  if (it == by_rid_.end()) return;  // an attempt we gave up on, or a duplicate
  const Handle h = it->second;
  if (pending_.at(h).replica != replica) return;
  if (resp.result().code() == pb::BUSY || resp.result().code() == pb::SHUTTING_DOWN) {
    retry(h, now, /*mark_down=*/true);
    return;
  }
  Reply out = to_reply(resp);
  out.served_by = opt_.replicas[replica].id;
  finish(h, std::move(out));  // a keep-alive's acknowledgement first moves its deadline
  lose_overdue_sessions(now);
}

void ClientCore::on_connection_lost(size_t replica, Time now) {
  down_until_[replica] = now + config_.down_for;
  std::vector<Handle> moved;
  for (const auto& [h, r] : pending_) {
    if (r.replica == replica && !r.parked) moved.push_back(h);  // parked: not sent there
  }
  for (Handle h : moved)
    retry(h, now, /*mark_down=*/false);
  lose_overdue_sessions(now);
}

// A replica that refuses the hello (wrong cluster) will not start working:
// its requests fail with the reason rather than bouncing around.
void ClientCore::on_refused(size_t replica, const std::string& why, Time now) {
  down_until_[replica] = now + config_.refused_down_for;
  std::vector<Handle> failed;
  for (const auto& [h, r] : pending_) {
    if (r.replica == replica) failed.push_back(h);
  }
  for (Handle h : failed)
    finish(h, unavailable(why));
  lose_overdue_sessions(now);
}

void ClientCore::tick(Time now) {
  std::vector<Handle> due;
  for (auto it = attempt_deadlines_.begin(); it != attempt_deadlines_.end() && it->first <= now;
       ++it)
    due.push_back(it->second);
  std::sort(due.begin(), due.end());  // retried in submission order
  for (Handle h : due) {
    Request& r = pending_.at(h);
    if (!r.parked) {
      // No answer in attempt_timeout: this attempt already waited, so the
      // next goes out at once even if every replica is marked down.
      retry(h, now, /*mark_down=*/true, /*after_backoff=*/true);
    } else if (now >= r.deadline) {
      finish(h, unavailable("no replica answered in time; the request may or may not have "
                            "taken effect"));
    } else {
      // The back-off is over: the next attempt goes to the best replica now,
      // even if every one is still marked down.
      r.replica = choose(r, now);
      attempt(h, now, /*after_backoff=*/true);
    }
  }
  for (auto& [id, s] : sessions_) {
    if (s.wake && *s.wake <= now) step_session(id, s, now);
  }
}

void ClientCore::close() {
  while (!pending_.empty())
    finish(pending_.begin()->first, unavailable("client closed"));
  for (auto& [id, s] : sessions_)
    s.lease.close();
  sessions_.clear();
}

// ------------------------------------------------------------- sessions

void ClientCore::start_session(uint64_t id, Ms ttl, Time opened_at, Time now) {
  auto [it, fresh] = sessions_.insert_or_assign(id, SessionState(Lease(opened_at, ttl)));
  (void)fresh;
  step_session(id, it->second, now);
}

void ClientCore::close_session(uint64_t id) {
  sessions_.erase(id);
}

bool ClientCore::session_lost(uint64_t id) const {
  auto it = sessions_.find(id);
  return it != sessions_.end() && it->second.lease.lost();
}

void ClientCore::step_session(uint64_t id, SessionState& s, Time now) {
  const Lease::Step step = s.lease.step(now);
  if (step.lost) lost_.push_back(id);
  s.wake.reset();
  if (step.done) return;
  if (step.send_keep_alive) {
    pb::ClientRequest req;
    req.mutable_command()->set_op(pb::KEEP_ALIVE);
    req.mutable_command()->set_session(id);
    const Handle h = submit(std::move(req), now);
    if (pending_.count(h)) keep_alives_[h] = {id, now};
  }
  s.wake = step.wake_at;
}

// The tick at a lease's deadline may not have run yet when an answer comes
// (the answer was read first, or the process did not run for a while): the
// lease is lost all the same, and reported before the answer reaches the
// caller, so that a grant under it is never taken for a valid one.
void ClientCore::lose_overdue_sessions(Time now) {
  for (auto& [id, s] : sessions_) {
    if (!s.lease.lost() && !s.lease.closed() && now >= s.lease.deadline()) step_session(id, s, now);
  }
}

void ClientCore::keep_alive_done(uint64_t id, Time sent_at, const Reply& reply) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (reply.code == Code::kOk) {
    it->second.lease.acknowledged(sent_at);
  } else if (reply.code == Code::kSessionExpired) {
    if (it->second.lease.expired()) lost_.push_back(id);
  }
}

// ---------------------------------------------------------------- outputs

std::vector<ClientCore::Send> ClientCore::take_sends() {
  return std::exchange(sends_, {});
}

std::vector<ClientCore::Completion> ClientCore::take_completions() {
  return std::exchange(completions_, {});
}

std::vector<uint64_t> ClientCore::take_lost_sessions() {
  return std::exchange(lost_, {});
}

std::optional<Time> ClientCore::next_tick() const {
  std::optional<Time> t;
  auto at = [&](Time x) {
    if (!t || x < *t) t = x;
  };
  if (!attempt_deadlines_.empty()) at(attempt_deadlines_.begin()->first);
  for (const auto& [id, s] : sessions_) {
    if (s.wake) at(*s.wake);
  }
  return t;
}

}  // namespace client
}  // namespace paxlock
