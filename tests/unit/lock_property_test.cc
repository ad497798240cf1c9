// Property-based tests (RapidCheck) of the lock machine:
// - random command sequences give the same answers as the reference model;
// - replaying one log on two machines gives byte-identical snapshots;
// - snapshot, restore and continue equals never snapshotting.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "lock/lock_machine.h"
#include "sim/lock_model.h"

namespace paxlock::lock {
namespace {

struct Step {
  int kind = 0;     // what to do; see to_command()
  int owner = 0;    // one of 4 owners (and clients)
  int lock = 0;     // one of 4 lock names
  int amount = 0;   // a time, ttl or wait, in 50 ms units
  int pick = 0;     // which session, token or earlier command
  int gave_up = 0;  // 0: the client still waits for all its commands; else see next()
};

struct Entry {
  paxos::CommandId id;
  Command cmd;
  paxos::TimeMs at = 0;
};

// One machine fed a log of single-command batches.
struct Machine {
  explicit Machine(MachineOptions o = {}) : m(o) {}
  LockMachine m;
  paxos::Instance instance = 0;
  std::map<paxos::CommandId, Result> deferred;

  std::optional<Result> apply(const Entry& e) {
    paxos::Batch b;
    b.timestamp_ms = e.at;
    if (e.id.client != 0) b.commands.push_back(paxos::Command{e.id, encode(e.cmd)});
    std::vector<paxos::Reply> replies;
    m.apply(++instance, b, replies);
    std::optional<Result> out;
    for (const paxos::Reply& r : replies) {
      auto decoded = decode_result(r.payload);
      RC_ASSERT(decoded.ok());
      Result res = *decoded;
      if (r.id == e.id && !out) {
        out = res;
      } else {
        deferred[r.id] = res;
      }
    }
    return out;
  }
};

// Turns generated steps into a log, using answers seen so far to pick
// session ids and tokens (so that most requests are meaningful).
class LogBuilder {
 public:
  Entry next(const Step& s, paxos::TimeMs& now) {
    now += 50 * s.amount;
    const std::string owner = std::string(1, static_cast<char>('a' + s.owner));
    const std::string name = "L" + std::to_string(s.lock);
    const uint64_t client = static_cast<uint64_t>(s.owner) + 1;
    Entry e;
    e.at = now;
    Command& c = e.cmd;
    c.owner = owner;
    c.name = name;
    switch (s.kind) {
      case 0:
        c.op = Op::kLock;
        break;
      case 1:
        c.op = Op::kLock;
        c.wait_ms = 50 * (1 + s.pick % 40);
        break;
      case 2:
        c.op = Op::kLock;
        c.will_retry = true;
        break;
      case 3:
        c.op = Op::kLock;
        c.session = session_of(s.owner, s.pick);
        c.wait_ms = s.pick % 2 ? 500 : 0;
        break;
      case 4:
        c.op = Op::kUnlock;
        break;
      case 5:
        c.op = Op::kUnlock;
        c.token = token_of(s.owner, s.lock, s.pick);
        break;
      case 6:
        c.op = Op::kCheck;
        c.token = token_of(s.owner, s.lock, s.pick);
        break;
      case 7:
        c.op = Op::kStatus;
        break;
      case 8:
        c.op = Op::kOpenSession;
        c.ttl_ms = 100 * (1 + s.pick % 30);
        break;
      case 9:
        c.op = Op::kKeepAlive;
        c.session = session_of(s.owner, s.pick);
        break;
      case 10:
        c.op = Op::kCloseSession;
        c.session = session_of(s.owner, s.pick);
        break;
      case 11:
        if (!log_.empty()) {  // a client resends an earlier command, same id
          Entry again = log_[static_cast<size_t>(s.pick) % log_.size()];
          again.at = now;
          return again;
        }
        c.op = Op::kLock;
        break;
      default:  // a time tick: no command
        return Entry{paxos::CommandId{}, Command{}, now};
    }
    e.id = paxos::CommandId{client, ++seq_[client]};
    // first_outstanding: mostly the client still waits for everything; now
    // and then it gave up on all earlier commands (withdrawing its queued
    // waits) or on the older half of them.
    if (s.gave_up == 1) c.first_outstanding = e.id.seq;
    if (s.gave_up == 2) c.first_outstanding = e.id.seq / 2;
    log_.push_back(e);
    return e;
  }

  void learn(const Entry& e, const std::optional<Result>& r) {
    if (!r || r->code != Code::kOk) return;
    if (e.cmd.op == Op::kOpenSession) sessions_[e.cmd.owner].push_back(r->session);
    if (e.cmd.op == Op::kLock) tokens_[{e.cmd.owner, e.cmd.name}].push_back(r->token);
  }

 private:
  uint64_t session_of(int owner, int pick) {
    auto& v = sessions_[std::string(1, static_cast<char>('a' + owner))];
    if (v.empty() || pick % 5 == 0) return 1000 + static_cast<uint64_t>(pick);  // bogus
    return v[static_cast<size_t>(pick) % v.size()];
  }
  uint64_t token_of(int owner, int lock, int pick) {
    auto& v = tokens_[{std::string(1, static_cast<char>('a' + owner)), "L" + std::to_string(lock)}];
    if (v.empty() || pick % 4 == 0) return static_cast<uint64_t>(pick);
    return v[static_cast<size_t>(pick) % v.size()];
  }

  std::map<uint64_t, uint64_t> seq_;
  std::vector<Entry> log_;
  std::map<std::string, std::vector<uint64_t>> sessions_;
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> tokens_;
};

rc::Gen<Step> step_gen() {
  return rc::gen::build<Step>(
      rc::gen::set(&Step::kind, rc::gen::inRange(0, 13)),
      rc::gen::set(&Step::owner, rc::gen::inRange(0, 4)),
      rc::gen::set(&Step::lock, rc::gen::inRange(0, 4)),
      rc::gen::set(&Step::amount, rc::gen::weightedOneOf<int>({{6, rc::gen::just(0)},
                                                               {3, rc::gen::inRange(1, 10)},
                                                               {1, rc::gen::inRange(10, 80)}})),
      rc::gen::set(&Step::pick, rc::gen::inRange(0, 100)),
      rc::gen::set(&Step::gave_up,
                   rc::gen::weightedOneOf<int>(
                       {{8, rc::gen::just(0)}, {1, rc::gen::just(1)}, {1, rc::gen::just(2)}})));
}

std::vector<Entry> build_log(const std::vector<Step>& steps) {
  LogBuilder b;
  Machine m;
  paxos::TimeMs now = 1'000'000;
  std::vector<Entry> log;
  for (const Step& s : steps) {
    Entry e = b.next(s, now);
    b.learn(e, m.apply(e));
    log.push_back(e);
  }
  return log;
}

void same_answer(const Result& a, const Result& b, const std::string& what) {
  if (a.code != b.code) {
    RC_FAIL(what + ": " + to_string(a.code) + " vs " + to_string(b.code));
  }
  RC_ASSERT(a.token == b.token);
  RC_ASSERT(a.holder == b.holder);
  RC_ASSERT(a.session == b.session);
  RC_ASSERT(a.current == b.current);
  RC_ASSERT(a.applied_at == b.applied_at);
  RC_ASSERT(a.cycle.size() == b.cycle.size());
}

// Runs random logs through the machine and the model (both with `limits`)
// and requires the same answers, immediate and deferred.
bool machine_answers_like_model(const char* name, MachineOptions options,
                                testing::ModelLimits limits) {
  return rc::check(name, [=] {
    const auto steps = *rc::gen::container<std::vector<Step>>(step_gen());
    LogBuilder b;
    Machine m(options);
    testing::LockModel model(limits);
    paxos::TimeMs now = 1'000'000;
    for (size_t i = 0; i < steps.size(); ++i) {
      const Entry e = b.next(steps[i], now);
      const auto got = m.apply(e);
      std::optional<Result> want;
      if (e.id.client == 0) {
        model.tick(e.at, m.instance);
      } else {
        want = model.apply(e.id, e.cmd, e.at, m.instance);
      }
      b.learn(e, got);
      RC_ASSERT(got.has_value() == want.has_value());
      if (got) same_answer(*got, *want, "step " + std::to_string(i));
      RC_ASSERT(m.deferred.size() == model.deferred.size());
      for (const auto& [id, r] : model.deferred) {
        RC_ASSERT(m.deferred.count(id) == 1u);
        same_answer(m.deferred.at(id), r, "deferred");
      }
    }
  });
}

TEST(LockProperties, MachineAnswersLikeTheReferenceModel) {
  EXPECT_TRUE(machine_answers_like_model("machine == model", MachineOptions{}, {}));
}

// Limits small enough that random logs reach them: a record that lives 3 s
// after its last command (or answer, or wait) and keeps 3 answers.
TEST(LockProperties, MachineAnswersLikeTheReferenceModelWithSmallLimits) {
  MachineOptions o;
  o.client_ttl_ms = 3000;
  o.client_replies_max = 3;
  testing::ModelLimits l;
  l.record_ms = 3000;
  l.answers_max = 3;
  EXPECT_TRUE(machine_answers_like_model("machine == model, small limits", o, l));
}

TEST(LockProperties, SameLogGivesByteIdenticalSnapshots) {
  const bool ok = rc::check("replay is deterministic", [] {
    const auto log = build_log(*rc::gen::container<std::vector<Step>>(step_gen()));
    Machine a, b;
    for (const Entry& e : log)
      a.apply(e);
    for (const Entry& e : log)
      b.apply(e);
    RC_ASSERT(a.m.snapshot() == b.m.snapshot());
  });
  EXPECT_TRUE(ok);
}

TEST(LockProperties, SnapshotRestoreContinueEqualsNeverSnapshotting) {
  const bool ok = rc::check("snapshot is transparent", [] {
    const auto log = build_log(*rc::gen::container<std::vector<Step>>(step_gen()));
    const size_t cut = *rc::gen::inRange<size_t>(0, log.size() + 1);
    Machine whole, first, second;
    std::vector<std::optional<Result>> want, got;
    for (const Entry& e : log)
      want.push_back(whole.apply(e));
    for (size_t i = 0; i < cut; ++i)
      got.push_back(first.apply(log[i]));
    RC_ASSERT(second.m.restore(first.m.snapshot()));
    second.instance = first.instance;
    second.deferred = first.deferred;
    for (size_t i = cut; i < log.size(); ++i)
      got.push_back(second.apply(log[i]));
    RC_ASSERT(second.m.snapshot() == whole.m.snapshot());
    for (size_t i = 0; i < log.size(); ++i) {
      RC_ASSERT(got[i].has_value() == want[i].has_value());
      if (got[i]) same_answer(*got[i], *want[i], "step " + std::to_string(i));
    }
    RC_ASSERT(second.deferred.size() == whole.deferred.size());
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace paxlock::lock
