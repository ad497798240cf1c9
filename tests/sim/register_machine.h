// The simulator's state machine before the lock service existed, and still
// its simplest: an append-only register of client commands with an
// exactly-once table. Each new command gets the next position; the reply
// names it (as the token of a lock result), so a client's acknowledged position can be checked on
// every replica at the end of a run.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "lock/command.h"
#include "paxos/state_machine.h"

namespace paxlock::sim {

class RegisterMachine : public paxos::StateMachine {
 public:
  using ApplyObserver = std::function<void(paxos::Instance, const paxos::Batch&)>;
  using RestoreObserver = std::function<void(paxos::Instance next)>;
  RegisterMachine(ApplyObserver on_apply, RestoreObserver on_restore)
      : on_apply_(std::move(on_apply)), on_restore_(std::move(on_restore)) {}

  void apply(paxos::Instance instance, const paxos::Batch& batch,
             std::vector<paxos::Reply>& replies) override {
    on_apply_(instance, batch);
    next_ = instance + 1;
    for (const paxos::Command& c : batch.commands) {
      Client& cl = clients_[c.id.client];
      if (c.id.seq == cl.seq) {
        replies.push_back({c.id, cl.reply});  // duplicate: the original reply
      } else if (c.id.seq < cl.seq) {
        lock::Result stale;
        stale.code = lock::Code::kDuplicateIgnored;
        replies.push_back({c.id, lock::encode(stale)});
      } else {
        applied_.push_back(c.id);
        cl.seq = c.id.seq;
        // In the lock service's reply format, for the client service: the
        // position is the token.
        lock::Result pos;
        pos.token = applied_.size();
        pos.applied_at = instance;
        cl.reply = lock::encode(pos);
        replies.push_back({c.id, cl.reply});
      }
    }
  }

  std::string snapshot() const override {
    std::string out;
    paxlock::Writer w(out);
    w.varint(next_);
    w.varint(applied_.size());
    for (const paxos::CommandId& id : applied_) {
      w.varint(id.client);
      w.varint(id.seq);
    }
    w.varint(clients_.size());
    for (const auto& [id, cl] : clients_) {
      w.varint(id);
      w.varint(cl.seq);
      w.bytes(cl.reply);
    }
    return out;
  }

  bool validate(std::string_view data, paxos::Instance next) const override {
    RegisterMachine scratch({}, {});
    return scratch.decode(data) && scratch.next_ <= next;
  }

  bool restore(std::string_view data) override {
    RegisterMachine fresh({}, {});
    if (!fresh.decode(data)) return false;
    next_ = fresh.next_;
    applied_ = std::move(fresh.applied_);
    clients_ = std::move(fresh.clients_);
    if (on_restore_) on_restore_(next_);
    return true;
  }

  const std::vector<paxos::CommandId>& applied() const { return applied_; }

 private:
  struct Client {
    uint64_t seq = 0;
    std::string reply;
  };

  bool decode(std::string_view data) {
    paxlock::Reader r(data);
    uint64_t n;
    if (!r.varint(next_) || !r.varint(n) || n > r.remaining()) return false;
    applied_.resize(n);
    for (paxos::CommandId& id : applied_) {
      if (!r.varint(id.client) || !r.varint(id.seq)) return false;
    }
    if (!r.varint(n) || n > r.remaining()) return false;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t id;
      std::string_view reply;
      Client cl;
      if (!r.varint(id) || !r.varint(cl.seq) || !r.bytes(reply)) return false;
      cl.reply.assign(reply);
      clients_[id] = std::move(cl);
    }
    return r.done();
  }

  ApplyObserver on_apply_;
  RestoreObserver on_restore_;
  paxos::Instance next_ = 1;
  std::map<uint64_t, Client> clients_;
  std::vector<paxos::CommandId> applied_;
};

}  // namespace paxlock::sim
