// Owners, the wait-for graph and deadlock detection, and expiry of sessions,
// waits, retry intents and clients.
#include <algorithm>
#include <deque>
#include <map>

#include "common/check.h"
#include "lock/lock_machine.h"

namespace paxlock::lock {

// Returns the owner's id with one more reference, which the caller keeps
// (as a holder, waiter, retry intent or session) or gives back with unref().
LockMachine::OwnerId LockMachine::intern(const std::string& name) {
  auto it = owner_ids_.find(name);
  OwnerId id;
  if (it != owner_ids_.end()) {
    id = it->second;
  } else {
    if (!free_owners_.empty()) {
      id = free_owners_.back();
      free_owners_.pop_back();
    } else {
      id = static_cast<OwnerId>(owners_.size());
      owners_.emplace_back();
    }
    owners_[id].name = name;
    owner_ids_.emplace(name, id);
  }
  ++owners_[id].refs;
  return id;
}

void LockMachine::unref(OwnerId id) {
  Owner& o = owners_[id];
  PAXLOCK_CHECK(o.refs > 0);
  if (--o.refs > 0) return;
  PAXLOCK_CHECK(o.waiting_on.empty());
  PAXLOCK_CHECK(o.retrying.empty());
  owner_ids_.erase(o.name);
  o = Owner{};
  free_owners_.push_back(id);
}

// Would `requester` waiting for `lock_name` close a cycle of owners each
// waiting for a lock the next one holds? Breadth-first from the holder, edges
// in sorted lock-name order, so every replica finds the same (shortest) cycle.
bool LockMachine::find_cycle(OwnerId requester, const std::string& lock_name,
                             std::vector<WaitEdge>& cycle) {
  const OwnerId start = locks_.at(lock_name).holder;
  struct Step {
    OwnerId from;
    const std::string* lock;
  };
  std::map<OwnerId, Step> parent;  // how BFS reached each owner
  std::deque<OwnerId> frontier{start};
  parent.emplace(start, Step{requester, &lock_name});
  size_t visited = 0;
  auto edges = [&](OwnerId x, auto&& visit) {
    // Queued waits and unexpired retry intents, merged in name order.
    std::vector<const std::string*> names;
    for (const std::string& n : owners_[x].waiting_on)
      names.push_back(&n);
    for (const auto& [n, until] : owners_[x].retrying) {
      if (until > now_ && !owners_[x].waiting_on.count(n)) names.push_back(&n);
    }
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
    for (const std::string* n : names) {
      auto it = locks_.find(*n);
      if (it != locks_.end() && it->second.holder != x) {
        if (visit(it->second.holder, n)) return true;
      }
    }
    return false;
  };
  while (!frontier.empty() && visited++ < options_.deadlock_search_max) {
    const OwnerId x = frontier.front();
    frontier.pop_front();
    bool found = edges(x, [&](OwnerId y, const std::string* via) {
      if (y == requester) {
        // Rebuild requester -> ... -> x -> requester.
        auto edge = [](const std::string& owner, const std::string& lock,
                       const std::string& holder) {
          WaitEdge e;
          e.set_owner(owner);
          e.set_lock(lock);
          e.set_holder(holder);
          return e;
        };
        std::vector<WaitEdge> back{edge(owners_[x].name, *via, owners_[requester].name)};
        for (OwnerId cur = x; cur != requester;) {
          const Step& s = parent.at(cur);
          back.push_back(edge(owners_[s.from].name, *s.lock, owners_[cur].name));
          cur = s.from;
        }
        cycle.assign(back.rbegin(), back.rend());
        return true;
      }
      if (parent.emplace(y, Step{x, via}).second) frontier.push_back(y);
      return false;
    });
    if (found) return true;
  }
  return false;
}

void LockMachine::remove_waiter(const std::string& name, std::deque<Waiting>& q, size_t index) {
  const Waiting w = q[index];
  wait_deadlines_.erase({w.deadline, name, w.req});
  auto indexed = queued_.find(w.req);
  if (indexed != queued_.end() && indexed->second == name) queued_.erase(indexed);
  q.erase(q.begin() + static_cast<std::ptrdiff_t>(index));
  const bool still_waiting =
      std::any_of(q.begin(), q.end(), [&](const Waiting& x) { return x.owner == w.owner; });
  if (!still_waiting) owners_[w.owner].waiting_on.erase(name);
  unref(w.owner);
}

// The client no longer waits for its blocking command `id`, still queued
// (it moved first_outstanding past it): the wait leaves the queue, and nobody
// is answered, so that the lock never goes to a client that gave up.
void LockMachine::withdraw_wait(const RequestId& id) {
  auto indexed = queued_.find(id);
  PAXLOCK_CHECK_MSG(indexed != queued_.end(), "a pending answer without a queued wait");
  const std::string name = indexed->second;
  auto l = locks_.find(name);
  PAXLOCK_CHECK(l != locks_.end() && l->second.waiters);
  std::deque<Waiting>& q = *l->second.waiters;
  auto w = std::find_if(q.begin(), q.end(), [&](const Waiting& x) { return x.req == id; });
  PAXLOCK_CHECK(w != q.end());
  remove_waiter(name, q, static_cast<size_t>(w - q.begin()));
  if (q.empty()) l->second.waiters.reset();
}

void LockMachine::end_session(uint64_t id, std::vector<paxos::Reply>& replies) {
  (void)replies;  // answers go through answer(), into replies_
  auto it = sessions_.find(id);
  PAXLOCK_CHECK(it != sessions_.end());
  const OwnerId owner = it->second.owner;
  session_expiry_.erase({it->second.expires, id});
  // First the session's queued waits (so that none of its locks is handed to
  // the session that is ending), then its locks, in name order.
  const std::set<std::string> waits = owners_[owner].waiting_on;
  for (const std::string& name : waits) {
    auto l = locks_.find(name);
    if (l == locks_.end() || !l->second.waiters) continue;
    std::deque<Waiting>& q = *l->second.waiters;
    for (size_t i = 0; i < q.size();) {
      if (q[i].session != id) {
        ++i;
        continue;
      }
      const RequestId cmd = q[i].req;
      remove_waiter(name, q, i);
      Result r;
      r.code = Code::kSessionExpired;
      r.applied_at = instance_;
      answer(cmd, std::move(r));
    }
    if (q.empty()) l->second.waiters.reset();
  }
  const std::set<std::string> held = it->second.locks;
  for (const std::string& name : held) {
    auto l = locks_.find(name);
    if (l != locks_.end() && l->second.session == id) release(l);
  }
  sessions_.erase(id);
  unref(owner);
}

// Every deadline that has passed, one at a time in order of its time, so
// that a wait that ended before a lease did is answered TIMEOUT even when both
// have passed by the time the next batch comes. At equal times: leases, then
// waits, then retry intents, then client records (docs/LOCKS.md).
void LockMachine::expire(std::vector<paxos::Reply>& replies) {
#if PAXLOCK_MUTATIONS
  if (options_.mutation_sessions_before_waits) {
    // Planted bug E: every lease that has passed, before any wait.
    while (!session_expiry_.empty() && session_expiry_.begin()->first <= now_)
      end_session(session_expiry_.begin()->second, replies);
  }
#endif
  enum class Next { kNone, kLease, kWait, kRetry, kRecord };
  for (;;) {
    Next next = Next::kNone;
    paxos::TimeMs at = 0;
    auto consider = [&](const auto& deadlines, Next kind) {
      if (deadlines.empty()) return;
      const paxos::TimeMs when = std::get<0>(*deadlines.begin());
      if (when <= now_ && (next == Next::kNone || when < at)) {
        next = kind;
        at = when;
      }
    };
    // In tie order: on equal times the first one considered wins.
    consider(session_expiry_, Next::kLease);
    consider(wait_deadlines_, Next::kWait);
    consider(retry_expiry_, Next::kRetry);
    consider(client_expiry_, Next::kRecord);
    switch (next) {
      case Next::kNone:
        return;
      case Next::kLease:
        end_session(session_expiry_.begin()->second, replies);
        break;
      case Next::kWait:
        expire_wait();
        break;
      case Next::kRetry:
        expire_retry();
        break;
      case Next::kRecord:
        expire_record();
        break;
    }
  }
}

// The first wait deadline has passed: TIMEOUT, and out of the queue.
void LockMachine::expire_wait() {
  const std::string name = std::get<1>(*wait_deadlines_.begin());
  const RequestId cmd = std::get<2>(*wait_deadlines_.begin());
  auto l = locks_.find(name);
  PAXLOCK_CHECK(l != locks_.end() && l->second.waiters);
  std::deque<Waiting>& q = *l->second.waiters;
  auto w = std::find_if(q.begin(), q.end(), [&](const Waiting& x) { return x.req == cmd; });
  PAXLOCK_CHECK(w != q.end());
  remove_waiter(name, q, static_cast<size_t>(w - q.begin()));
  if (q.empty()) l->second.waiters.reset();
  Result r;
  r.code = Code::kTimeout;
  r.holder = owners_[l->second.holder].name;
  r.applied_at = instance_;
  answer(cmd, std::move(r));
}

void LockMachine::expire_retry() {
  const auto [until, owner, name] = *retry_expiry_.begin();
  retry_expiry_.erase(retry_expiry_.begin());
  auto it = owners_[owner].retrying.find(name);
  if (it != owners_[owner].retrying.end() && it->second == until) {
    owners_[owner].retrying.erase(it);
    unref(owner);
  }
}

// Client expiry entries are refreshed lazily: an entry may be older than the
// client's current deadline, and is then moved to it.
void LockMachine::expire_record() {
  const ClientKey id = client_expiry_.begin()->second;
  client_expiry_.erase(client_expiry_.begin());
  Client& c = clients_.at(id);
  const bool pending = std::any_of(c.replies.begin(), c.replies.end(),
                                   [](const auto& r) { return r.second.pending; });
  if (c.expires > now_) {
    client_expiry_.emplace(c.expires, id);
  } else if (pending) {
    touch_client(id, c);  // a blocking wait still owes it an answer
    client_expiry_.emplace(c.expires, id);
  } else {
    clients_.erase(id);
  }
}

// The record must outlive every answer the client can still ask for: it lives
// client_ttl_ms past the client's last command, past the end of any wait it
// asked for (`wait_ms`: an attempt of a blocking lock in the library times
// out after 1 s plus its wait, so a resend can come that long after the
// answer), and past its last answer (a deferred one too).
void LockMachine::touch_client(const ClientKey& id, Client& c, paxos::TimeMs wait_ms) {
  const bool indexed = c.expires != 0;
  c.expires = std::max(c.expires, after(wait_ms + options_.client_ttl_ms));
  if (!indexed) client_expiry_.emplace(c.expires, id);
}

}  // namespace paxlock::lock
