// An in-memory LogStore with explicit durability: writes stay pending until
// the owner completes them, and a simulated crash keeps only a prefix of the
// pending records (what a checksummed log recovers after a torn write).
#pragma once

#include <deque>
#include <functional>
#include <map>

#include "paxos/rng.h"
#include "storage/log_store.h"

namespace paxlock::storage {

class MemLogStore : public LogStore {
 public:
  // `on_write` is told about each write so that the owner can complete it
  // later (the simulator schedules complete_write() after a disk delay).
  explicit MemLogStore(std::function<void()> on_write = {}) : on_write_(std::move(on_write)) {}

  paxos::Restored load() override;
  void write(WriteBatch batch, std::function<void(bool ok)> done) override;

  bool write_in_flight() const { return static_cast<bool>(done_); }
  bool in_flight_has_promise() const { return in_flight_.promised.has_value(); }
  // Makes the in-flight write durable and reports it done.
  void complete_write();
  // Power loss: the in-flight write keeps a random prefix of its records (or
  // none), and its completion never arrives.
  void crash(paxos::Rng& rng);

  size_t records_durable() const { return durable_records_; }

 private:
  void make_durable(const WriteBatch& batch);

  std::function<void()> on_write_;
  std::map<paxos::Instance, paxos::Entry> entries_;
  paxos::Ballot promised_;
  paxos::Instance commit_ = 0;
  size_t durable_records_ = 0;
  WriteBatch in_flight_;
  std::function<void(bool)> done_;
};

}  // namespace paxlock::storage
