// Wraps a state machine so that the simulator sees every apply and restore
// (for its order and agreement checks) without the machine knowing.
#pragma once

#include <functional>
#include <memory>

#include "paxos/state_machine.h"

namespace paxlock::sim {

class ObservedMachine : public paxos::StateMachine {
 public:
  using ApplyObserver = std::function<void(paxos::Instance, const paxos::Batch&)>;
  using RestoreObserver = std::function<void(paxos::Instance next)>;

  ObservedMachine(std::unique_ptr<paxos::StateMachine> inner,
                  std::function<paxos::Instance()> applied, ApplyObserver on_apply,
                  RestoreObserver on_restore)
      : inner_(std::move(inner)),
        applied_(std::move(applied)),
        on_apply_(std::move(on_apply)),
        on_restore_(std::move(on_restore)) {}

  void apply(paxos::Instance instance, const paxos::Batch& batch,
             std::vector<paxos::Reply>& replies) override {
    on_apply_(instance, batch);
    inner_->apply(instance, batch, replies);
  }
  std::string snapshot() const override { return inner_->snapshot(); }
  bool validate(std::string_view data, paxos::Instance next) const override {
    return inner_->validate(data, next);
  }
  bool restore(std::string_view data) override {
    if (!inner_->restore(data)) return false;
    on_restore_(applied_() + 1);
    return true;
  }
  void set_reply_filter(std::function<bool(const paxos::CommandId&)> wants) override {
    inner_->set_reply_filter(std::move(wants));
  }
  paxos::StateMachine& inner() { return *inner_; }

 private:
  std::unique_ptr<paxos::StateMachine> inner_;
  std::function<paxos::Instance()> applied_;
  ApplyObserver on_apply_;
  RestoreObserver on_restore_;
};

}  // namespace paxlock::sim
