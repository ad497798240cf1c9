// Drives a LockMachine directly: one command per instance at a given time,
// decoding the answers (including deferred ones for blocking waits).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "lock/lock_machine.h"

namespace paxlock::lock::testing {

class LockHarness {
 public:
  explicit LockHarness(MachineOptions options = {}) : machine(options) {}

  // Applies `c` as client `client`'s next command (or its command `seq` if
  // given) at time `now`, returns its answer if it came at once.
  std::optional<Result> run(uint64_t client, Command c, paxos::TimeMs now,
                            std::optional<uint64_t> seq = std::nullopt) {
    const uint64_t s = seq ? *seq : ++seqs_[client];
    last_id = paxos::CommandId{client, s};
    paxos::Batch batch;
    batch.timestamp_ms = now;
    batch.commands.push_back(paxos::Command{last_id, encode(c)});
    return apply(batch, last_id);
  }

  // A batch with no commands: the leader's time tick.
  void tick(paxos::TimeMs now) {
    paxos::Batch batch;
    batch.timestamp_ms = now;
    apply(batch, paxos::CommandId{});
  }

  // Answers that arrived for other commands (deferred), by command id.
  std::map<paxos::CommandId, Result> deferred;
  paxos::CommandId last_id;
  LockMachine machine;

 private:
  std::optional<Result> apply(const paxos::Batch& batch, const paxos::CommandId& mine) {
    std::vector<paxos::Reply> replies;
    machine.apply(++instance_, batch, replies);
    std::optional<Result> out;
    for (const paxos::Reply& r : replies) {
      auto decoded = decode_result(r.payload);
      EXPECT_TRUE(decoded.ok());
      Result res = decoded.ok() ? *decoded : Result{};
      if (r.id == mine && !out) {
        out = res;
      } else {
        deferred[r.id] = res;
      }
    }
    return out;
  }

  std::map<uint64_t, uint64_t> seqs_;
  paxos::Instance instance_ = 0;
};

inline Command lock_cmd(std::string name, std::string owner, uint64_t session = 0,
                        paxos::TimeMs wait_ms = 0, bool will_retry = false) {
  Command c;
  c.op = Op::kLock;
  c.name = std::move(name);
  c.owner = std::move(owner);
  c.session = session;
  c.wait_ms = wait_ms;
  c.will_retry = will_retry;
  return c;
}

inline Command unlock_cmd(std::string name, std::string owner, uint64_t token = 0) {
  Command c;
  c.op = Op::kUnlock;
  c.name = std::move(name);
  c.owner = std::move(owner);
  c.token = token;
  return c;
}

inline Command check_cmd(std::string name, uint64_t token) {
  Command c;
  c.op = Op::kCheck;
  c.name = std::move(name);
  c.token = token;
  return c;
}

inline Command session_cmd(Op op, std::string owner, uint64_t session = 0,
                           paxos::TimeMs ttl_ms = 0) {
  Command c;
  c.op = op;
  c.owner = std::move(owner);
  c.session = session;
  c.ttl_ms = ttl_ms;
  return c;
}

}  // namespace paxlock::lock::testing
