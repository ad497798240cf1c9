// Item 9 of issue 13, on the simulated disk (tests/sim/sim_fs.h): the
// directories a replica creates are durable before anything in them counts,
// and a failed fdatasync leaves the log refusing every write.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>

#include "daemon/metrics.h"
#include "driver/replica.h"
#include "lock/lock_machine.h"
#include "sim/sim_fs.h"
#include "sim/sim_log_store.h"
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
  paxlock::Rng rng(1);
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
    paxlock::Rng rng(seed);
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

// Three real replicas (driver::Replica over the WAL on a SimFs each), wired
// by hand: every millisecond, finished disk work completes, every message in
// flight is delivered, and every 5 ms each replica ticks.
class Trio {
 public:
  struct Sent {
    paxos::NodeId from;
    paxos::MessageType type;
    bool from_broken;  // the sender's log was broken when it sent
  };

  explicit Trio(size_t pending_commands_max = 100000) {
    for (int i = 0; i < 3; ++i) {
      nodes_.push_back(
          std::make_unique<Node>(*this, static_cast<paxos::NodeId>(i + 1), pending_commands_max));
    }
    for (auto& n : nodes_)
      EXPECT_TRUE(n->replica->start(now_).ok());
  }

  driver::Replica& replica(paxos::NodeId id) { return *nodes_[id - 1]->replica; }
  const lock::LockMachine& machine(paxos::NodeId id) const { return nodes_[id - 1]->machine; }
  // Every event loop stalls: `ms` pass with nothing delivered and no tick.
  void stall(paxos::TimeMs ms) { now_ += ms; }
  sim::SimFs& disk(paxos::NodeId id) { return *nodes_[id - 1]->fs; }
  const std::vector<Sent>& sent() const { return sent_; }
  paxos::TimeMs now() const { return now_; }

  std::optional<paxos::NodeId> leader() {
    for (auto& n : nodes_) {
      if (n->replica->node().role() == paxos::Role::kLeader) return n->id;
    }
    return std::nullopt;
  }

  // Runs until `done` holds or `limit_ms` of simulated time passed.
  bool run_until(const std::function<bool()>& done, int limit_ms) {
    for (int ms = 0; ms < limit_ms; ++ms) {
      if (done()) return true;
      step();
    }
    return done();
  }

  // Submits `n` commands to `at` and runs until every one is answered.
  bool commands(paxos::NodeId at, int n) {
    auto answered = std::make_shared<int>(0);
    for (int k = 0; k < n; ++k) {
      const paxos::CommandId id{42, ++seq_};
      if (!replica(at)
               .submit(paxos::Command{id, "cmd"}, [answered](const std::string&) { ++*answered; })
               .ok()) {
        return false;
      }
    }
    return run_until([&] { return *answered == n; }, 5000);
  }

 private:
  struct Node : paxos::Transport {
    Node(Trio& t, paxos::NodeId i, size_t pending_commands_max) : trio(t), id(i) {
      fs = std::make_unique<sim::SimFs>(i);
      paxos::Config c;
      c.pending_commands_max = pending_commands_max;
      c.self = id;
      c.members = {1, 2, 3};
      c.rng_seed = 17 * id;
      store = std::make_unique<sim::SimLogStore>(
          *fs, "/data", id, WalOptions{1 << 16, false},
          [this](std::function<void()> fn) { trio.disk_.push_back(std::move(fn)); });
      driver::ReplicaOptions o;
      o.clock = [this] { return std::make_pair(trio.now_, trio.now_); };
      replica = std::make_unique<driver::Replica>(c, o, *store, *this, machine);
    }
    void send(const paxos::Message& m) override {
      trio.sent_.push_back(Sent{m.from, m.type, store->broken()});
      trio.wire_.push_back(m);
    }
    Trio& trio;
    paxos::NodeId id;
    std::unique_ptr<sim::SimFs> fs;
    std::unique_ptr<sim::SimLogStore> store;
    lock::LockMachine machine;
    std::unique_ptr<driver::Replica> replica;
  };

  void step() {
    ++now_;
    for (size_t k = disk_.size(); k > 0 && !disk_.empty(); --k) {
      auto fn = std::move(disk_.front());
      disk_.pop_front();
      fn();
    }
    for (int k = 0; k < 10000 && !wire_.empty(); ++k) {
      paxos::Message m = std::move(wire_.front());
      wire_.pop_front();
      replica(m.to).receive(m);
    }
    if (now_ % 5 == 0) {
      for (auto& n : nodes_)
        n->replica->tick(now_, now_);
    }
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::deque<std::function<void()>> disk_;
  std::deque<paxos::Message> wire_;
  std::vector<Sent> sent_;
  paxos::TimeMs now_ = 1000;
  uint64_t seq_ = 0;
};

// A failed fdatasync on a follower: from then on it sends no Promise and no
// Accepted (not for the leader's instances, not for a new leader's prepare),
// writes nothing more, and says so in /status and /metrics; the other two go
// on choosing commands.
TEST(FailedSync, ReplicaStopsAcknowledgingAndSaysSoInStatusAndMetrics) {
  Trio t;
  ASSERT_TRUE(t.run_until([&] { return t.leader().has_value(); }, 5000)) << "no leader";
  const paxos::NodeId leader = *t.leader();
  const paxos::NodeId f = leader == 3 ? 2 : 3;  // the follower whose disk fails
  const paxos::NodeId g = 6 - leader - f;       // the healthy follower
  ASSERT_TRUE(t.commands(leader, 5));
  const size_t acks_before = std::count_if(t.sent().begin(), t.sent().end(), [&](const auto& s) {
    return s.from == f && s.type == paxos::MessageType::kAccepted;
  });
  ASSERT_GT(acks_before, 0u) << "the follower acknowledged while its disk worked";

  t.disk(f).fail_next_datasyncs(1);
  ASSERT_TRUE(t.commands(leader, 20)) << "two healthy replicas still choose commands";
  EXPECT_TRUE(t.replica(f).disk_broken());
  EXPECT_FALSE(t.replica(f).disk_ok());
  // A new election: the healthy follower campaigns, the leader (which a
  // quorum still answers) runs phase 1 again above its ballot (issue 13's
  // rule against deposing a healthy leader) or g wins; either way a Prepare
  // reaches the broken follower, which must not promise.
  const paxos::Ballot before = t.replica(leader).node().ballot();
  t.replica(g).campaign(t.now());
  ASSERT_TRUE(t.run_until(
      [&] {
        auto l = t.leader();
        return l && *l != f && before < t.replica(*l).node().ballot();
      },
      5000))
      << "no new election";
  const paxos::NodeId now_leading = *t.leader();
  ASSERT_TRUE(t.commands(now_leading, 20));
  // It still learns what the others choose, and answers its own clients.
  ASSERT_TRUE(t.commands(f, 5)) << "the broken replica answers from what the others chose";
  EXPECT_EQ(t.replica(f).node().next_apply(), t.replica(now_leading).node().next_apply());
  // Its own campaign gets nowhere (it cannot even promise to itself), and the
  // others carry on.
  t.replica(f).campaign(t.now());
  t.run_until([] { return false; }, 2000);
  ASSERT_TRUE(t.commands(*t.leader(), 5));
  EXPECT_NE(t.leader(), f);

  std::printf("leader %u, broken follower %u, healthy %u; %zu messages, %lld ms simulated\n",
              leader, f, g, t.sent().size(), static_cast<long long>(t.now() - 1000));
  for (const Trio::Sent& s : t.sent()) {
    if (s.from != f || !s.from_broken) continue;
    EXPECT_NE(s.type, paxos::MessageType::kAccepted) << "acknowledged after a failed fdatasync";
    EXPECT_NE(s.type, paxos::MessageType::kPromise) << "promised after a failed fdatasync";
  }
  // It wrote nothing after the failure (no retry every 200 ms for ever).
  EXPECT_EQ(t.replica(f).stats().write_failures, 1u);
  EXPECT_EQ(t.replica(g).stats().write_failures, 0u);
  // The driver got the disk's reason, not just "failed".
  EXPECT_EQ(t.replica(f).last_disk_error().code(), EIO);
  EXPECT_NE(t.replica(f).last_disk_error().message().find("fdatasync /data/wal/wal-"),
            std::string::npos)
      << t.replica(f).last_disk_error().message();
  EXPECT_TRUE(t.replica(g).last_disk_error().ok());

  // What /status and /metrics show (the daemon fills DiskHealth the same way).
  auto health = [&](paxos::NodeId id) {
    daemon::DiskHealth d;
    d.ok = t.replica(id).disk_ok();
    d.broken = t.replica(id).disk_broken();
    d.error = id == f ? "fdatasync /data/wal/wal-0000000000000001.log: I/O error" : "";
    d.write_failures = t.replica(id).stats().write_failures;
    return d;
  };
  const nlohmann::ordered_json json = daemon::disk_status_json(health(f));
  EXPECT_EQ(json.at("ok"), false) << json;
  EXPECT_EQ(json.at("broken"), true) << json;
  EXPECT_EQ(json.at("error"), "fdatasync /data/wal/wal-0000000000000001.log: I/O error") << json;
  EXPECT_EQ(json.at("write_failures"), 1) << json;
  daemon::PrometheusText broken;
  daemon::disk_metrics(broken, health(f));
  const std::string& metrics = broken.text();
  EXPECT_NE(metrics.find("\npaxlock_wal_broken 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\npaxlock_disk_ok 0\n"), std::string::npos) << metrics;
  EXPECT_NE(daemon::wal_broken_message(health(f)).find("Restart it"), std::string::npos);
  daemon::PrometheusText fine;
  daemon::disk_metrics(fine, health(g));
  const std::string& healthy = fine.text();
  EXPECT_NE(healthy.find("\npaxlock_wal_broken 0\n"), std::string::npos) << healthy;
  EXPECT_NE(healthy.find("\npaxlock_disk_ok 1\n"), std::string::npos) << healthy;
  EXPECT_EQ(daemon::disk_status_json(health(g)).at("broken"), false);
}

// A replica with too many commands pending says so with an EBUSY Status (the
// client service answers BUSY) and never calls that command's reply; the
// commands it took are still answered.
TEST(Submit, TooManyPendingIsBusyAndNeverReplies) {
  Trio t(/*pending_commands_max=*/2);
  ASSERT_TRUE(t.run_until([&] { return t.leader().has_value(); }, 5000)) << "no leader";
  const paxos::NodeId leader = *t.leader();
  int answered = 0;
  int busy_replies = 0;
  auto first = t.replica(leader).submit(paxos::Command{paxos::CommandId{9, 1}, "a"},
                                        [&](const std::string&) { ++answered; });
  auto second = t.replica(leader).submit(paxos::Command{paxos::CommandId{9, 2}, "b"},
                                         [&](const std::string&) { ++answered; });
  auto third = t.replica(leader).submit(paxos::Command{paxos::CommandId{9, 3}, "c"},
                                        [&](const std::string&) { ++busy_replies; });
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(*first, *second) << "each wait has its own tag";
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), EBUSY);
  EXPECT_NE(third.status().message().find("too many commands pending"), std::string::npos)
      << third.status().message();
  ASSERT_TRUE(t.run_until([&] { return answered == 2; }, 5000));
  EXPECT_EQ(busy_replies, 0);
  EXPECT_EQ(t.replica(leader).waiting(), 0u);
}

// A leader whose event loop stalled for 900 ms (SIGSTOP, a starved CPU)
// and then takes a command before its first tick: the batch carries the
// time the command arrived, so a lease renewed in it runs from then. (With
// the last tick's time, a keep-alive sent after the stall began renewed the
// lease from before it, and the lease ended up to the stall's length
// earlier than the client reckoned: two holders in a chaos run.)
TEST(StalledLoop, ABatchIsStampedWithTheTimeItsCommandArrived) {
  Trio t;
  ASSERT_TRUE(t.run_until([&] { return t.leader().has_value(); }, 5000)) << "no leader";
  const paxos::NodeId leader = *t.leader();
  ASSERT_TRUE(t.commands(leader, 1));
  t.stall(900);
  const paxos::TimeMs arrived = t.now();
  paxos::TimeMs applied_at = -1;
  ASSERT_TRUE(t.replica(leader)
                  .submit(paxos::Command{paxos::CommandId{77, 1}, "cmd"},
                          [&](const std::string&) { applied_at = t.machine(leader).now(); })
                  .ok());
  ASSERT_TRUE(t.run_until([&] { return applied_at >= 0; }, 5000));
  EXPECT_GE(applied_at, arrived) << "the batch carried a stamp from before the stall";
}

// The WAL itself: one failed fdatasync, and every later append or sync fails
// (the page cache may no longer match the disk) until the log is reopened.
TEST(FailedSync, TheLogRefusesEveryWriteUntilReopened) {
  sim::SimFs fs(5);
  {
    auto wal = Wal::open(fs, "/data/wal", 1, WalOptions{1 << 16, true}, nullptr);
    ASSERT_TRUE(wal.ok());
    ASSERT_TRUE((*wal)->append(accept(1, "a")).ok());
    ASSERT_TRUE((*wal)->sync().ok());
    ASSERT_TRUE((*wal)->append(accept(2, "b")).ok());
    fs.fail_next_datasyncs(1);
    EXPECT_FALSE((*wal)->sync().ok());
    EXPECT_TRUE((*wal)->broken());
    EXPECT_FALSE((*wal)->append(accept(3, "c")).ok());
    EXPECT_FALSE((*wal)->sync().ok());
  }
  WalRecovery rec;
  auto wal = Wal::open(fs, "/data/wal", 1, WalOptions{1 << 16, true}, &rec);
  ASSERT_TRUE(wal.ok());
  EXPECT_FALSE((*wal)->broken());
  EXPECT_GE(rec.state.entries.size(), 1u);
  EXPECT_TRUE((*wal)->append(accept(3, "c")).ok());
  EXPECT_TRUE((*wal)->sync().ok());
}

}  // namespace
}  // namespace paxlock::storage
