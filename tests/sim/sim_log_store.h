// The simulator's LogStore: the real NodeStorage (WAL, snapshots, recovery)
// over a SimFs, with each write's sync and each snapshot save completed later
// in simulated time, so that a crash can fall between write and sync.
#pragma once

#include <functional>
#include <memory>

#include "sim/sim_fs.h"
#include "storage/node_storage.h"

namespace paxlock::sim {

class SimLogStore : public storage::LogStore {
 public:
  // `later(fn)` runs fn after a simulated disk delay, unless the node
  // crashed meanwhile.
  using Later = std::function<void(std::function<void()>)>;
  // Called right after a batch was appended (written, not yet synced), with
  // whether the append opened a new segment: the moment a power loss hurts.
  using OnAppend = std::function<void(bool rotated)>;

  SimLogStore(SimFs& fs, std::string dir, paxos::NodeId node, storage::WalOptions options,
              Later later)
      : fs_(fs), dir_(std::move(dir)), node_(node), options_(options), later_(std::move(later)) {}

  Result<storage::Loaded> load() override {
    storage::Loaded loaded;
    auto st = storage::NodeStorage::open(fs_, dir_, "sim", node_, options_, &loaded);
    if (!st.ok()) return st.status();
    storage_ = std::move(*st);
    return loaded;
  }

  void write(storage::WriteBatch batch, Done done) override {
    const size_t segments = storage_->segment_count();
    Status written = storage_->append(batch);
    if (on_append_) on_append_(storage_->segment_count() != segments);
    later_([this, written = std::move(written), done = std::move(done)] {
      done(written.ok() ? storage_->sync() : written);
    });
  }

  void save_snapshot(storage::Snapshot snap, Done done) override {
    later_([this, snap = std::move(snap), done = std::move(done)] {
      done(storage_->save_snapshot(snap));
    });
  }

  uint64_t log_bytes() const override { return storage_ ? storage_->log_bytes() : 0; }
  bool broken() const override { return storage_ && storage_->broken(); }
  uint64_t disk_bytes() const { return storage_ ? storage_->disk_bytes() : 0; }
  uint64_t log_disk_bytes() const { return storage_ ? storage_->log_disk_bytes() : 0; }
  paxos::Instance durable_commit() const { return storage_ ? storage_->durable_commit() : 0; }
  void set_on_append(OnAppend fn) { on_append_ = std::move(fn); }

 private:
  SimFs& fs_;
  std::string dir_;
  paxos::NodeId node_;
  storage::WalOptions options_;
  Later later_;
  OnAppend on_append_;
  std::unique_ptr<storage::NodeStorage> storage_;
};

}  // namespace paxlock::sim
