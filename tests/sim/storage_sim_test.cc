// Storage under the simulator: a replica down for 10,000+ instances comes back
// through a snapshot while every disk stays bounded, and a replica whose disk
// fills up stops acknowledging until space is back.
#include <gtest/gtest.h>

#include "sim/simulator.h"

namespace paxlock::sim {
namespace {

Options quiet(uint64_t seed) {
  Options o;
  o.seed = seed;
  o.randomize_faults = false;
  o.delay_max_ms = 2;
  return o;
}

TEST(StorageSim, ReplicaDownFor10000InstancesCatchesUpThroughASnapshot) {
  Options o = quiet(7);
  o.clients = 40;
  o.commands_per_client = 800;  // 32,000 commands, one per instance
  o.batch_commands_max = 1;
  o.snapshot_every = 500;
  o.wal_segment_bytes = 64 << 10;
  o.outage_node = 2;
  o.outage_from_ms = 0;
  o.fault_ms = 30000;
  const Outcome r = run(o);
  ASSERT_TRUE(r.ok) << r.violation << "\n  replay: " << replay_command(o);
  EXPECT_GE(r.instances_chosen, 32000u);
  EXPECT_GE(r.snapshots_installed, 1u) << "node 3 should have caught up through a snapshot";
  // The log on disk stays bounded while far more than that was written; the
  // rest of the data directory is the snapshot, which is the state itself.
  EXPECT_LE(r.max_log_disk_bytes, 8 * o.wal_segment_bytes) << "largest log on disk";
  EXPECT_GT(r.log_bytes_written, 4 * r.max_log_disk_bytes);
  std::printf(
      "instances %llu, log written %llu bytes, largest log on disk %llu bytes, "
      "largest data dir %llu bytes, snapshots installed %llu\n",
      (unsigned long long)r.instances_chosen, (unsigned long long)r.log_bytes_written,
      (unsigned long long)r.max_log_disk_bytes, (unsigned long long)r.max_disk_bytes,
      (unsigned long long)r.snapshots_installed);
}

TEST(StorageSim, FullDiskStopsAcknowledgementsUntilSpaceIsBack) {
  Options o = quiet(8);
  o.wal_preallocate = false;  // so that appends, not just new segments, need space
  o.commands_per_client = 200;
  o.disk_full_node = 0;
  o.disk_full_from_ms = 20;
  o.disk_full_until_ms = 1000;
  o.fault_ms = 1500;
  const Outcome r = run(o);
  // The simulator fails the run if the node sends a promise or an
  // acknowledgement while its disk is failing.
  ASSERT_TRUE(r.ok) << r.violation << "\n  replay: " << replay_command(o);
  EXPECT_GT(r.write_failures, 0u);
  EXPECT_GT(r.end_ms, o.disk_full_until_ms) << "the workload outlived the full disk";
  EXPECT_EQ(r.commands_acked, static_cast<uint64_t>(o.clients * o.commands_per_client));
}

}  // namespace
}  // namespace paxlock::sim
