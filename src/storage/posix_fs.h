// The production file system: POSIX calls, retried on EINTR, every error
// reported with the path and the call that failed.
#pragma once

#include <atomic>
#include <memory>

#include "storage/fs.h"

namespace paxlock::storage {

class PosixFs : public Fs {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
  Status mkdirs(const std::string& dir) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  bool exists(const std::string& path) override;

  // Test option (paxlockd --fail-fsync-after): after `n` more successful
  // fdatasyncs on files this object opened, the next one fails with EIO.
  void fail_datasync_after(int64_t n) { fail_after_->store(n); }

 private:
  std::shared_ptr<std::atomic<int64_t>> fail_after_ = std::make_shared<std::atomic<int64_t>>(-1);
};

// An exclusive lock on a data directory (flock on DIR/LOCK), held for the
// life of the object. A second process on the same directory gets an error.
class DirectoryLock {
 public:
  static Result<std::unique_ptr<DirectoryLock>> acquire(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace paxlock::storage
