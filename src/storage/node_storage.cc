#include "storage/node_storage.h"

#include <fmt/format.h>

#include <cerrno>

#include "common/check.h"

namespace paxlock::storage {

Status check_identity(Fs& fs, const std::string& data_dir, const std::string& cluster_id,
                      paxos::NodeId node) {
  const std::string path = join_path(data_dir, "IDENTITY");
  const std::string want =
      fmt::format("paxlock data directory\ncluster_id={}\nnode_id={}\n", cluster_id, node);
  if (!fs.exists(path)) return write_file_atomic(fs, data_dir, "IDENTITY", want);
  auto have = read_file(fs, path);
  // Read again before believing a mismatch: a read can return a flipped bit.
  for (int attempt = 0; attempt < 3 && have.ok() && *have != want; ++attempt) {
    have = read_file(fs, path);
  }
  if (!have.ok()) return have.status();
  if (*have == want) return {};
  auto field = [&](const std::string& key) {
    const size_t at = have->find(key + "=");
    if (at == std::string::npos) return std::string("?");
    const size_t end = have->find('\n', at);
    return have->substr(at + key.size() + 1, end - at - key.size() - 1);
  };
  return Status::error(
      EINVAL, fmt::format("data directory {} belongs to cluster '{}' node {}, "
                          "not cluster '{}' node {}",
                          data_dir, field("cluster_id"), field("node_id"), cluster_id, node));
}

Status refuse_copied_snapshot(Fs& fs, const std::string& data_dir) {
  // IDENTITY is written before anything else when a directory is first used
  // (and last by a restore), so a snapshot without it was copied in by hand.
  if (fs.exists(join_path(data_dir, "IDENTITY"))) return {};
  const std::string snap_dir = join_path(data_dir, "snap");
  if (!fs.exists(snap_dir)) return {};
  auto names = fs.list(snap_dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!SnapshotStore::is_snapshot_name(name)) continue;
    return Status::error(
        EINVAL,
        fmt::format("data directory {} was never started but holds a snapshot ({}): a snapshot "
                    "copied in by hand restarts the fencing tokens below ones the old cluster "
                    "handed out. Restore a backup with `paxlockd --config ... --id ... --restore "
                    "FILE --bump-tokens N` into an empty data directory (docs/OPERATIONS.md, "
                    "Backups)",
                    data_dir, join_path(snap_dir, name)));
  }
  return {};
}

Result<std::unique_ptr<NodeStorage>> NodeStorage::open(Fs& fs, const std::string& data_dir,
                                                       const std::string& cluster_id,
                                                       paxos::NodeId node,
                                                       const WalOptions& options, Loaded* loaded) {
  Status s = create_dirs(fs, data_dir);
  if (!s.ok()) return s;
  s = refuse_copied_snapshot(fs, data_dir);
  if (!s.ok()) return s;
  s = check_identity(fs, data_dir, cluster_id, node);
  if (!s.ok()) return s;
  auto snaps = std::make_unique<SnapshotStore>(fs, join_path(data_dir, "snap"));
  auto snap = snaps->load();
  if (!snap.ok()) return snap.status();
  WalRecovery rec;
  auto wal = Wal::open(fs, join_path(data_dir, "wal"), node, options, &rec);
  if (!wal.ok()) return wal.status();
  // wal/ and snap/ were synced into DATA when created; sync DATA once more in
  // case an earlier start created them and stopped before its sync.
  s = fs.sync_dir(data_dir);
  if (!s.ok()) return s;
  std::unique_ptr<NodeStorage> st(new NodeStorage(std::move(*wal), std::move(snaps)));
  *loaded = Loaded{};
  loaded->log = std::move(rec.state);
  loaded->note = rec.note;
  if (snap->has_value()) {
    loaded->snapshot = **snap;
    loaded->log.log_start = (*snap)->next;
    st->snapshot_bytes_ = (*snap)->data->size();
    auto& entries = loaded->log.entries;
    std::erase_if(entries, [&](const paxos::Entry& e) { return e.instance < (*snap)->next; });
  }
  return st;
}

Status NodeStorage::save_snapshot(const Snapshot& snap) {
  PAXLOCK_CHECK(snap.data != nullptr);
  Status s = snaps_->save(snap);
  if (!s.ok()) return s;
  snapshot_bytes_ = snap.data->size();
  return wal_->compact(snap.next);
}

}  // namespace paxlock::storage
