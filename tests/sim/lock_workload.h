// The simulator's lock workload: clients that try-lock, wait, unlock with
// their token, read status and send stray unlocks, over a few hot lock names,
// against the real LockMachine on every replica. An independent reference
// model (lock_model.h) is fed the chosen log in order; every acknowledged
// answer must equal the model's answer for that command at the point where
// the log first applied it. That checks mutual exclusion and fencing tokens
// as the clients saw them, and that every acknowledged unlock took effect.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lock/command.h"
#include "paxos/rng.h"
#include "sim/lock_model.h"

namespace paxlock::sim {

class LockWorkload {
 public:
  LockWorkload(int clients, int names) : clients_(static_cast<size_t>(clients)), names_(names) {
    for (size_t c = 0; c < clients_.size(); ++c)
      clients_[c].uses_session = c % 2 == 1;
  }

  // The payload of client c's next command, at simulated time `now`.
  std::string next(int c, paxos::Rng& rng, paxos::TimeMs now);
  // Client c got `payload` for its current command `id`; returns a violation
  // ("" if consistent). Also moves the client's own state along.
  std::string acked(int c, const paxos::CommandId& id, const std::string& payload);
  // The chosen log, in instance order, each instance once.
  void chosen(paxos::Instance instance, const paxos::Batch& batch);

  uint64_t grants_acked() const { return grants_acked_; }
  uint64_t unlocks_acked() const { return unlocks_acked_; }
  uint64_t sessions_opened() const { return sessions_opened_; }

 private:
  // Odd-numbered clients work under a session (TTL 1.5 s, renewed every
  // 0.4 s); even-numbered ones hold locks until they unlock them.
  struct Client {
    std::optional<std::pair<std::string, uint64_t>> holding;  // name, token
    lock::Command pending;
    bool uses_session = false;
    uint64_t session = 0;
    paxos::TimeMs renewed_ms = 0;
    paxos::TimeMs pending_ms = 0;
  };

  std::vector<Client> clients_;
  int names_;
  lock::testing::LockModel model_;
  std::map<paxos::CommandId, lock::Result> answers_;  // the model's, by command
  uint64_t grants_acked_ = 0;
  uint64_t unlocks_acked_ = 0;
  uint64_t sessions_opened_ = 0;
};

}  // namespace paxlock::sim
