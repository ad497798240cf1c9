// Everything one replica keeps on disk, in one data directory:
//   DIR/IDENTITY   which cluster and node the directory belongs to
//   DIR/MEMBERSHIP the cluster's members when it was first started
//                  (membership.h; checked by paxlockd before the log is opened)
//   DIR/wal/       the write-ahead log (wal.h)
//   DIR/snap/      state-machine snapshots (snapshot_store.h)
// (paxlockd also holds an flock on DIR/LOCK; see posix_fs.h.)
// All calls are synchronous; LogStore adapters run them on a disk thread
// (paxlockd) or on simulated time (the simulator).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/snapshot_store.h"
#include "storage/wal.h"

namespace paxlock::storage {

class NodeStorage {
 public:
  static Result<std::unique_ptr<NodeStorage>> open(Fs& fs, const std::string& data_dir,
                                                   const std::string& cluster_id,
                                                   paxos::NodeId node, const WalOptions& options,
                                                   Loaded* loaded);

  Status append(const WriteBatch& batch) { return wal_->append(batch); }
  Status sync() { return wal_->sync(); }
  // Makes `snap` durable, then deletes the log segments it covers.
  Status save_snapshot(const Snapshot& snap);

  uint64_t log_bytes() const { return wal_->bytes_appended(); }
  uint64_t disk_bytes() const { return wal_->disk_bytes() + snapshot_bytes_; }
  uint64_t log_disk_bytes() const { return wal_->disk_bytes(); }
  bool broken() const { return wal_->broken(); }
  // For invariant checks and fault injection in the simulator.
  paxos::Instance durable_commit() const { return wal_->durable_commit(); }
  size_t segment_count() const { return wal_->segment_count(); }

 private:
  NodeStorage(std::unique_ptr<Wal> wal, std::unique_ptr<SnapshotStore> snaps)
      : wal_(std::move(wal)), snaps_(std::move(snaps)) {}

  std::unique_ptr<Wal> wal_;
  std::unique_ptr<SnapshotStore> snaps_;
  uint64_t snapshot_bytes_ = 0;
};

// Checks DIR/IDENTITY against (cluster_id, node), creating it on first use.
Status check_identity(Fs& fs, const std::string& data_dir, const std::string& cluster_id,
                      paxos::NodeId node);

// Refuses a data directory without IDENTITY (never started) that holds a
// snapshot: a backup copied in by hand. A restore (src/server/restore.h)
// writes IDENTITY after the snapshot, so what it leaves half done is refused
// too, until it is run again.
Status refuse_copied_snapshot(Fs& fs, const std::string& data_dir);

}  // namespace paxlock::storage
