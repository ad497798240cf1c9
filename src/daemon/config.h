// The replica's configuration: the cluster file (src/cluster/cluster_file.h:
// cluster_id and the [[node]] tables) plus the optional [tuning] table:
//
//   [tuning]                    # every key has a default
//   heartbeat_ms = 50
//   election_timeout_ms = 300
//   ...
//
// and the security settings of the cluster file ([tls] or insecure = true;
// relative paths are anchored at the file's directory by load_config).
//
// Loading checks everything and fails with one line naming the problem:
// missing or mistyped fields, unknown keys, duplicate ids or addresses,
// malformed or unresolvable addresses, out-of-range tunables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_file.h"
#include "common/status.h"
#include "daemon/http_server.h"
#include "driver/replica.h"
#include "paxos/config.h"
#include "storage/wal.h"

namespace paxlock::daemon {

using cluster::Address;
using cluster::Member;

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
  // Bounds on connections, against hostile or broken peers and clients
  // (issue 16; docs/OPERATIONS.md has the table).
  int64_t hello_timeout_ms = 5000;    // a connection without a hello by then is closed
  int64_t frame_timeout_ms = 30000;   // a frame started must be finished by then
  int64_t peer_connections_max = 64;  // inbound on the peer port
  int64_t peer_connections_per_source_max = 16;
  int64_t peer_hellos_per_source_per_s = 10;
  int64_t peer_idle_timeout_ms = 10000;  // peers send keepalives every 500 ms
  int64_t peer_takeover_idle_ms = 2000;  // a hello may replace a connection this quiet
  int64_t client_connections_max = 4096;
  int64_t client_connections_per_source_max = 256;
  int64_t client_handshakes_per_source_per_s = 200;     // [tls] only; a burst of as many
  int64_t client_idle_timeout_ms = 300000;              // no request in flight and none received
  int64_t client_output_bytes_max = 32LL << 20;         // replies queued per connection
  int64_t client_output_total_bytes_max = 256LL << 20;  // on all client connections
  // The HTTP endpoint (/status, /metrics): src/daemon/http_server.h.
  int64_t http_connections_max = 64;       // beyond: the oldest still sending is closed
  int64_t http_threads = 4;                // requests answered at once
  int64_t http_header_bytes_max = 16384;   // request line and headers
  int64_t http_body_bytes_max = 65536;     // a larger Content-Length is refused unread
  int64_t http_request_timeout_ms = 5000;  // the whole request, from the connection's accept
  int64_t http_write_timeout_ms = 5000;    // the whole answer
};

// Every [tuning] key with its default and its range: the table parse_config
// reads and to_toml writes. tests/unit/operations_doc_test.cc checks that
// docs/OPERATIONS.md ("Limits") lists each key with this default.
struct TuningKeyInfo {
  std::string_view name;
  int64_t default_value;
  int64_t min;
  int64_t max;
};
std::vector<TuningKeyInfo> tuning_keys();

struct ClusterConfig {
  std::string cluster_id;
  std::vector<Member> members;
  Tuning tuning;
  bool insecure = false;                    // plain TCP, no identities
  std::optional<cluster::TlsSettings> tls;  // the [tls] table

  const Member* member(paxos::NodeId id) const;
  paxos::Config core_config(paxos::NodeId self, uint64_t rng_seed) const;
  driver::ReplicaOptions replica_options() const;
  storage::WalOptions wal_options() const;
  HttpLimits http_limits() const;
};

Result<ClusterConfig> load_config(const std::string& path);
Result<ClusterConfig> parse_config(const std::string& toml_text, const std::string& source);
// Writes a configuration back as TOML (used by the local cluster launcher).
std::string to_toml(const ClusterConfig& config);

}  // namespace paxlock::daemon
