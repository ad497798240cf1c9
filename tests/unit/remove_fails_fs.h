// An Fs over a SimFs whose remove() fails on demand (SimFs's never fails for
// an existing file), to see what storage does when it cannot clean up.
#pragma once

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "sim/sim_fs.h"
#include "storage/fs.h"

namespace paxlock::storage {

class RemoveFailsFs : public Fs {
 public:
  explicit RemoveFailsFs(sim::SimFs& fs) : fs_(fs) {}
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    return fs_.open(path, mode);
  }
  Status rename(const std::string& from, const std::string& to) override {
    return fs_.rename(from, to);
  }
  Status remove(const std::string& path) override {
    if (fail_removes || removes_before_failure == 0) {
      return Status::error(EIO, "unlink " + path + ": I/O error (injected)");
    }
    if (removes_before_failure > 0) --removes_before_failure;
    return fs_.remove(path);
  }
  Status sync_dir(const std::string& dir) override { return fs_.sync_dir(dir); }
  Status mkdirs(const std::string& dir) override { return fs_.mkdirs(dir); }
  Result<std::vector<std::string>> list(const std::string& dir) override { return fs_.list(dir); }
  bool exists(const std::string& path) override { return fs_.exists(path); }
  bool fail_removes = false;
  int removes_before_failure = -1;  // >= 0: that many succeed, then they fail

 private:
  sim::SimFs& fs_;
};

}  // namespace paxlock::storage
