// Snapshot files and the data directory's identity, over the simulated disk.
#include "storage/snapshot_store.h"

#include <gtest/gtest.h>

#include "remove_fails_fs.h"
#include "sim/sim_fs.h"
#include "storage/node_storage.h"

namespace paxlock::storage {
namespace {

const std::string kDir = "/data/snap";

Snapshot snap(paxos::Instance next, const std::string& data) {
  return Snapshot{next, std::make_shared<const std::string>(data)};
}

TEST(SnapshotStore, NewestSnapshotIsLoadedAndOlderOnesDeleted) {
  sim::SimFs fs(1);
  SnapshotStore store(fs, kDir);
  auto none = store.load();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store.save(snap(10, "state at 10")).ok());
  ASSERT_TRUE(store.save(snap(25, "state at 25")).ok());
  auto got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->next, 25u);
  EXPECT_EQ(*(*got)->data, "state at 25");
  EXPECT_EQ(fs.list(kDir)->size(), 1u);
}

// The new snapshot is saved, but an older one cannot be deleted: an error
// naming it (it used to be ignored, and old snapshots piled up unseen); the
// next save deletes it.
TEST(SnapshotStore, AnOlderSnapshotThatCannotBeDeletedIsAnError) {
  sim::SimFs sim(6);
  RemoveFailsFs fs(sim);
  SnapshotStore store(fs, kDir);
  ASSERT_TRUE(store.save(snap(10, "state at 10")).ok());
  fs.fail_removes = true;
  Status s = store.save(snap(25, "state at 25"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find(SnapshotStore::file_name(10)), std::string::npos) << s.message();
  auto got = store.load();  // the new one is durable all the same
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ((*got)->next, 25u);
  fs.fail_removes = false;
  ASSERT_TRUE(store.save(snap(30, "state at 30")).ok());
  EXPECT_EQ(sim.list(kDir)->size(), 1u);
}

// A leftover temporary file that cannot be removed stops loading, naming it.
TEST(SnapshotStore, AnUnfinishedSaveThatCannotBeRemovedIsAnError) {
  sim::SimFs sim(7);
  RemoveFailsFs fs(sim);
  SnapshotStore store(fs, kDir);
  ASSERT_TRUE(store.save(snap(10, "state at 10")).ok());
  auto f = sim.open(kDir + "/" + SnapshotStore::file_name(20) + ".tmp", OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->pwrite(0, "half").ok());
  f->reset();
  fs.fail_removes = true;
  auto got = store.load();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(".tmp"), std::string::npos) << got.status().message();
  fs.fail_removes = false;
  got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ((*got)->next, 10u);
  EXPECT_EQ(sim.list(kDir)->size(), 1u);
}

TEST(SnapshotStore, CorruptNewestSnapshotRefusesToLoadNamingTheFile) {
  sim::SimFs fs(2);
  SnapshotStore store(fs, kDir);
  ASSERT_TRUE(store.save(snap(7, std::string(300, 's'))).ok());
  const std::string path = kDir + "/" + fs.list(kDir)->at(0);
  fs.corrupt(path, 100, 0x01);
  auto got = store.load();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
}

// Found by the snapshot fuzzer: a file whose checksums hold but whose `next`
// is 0 (no snapshot covers "every instance below 0") was taken, and its
// log would have restarted at instance 0. It is refused, like a bad checksum.
TEST(SnapshotStore, SnapshotOfNextZeroIsRefused) {
  const std::string data = "state";
  const std::string file = SnapshotStore::encode_header(0, data) + data;
  EXPECT_FALSE(SnapshotStore::decode(file).has_value());
  EXPECT_TRUE(SnapshotStore::decode(SnapshotStore::encode_header(1, data) + data).has_value());
  sim::SimFs fs(3);
  ASSERT_TRUE(fs.mkdirs(kDir).ok());
  auto f = fs.open(kDir + "/" + SnapshotStore::file_name(0), OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->pwrite(0, file).ok());
  auto got = SnapshotStore(fs, kDir).load();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("corrupt"), std::string::npos) << got.status().message();
}

// Nor one past the largest instance (paxos::kInstanceMax): the instance
// after it would wrap (the snapshot fuzzer's file at next 2^64-1).
TEST(SnapshotStore, SnapshotPastTheLargestInstanceIsRefused) {
  const std::string data = "state";
  for (paxos::Instance next : {paxos::kInstanceMax + 1, paxos::Instance{UINT64_MAX}}) {
    EXPECT_FALSE(SnapshotStore::decode(SnapshotStore::encode_header(next, data) + data));
  }
  EXPECT_TRUE(
      SnapshotStore::decode(SnapshotStore::encode_header(paxos::kInstanceMax, data) + data));
}

TEST(SnapshotStore, CrashAtAnyStepOfASaveLeavesTheOldOrTheNewSnapshot) {
  // The steps of write_file_atomic, cut after `steps` of them by a crash.
  const std::string tmp = kDir + "/snap-000000000000000a.snap.tmp";
  const std::string final_name = kDir + "/snap-000000000000000a.snap";
  for (int steps = 0; steps <= 4; ++steps) {
    for (uint64_t seed = 1; seed <= 50; ++seed) {
      sim::SimFs fs(seed);
      paxlock::Rng rng(seed);
      SnapshotStore store(fs, kDir);
      ASSERT_TRUE(store.save(snap(5, "old")).ok());
      auto f = fs.open(tmp, OpenMode::kCreate);
      (*f)->pwrite(0, SnapshotStore::encode_header(10, "new") + "new");
      if (steps >= 1) (*f)->datasync();
      f->reset();
      if (steps >= 2) fs.rename(tmp, final_name);
      if (steps >= 3) fs.sync_dir(kDir);
      fs.crash(rng);
      auto got = store.load();
      ASSERT_TRUE(got.ok()) << "steps " << steps << " seed " << seed << ": "
                            << got.status().message();
      ASSERT_TRUE(got->has_value());
      const bool old_one = (*got)->next == 5 && *(*got)->data == "old";
      const bool new_one = (*got)->next == 10 && *(*got)->data == "new";
      EXPECT_TRUE(old_one || new_one) << "steps " << steps << " seed " << seed;
      if (steps >= 3) {
        EXPECT_TRUE(new_one) << "a synced rename is durable";
      }
      const auto names = fs.list(kDir);
      for (const std::string& name : *names) {
        EXPECT_EQ(name.find(".tmp"), std::string::npos) << "leftover " << name;
      }
    }
  }
}

TEST(NodeStorage, DataDirectoryOfAnotherNodeOrClusterIsRefused) {
  sim::SimFs fs(3);
  Loaded loaded;
  ASSERT_TRUE(NodeStorage::open(fs, "/data", "alpha", 1, WalOptions{}, &loaded).ok());
  auto other_node = NodeStorage::open(fs, "/data", "alpha", 2, WalOptions{}, &loaded);
  ASSERT_FALSE(other_node.ok());
  EXPECT_NE(other_node.status().message().find("belongs to cluster 'alpha' node 1"),
            std::string::npos)
      << other_node.status().message();
  auto other_cluster = NodeStorage::open(fs, "/data", "beta", 1, WalOptions{}, &loaded);
  ASSERT_FALSE(other_cluster.ok());
  EXPECT_NE(other_cluster.status().message().find("not cluster 'beta' node 1"), std::string::npos);
}

TEST(NodeStorage, SnapshotDropsTheLogItCoversAndRestartResumesAboveIt) {
  sim::SimFs fs(4);
  WalOptions opt{2048, true};
  {
    Loaded loaded;
    auto st = NodeStorage::open(fs, "/data", "c", 1, opt, &loaded);
    ASSERT_TRUE(st.ok());
    for (paxos::Instance i = 1; i <= 100; ++i) {
      WriteBatch w;
      auto b = std::make_shared<paxos::Batch>();
      b->commands.push_back(paxos::Command{paxos::CommandId{1, i}, std::string(50, 'p')});
      w.entries.push_back(paxos::Entry{i, paxos::Ballot{1, 1}, b, true});
      w.commit = i + 1;
      ASSERT_TRUE((*st)->append(w).ok());
      ASSERT_TRUE((*st)->sync().ok());
    }
    const uint64_t before = (*st)->disk_bytes();
    ASSERT_TRUE((*st)->save_snapshot(snap(90, "sm@90")).ok());
    EXPECT_LT((*st)->disk_bytes(), before / 2);
  }
  Loaded loaded;
  auto st = NodeStorage::open(fs, "/data", "c", 1, opt, &loaded);
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(loaded.snapshot.has_value());
  EXPECT_EQ(loaded.log.log_start, 90u);
  EXPECT_EQ(*loaded.snapshot->data, "sm@90");
  for (const paxos::Entry& e : loaded.log.entries)
    EXPECT_GE(e.instance, 90u);
  EXPECT_EQ(loaded.log.commit, 101u);
}

}  // namespace
}  // namespace paxlock::storage
