// The lock machine's operations: apply, exactly-once bookkeeping, and each
// request type. Owners, waits, deadlocks and expiry are in lock_graph.cc;
// snapshots in lock_snapshot.cc.
#include "lock/lock_machine.h"

#include <algorithm>

#include "common/check.h"

namespace paxlock::lock {

LockMachine::LockMachine(MachineOptions options) : options_(options) {
  owners_.emplace_back();
}

void LockMachine::apply(paxos::Instance instance, const paxos::Batch& batch,
                        std::vector<paxos::Reply>& replies) {
  PAXLOCK_CHECK(instance > instance_);
  instance_ = instance;
  replies_ = &replies;
  // The machine's clock only moves forward, and only with the log.
  if (batch.timestamp_ms > now_) now_ = batch.timestamp_ms;
  expire(replies);
  for (const paxos::Command& cmd : batch.commands)
    apply_command(instance, cmd, replies);
  replies_ = nullptr;
}

std::optional<paxos::TimeMs> LockMachine::next_deadline() const {
  std::optional<paxos::TimeMs> t;
  if (!session_expiry_.empty()) t = session_expiry_.begin()->first;
  if (!wait_deadlines_.empty()) {
    const paxos::TimeMs w = std::get<0>(*wait_deadlines_.begin());
    if (!t || w < *t) t = w;
  }
  return t;
}

void LockMachine::apply_command(paxos::Instance instance, const paxos::Command& cmd,
                                std::vector<paxos::Reply>& replies) {
  Result r;
  r.applied_at = instance;
  auto decoded = decode_command(cmd.payload);
  if (!decoded.ok()) {
    r.code = Code::kInvalid;
    replies.push_back({cmd.id, encode(r)});
    return;
  }
  const Command& c = *decoded;
  if (is_read_only(c.op)) {
    // Reads change nothing and need no exactly-once record: only a replica
    // with a client waiting for the answer computes it.
    if (wants_reply_ && !wants_reply_(cmd.id)) return;
    if (c.op == Op::kAclList) {
      do_acl_list(c, r);
    } else {
      do_read(c, r);
    }
    replies.push_back({cmd.id, encode(r)});
    return;
  }
  // Every answer is recorded under (identity, client), refusals too: a copy
  // of the command chosen again after an ACL change must get the same answer,
  // never an execution the client was told did not happen.
  const ClientKey key{c.identity, cmd.id.client};
  Client& client = clients_[key];
  // A blocking lock may be resent until its wait is over (and a bit).
  const paxos::TimeMs wait =
      c.op == Op::kLock ? std::clamp<paxos::TimeMs>(c.wait_ms, 0, kWaitMaxMs) : 0;
  touch_client(key, client, wait);
  // The client no longer waits for anything below the first_outstanding it
  // declares: those answers are forgotten, and a blocking lock still queued
  // is withdrawn, unanswered. (The machine's own first_outstanding may be
  // higher, raised by the answer limit; that withdraws nothing.)
  for (auto it = client.replies.begin();
       it != client.replies.end() && it->first < c.first_outstanding;) {
    if (it->second.pending) {
      withdraw_wait(RequestId{c.identity, paxos::CommandId{cmd.id.client, it->first}});
    }
    it = forget_reply(client, it);
  }
  client.first_outstanding = std::max(client.first_outstanding, c.first_outstanding);
  auto cached = client.replies.find(cmd.id.seq);
#if PAXLOCK_MUTATIONS
  if (options_.mutation_no_dedup) cached = client.replies.end();
#endif
  if (cached != client.replies.end()) {
    // A retry: the original answer, and no change. A blocking wait still
    // queued is answered when it resolves.
    if (!cached->second.pending) replies.push_back({cmd.id, cached->second.reply});
    return;
  }
  if (cmd.id.seq < client.first_outstanding) {
    // Acknowledged by the client, or forgotten under the answer limit.
    r.code = Code::kDuplicateIgnored;
    replies.push_back({cmd.id, encode(r)});
    return;
  }
  if (execute(c, cmd.id, r)) {
    Cached& slot = client.replies[cmd.id.seq];
    if (slot.answered_at != 0) client.by_age.erase({slot.answered_at, cmd.id.seq});
    slot = Cached{};
    slot.pending = true;
    return;
  }
  std::string reply = encode(r);
  replies.push_back({cmd.id, reply});
  record_answer(client, cmd.id.seq, std::move(reply), instance);
}

// Keeps the answer to the client's command `seq`, then at most
// client_replies_max answers (waits still queued do not count): beyond that,
// the answer given longest ago (lowest instance, then lowest seq) is
// forgotten, and first_outstanding rises past it, so that a retry of it is
// refused with DUPLICATE_IGNORED, never executed again. A wait's answer,
// however old its command, is as fresh as the instance that gave it.
void LockMachine::record_answer(Client& client, uint64_t seq, std::string reply,
                                paxos::Instance at) {
  PAXLOCK_CHECK(at != 0);
  Cached& slot = client.replies[seq];
  if (slot.answered_at != 0) client.by_age.erase({slot.answered_at, seq});
  slot.pending = false;
  slot.reply = std::move(reply);
  slot.answered_at = at;
  client.by_age.emplace(at, seq);
  while (client.by_age.size() > options_.client_replies_max) {
    const uint64_t oldest = client.by_age.begin()->second;
    client.by_age.erase(client.by_age.begin());
    client.replies.erase(oldest);
    client.first_outstanding = std::max(client.first_outstanding, oldest + 1);
  }
}

std::map<uint64_t, LockMachine::Cached>::iterator LockMachine::forget_reply(
    Client& client, std::map<uint64_t, Cached>::iterator it) {
  if (it->second.answered_at != 0) client.by_age.erase({it->second.answered_at, it->first});
  return client.replies.erase(it);
}

// Returns true if the answer is deferred (the owner was queued).
bool LockMachine::execute(const Command& c, const paxos::CommandId& id, Result& r) {
  switch (c.op) {
    case Op::kLock:
      return do_lock(c, id, r);
    case Op::kUnlock:
      do_unlock(c, r);
      return false;
    case Op::kOpenSession:
      do_open_session(c, r);
      return false;
    case Op::kKeepAlive:
      do_keep_alive(c, r);
      return false;
    case Op::kCloseSession:
      do_close_session(c, r);
      return false;
    case Op::kAclGrant:
      do_acl_grant(c, r);
      return false;
    case Op::kAclRevoke:
      do_acl_revoke(c, r);
      return false;
    case Op::kAclBootstrap:
      do_acl_bootstrap(c, r);
      return false;
    case Op::kCheck:
    case Op::kStatus:
    case Op::kList:
    case Op::kAclList:
      break;
  }
  PAXLOCK_CHECK_MSG(false, "read-only op reached execute");
  return false;
}

namespace {

bool bad_name(const std::string& s, size_t max) {
  return s.empty() || s.size() > max;
}

}  // namespace

bool LockMachine::do_lock(const Command& c, const paxos::CommandId& id, Result& r) {
  if (bad_name(c.name, kNameBytesMax) || bad_name(c.owner, kOwnerBytesMax) || c.wait_ms < 0 ||
      c.wait_ms > kWaitMaxMs) {
    r.code = Code::kInvalid;
    return false;
  }
  if (deny_owner(c, c.owner, r) || deny_name(c, Role::kLock, r)) return false;
  if (c.session != 0) {
    auto s = sessions_.find(c.session);
    if (s == sessions_.end()) {
      r.code = Code::kSessionExpired;
      return false;
    }
    if (owners_[s->second.owner].name != c.owner) {
      r.code = Code::kInvalid;  // a session belongs to one owner
      return false;
    }
  }
  const OwnerId owner = intern(c.owner);
  auto retry = owners_[owner].retrying.find(c.name);
  if (retry != owners_[owner].retrying.end()) {  // this attempt replaces the retry intent
    retry_expiry_.erase({retry->second, owner, c.name});
    owners_[owner].retrying.erase(retry);
    unref(owner);
  }
  if (!tokens_left() && !locks_.count(c.name)) {
    r.code = Code::kInvalid;  // no token to grant it with (see tokens_left)
    unref(owner);
    return false;
  }
  auto [it, fresh] = locks_.try_emplace(c.name);
  if (fresh) {
    grant(c.name, owner, c.session, it->second);
    r.token = it->second.token;
    r.holder = c.owner;
    r.session = c.session;
    unref(owner);
    return false;
  }
  Lock& lock = it->second;
  if (lock.holder == owner) {
    // Idempotent: the holder asking again gets the same token.
    r.token = lock.token;
    r.holder = c.owner;
    r.session = lock.session;
    unref(owner);
    return false;
  }
  r.holder = owners_[lock.holder].name;
  r.token = 0;
  if (c.wait_ms > 0 || c.will_retry) {
    if (find_cycle(owner, c.name, r.cycle)) {
      r.code = Code::kDeadlock;  // refused, not queued: the requester that closes a cycle
      unref(owner);
      return false;
    }
  }
  if (c.wait_ms > 0) {
    if (lock.waiters && lock.waiters->size() >= kWaitersPerLockMax) {
      r.code = Code::kTooManyWaiters;
      unref(owner);
      return false;
    }
    if (!lock.waiters) lock.waiters = std::make_unique<std::deque<Waiting>>();
    const paxos::TimeMs deadline = after(c.wait_ms);
    const RequestId req{c.identity, id};
    lock.waiters->push_back(Waiting{owner, c.session, req, deadline});
    owners_[owner].waiting_on.insert(c.name);  // the owner keeps the ref taken by intern()
    wait_deadlines_.emplace(deadline, c.name, req);
    queued_.emplace(req, c.name);
    return true;
  }
  r.code = Code::kHeld;
  if (c.will_retry) {
    auto [at, fresh] = owners_[owner].retrying.emplace(c.name, after(options_.retry_edge_ms));
    if (fresh) {
      retry_expiry_.emplace(at->second, owner, c.name);
      return false;  // keeps the ref
    }
  }
  unref(owner);
  return false;
}

void LockMachine::grant(const std::string& name, OwnerId owner, uint64_t session, Lock& lock) {
  PAXLOCK_CHECK(tokens_left());  // tokens never wrap: 0 means "no token"
  lock.holder = owner;
  lock.token = ++next_token_;  // strictly increasing across all grants of all locks
  lock.session = session;
  lock.since = now_;
  ++owners_[owner].refs;
  if (session != 0) sessions_.at(session).locks.insert(name);
}

void LockMachine::do_unlock(const Command& c, Result& r) {
  if (bad_name(c.name, kNameBytesMax) || bad_name(c.owner, kOwnerBytesMax)) {
    r.code = Code::kInvalid;
    return;
  }
  if (deny_owner(c, c.owner, r) || deny_name(c, Role::kLock, r)) return;
  auto it = locks_.find(c.name);
  if (it == locks_.end()) {
    r.code = Code::kNotHeld;
    return;
  }
  const std::string& holder = owners_[it->second.holder].name;
  if (holder != c.owner) {
    r.code = Code::kNotOwner;
    r.holder = holder;
    return;
  }
  if (c.token != 0 && c.token != it->second.token) {
    r.code = Code::kStaleToken;
    r.token = it->second.token;
    return;
  }
  r.token = it->second.token;
  release(it);
}

void LockMachine::release(std::unordered_map<std::string, Lock>::iterator it) {
  Lock& lock = it->second;
  if (lock.session != 0) {
    auto s = sessions_.find(lock.session);
    if (s != sessions_.end()) s->second.locks.erase(it->first);
  }
  unref(lock.holder);
  // Without a token to grant it with, every waiter is refused.
  while (!tokens_left() && lock.waiters && !lock.waiters->empty()) {
    const RequestId cmd = lock.waiters->front().req;
    remove_waiter(it->first, *lock.waiters, 0);
    Result r;
    r.code = Code::kInvalid;
    r.applied_at = instance_;
    answer(cmd, std::move(r));
  }
  // FIFO: the lock goes to the first waiter still queued.
  if (lock.waiters && !lock.waiters->empty()) {
    const Waiting w = lock.waiters->front();
    ++owners_[w.owner].refs;  // keeps the owner while its waiter entry goes
    remove_waiter(it->first, *lock.waiters, 0);
    if (lock.waiters->empty()) lock.waiters.reset();
    grant(it->first, w.owner, w.session, lock);
    unref(w.owner);
    Result r;
    r.token = lock.token;
    r.holder = owners_[w.owner].name;
    r.session = w.session;
    r.applied_at = instance_;
    answer(w.req, std::move(r));
    return;
  }
  locks_.erase(it);
}

// The answer to a queued request goes into its own identity's record, and out
// under its command id (which the replica that took it waits on).
void LockMachine::answer(const RequestId& id, Result r) {
  std::string reply = encode(r);
  const ClientKey key{id.identity, id.cmd.client};
  auto c = clients_.find(key);
  if (c != clients_.end()) {
    touch_client(key, c->second);  // the record outlives the answer
    auto slot = c->second.replies.find(id.cmd.seq);
    if (slot != c->second.replies.end() && slot->second.pending) {
      record_answer(c->second, id.cmd.seq, reply, r.applied_at);
    }
  }
  if (replies_) replies_->push_back({id.cmd, std::move(reply)});
}

size_t LockMachine::answers_kept(uint64_t client, const std::string& identity) const {
  auto c = clients_.find(ClientKey{identity, client});
  if (c == clients_.end()) return 0;
  return static_cast<size_t>(std::count_if(c->second.replies.begin(), c->second.replies.end(),
                                           [](const auto& r) { return !r.second.pending; }));
}

LockInfo LockMachine::info(const std::string& name, const Lock& lock) const {
  LockInfo l;
  l.set_name(name);
  l.set_holder(owners_[lock.holder].name);
  l.set_token(lock.token);
  l.set_session(lock.session);
  l.set_since_ms(lock.since);
  if (lock.waiters) {
    for (const Waiting& w : *lock.waiters) {
      pb::WaiterInfo* wi = l.add_waiters();
      wi->set_owner(owners_[w.owner].name);
      wi->set_session(w.session);
      wi->set_deadline_ms(w.deadline);
    }
  }
  return l;
}

void LockMachine::do_read(const Command& c, Result& r) const {
  switch (c.op) {
    case Op::kCheck: {
      if (deny_name(c, Role::kRead, r)) return;
      auto it = locks_.find(c.name);
      r.current = it != locks_.end() && c.token != 0 && it->second.token == c.token;
      r.token = it == locks_.end() ? 0 : it->second.token;
      if (it != locks_.end()) r.holder = owners_[it->second.holder].name;
      r.code = r.current ? Code::kOk : Code::kStaleToken;
      return;
    }
    case Op::kStatus: {
      if (deny_name(c, Role::kRead, r)) return;
      auto it = locks_.find(c.name);
      if (it == locks_.end()) {
        r.code = Code::kNotHeld;
        return;
      }
      r.holder = owners_[it->second.holder].name;
      r.token = it->second.token;
      r.session = it->second.session;
      r.locks.push_back(info(it->first, it->second));
      return;
    }
    case Op::kList:
      do_list(c, r);
      return;
    default:
      PAXLOCK_CHECK_MSG(false, "not a read");
  }
}

// Held locks in name order after `name`, only those the identity may read
// (the rest are skipped as if free, so a page may hold fewer than `limit`
// locks only at the end). The table is hashed for speed, so a page costs a
// scan of it (bounded by the number of locks held).
void LockMachine::do_list(const Command& c, Result& r) const {
  const uint32_t limit = std::clamp<uint32_t>(c.limit, 1, kListLimitMax);
  const auto readable = reader(c.identity);
  std::vector<const std::pair<const std::string, Lock>*> page;
  auto by_name = [](auto* a, auto* b) { return a->first < b->first; };
  for (const auto& entry : locks_) {
    if (entry.first <= c.name) continue;
    if (page.size() == limit && entry.first >= page.front()->first) continue;
    if (!readable(entry.first)) continue;
    if (page.size() < limit) {
      page.push_back(&entry);
      std::push_heap(page.begin(), page.end(), by_name);
    } else {
      std::pop_heap(page.begin(), page.end(), by_name);
      page.back() = &entry;
      std::push_heap(page.begin(), page.end(), by_name);
    }
  }
  std::sort_heap(page.begin(), page.end(), by_name);
  for (const auto* e : page)
    r.locks.push_back(info(e->first, e->second));
  if (page.size() == limit) r.next = page.back()->first;
}

paxos::TimeMs LockMachine::lease(paxos::TimeMs ttl) const {
#if PAXLOCK_MUTATIONS
  if (options_.mutation_short_lease) return ttl / 3;
#endif
  return ttl;
}

void LockMachine::do_open_session(const Command& c, Result& r) {
  if (bad_name(c.owner, kOwnerBytesMax) || c.ttl_ms < kSessionTtlMinMs ||
      c.ttl_ms > kSessionTtlMaxMs) {
    r.code = Code::kInvalid;
    return;
  }
  if (deny_owner(c, c.owner, r)) return;
  const uint64_t id = ++next_session_;
  Session& s = sessions_[id];
  s.owner = intern(c.owner);
  s.ttl = c.ttl_ms;
  s.expires = after(lease(c.ttl_ms));
  session_expiry_.emplace(s.expires, id);
  r.session = id;
  r.ttl_ms = c.ttl_ms;
}

void LockMachine::do_keep_alive(const Command& c, Result& r) {
  auto it = sessions_.find(c.session);
  if (it == sessions_.end()) {
    r.code = Code::kSessionExpired;
    return;
  }
  if (deny_owner(c, owners_[it->second.owner].name, r)) return;
  Session& s = it->second;
  session_expiry_.erase({s.expires, it->first});
  s.expires = after(lease(s.ttl));
  session_expiry_.emplace(s.expires, it->first);
  r.session = it->first;
  r.ttl_ms = s.ttl;
}

void LockMachine::do_close_session(const Command& c, Result& r) {
  auto it = sessions_.find(c.session);
  if (it == sessions_.end()) {
    r.code = Code::kSessionExpired;
    return;
  }
  // The session's own owner, not the command's owner field: that is what
  // closing it releases.
  if (deny_owner(c, owners_[it->second.owner].name, r)) return;
  end_session(c.session, *replies_);
  r.session = c.session;
}

}  // namespace paxlock::lock
