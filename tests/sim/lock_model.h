// A reference model of the lock service's semantics, written for clarity, not
// speed: ordered maps and linear scans, no interning, no indexes. Property
// tests check that LockMachine answers exactly like it.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lock/command.h"

namespace paxlock::lock::testing {

class LockModel {
 public:
  // Applies one command (a batch of one at time `ts`); returns its answer if
  // immediate. Answers to earlier blocking waits land in `deferred`.
  std::optional<Result> apply(const paxos::CommandId& id, const Command& c, paxos::TimeMs ts,
                              paxos::Instance inst) {
    instance_ = inst;
    now_ = std::max(now_, ts);
    expire();
    if (is_read_only(c.op)) return read(c);
    auto cached = cache_.find(id);
    if (cached != cache_.end()) return cached->second;  // nullopt while pending
    std::optional<Result> r = execute(id, c);
    cache_[id] = r;
    return r;
  }

  void tick(paxos::TimeMs ts, paxos::Instance inst) {
    instance_ = inst;
    now_ = std::max(now_, ts);
    expire();
  }

  std::map<paxos::CommandId, Result> deferred;

 private:
  struct W {
    std::string owner;
    uint64_t session;
    paxos::CommandId cmd;
    paxos::TimeMs deadline;
  };
  struct L {
    std::string holder;
    uint64_t token = 0;
    uint64_t session = 0;
    std::deque<W> waiters;
  };
  struct S {
    std::string owner;
    paxos::TimeMs ttl = 0;
    paxos::TimeMs expires = 0;
  };

  Result base() const {
    Result r;
    r.applied_at = instance_;
    return r;
  }

  void settle(const paxos::CommandId& id, const Result& r) {
    cache_[id] = r;
    deferred[id] = r;
  }

  void release(const std::string& name) {
    L& l = locks_.at(name);
    if (l.waiters.empty()) {
      locks_.erase(name);
      return;
    }
    W w = l.waiters.front();
    l.waiters.pop_front();
    l.holder = w.owner;
    l.token = ++token_;
    l.session = w.session;
    Result r = base();
    r.token = l.token;
    r.holder = w.owner;
    r.session = w.session;
    settle(w.cmd, r);
  }

  void end_session(uint64_t id) {
    for (auto& [name, l] : locks_) {
      for (size_t i = 0; i < l.waiters.size();) {
        if (l.waiters[i].session == id) {
          Result r = base();
          r.code = Code::kSessionExpired;
          settle(l.waiters[i].cmd, r);
          l.waiters.erase(l.waiters.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          ++i;
        }
      }
    }
    std::vector<std::string> held;
    for (const auto& [name, l] : locks_) {
      if (l.session == id) held.push_back(name);
    }
    for (const std::string& name : held)
      release(name);
    sessions_.erase(id);
  }

  void expire() {
    for (;;) {  // leases and waits, in time order (ties: leases first)
      std::optional<std::pair<paxos::TimeMs, uint64_t>> lease;  // (expires, id)
      for (const auto& [id, s] : sessions_) {
        if (s.expires <= now_ && (!lease || std::make_pair(s.expires, id) < *lease)) {
          lease = std::make_pair(s.expires, id);
        }
      }
      std::optional<std::tuple<paxos::TimeMs, std::string, paxos::CommandId>> wait;
      for (const auto& [name, l] : locks_) {
        for (const W& w : l.waiters) {
          auto key = std::make_tuple(w.deadline, name, w.cmd);
          if (w.deadline <= now_ && (!wait || key < *wait)) wait = key;
        }
      }
      if (lease && (!wait || lease->first <= std::get<0>(*wait))) {
        end_session(lease->second);
        continue;
      }
      if (!wait) break;
      L& l = locks_.at(std::get<1>(*wait));
      auto it = std::find_if(l.waiters.begin(), l.waiters.end(),
                             [&](const W& w) { return w.cmd == std::get<2>(*wait); });
      Result r = base();
      r.code = Code::kTimeout;
      r.holder = l.holder;
      settle(it->cmd, r);
      l.waiters.erase(it);
    }
    for (auto it = retry_.begin(); it != retry_.end();) {
      it = it->second <= now_ ? retry_.erase(it) : std::next(it);
    }
  }

  // Who `owner` waits for: holders of the locks it is queued on or will retry.
  std::vector<std::string> waits_for(const std::string& owner) const {
    std::vector<std::string> out;
    for (const auto& [name, l] : locks_) {
      const bool queued = std::any_of(l.waiters.begin(), l.waiters.end(),
                                      [&](const W& w) { return w.owner == owner; });
      const bool retrying = retry_.count({owner, name}) > 0;
      if ((queued || retrying) && l.holder != owner) out.push_back(l.holder);
    }
    return out;
  }

  // Length of the shortest cycle `owner` would close by waiting for `name`
  // (0 if none).
  size_t cycle(const std::string& owner, const std::string& name) const {
    std::map<std::string, size_t> dist{{locks_.at(name).holder, 1}};
    std::deque<std::string> q{locks_.at(name).holder};
    while (!q.empty()) {
      std::string x = q.front();
      q.pop_front();
      for (const std::string& y : waits_for(x)) {
        if (y == owner) return dist[x] + 1;
        if (dist.emplace(y, dist[x] + 1).second) q.push_back(y);
      }
    }
    return 0;
  }

  std::optional<Result> execute(const paxos::CommandId& id, const Command& c) {
    Result r = base();
    switch (c.op) {
      case Op::kLock: {
        if (c.name.empty() || c.owner.empty() || c.name.size() > kNameBytesMax ||
            c.owner.size() > kOwnerBytesMax || c.wait_ms < 0 || c.wait_ms > kWaitMaxMs) {
          r.code = Code::kInvalid;
          return r;
        }
        if (c.session != 0) {
          auto s = sessions_.find(c.session);
          if (s == sessions_.end()) {
            r.code = Code::kSessionExpired;
            return r;
          }
          if (s->second.owner != c.owner) {
            r.code = Code::kInvalid;
            return r;
          }
        }
        retry_.erase({c.owner, c.name});
        auto it = locks_.find(c.name);
        if (it == locks_.end()) {
          L& l = locks_[c.name];
          l.holder = c.owner;
          l.token = ++token_;
          l.session = c.session;
          r.token = l.token;
          r.holder = c.owner;
          r.session = c.session;
          return r;
        }
        L& l = it->second;
        if (l.holder == c.owner) {
          r.token = l.token;
          r.holder = c.owner;
          r.session = l.session;
          return r;
        }
        r.holder = l.holder;
        if ((c.wait_ms > 0 || c.will_retry) && cycle(c.owner, c.name) > 0) {
          r.code = Code::kDeadlock;
          r.cycle.resize(cycle(c.owner, c.name));
          return r;
        }
        if (c.wait_ms > 0) {
          if (l.waiters.size() >= kWaitersPerLockMax) {
            r.code = Code::kTooManyWaiters;
            return r;
          }
          l.waiters.push_back(W{c.owner, c.session, id, now_ + c.wait_ms});
          return std::nullopt;
        }
        r.code = Code::kHeld;
        if (c.will_retry) retry_[{c.owner, c.name}] = now_ + 2000;
        return r;
      }
      case Op::kUnlock: {
        if (c.name.empty() || c.owner.empty()) {
          r.code = Code::kInvalid;
          return r;
        }
        auto it = locks_.find(c.name);
        if (it == locks_.end()) {
          r.code = Code::kNotHeld;
        } else if (it->second.holder != c.owner) {
          r.code = Code::kNotOwner;
          r.holder = it->second.holder;
        } else if (c.token != 0 && c.token != it->second.token) {
          r.code = Code::kStaleToken;
          r.token = it->second.token;
        } else {
          r.token = it->second.token;
          release(c.name);
        }
        return r;
      }
      case Op::kOpenSession: {
        if (c.owner.empty() || c.ttl_ms < kSessionTtlMinMs || c.ttl_ms > kSessionTtlMaxMs) {
          r.code = Code::kInvalid;
          return r;
        }
        const uint64_t sid = ++next_session_;
        sessions_[sid] = S{c.owner, c.ttl_ms, now_ + c.ttl_ms};
        r.session = sid;
        r.ttl_ms = c.ttl_ms;
        return r;
      }
      case Op::kKeepAlive: {
        auto s = sessions_.find(c.session);
        if (s == sessions_.end()) {
          r.code = Code::kSessionExpired;
          return r;
        }
        s->second.expires = now_ + s->second.ttl;
        r.session = c.session;
        r.ttl_ms = s->second.ttl;
        return r;
      }
      case Op::kCloseSession: {
        if (!sessions_.count(c.session)) {
          r.code = Code::kSessionExpired;
          return r;
        }
        end_session(c.session);
        r.session = c.session;
        return r;
      }
      default:
        return r;
    }
  }

  Result read(const Command& c) const {
    Result r = base();
    auto it = locks_.find(c.name);
    if (c.op == Op::kCheck) {
      r.current = it != locks_.end() && c.token != 0 && it->second.token == c.token;
      r.token = it == locks_.end() ? 0 : it->second.token;
      if (it != locks_.end()) r.holder = it->second.holder;
      r.code = r.current ? Code::kOk : Code::kStaleToken;
    } else if (c.op == Op::kStatus) {
      if (it == locks_.end()) {
        r.code = Code::kNotHeld;
      } else {
        r.holder = it->second.holder;
        r.token = it->second.token;
        r.session = it->second.session;
      }
    }
    return r;
  }

  std::map<std::string, L> locks_;
  std::map<uint64_t, S> sessions_;
  std::map<std::pair<std::string, std::string>, paxos::TimeMs> retry_;
  std::map<paxos::CommandId, std::optional<Result>> cache_;
  paxos::TimeMs now_ = 0;
  paxos::Instance instance_ = 0;
  uint64_t token_ = 0;
  uint64_t next_session_ = 0;
};

}  // namespace paxlock::lock::testing
