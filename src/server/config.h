// The cluster configuration file (TOML), shared by every replica and client:
//
//   cluster_id = "prod-locks"
//
//   [[node]]
//   id = 1
//   peer = "10.0.0.1:7101"      # replica to replica
//   client = "10.0.0.1:7201"    # client API
//   http = "10.0.0.1:7301"      # /status and /metrics
//   data_dir = "/var/lib/paxlock/1"   # optional; --data-dir overrides
//   # ... one [[node]] table per replica
//
//   [tuning]                    # optional; every key has a default
//   heartbeat_ms = 50
//   election_timeout_ms = 300
//   ...
//
// Loading checks everything and fails with one line naming the problem:
// missing or mistyped fields, unknown keys, duplicate ids or addresses,
// malformed addresses, out-of-range tunables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "paxos/config.h"
#include "server/replica.h"
#include "storage/wal.h"

namespace paxlock::server {

struct Address {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

struct Member {
  paxos::NodeId id = 0;
  Address peer;
  Address client;
  Address http;
  std::string data_dir;
};

struct Tuning {
  int64_t heartbeat_ms = 50;
  int64_t election_timeout_ms = 300;
  int64_t resend_ms = 100;
  int64_t command_retry_ms = 400;
  int64_t idle_tick_ms = 200;
  int64_t pipeline_window = 8;
  int64_t batch_commands_max = 256;
  int64_t batch_bytes_max = 256 << 10;
  int64_t pending_commands_max = 100000;
  int64_t snapshot_every_instances = 10000;
  int64_t snapshot_every_bytes = 64LL << 20;
  int64_t snapshot_fetch_max_bytes = 1LL << 30;  // a peer's snapshot larger than this is refused
  int64_t wal_segment_bytes = 64LL << 20;
  int64_t max_frame_bytes = 8 << 20;
  int64_t peer_queue_bytes = 32 << 20;
  int64_t client_pending_max = 10000;  // requests in flight per client connection
};

struct ClusterConfig {
  std::string cluster_id;
  std::vector<Member> members;
  Tuning tuning;

  const Member* member(paxos::NodeId id) const;
  paxos::Config core_config(paxos::NodeId self, uint64_t rng_seed) const;
  ReplicaOptions replica_options() const;
  storage::WalOptions wal_options() const;
};

Result<ClusterConfig> load_config(const std::string& path);
Result<ClusterConfig> parse_config(const std::string& toml_text, const std::string& source);
Result<Address> parse_address(const std::string& text);
// Writes a configuration back as TOML (used by the local cluster launcher).
std::string to_toml(const ClusterConfig& config);

}  // namespace paxlock::server
