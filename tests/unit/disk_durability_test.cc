// Item 9 of issue 13, on the simulated disk (tests/sim/sim_fs.h): the
// directories a replica creates are durable before anything in them counts,
// and a failed fdatasync leaves the log refusing every write.
#include <gtest/gtest.h>

#include "sim/sim_fs.h"
#include "storage/node_storage.h"
#include "storage/wal.h"

namespace paxlock::storage {
namespace {

using paxos::Ballot;
using paxos::Entry;

WriteBatch accept(paxos::Instance i, const std::string& payload) {
  auto b = std::make_shared<paxos::Batch>();
  b->timestamp_ms = 1000;
  b->commands.push_back(paxos::Command{paxos::CommandId{7, i}, payload});
  WriteBatch w;
  w.entries.push_back(Entry{i, Ballot{1, 1}, b, false});
  return w;
}

TEST(SimFsDirectories, ANewDirectoryIsLostInACrashUntilItsParentIsSynced) {
  sim::SimFs fs(1);
  paxos::Rng rng(1);
  ASSERT_TRUE(fs.mkdirs("/a/b").ok());
  ASSERT_TRUE(fs.sync_dir("/").ok());  // "/a" is durable, "/a/b" is not
  fs.crash(rng);
  EXPECT_TRUE(fs.exists("/a"));
  EXPECT_FALSE(fs.exists("/a/b"));
  ASSERT_TRUE(fs.mkdirs("/a/b").ok());
  ASSERT_TRUE(fs.sync_dir("/a").ok());
  auto f = fs.open("/a/b/f", OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->pwrite(0, "x").ok());
  ASSERT_TRUE((*f)->datasync().ok());
  ASSERT_TRUE(fs.sync_dir("/a/b").ok());
  fs.crash(rng);
  EXPECT_TRUE(fs.exists("/a/b/f"));
}

// A replica's first start creates DATA, DATA/wal and DATA/snap. Unless each
// new directory's parent is synced, a power loss can take the whole log with
// it, synced records included: records that were acknowledged.
TEST(DirectorySync, RecordsSyncedRightAfterTheFirstStartSurviveAPowerLoss) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    sim::SimFs fs(seed);
    paxos::Rng rng(seed);
    {
      Loaded loaded;
      auto st =
          NodeStorage::open(fs, "/var/paxlock/n1", "c", 1, WalOptions{1 << 16, true}, &loaded);
      ASSERT_TRUE(st.ok()) << st.status().message();
      ASSERT_TRUE((*st)->append(accept(1, "acknowledged")).ok());
      ASSERT_TRUE((*st)->sync().ok());
      ASSERT_TRUE((*st)->save_snapshot(Snapshot{1, std::make_shared<const std::string>("s")}).ok());
    }
    fs.crash(rng);
    Loaded loaded;
    auto st = NodeStorage::open(fs, "/var/paxlock/n1", "c", 1, WalOptions{1 << 16, true}, &loaded);
    ASSERT_TRUE(st.ok()) << st.status().message();
    ASSERT_EQ(loaded.log.entries.size(), 1u) << "seed " << seed << ": the synced record is gone";
    EXPECT_EQ(loaded.log.entries[0].value->commands.at(0).payload, "acknowledged");
    EXPECT_TRUE(loaded.snapshot.has_value()) << "seed " << seed << ": the snapshot is gone";
  }
}

}  // namespace
}  // namespace paxlock::storage
