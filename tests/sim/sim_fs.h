// A simulated disk in the manner of FoundationDB's AsyncFileNonDurable:
// - writes land in a page-cache view at once, but become durable only when
//   the file is datasync'ed;
// - creations, renames and removals become durable only when their directory
//   is synced; a new directory becomes durable only when its parent is
//   synced (until then a crash loses it and everything in it);
// - on a crash, each 512-byte sector written since the last sync is kept,
//   dropped, torn (a prefix kept) or filled with garbage, and a random prefix
//   of the unsynced directory operations survives;
// - reads return a flipped bit at a seeded rate (checksums must catch it);
// - a capacity limit makes writes fail with ENOSPC, and a switch makes every
//   write or sync fail with EIO.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "storage/fs.h"

namespace paxlock::sim {

class SimFs : public storage::Fs {
 public:
  static constexpr uint64_t kSector = 512;

  explicit SimFs(uint64_t seed) : rng_(seed) {}

  Result<std::unique_ptr<storage::File>> open(const std::string& path,
                                              storage::OpenMode mode) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
  Status mkdirs(const std::string& dir) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  bool exists(const std::string& path) override;

  // Power loss: see the file comment. `rng` decides each sector's fate.
  void crash(paxlock::Rng& rng);
  // Deterministic power loss (the explorer's): every unsynced sector and
  // every unsynced directory operation is lost.
  void crash_drop_unsynced();
  // A deep copy (files are not shared with this one); open Files stay here.
  std::unique_ptr<SimFs> clone() const;

  void set_capacity(uint64_t bytes) { capacity_ = bytes; }
  void set_read_flip_rate(double p) { read_flip_rate_ = p; }
  void set_io_error(bool on) { io_error_ = on; }
  // The next `n` datasync calls fail with EIO (writes still succeed): the
  // failed fdatasync after which the kernel may have dropped dirty pages.
  void fail_next_datasyncs(int n) { fail_datasyncs_ = n; }
  uint64_t used_bytes() const;
  uint64_t read_flips() const { return read_flips_; }

  // Test helpers: flip bits of the durable and visible content at `offset`.
  void corrupt(const std::string& path, uint64_t offset, uint8_t xor_mask);
  // The visible size of a file (0 if absent).
  uint64_t file_size(const std::string& path) const;

 private:
  friend class SimFile;

  struct Inode {
    std::string view;          // what reads see
    std::string durable;       // what survives a crash
    std::set<uint64_t> dirty;  // sectors written since the last datasync
  };
  struct NsOp {
    enum Kind : uint8_t { kCreate, kRename, kRemove } kind;
    std::string path;
    std::string to;
    std::shared_ptr<Inode> inode;
  };

  static std::string dir_of(const std::string& path);
  static void apply(std::map<std::string, std::shared_ptr<Inode>>& names, const NsOp& op);
  void drop_unsynced_dirs();
  bool grow_ok(const Inode& inode, uint64_t new_size) const;

  paxlock::Rng rng_;
  std::map<std::string, std::shared_ptr<Inode>> names_;          // visible namespace
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;  // survives a crash
  std::vector<NsOp> pending_;                                    // not yet durable, in order
  std::set<std::string> dirs_;                                   // visible directories
  std::set<std::string> durable_dirs_;  // those whose entry survives a crash
  uint64_t capacity_ = UINT64_MAX;
  double read_flip_rate_ = 0.0;
  bool io_error_ = false;
  int fail_datasyncs_ = 0;
  uint64_t read_flips_ = 0;
};

}  // namespace paxlock::sim
