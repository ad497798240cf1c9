// The driver fetching a snapshot from a peer (replica_snapshot.cc) refuses a
// forged or confused peer: a `total` above snapshot_fetch_max_bytes before it
// keeps a byte, and a chunk whose size or offset disagrees with the snapshot
// it announced. One replica, a captured transport, forged peer messages.
#include <gtest/gtest.h>

#include <deque>

#include "daemon/config.h"
#include "driver/replica.h"
#include "sim/sim_log_store.h"
#include "storage/crc32c.h"

namespace paxlock::driver {
namespace {

// A state machine whose state is a string; any snapshot is valid.
class StringMachine : public paxos::StateMachine {
 public:
  void apply(paxos::Instance, const paxos::Batch&, std::vector<paxos::Reply>&) override {}
  std::string snapshot() const override { return state; }
  bool validate(std::string_view, paxos::Instance) const override { return true; }
  bool restore(std::string_view data) override {
    state = data;
    return true;
  }
  std::string state;
};

class FetchTest : public ::testing::Test, public paxos::Transport {
 protected:
  void SetUp() override {
    paxos::Config c;
    c.self = 1;
    c.members = {1, 2, 3};
    c.rng_seed = 5;
    store_ = std::make_unique<sim::SimLogStore>(
        fs_, "/data", 1, storage::WalOptions{1 << 16, false},
        [this](std::function<void()> fn) { disk_.push_back(std::move(fn)); });
    options_.snapshot_fetch_max_bytes = 1 << 20;
    replica_ = std::make_unique<Replica>(c, options_, *store_, *this, machine_);
    ASSERT_TRUE(replica_->start(now_).ok());
    drain_disk();
  }

  void send(const paxos::Message& m) override { sent_.push_back(m); }

  void drain_disk() {
    while (!disk_.empty()) {
      auto fn = std::move(disk_.front());
      disk_.pop_front();
      fn();
    }
  }

  // Makes the replica fetch a snapshot from the peer it asks to learn from:
  // a heartbeat says instance 100 is committed, and the learn reply says the
  // peer compacted everything below 50. Returns that peer.
  paxos::NodeId start_fetch() {
    paxos::Message hb;
    hb.type = paxos::MessageType::kCommit;
    hb.from = 2;
    hb.to = 1;
    hb.ballot = paxos::Ballot{1, 2};
    hb.commit = 100;
    replica_->receive(hb);
    for (int k = 0; k < 100 && !find(paxos::MessageType::kLearnRequest); ++k) {
      now_ += 10;
      replica_->tick(now_, now_);
      drain_disk();
    }
    const paxos::Message* req = find(paxos::MessageType::kLearnRequest);
    EXPECT_NE(req, nullptr) << "the replica never asked to learn";
    if (req == nullptr) return 0;
    paxos::Message reply;
    reply.type = paxos::MessageType::kLearnReply;
    reply.from = req->to;
    reply.to = 1;
    reply.instance = req->instance;
    reply.commit = 100;
    reply.log_start = 50;
    sent_.clear();
    replica_->receive(reply);
    const paxos::Message* snap_req = find(paxos::MessageType::kSnapshotRequest);
    EXPECT_NE(snap_req, nullptr) << "the replica never asked for the snapshot";
    EXPECT_EQ(snap_req ? snap_req->offset : 1, 0u);
    return reply.from;
  }

  paxos::Message chunk(paxos::NodeId from, uint64_t offset, uint64_t total, std::string data) {
    paxos::Message m;
    m.type = paxos::MessageType::kSnapshotChunk;
    m.from = from;
    m.to = 1;
    m.instance = 50;
    m.offset = offset;
    m.total = total;
    m.crc = storage::crc32c(data);
    m.data = std::move(data);
    return m;
  }

  const paxos::Message* find(paxos::MessageType type) const {
    for (const paxos::Message& m : sent_) {
      if (m.type == type) return &m;
    }
    return nullptr;
  }
  size_t count(paxos::MessageType type) const {
    size_t n = 0;
    for (const paxos::Message& m : sent_)
      n += m.type == type ? 1 : 0;
    return n;
  }

  sim::SimFs fs_{3};
  std::deque<std::function<void()>> disk_;
  std::unique_ptr<sim::SimLogStore> store_;
  ReplicaOptions options_;
  StringMachine machine_;
  std::unique_ptr<Replica> replica_;
  std::vector<paxos::Message> sent_;
  paxos::TimeMs now_ = 1000;
};

TEST_F(FetchTest, AnHonestSnapshotIsInstalled) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  sent_.clear();
  replica_->receive(chunk(peer, 0, 6, "abc"));
  ASSERT_EQ(count(paxos::MessageType::kSnapshotRequest), 1u);
  EXPECT_EQ(find(paxos::MessageType::kSnapshotRequest)->offset, 3u);
  replica_->receive(chunk(peer, 3, 6, "def"));
  drain_disk();
  EXPECT_EQ(machine_.state, "abcdef");
  EXPECT_EQ(replica_->snapshot_next(), 50u);
  EXPECT_EQ(replica_->stats().snapshots_installed, 1u);
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 0u);
}

TEST_F(FetchTest, ForgedTotalOverTheMaximumIsRefusedBeforeAnyByteIsKept) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  sent_.clear();
  // A valid chunk (its checksum matches) announcing 1 TiB.
  replica_->receive(chunk(peer, 0, 1ULL << 40, std::string(1000, 'x')));
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 1u);
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u) << "it asked for more";
  // The fetch is gone: what follows is ignored and nothing is installed.
  replica_->receive(chunk(peer, 1000, 2000, std::string(1000, 'z')));
  drain_disk();
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u);
  EXPECT_EQ(replica_->stats().snapshots_installed, 0u);
  EXPECT_EQ(replica_->snapshot_next(), 0u);
  EXPECT_EQ(machine_.state, "");
}

// Found by the snapshot fuzzer after the merge (issue 16): a snapshot at
// instance 2^64-1 was taken; installed, the instance after it wraps to 0.
// A chunk naming an instance past paxos::kInstanceMax is refused.
TEST_F(FetchTest, ASnapshotPastTheLargestInstanceIsRefused) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  sent_.clear();
  for (paxos::Instance far : {paxos::kInstanceMax + 1, paxos::Instance{UINT64_MAX}}) {
    paxos::Message m = chunk(peer, 0, 3, "abc");
    m.instance = far;
    replica_->receive(m);
  }
  drain_disk();
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 1u) << "the first ends the fetch";
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u);
  EXPECT_EQ(replica_->stats().snapshots_installed, 0u);
  EXPECT_EQ(machine_.state, "");
}

TEST_F(FetchTest, OneByteOverTheMaximumIsRefused) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  sent_.clear();
  replica_->receive(chunk(peer, 0, options_.snapshot_fetch_max_bytes + 1, "y"));
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 1u);
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u);
}

TEST_F(FetchTest, ExactlyTheMaximumIsFetched) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  sent_.clear();
  replica_->receive(chunk(peer, 0, options_.snapshot_fetch_max_bytes, "y"));
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 0u);
  ASSERT_EQ(count(paxos::MessageType::kSnapshotRequest), 1u);
  EXPECT_EQ(find(paxos::MessageType::kSnapshotRequest)->offset, 1u);
}

TEST(FetchLimit, DefaultsToOneGibibyteAndComesFromTheClusterFile) {
  EXPECT_EQ(ReplicaOptions{}.snapshot_fetch_max_bytes, 1ULL << 30);
  const std::string nodes =
      "cluster_id = \"t\"\n"
      "[[node]]\nid = 1\npeer = \"127.0.0.1:7101\"\nclient = \"127.0.0.1:7201\"\n"
      "http = \"127.0.0.1:7301\"\n";
  auto plain = daemon::parse_config(nodes, "test");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->replica_options().snapshot_fetch_max_bytes, 1ULL << 30);
  auto tuned =
      daemon::parse_config(nodes + "[tuning]\nsnapshot_fetch_max_bytes = 2097152\n", "test");
  ASSERT_TRUE(tuned.ok()) << tuned.status().message();
  EXPECT_EQ(tuned->replica_options().snapshot_fetch_max_bytes, 2ULL << 20);
  auto tiny = daemon::parse_config(nodes + "[tuning]\nsnapshot_fetch_max_bytes = 10\n", "test");
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("snapshot_fetch_max_bytes"), std::string::npos)
      << tiny.status().message();
}

TEST_F(FetchTest, AChunkThatChangesTheTotalIsRefused) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  replica_->receive(chunk(peer, 0, 1000, std::string(100, 'a')));
  sent_.clear();
  replica_->receive(chunk(peer, 100, 5000, std::string(100, 'b')));
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 1u);
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u);
  // The fetch was dropped: the rest of the original snapshot changes nothing.
  replica_->receive(chunk(peer, 100, 1000, std::string(900, 'c')));
  drain_disk();
  EXPECT_EQ(replica_->stats().snapshots_installed, 0u);
  EXPECT_EQ(machine_.state, "");
}

TEST_F(FetchTest, AChunkThatRunsPastTheAnnouncedEndIsRefused) {
  const paxos::NodeId peer = start_fetch();
  ASSERT_NE(peer, 0u);
  replica_->receive(chunk(peer, 0, 150, std::string(100, 'a')));
  sent_.clear();
  replica_->receive(chunk(peer, 100, 150, std::string(100, 'b')));  // 200 > 150
  drain_disk();
  EXPECT_EQ(replica_->stats().snapshot_chunks_rejected, 1u);
  EXPECT_EQ(count(paxos::MessageType::kSnapshotRequest), 0u);
  EXPECT_EQ(replica_->stats().snapshots_installed, 0u);
  EXPECT_EQ(machine_.state, "");
}

}  // namespace
}  // namespace paxlock::driver
