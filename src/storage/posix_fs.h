// The production file system: POSIX calls, retried on EINTR, every error
// reported with the path and the call that failed.
#pragma once

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
