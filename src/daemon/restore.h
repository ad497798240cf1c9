// Restoring a backup into a new cluster (docs/OPERATIONS.md, "Backups").
//
// A snapshot file is the lock table at one point of the log; the old cluster
// may have granted locks after that point, and resources may have seen their
// fencing tokens. A new cluster started from the bare snapshot would hand out
// those tokens again. So a restore writes the snapshot into a new replica's
// data directory with the token counter raised by `bump_tokens`, which the
// operator must state (like etcd's `snapshot restore --bump-revision`): at
// least the number of grants the old cluster, and any cluster restored from
// the same backup before, can have made after the snapshot.
//
// Every replica of the new cluster must be restored from the same file with
// the same bump; the result is then the same bytes on each (the digest in
// the report lets the operator compare). The data directory must be new:
// no IDENTITY, no log. The snapshot is written first and IDENTITY last, so
// a restore cut short leaves a directory that paxlockd refuses to start
// (storage::refuse_copied_snapshot) and that a second run completes.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "paxos/types.h"
#include "storage/fs.h"

namespace paxlock::daemon {

struct RestoreReport {
  paxos::Instance next = 0;     // the log of the new cluster resumes here
  uint64_t snapshot_token = 0;  // the last token the snapshot records
  uint64_t next_token = 0;      // the restored counter: grants go above it
  uint64_t locks = 0;
  uint64_t digest = 0;  // FNV-1a of the restored snapshot file
  std::string path;     // the file written
};

// Restores the snapshot file at `backup` into `data_dir` for (cluster_id,
// node), raising the token counter by `bump_tokens` (> 0).
Result<RestoreReport> restore_backup(storage::Fs& fs, const std::string& backup,
                                     const std::string& data_dir, const std::string& cluster_id,
                                     paxos::NodeId node, uint64_t bump_tokens);

}  // namespace paxlock::daemon
