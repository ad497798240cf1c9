// The simulator's state machine before the lock service existed, and still
// its simplest: an append-only register of client commands with an
// exactly-once table. Each new command gets the next position; the reply
// names it, so a client's acknowledged position can be checked on every
// replica at the end of a run.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "server/state_machine.h"

namespace paxlock::sim {

class RegisterMachine : public server::StateMachine {
 public:
  using Observer = std::function<void(paxos::Instance, const paxos::Batch&)>;
  explicit RegisterMachine(Observer observer) : observer_(std::move(observer)) {}

  void apply(paxos::Instance instance, const paxos::Batch& batch,
             std::vector<server::Reply>& replies) override {
    observer_(instance, batch);
    for (const paxos::Command& c : batch.commands) {
      Client& cl = clients_[c.id.client];
      if (c.id.seq == cl.seq) {
        replies.push_back({c.id, cl.reply});  // duplicate: the original reply
      } else if (c.id.seq < cl.seq) {
        replies.push_back({c.id, "stale"});
      } else {
        applied_.push_back(c.id);
        cl.seq = c.id.seq;
        cl.reply = "pos:" + std::to_string(applied_.size());
        replies.push_back({c.id, cl.reply});
      }
    }
  }

  const std::vector<paxos::CommandId>& applied() const { return applied_; }

 private:
  struct Client {
    uint64_t seq = 0;
    std::string reply;
  };
  Observer observer_;
  std::map<uint64_t, Client> clients_;
  std::vector<paxos::CommandId> applied_;
};

}  // namespace paxlock::sim
