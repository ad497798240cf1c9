// The file-system seam: the WAL and the snapshot store are written against
// these interfaces, so the simulator runs the real log and recovery code over
// a simulated disk (tests/sim/sim_fs.h) and production over POSIX (posix_fs.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace paxlock::storage {

class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset` (or fails without a partial success).
  virtual Status pwrite(uint64_t offset, std::string_view data) = 0;
  // Reads up to `n` bytes at `offset` into `out`; fewer at the end of the file.
  virtual Status pread(uint64_t offset, size_t n, std::string& out) = 0;
  // fdatasync: data, and the metadata needed to read it back, are durable.
  virtual Status datasync() = 0;
  // Reserves [0, len) so that later writes inside it cannot hit ENOSPC.
  virtual Status allocate(uint64_t len) = 0;
  virtual Status truncate(uint64_t len) = 0;
  virtual Result<uint64_t> size() = 0;
};

enum class OpenMode : uint8_t {
  kRead,    // existing file, read only
  kWrite,   // existing file, read and write
  kCreate,  // new file (fails if it exists), read and write
};

class Fs {
 public:
  virtual ~Fs() = default;
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  // fsync of a directory: creations, renames and removals in it are durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // Creates the directory (and parents); fine if it exists.
  virtual Status mkdirs(const std::string& dir) = 0;
  // Names (not paths) of the entries in `dir`, sorted.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual bool exists(const std::string& path) = 0;
};

// Reads a whole file.
Result<std::string> read_file(Fs& fs, const std::string& path);

// Replaces `dir/name` with `data` atomically: write a temporary file, sync it,
// rename it over the target, sync the directory. After a crash the target
// holds either the old or the new content, never a mix.
Status write_file_atomic(Fs& fs, const std::string& dir, const std::string& name,
                         std::string_view data);

// Creates `dir` and its missing parents (Fs::mkdirs), then makes each
// directory it created durable: an fsync of its parent, top down. Until then
// a power loss can lose a new directory and everything synced inside it.
Status create_dirs(Fs& fs, const std::string& dir);

// The directory that holds `path`: "/" for "/x", "." for "x".
std::string parent_dir(const std::string& path);

inline std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace paxlock::storage
