// A reference model of the lock service, written from docs/LOCKS.md and not
// from the machine (src/lock/): every rule below is a sentence of that
// document, in the document's words where it can be. It is written for
// clarity, not speed: plain ordered maps, linear scans, no interning, no
// indexes, and every due deadline found by looking at all of them. The
// property tests and the simulator's lock workload check that LockMachine
// answers exactly like it, so where the two disagree, either the machine or
// LOCKS.md is wrong.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lock/command.h"

namespace paxlock::lock::testing {

// The limits of LOCKS.md that tests may shrink (the machine's MachineOptions
// must then be set to the same values).
struct ModelLimits {
  paxos::TimeMs record_ms = 5 * 60 * 1000;  // a client record's lifetime
  size_t answers_max = 1024;                // answers kept per client
  paxos::TimeMs intent_ms = 2000;           // how long a will_retry intent counts
};

class LockModel {
 public:
  explicit LockModel(ModelLimits limits = {}) : limits_(limits) {}

  // Applies one command of the batch of instance `inst` at time `ts` (several
  // commands of one batch: call once for each, in order, with the same `ts`
  // and `inst`). Returns its answer if it is given at once; answers given
  // later (to blocking locks) land in `deferred`.
  std::optional<Result> apply(const paxos::CommandId& id, const Command& c, paxos::TimeMs ts,
                              paxos::Instance inst) {
    begin_batch(ts, inst);
    if (is_read_only(c.op)) return read(c);  // "Reads are not recorded"
    return command(id, c);
  }

  // A batch with no commands.
  void tick(paxos::TimeMs ts, paxos::Instance inst) { begin_batch(ts, inst); }

  std::map<paxos::CommandId, Result> deferred;

 private:
  struct Wait {
    std::string owner;
    uint64_t session = 0;
    paxos::CommandId cmd;
    paxos::TimeMs ends = 0;  // the command's time plus its wait_ms
  };
  struct Lock {
    std::string holder;
    uint64_t token = 0;
    uint64_t session = 0;
    std::deque<Wait> queue;  // FIFO
  };
  struct Session {
    std::string owner;
    paxos::TimeMs ttl = 0;
    paxos::TimeMs ends = 0;
  };
  struct Record {
    paxos::TimeMs ends = 0;
    uint64_t first_outstanding = 0;
    // Kept answers by sequence number; nullopt: a blocking lock still queued.
    std::map<uint64_t, std::optional<Result>> kept;
  };

  // ------------------------------------------------------------- time

  // "Applying a batch first sets the time (the largest timestamp so far),
  // then handles every deadline that has passed, one at a time, earliest
  // first, and only then the batch's commands."
  void begin_batch(paxos::TimeMs ts, paxos::Instance inst) {
    instance_ = inst;
    now_ = std::max(now_, ts);
    while (handle_earliest_deadline()) {
    }
  }

  // "At equal times: sessions, then waits, then intents, then records;
  // sessions by id, waits by lock name and then (client, sequence number)."
  bool handle_earliest_deadline() {
    enum Kind { kSession = 0, kWait = 1, kIntent = 2, kRecord = 3 };
    struct Due {
      paxos::TimeMs at;
      int kind;
      uint64_t session_or_client;
      std::string lock;
      paxos::CommandId cmd;
      std::pair<std::string, std::string> intent;
    };
    std::optional<Due> first;
    auto offer = [&](const Due& d) {
      if (d.at > now_) return;
      if (!first || std::tie(d.at, d.kind) < std::tie(first->at, first->kind) ||
          (d.at == first->at && d.kind == first->kind && tie_before(d, *first))) {
        first = d;
      }
    };
    for (const auto& [id, s] : sessions_)
      offer(Due{s.ends, kSession, id, "", {}, {}});
    for (const auto& [name, l] : locks_) {
      for (const Wait& w : l.queue)
        offer(Due{w.ends, kWait, 0, name, w.cmd, {}});
    }
    for (const auto& [key, ends] : intents_)
      offer(Due{ends, kIntent, 0, "", {}, key});
    for (const auto& [client, rec] : records_)
      offer(Due{rec.ends, kRecord, client, "", {}, {}});
    if (!first) return false;
    switch (first->kind) {
      case kSession:
        end_session(first->session_or_client);
        break;
      case kWait: {
        // "a queued wait's end: TIMEOUT, naming the holder at that point"
        Lock& l = locks_.at(first->lock);
        Result r = fresh();
        r.code = Code::kTimeout;
        r.holder = l.holder;
        remove_wait(first->cmd);
        give(first->cmd, r);
        break;
      }
      case kIntent:
        intents_.erase(first->intent);
        break;
      case kRecord:
        records_.erase(first->session_or_client);
        break;
    }
    return true;
  }

  template <class Due>
  static bool tie_before(const Due& a, const Due& b) {
    if (a.session_or_client != b.session_or_client) {
      return a.session_or_client < b.session_or_client;
    }
    if (a.lock != b.lock) return a.lock < b.lock;
    if (a.cmd.client != b.cmd.client) return a.cmd.client < b.cmd.client;
    if (a.cmd.seq != b.cmd.seq) return a.cmd.seq < b.cmd.seq;
    return a.intent < b.intent;
  }

  // ------------------------------------------------- the client record

  Result fresh() const {
    Result r;
    r.applied_at = instance_;
    return r;
  }

  // "The record of a client expires 5 minutes after the latest of: its last
  // command, the end of the longest wait it asked for, and its last answer."
  void keep_until(Record& rec, paxos::TimeMs t) {
    rec.ends = std::max(rec.ends, t + limits_.record_ms);
  }

  std::optional<Result> command(const paxos::CommandId& id, const Command& c) {
    Record& rec = records_[id.client];
    keep_until(rec, now_);
    if (c.op == Op::kLock)
      keep_until(rec, now_ + std::clamp<paxos::TimeMs>(c.wait_ms, 0, kWaitMaxMs));
    // Rule 1: everything below the declared first_outstanding is forgotten;
    // a blocking lock still queued leaves its queue unanswered.
    for (auto it = rec.kept.begin(); it != rec.kept.end();) {
      if (it->first >= c.first_outstanding) {
        ++it;
        continue;
      }
      if (!it->second) remove_wait(paxos::CommandId{id.client, it->first});
      it = rec.kept.erase(it);
    }
    rec.first_outstanding = std::max(rec.first_outstanding, c.first_outstanding);
    // Rule 2: a kept answer (nothing yet for a wait still queued).
    auto kept = rec.kept.find(id.seq);
    if (kept != rec.kept.end()) return kept->second;
    // Rule 3.
    if (id.seq < rec.first_outstanding) {
      Result r = fresh();
      r.code = Code::kDuplicateIgnored;
      return r;
    }
    // Rule 4.
    std::optional<Result> r = execute(id, c);
    rec.kept[id.seq] = r;
    if (r) enforce_answer_limit(rec);
    return r;
  }

  // An answer to a blocking lock, given later.
  void give(const paxos::CommandId& cmd, const Result& r) {
    deferred[cmd] = r;
    auto rec = records_.find(cmd.client);
    if (rec == records_.end()) return;
    keep_until(rec->second, now_);
    auto kept = rec->second.kept.find(cmd.seq);
    if (kept != rec->second.kept.end() && !kept->second) {
      kept->second = r;
      enforce_answer_limit(rec->second);
    }
  }

  // "When an answer is kept and that makes 1025, the answer given longest ago
  // (the lowest applied_at, then the lowest sequence number) is forgotten,
  // and the record's first_outstanding rises past its number."
  void enforce_answer_limit(Record& rec) {
    for (;;) {
      size_t answers = 0;
      std::optional<std::pair<paxos::Instance, uint64_t>> oldest;
      for (const auto& [seq, answer] : rec.kept) {
        if (!answer) continue;  // "waits still queued do not count"
        ++answers;
        const auto age = std::make_pair(answer->applied_at, seq);
        if (!oldest || age < *oldest) oldest = age;
      }
      if (answers <= limits_.answers_max) return;
      rec.kept.erase(oldest->second);
      rec.first_outstanding = std::max(rec.first_outstanding, oldest->second + 1);
    }
  }

  // ------------------------------------------------------ the requests

  static bool bad(const std::string& s, size_t max) { return s.empty() || s.size() > max; }

  std::optional<Result> execute(const paxos::CommandId& id, const Command& c) {
    switch (c.op) {
      case Op::kLock:
        return lock(id, c);
      case Op::kUnlock:
        return unlock(c);
      case Op::kOpenSession: {
        Result r = fresh();
        if (bad(c.owner, kOwnerBytesMax) || c.ttl_ms < kSessionTtlMinMs ||
            c.ttl_ms > kSessionTtlMaxMs) {
          r.code = Code::kInvalid;
          return r;
        }
        const uint64_t sid = ++sessions_opened_;
        sessions_[sid] = Session{c.owner, c.ttl_ms, now_ + c.ttl_ms};
        r.session = sid;
        r.ttl_ms = c.ttl_ms;
        return r;
      }
      case Op::kKeepAlive: {
        Result r = fresh();
        auto s = sessions_.find(c.session);
        if (s == sessions_.end()) {
          r.code = Code::kSessionExpired;
          return r;
        }
        s->second.ends = now_ + s->second.ttl;
        r.session = c.session;
        r.ttl_ms = s->second.ttl;
        return r;
      }
      case Op::kCloseSession: {
        Result r = fresh();
        if (!sessions_.count(c.session)) {
          r.code = Code::kSessionExpired;
          return r;
        }
        end_session(c.session);
        r.session = c.session;
        return r;
      }
      default:
        return fresh();
    }
  }

  std::optional<Result> lock(const paxos::CommandId& id, const Command& c) {
    Result r = fresh();
    if (bad(c.name, kNameBytesMax) || bad(c.owner, kOwnerBytesMax) || c.wait_ms < 0 ||
        c.wait_ms > kWaitMaxMs) {
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
    intents_.erase({c.owner, c.name});  // "or until the owner asks for that lock again"
    auto it = locks_.find(c.name);
    if (it == locks_.end()) {
      Lock& l = locks_[c.name];
      l.holder = c.owner;
      l.token = ++tokens_issued_;
      l.session = c.session;
      r.token = l.token;
      r.holder = c.owner;
      r.session = c.session;
      return r;
    }
    Lock& l = it->second;
    if (l.holder == c.owner) {  // "the same token"
      r.token = l.token;
      r.holder = c.owner;
      r.session = l.session;
      return r;
    }
    r.holder = l.holder;
    if (c.wait_ms > 0 || c.will_retry) {
      const size_t edges = shortest_cycle(c.owner, l.holder);
      if (edges > 0) {
        r.code = Code::kDeadlock;
        r.cycle.resize(edges);
        return r;
      }
    }
    if (c.wait_ms > 0) {
      if (l.queue.size() >= kWaitersPerLockMax) {
        r.code = Code::kTooManyWaiters;
        return r;
      }
      l.queue.push_back(Wait{c.owner, c.session, id, now_ + c.wait_ms});
      return std::nullopt;
    }
    r.code = Code::kHeld;
    if (c.will_retry) intents_[{c.owner, c.name}] = now_ + limits_.intent_ms;
    return r;
  }

  Result unlock(const Command& c) {
    Result r = fresh();
    if (bad(c.name, kNameBytesMax) || bad(c.owner, kOwnerBytesMax)) {
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

  // "the lock goes to the first in its queue, whose client is answered OK"
  void release(const std::string& name) {
    Lock& l = locks_.at(name);
    if (l.queue.empty()) {
      locks_.erase(name);
      return;
    }
    const Wait w = l.queue.front();
    l.queue.pop_front();
    l.holder = w.owner;
    l.token = ++tokens_issued_;
    l.session = w.session;
    Result r = fresh();
    r.token = l.token;
    r.holder = w.owner;
    r.session = w.session;
    give(w.cmd, r);
  }

  // "first its blocking locks still queued leave their queues, answered
  // SESSION_EXPIRED; then its locks are released in name order"
  void end_session(uint64_t id) {
    std::vector<paxos::CommandId> waits;
    for (const auto& [name, l] : locks_) {
      for (const Wait& w : l.queue) {
        if (w.session == id) waits.push_back(w.cmd);
      }
    }
    for (const paxos::CommandId& cmd : waits) {
      remove_wait(cmd);
      Result r = fresh();
      r.code = Code::kSessionExpired;
      give(cmd, r);
    }
    std::vector<std::string> held;  // std::map: name order
    for (const auto& [name, l] : locks_) {
      if (l.session == id) held.push_back(name);
    }
    for (const std::string& name : held)
      release(name);
    sessions_.erase(id);
  }

  void remove_wait(const paxos::CommandId& cmd) {
    for (auto& [name, l] : locks_) {
      for (auto w = l.queue.begin(); w != l.queue.end(); ++w) {
        if (w->cmd == cmd) {
          l.queue.erase(w);
          return;
        }
      }
    }
  }

  // "an owner waits for the holder of every lock it is queued on, and of
  // every lock it failed to try-lock with will_retry set". The number of
  // edges of the shortest cycle that `owner` waiting for `holder` closes
  // (0: none).
  size_t shortest_cycle(const std::string& owner, const std::string& holder) const {
    std::map<std::string, size_t> hops{{holder, 1}};
    std::deque<std::string> frontier{holder};
    while (!frontier.empty()) {
      const std::string x = frontier.front();
      frontier.pop_front();
      for (const auto& [name, l] : locks_) {
        const bool queued = std::any_of(l.queue.begin(), l.queue.end(),
                                        [&](const Wait& w) { return w.owner == x; });
        if (!(queued || intents_.count({x, name})) || l.holder == x) continue;
        if (l.holder == owner) return hops[x] + 1;
        if (hops.emplace(l.holder, hops[x] + 1).second) frontier.push_back(l.holder);
      }
    }
    return 0;
  }

  Result read(const Command& c) const {
    Result r = fresh();
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

  ModelLimits limits_;
  paxos::TimeMs now_ = 0;
  paxos::Instance instance_ = 0;
  uint64_t tokens_issued_ = 0;
  uint64_t sessions_opened_ = 0;
  std::map<std::string, Lock> locks_;
  std::map<uint64_t, Session> sessions_;
  std::map<std::pair<std::string, std::string>, paxos::TimeMs> intents_;  // (owner, lock)
  std::map<uint64_t, Record> records_;
};

}  // namespace paxlock::lock::testing
