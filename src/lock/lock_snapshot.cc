// Snapshots of the lock machine (proto/lock.proto), in canonical order so that
// equal states give equal bytes, and their validation and restore.
#include <algorithm>

#include "lock.pb.h"
#include "lock/legacy_codec.h"
#include "lock/lock_machine.h"

namespace paxlock::lock {
namespace {

template <class Map>
std::vector<typename Map::key_type> sorted_keys(const Map& m) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(m.size());
  for (const auto& [k, v] : m)
    keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

std::string LockMachine::snapshot() const {
  pb::LockSnapshot s;
  // Version 2 only for what version 1 cannot hold (proto/lock.proto): a
  // state without identities keeps the bytes it always had.
  bool v2 = !acl_.empty();
  s.set_now_ms(now_);
  s.set_next_token(next_token_);
  s.set_next_session(next_session_);
  s.set_applied_instance(instance_);
  for (const std::string& name : sorted_keys(locks_)) {
    const Lock& lock = locks_.at(name);
    pb::LockInfo* l = s.add_locks();
    l->set_name(name);
    l->set_holder(owners_[lock.holder].name);
    l->set_token(lock.token);
    l->set_session(lock.session);
    l->set_since_ms(lock.since);
    if (!lock.waiters) continue;
    for (const Waiting& w : *lock.waiters) {
      pb::WaiterInfo* pw = l->add_waiters();
      pw->set_owner(owners_[w.owner].name);
      pw->set_session(w.session);
      pw->set_client(w.req.cmd.client);
      pw->set_seq(w.req.cmd.seq);
      pw->set_deadline_ms(w.deadline);
      pw->set_identity(w.req.identity);
      v2 = v2 || !w.req.identity.empty();
    }
  }
  for (uint64_t id : sorted_keys(sessions_)) {
    const Session& ses = sessions_.at(id);
    pb::SnapSession* ps = s.add_sessions();
    ps->set_id(id);
    ps->set_owner(owners_[ses.owner].name);
    ps->set_ttl_ms(ses.ttl);
    ps->set_expires_ms(ses.expires);
  }
  for (const ClientKey& key : sorted_keys(clients_)) {
    const Client& c = clients_.at(key);
    pb::SnapClient* pc = s.add_clients();
    pc->set_id(key.id);
    pc->set_identity(key.identity);
    v2 = v2 || !key.identity.empty();
    pc->set_expires_ms(c.expires);
    pc->set_first_outstanding(c.first_outstanding);
    for (const auto& [seq, cached] : c.replies) {
      pb::SnapReply* r = pc->add_replies();
      r->set_seq(seq);
      r->set_reply(cached.reply);
      r->set_pending(cached.pending);
    }
  }
  for (const std::string& owner : sorted_keys(owner_ids_)) {
    for (const auto& [lock, until] : owners_[owner_ids_.at(owner)].retrying) {
      pb::SnapRetry* r = s.add_retries();
      r->set_owner(owner);
      r->set_lock(lock);
      r->set_until_ms(until);
    }
  }
  for (const auto& [key, role] : acl_) {
    pb::AclGrant* g = s.add_grants();
    g->set_identity(key.first);
    g->set_prefix(key.second);
    g->set_role(static_cast<pb::Role>(role));
  }
  s.set_version(v2 ? 2 : 1);
  std::string out;
  s.SerializeToString(&out);
  return out;
}

bool LockMachine::validate(std::string_view data, paxos::Instance next) const {
  LockMachine scratch(options_);
  return scratch.restore(data) && scratch.instance_ < next;
}

bool LockMachine::restore(std::string_view data) {
  pb::LockSnapshot s;
  if (!s.ParseFromArray(data.data(), static_cast<int>(data.size())) ||
      (s.version() != 1 && s.version() != 2)) {
    return false;
  }
  // Identities appear only in version 2, and version 2 only with them (what
  // snapshot() writes), so that a state has one encoding.
  bool v2 = s.grants_size() > 0;
  LockMachine m(options_);
  m.now_ = s.now_ms();
  m.next_token_ = s.next_token();
  m.next_session_ = s.next_session();
  m.instance_ = s.applied_instance();
  for (const pb::SnapSession& ps : s.sessions()) {
    if (ps.id() == 0 || ps.id() > m.next_session_ || ps.owner().empty() ||
        m.sessions_.count(ps.id())) {
      return false;
    }
    Session& ses = m.sessions_[ps.id()];
    ses.owner = m.intern(ps.owner());
    ses.ttl = ps.ttl_ms();
    ses.expires = ps.expires_ms();
    m.session_expiry_.emplace(ses.expires, ps.id());
  }
  for (const pb::LockInfo& pl : s.locks()) {
    if (pl.name().empty() || pl.holder().empty() || pl.token() == 0 || pl.token() > m.next_token_ ||
        m.locks_.count(pl.name())) {
      return false;
    }
    Lock& lock = m.locks_[pl.name()];
    lock.holder = m.intern(pl.holder());
    lock.token = pl.token();
    lock.session = pl.session();
    lock.since = pl.since_ms();
    // A lock is held, and waited for, under a session of its own owner
    // (do_lock refuses any other), which exists: a waiter of an unknown
    // session threw out of grant() when the lock was released, and one of
    // another owner's session outlived it (close_session ends the waits of
    // its own owner) and got the lock under a session that was gone. Both
    // found by the snapshot fuzzer.
    auto session_of = [&](uint64_t id, OwnerId owner) {
      auto ses = m.sessions_.find(id);
      return ses != m.sessions_.end() && ses->second.owner == owner ? &ses->second : nullptr;
    };
    if (lock.session != 0) {
      Session* ses = session_of(lock.session, lock.holder);
      if (!ses) return false;
      ses->locks.insert(pl.name());
    }
    for (const pb::WaiterInfo& pw : pl.waiters()) {
      if (pw.owner().empty() || pw.identity().size() > kIdentityBytesMax) return false;
      v2 = v2 || !pw.identity().empty();
      if (!lock.waiters) lock.waiters = std::make_unique<std::deque<Waiting>>();
      const RequestId cmd{pw.identity(), paxos::CommandId{pw.client(), pw.seq()}};
      const OwnerId owner = m.intern(pw.owner());
      if (pw.session() != 0 && !session_of(pw.session(), owner)) return false;
      lock.waiters->push_back(Waiting{owner, pw.session(), cmd, pw.deadline_ms()});
      m.owners_[owner].waiting_on.insert(pl.name());
      m.wait_deadlines_.emplace(pw.deadline_ms(), pl.name(), cmd);
      m.queued_.emplace(cmd, pl.name());
    }
  }
  for (const pb::SnapClient& pc : s.clients()) {
    const ClientKey key{pc.identity(), pc.id()};
    if (key.identity.size() > kIdentityBytesMax || m.clients_.count(key)) return false;
    v2 = v2 || !key.identity.empty();
    Client& c = m.clients_[key];
    c.expires = pc.expires_ms();
    c.first_outstanding = pc.first_outstanding();
    m.client_expiry_.emplace(c.expires, key);
    for (const pb::SnapReply& r : pc.replies()) {
      Cached& slot = c.replies[r.seq()];
      slot.reply = r.reply();
      slot.pending = r.pending();
      if (slot.pending) {
        // A pending answer belongs to a queued wait.
        if (!m.queued_.count(RequestId{key.identity, paxos::CommandId{pc.id(), r.seq()}})) {
          return false;
        }
        continue;
      }
      // The eviction order comes from the answer itself.
      auto answer = decode_result(slot.reply);
      if (!answer.ok() || answer->applied_at == 0) return false;
      // An answer cached by paxlock 0.1 takes the bytes this release would
      // have cached for it: replicas whose snapshots were taken before and
      // after the upgrade then hold the same state, byte for byte.
      if (legacy::is_legacy(slot.reply)) slot.reply = encode(*answer);
      slot.answered_at = answer->applied_at;
      c.by_age.emplace(slot.answered_at, r.seq());
    }
  }
  for (const pb::SnapRetry& pr : s.retries()) {
    if (pr.owner().empty() || pr.lock().empty()) return false;
    const OwnerId owner = m.intern(pr.owner());
    if (!m.owners_[owner].retrying.emplace(pr.lock(), pr.until_ms()).second) return false;
    m.retry_expiry_.emplace(pr.until_ms(), owner, pr.lock());
  }
  if (!m.restore_grants(s) || v2 != (s.version() == 2)) return false;
  auto wants = std::move(wants_reply_);
  *this = std::move(m);
  wants_reply_ = std::move(wants);
  return true;
}

}  // namespace paxlock::lock
