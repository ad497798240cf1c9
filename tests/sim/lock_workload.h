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
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "lock/command.h"
#include "paxlock/client.h"
#include "sim/lock_model.h"

namespace paxlock::sim {

class LockWorkload {
 public:
  LockWorkload(int clients, int names) : clients_(static_cast<size_t>(clients)), names_(names) {
    for (size_t c = 0; c < clients_.size(); ++c)
      clients_[c].uses_session = c % 2 == 1;
  }

  // Client c's next command, at simulated time `now` (the client core sets
  // its first_outstanding).
  lock::Command next(int c, paxlock::Rng& rng, paxos::TimeMs now);
  // Client c's core completed its current command as `id` with `reply`;
  // returns a violation ("" if consistent). Also moves the client's own
  // state along.
  std::string acked(int c, const paxos::CommandId& id, const Reply& reply);
  // The core gave up on client c's current command (kUnavailable): its
  // outcome is unknown, so the client assumes nothing about it.
  void gave_up(int c);
  // A keep-alive that client c's core sent by itself was answered.
  std::string keep_alive_acked(int c, const paxos::CommandId& id, const Reply& reply) const;
  // The session client c keeps (opened and not abandoned), for its core to
  // renew; nullopt if none.
  struct Renewal {
    uint64_t id = 0;
    paxos::TimeMs ttl_ms = 0;
    paxos::TimeMs opened_ms = 0;  // when the open request was submitted
  };
  std::optional<Renewal> session_to_renew(int c) const;
  // Client c's core counts the session as lost (no renewal in time, or the
  // service said it expired).
  void session_lost(int c, uint64_t session);
  // The chosen log, in instance order, each instance once. Returns the
  // commands that took effect here for the first time: the first apply of
  // their (client, seq), not answered from the reply cache, not refused as
  // an older duplicate (DUPLICATE_IGNORED), and not read-only.
  std::vector<paxos::CommandId> chosen(paxos::Instance instance, const paxos::Batch& batch);

  uint64_t grants_acked() const { return grants_acked_; }
  uint64_t unlocks_acked() const { return unlocks_acked_; }
  uint64_t sessions_opened() const { return sessions_opened_; }

 private:
  // Odd-numbered clients work under a session; even-numbered ones hold locks
  // until they unlock them. A session's TTL is drawn when it is opened (150
  // ms to 1.5 s) and the client core renews it every TTL/3 (as the
  // library's Session does), except that one session in
  // three is abandoned: never renewed, so that it ends while its locks are
  // held and others wait for them. Blocking waits are short (20-300 ms), on
  // the same few names: together with the leases they make waits and leases
  // end between two batches, in either order (bug E of issue 13).
  struct Client {
    std::optional<std::pair<std::string, uint64_t>> holding;  // name, token
    lock::Command pending;
    bool uses_session = false;
    uint64_t session = 0;
    paxos::TimeMs ttl_ms = 0;  // of the session being opened or held
    bool abandoned = false;    // this session is never renewed
    paxos::TimeMs opened_ms = 0;
    paxos::TimeMs pending_ms = 0;
  };

  std::string check(int c, const paxos::CommandId& id, const lock::Command& cmd, const Reply& reply,
                    lock::Result& got) const;

  std::vector<Client> clients_;
  int names_;
  lock::testing::LockModel model_;
  std::map<paxos::CommandId, lock::Result> answers_;  // the model's, by command
  std::set<paxos::CommandId> seen_;                   // in the log so far
  uint64_t grants_acked_ = 0;
  uint64_t unlocks_acked_ = 0;
  uint64_t sessions_opened_ = 0;
};

}  // namespace paxlock::sim
