// Restoring a backup (src/server/restore.h) on the simulated file system:
// the token counter is raised, the restored directory starts like any other,
// and a snapshot copied by hand into a never-started directory is refused.
#include "daemon/restore.h"

#include <gtest/gtest.h>

#include "lock.pb.h"
#include "lock/lock_machine.h"
#include "sim/sim_fs.h"
#include "storage/node_storage.h"
#include "storage/snapshot_store.h"

namespace paxlock::daemon {
namespace {

using storage::Loaded;
using storage::NodeStorage;
using storage::Snapshot;
using storage::SnapshotStore;
using storage::WalOptions;

// A backup whose lock table has handed out tokens 1..`token`; "x" holds the
// last one.
std::string backup_file(paxos::Instance next, uint64_t token = 40,
                        paxos::Instance applied = UINT64_MAX) {
  pb::LockSnapshot s;
  s.set_version(1);
  s.set_now_ms(1000);
  s.set_next_token(token);
  s.set_applied_instance(applied == UINT64_MAX ? next - 1 : applied);
  pb::LockInfo* l = s.add_locks();
  l->set_name("x");
  l->set_holder("alice");
  l->set_token(token);
  std::string data;
  s.SerializeToString(&data);
  return SnapshotStore::encode(Snapshot{next, std::make_shared<const std::string>(data)});
}

void put(sim::SimFs& fs, const std::string& dir, const std::string& name, const std::string& data) {
  ASSERT_TRUE(fs.mkdirs(dir).ok());
  auto f = fs.open(dir + "/" + name, storage::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->pwrite(0, data).ok());
  ASSERT_TRUE((*f)->datasync().ok());
  ASSERT_TRUE(fs.sync_dir(dir).ok());
}

TEST(Restore, RaisesTheTokenCounterAndStartsLikeAnyReplica) {
  sim::SimFs fs(1);
  put(fs, "/backups", "b.snap", backup_file(77));
  auto r = restore_backup(fs, "/backups/b.snap", "/data", "c", 1, 1000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->next, 77u);
  EXPECT_EQ(r->snapshot_token, 40u);
  EXPECT_EQ(r->next_token, 1040u);
  EXPECT_EQ(r->locks, 1u);
  for (int restart = 0; restart < 2; ++restart) {
    Loaded loaded;
    auto st = NodeStorage::open(fs, "/data", "c", 1, WalOptions{}, &loaded);
    ASSERT_TRUE(st.ok()) << st.status().message();
    ASSERT_TRUE(loaded.snapshot.has_value());
    EXPECT_EQ(loaded.snapshot->next, 77u);
    lock::LockMachine m;
    ASSERT_TRUE(m.restore(*loaded.snapshot->data));
    EXPECT_EQ(m.last_token(), 1040u) << "the next grant gets 1041, above the old cluster's";
  }
  // The same restore on another replica gives the same bytes.
  auto again = restore_backup(fs, "/backups/b.snap", "/data2", "c", 2, 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->digest, r->digest);
}

TEST(Restore, RefusesAUsedDirectoryAMissingBumpAndABadFile) {
  sim::SimFs fs(2);
  put(fs, "/backups", "b.snap", backup_file(77));
  Loaded loaded;
  ASSERT_TRUE(NodeStorage::open(fs, "/used", "c", 1, WalOptions{}, &loaded).ok());
  auto used = restore_backup(fs, "/backups/b.snap", "/used", "c", 1, 10);
  ASSERT_FALSE(used.ok());
  EXPECT_NE(used.status().message().find("is in use"), std::string::npos);
  EXPECT_FALSE(restore_backup(fs, "/backups/b.snap", "/new", "c", 1, 0).ok());
  std::string bad = backup_file(77);
  bad[bad.size() - 1] ^= 1;
  put(fs, "/backups", "bad.snap", bad);
  auto corrupt = restore_backup(fs, "/backups/bad.snap", "/new", "c", 1, 10);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find("checksum"), std::string::npos);
}

// Found in review of the fuzzers' report (issue 16): the overflow check of
// --bump-tokens was `bump > UINT64_MAX / 2 - counter`, which wrapped for a
// counter above 2^63, so any bump passed it and the counter wrapped.
TEST(Restore, ABumpOfACounterAboveHalfTheRangeIsRefusedNotWrapped) {
  sim::SimFs fs(4);
  const uint64_t high = (uint64_t{1} << 63) + 5;
  put(fs, "/backups", "high.snap", backup_file(77, high));
  auto r = restore_backup(fs, "/backups/high.snap", "/new", "c", 1, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("would overflow"), std::string::npos) << r.status().message();
  put(fs, "/backups", "ok.snap", backup_file(77, (uint64_t{1} << 62)));
  EXPECT_TRUE(restore_backup(fs, "/backups/ok.snap", "/new2", "c", 1, 10).ok());
}

// A backup whose state says it applied instance `next` or later would fail
// the lock machine's order check at its first apply: refused at restore.
TEST(Restore, AStateThatClaimsAnInstanceAtOrPastItsNextIsRefused) {
  sim::SimFs fs(5);
  put(fs, "/backups", "past.snap", backup_file(77, 40, 77));
  auto r = restore_backup(fs, "/backups/past.snap", "/new", "c", 1, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not validate"), std::string::npos)
      << r.status().message();
}

// Item 7: copying a snapshot file into snap/ of a new replica (the procedure
// documented before `--restore`) restarted the token counter at the
// snapshot's value. Such a directory is now refused until it is restored.
TEST(Restore, ASnapshotCopiedIntoANeverStartedDirectoryIsRefused) {
  sim::SimFs fs(3);
  put(fs, "/data/snap", SnapshotStore::file_name(77), backup_file(77));
  Loaded loaded;
  auto st = NodeStorage::open(fs, "/data", "c", 1, WalOptions{}, &loaded);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("never started but holds a snapshot"), std::string::npos)
      << st.status().message();
  EXPECT_FALSE(fs.exists("/data/IDENTITY")) << "refused before marking the directory";
  // Restoring over the copied file (a restore cut short looks the same)
  // completes it.
  put(fs, "/backups", "b.snap", backup_file(77));
  ASSERT_TRUE(restore_backup(fs, "/backups/b.snap", "/data", "c", 1, 100).ok());
  ASSERT_TRUE(NodeStorage::open(fs, "/data", "c", 1, WalOptions{}, &loaded).ok());
  lock::LockMachine m;
  ASSERT_TRUE(m.restore(*loaded.snapshot->data));
  EXPECT_EQ(m.last_token(), 140u);
}

}  // namespace
}  // namespace paxlock::daemon
