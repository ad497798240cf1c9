#include "storage/snapshot_store.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "common/encoding.h"
#include "storage/crc32c.h"

namespace paxlock::storage {
namespace {

constexpr char kMagic[9] = "PXLSNAP1";
constexpr size_t kHeader = 32;
constexpr int kRereads = 3;

// Parses a whole snapshot file; false if any check fails.
bool parse(std::string_view file, Snapshot& out) {
  if (file.size() < kHeader || std::memcmp(file.data(), kMagic, 8) != 0) return false;
  Reader r(file.substr(8, kHeader - 8));
  uint64_t next = 0, length = 0;
  uint32_t data_crc = 0, header_crc = 0;
  // The size was checked above: these reads cannot fail.
  PAXLOCK_CHECK(r.u64(next) && r.u64(length) && r.u32(data_crc) && r.u32(header_crc));
  if (crc32c(0, file.data(), 28) != header_crc) return false;
  if (file.size() != kHeader + length) return false;
  const std::string_view data = file.substr(kHeader);
  if (crc32c(data) != data_crc) return false;
  // Instances start at 1 (encode() checks it): a snapshot covering "below 0"
  // would restore a log starting at instance 0 (found by the snapshot fuzzer).
  if (next == 0) return false;
  // Nor past the largest instance there can be (paxos::kInstanceMax): the
  // instance after it would wrap.
  if (next > paxos::kInstanceMax) return false;
  out.next = next;
  out.data = std::make_shared<const std::string>(data);
  return true;
}

}  // namespace

std::string SnapshotStore::file_name(paxos::Instance next) {
  return fmt::format("snap-{:016x}.snap", next);
}

bool SnapshotStore::is_snapshot_name(const std::string& name) {
  return name.size() == 26 && name.compare(0, 5, "snap-") == 0 && name.compare(21, 5, ".snap") == 0;
}

std::string SnapshotStore::encode(const Snapshot& snap) {
  PAXLOCK_CHECK(snap.data != nullptr);
  PAXLOCK_CHECK(snap.next >= 1);  // instances start at 1
  std::string file = encode_header(snap.next, *snap.data);
  file += *snap.data;
  return file;
}

std::optional<Snapshot> SnapshotStore::decode(std::string_view file) {
  Snapshot snap;
  if (!parse(file, snap)) return std::nullopt;
  return snap;
}

std::string SnapshotStore::encode_header(paxos::Instance next, std::string_view data) {
  std::string h(kMagic, 8);
  Writer w(h);
  w.u64(next);
  w.u64(data.size());
  w.u32(crc32c(data));
  w.u32(crc32c(0, h.data(), h.size()));
  return h;
}

Result<std::optional<Snapshot>> SnapshotStore::load() {
  Status s = create_dirs(fs_, dir_);
  if (!s.ok()) return s;
  auto names = fs_.list(dir_);
  if (!names.ok()) return names.status();
  std::string newest;
  for (const std::string& name : *names) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      // A save that crashed before its rename.
      Status s = fs_.remove(join_path(dir_, name));
      if (!s.ok()) {
        return Status::error(s.code(), fmt::format("snapshot: cannot remove the unfinished {}: {}",
                                                   join_path(dir_, name), s.message()));
      }
      continue;
    }
    if (is_snapshot_name(name) && name > newest) newest = name;  // hex names sort by next
  }
  if (newest.empty()) return std::optional<Snapshot>{};
  const std::string path = join_path(dir_, newest);
  for (int attempt = 0; attempt <= kRereads; ++attempt) {
    auto file = read_file(fs_, path);
    if (!file.ok()) return file.status();
    Snapshot snap;
    if (parse(*file, snap)) return std::optional<Snapshot>(std::move(snap));
  }
  return Status::error(EIO, fmt::format("snapshot {} fails its checksum or names no instance: "
                                        "corrupt (refusing to "
                                        "start; see docs/OPERATIONS.md on repair)",
                                        path));
}

Status SnapshotStore::save(const Snapshot& snap) {
  Status s = create_dirs(fs_, dir_);
  if (!s.ok()) return s;
  const std::string name = file_name(snap.next);
  s = write_file_atomic(fs_, dir_, name, encode(snap));
  if (!s.ok()) return s;
  auto names = fs_.list(dir_);
  if (!names.ok()) return names.status();
  // The new snapshot is durable; the older ones only take space. A failure
  // to delete one is still an error, so that the disk filling up with old
  // snapshots is seen (the caller retries later, and deletes them then).
  for (const std::string& old : *names) {
    if (!is_snapshot_name(old) || old >= name) continue;
    s = fs_.remove(join_path(dir_, old));
    if (!s.ok()) {
      return Status::error(s.code(),
                           fmt::format("snapshot {} saved, but the older {} could not "
                                       "be deleted: {}",
                                       join_path(dir_, name), join_path(dir_, old), s.message()));
    }
  }
  return {};
}

}  // namespace paxlock::storage
