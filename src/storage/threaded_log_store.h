// The production LogStore: NodeStorage driven by one disk thread. The event
// loop hands it a write; the disk thread does one write() and one
// fdatasync() and posts the completion back to the event loop. The driver
// keeps one write in flight and groups everything that arrives meanwhile into
// the next one, so a busy node syncs once for many records (group commit).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "storage/node_storage.h"

namespace paxlock::storage {

class ThreadedLogStore : public LogStore {
 public:
  // `post(fn)` must run fn on the thread that owns the driver.
  using Post = std::function<void(std::function<void()>)>;

  ThreadedLogStore(Fs& fs, std::string data_dir, std::string cluster_id, paxos::NodeId node,
                   WalOptions options, Post post);
  ~ThreadedLogStore() override;
  ThreadedLogStore(const ThreadedLogStore&) = delete;
  ThreadedLogStore& operator=(const ThreadedLogStore&) = delete;

  // Opens and recovers the data directory (on the caller's thread), then
  // starts the disk thread.
  Result<Loaded> load() override;
  void write(WriteBatch batch, Done done) override;
  void save_snapshot(Snapshot snap, Done done) override;
  uint64_t log_bytes() const override { return log_bytes_.load(std::memory_order_relaxed); }
  bool broken() const override { return broken_.load(std::memory_order_relaxed); }

  uint64_t disk_bytes() const { return disk_bytes_.load(std::memory_order_relaxed); }
  // The last error the disk reported, for the status page ("" if none).
  std::string last_error() const;
  // fdatasync latency samples (microseconds), drained by the metrics side.
  void take_sync_latencies(std::vector<uint32_t>& out);

 private:
  void run();
  void enqueue(std::function<void()> job);

  Fs& fs_;
  std::string data_dir_;
  std::string cluster_id_;
  paxos::NodeId node_;
  WalOptions options_;
  Post post_;
  std::unique_ptr<NodeStorage> storage_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::string last_error_;
  std::vector<uint32_t> sync_us_;
  std::thread thread_;

  std::atomic<uint64_t> log_bytes_{0};
  std::atomic<uint64_t> disk_bytes_{0};
  std::atomic<bool> broken_{false};
};

}  // namespace paxlock::storage
