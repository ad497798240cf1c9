#include "daemon/restore.h"

#include <fmt/format.h>

#include <cerrno>

#include "common/hash.h"
#include "lock.pb.h"
#include "lock/lock_machine.h"
#include "storage/node_storage.h"
#include "storage/snapshot_store.h"

namespace paxlock::daemon {

Result<RestoreReport> restore_backup(storage::Fs& fs, const std::string& backup,
                                     const std::string& data_dir, const std::string& cluster_id,
                                     paxos::NodeId node, uint64_t bump_tokens) {
  using storage::join_path;
  if (bump_tokens == 0) {
    return Status::error(EINVAL,
                         "--bump-tokens must be > 0: at least the number of locks the old cluster "
                         "can have granted after this snapshot");
  }
  auto file = storage::read_file(fs, backup);
  if (!file.ok()) return file.status();
  auto snap = storage::SnapshotStore::decode(*file);
  if (!snap) {
    return Status::error(EINVAL, fmt::format("{} is not a paxlock snapshot, or it fails its "
                                             "checksum",
                                             backup));
  }
  pb::LockSnapshot state;
  if (!state.ParseFromArray(snap->data->data(), static_cast<int>(snap->data->size())) ||
      state.version() != 1) {
    return Status::error(EINVAL,
                         fmt::format("{}: its state does not parse as a lock table", backup));
  }
  RestoreReport report;
  report.next = snap->next;
  report.snapshot_token = state.next_token();
  report.locks = static_cast<uint64_t>(state.locks_size());
  if (state.next_token() > UINT64_MAX / 2 || bump_tokens > UINT64_MAX / 2 - state.next_token()) {
    return Status::error(EINVAL, "--bump-tokens is too large: the token counter would overflow");
  }
  state.set_next_token(state.next_token() + bump_tokens);
  report.next_token = state.next_token();
  std::string data;
  state.SerializeToString(&data);
  if (!lock::LockMachine().validate(data, snap->next)) {
    return Status::error(EINVAL, fmt::format("{}: the lock table does not validate", backup));
  }

  // The data directory must be new.
  Status s = storage::create_dirs(fs, data_dir);
  if (!s.ok()) return s;
  if (fs.exists(join_path(data_dir, "IDENTITY"))) {
    return Status::error(EEXIST, fmt::format("data directory {} is in use (it has an IDENTITY): "
                                             "restore into a new, empty data directory",
                                             data_dir));
  }
  const std::string wal_dir = join_path(data_dir, "wal");
  if (fs.exists(wal_dir)) {
    auto names = fs.list(wal_dir);
    if (!names.ok()) return names.status();
    if (!names->empty()) {
      return Status::error(EEXIST, fmt::format("data directory {} has a log ({}): restore into a "
                                               "new, empty data directory",
                                               data_dir, wal_dir));
    }
  }
  const std::string snap_dir = join_path(data_dir, "snap");
  const std::string name = storage::SnapshotStore::file_name(snap->next);
  if (fs.exists(snap_dir)) {
    auto names = fs.list(snap_dir);
    if (!names.ok()) return names.status();
    for (const std::string& n : *names) {
      // A restore cut short leaves the same name; anything else is not ours.
      if (storage::SnapshotStore::is_snapshot_name(n) && n != name) {
        return Status::error(EEXIST, fmt::format("{} already holds a snapshot ({}): restore into "
                                                 "a new, empty data directory",
                                                 snap_dir, n));
      }
    }
  }
  storage::Snapshot restored{snap->next, std::make_shared<const std::string>(std::move(data))};
  storage::SnapshotStore store(fs, snap_dir);
  s = store.save(restored);
  if (!s.ok()) return s;
  // Last: IDENTITY marks the directory as started (and the restore as done).
  s = storage::check_identity(fs, data_dir, cluster_id, node);
  if (!s.ok()) return s;
  const std::string out = storage::SnapshotStore::encode(restored);
  report.digest = fnv1a(out);
  report.path = join_path(snap_dir, name);
  return report;
}

}  // namespace paxlock::daemon
