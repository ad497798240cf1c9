#include "storage/threaded_log_store.h"

#include <chrono>

#include "common/check.h"

namespace paxlock::storage {

ThreadedLogStore::ThreadedLogStore(Fs& fs, std::string data_dir, std::string cluster_id,
                                   paxos::NodeId node, WalOptions options, Post post)
    : fs_(fs),
      data_dir_(std::move(data_dir)),
      cluster_id_(std::move(cluster_id)),
      node_(node),
      options_(options),
      post_(std::move(post)) {}

ThreadedLogStore::~ThreadedLogStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // finishes the queued writes first
}

Result<Loaded> ThreadedLogStore::load() {
  Loaded loaded;
  auto st = NodeStorage::open(fs_, data_dir_, cluster_id_, node_, options_, &loaded);
  if (!st.ok()) return st.status();
  storage_ = std::move(*st);
  disk_bytes_ = storage_->disk_bytes();
  thread_ = std::thread([this] { run(); });
  return loaded;
}

void ThreadedLogStore::enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ThreadedLogStore::write(WriteBatch batch, Done done) {
  PAXLOCK_CHECK_MSG(storage_ != nullptr, "write before load");
  enqueue([this, batch = std::move(batch), done = std::move(done)]() mutable {
    Status s = storage_->append(batch);
    const auto start = std::chrono::steady_clock::now();
    if (s.ok()) s = storage_->sync();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!s.ok()) last_error_ = s.message();
      if (s.ok() && batch.needs_sync() && sync_us_.size() < 100000) {
        sync_us_.push_back(static_cast<uint32_t>(us));
      }
    }
    log_bytes_ = storage_->log_bytes();
    disk_bytes_ = storage_->disk_bytes();
    broken_ = storage_->broken();
    post_([done = std::move(done), s = std::move(s)] { done(s); });
  });
}

void ThreadedLogStore::save_snapshot(Snapshot snap, Done done) {
  PAXLOCK_CHECK_MSG(storage_ != nullptr, "save_snapshot before load");
  PAXLOCK_CHECK(snap.data != nullptr);
  enqueue([this, snap = std::move(snap), done = std::move(done)]() mutable {
    Status s = storage_->save_snapshot(snap);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      last_error_ = s.message();
    }
    disk_bytes_ = storage_->disk_bytes();
    post_([done = std::move(done), s = std::move(s)] { done(s); });
  });
}

std::string ThreadedLogStore::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void ThreadedLogStore::take_sync_latencies(std::vector<uint32_t>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out.insert(out.end(), sync_us_.begin(), sync_us_.end());
  sync_us_.clear();
}

void ThreadedLogStore::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and everything queued is done
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace paxlock::storage
