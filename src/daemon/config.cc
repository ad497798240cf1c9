#include "daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

namespace paxlock::daemon {
namespace {

Status bad(const std::string& source, const std::string& what) {
  return Status::error(EINVAL, source + ": " + what);
}

struct TuningKey {
  const char* name;
  int64_t Tuning::*field;
  int64_t min;
  int64_t max;
};

constexpr TuningKey kTuningKeys[] = {
    {"heartbeat_ms", &Tuning::heartbeat_ms, 1, 60000},
    {"election_timeout_ms", &Tuning::election_timeout_ms, 2, 600000},
    {"resend_ms", &Tuning::resend_ms, 1, 60000},
    {"command_retry_ms", &Tuning::command_retry_ms, 1, 600000},
    {"idle_tick_ms", &Tuning::idle_tick_ms, 1, 600000},
    {"pipeline_window", &Tuning::pipeline_window, 1, 100000},
    {"batch_commands_max", &Tuning::batch_commands_max, 1, 100000},
    {"batch_bytes_max", &Tuning::batch_bytes_max, 1024, 1LL << 30},
    {"pending_commands_max", &Tuning::pending_commands_max, 1, 100000000},
    {"snapshot_every_instances", &Tuning::snapshot_every_instances, 1, 1LL << 40},
    {"snapshot_every_bytes", &Tuning::snapshot_every_bytes, 4096, 1LL << 50},
    {"snapshot_fetch_max_bytes", &Tuning::snapshot_fetch_max_bytes, 64LL << 10, 1LL << 40},
    {"wal_segment_bytes", &Tuning::wal_segment_bytes, 64LL << 10, 1LL << 34},
    {"max_frame_bytes", &Tuning::max_frame_bytes, 64LL << 10, 1LL << 30},
    {"peer_queue_bytes", &Tuning::peer_queue_bytes, 64LL << 10, 1LL << 34},
    {"client_pending_max", &Tuning::client_pending_max, 1, 10000000},
    {"hello_timeout_ms", &Tuning::hello_timeout_ms, 100, 600000},
    {"frame_timeout_ms", &Tuning::frame_timeout_ms, 100, 3600000},
    {"peer_connections_max", &Tuning::peer_connections_max, 2, 100000},
    {"peer_connections_per_source_max", &Tuning::peer_connections_per_source_max, 1, 100000},
    {"peer_hellos_per_source_per_s", &Tuning::peer_hellos_per_source_per_s, 1, 1000000},
    {"peer_idle_timeout_ms", &Tuning::peer_idle_timeout_ms, 1000, 3600000},
    {"peer_takeover_idle_ms", &Tuning::peer_takeover_idle_ms, 1000, 3600000},
    {"client_connections_max", &Tuning::client_connections_max, 1, 1000000},
    {"client_connections_per_source_max", &Tuning::client_connections_per_source_max, 1, 1000000},
    {"client_handshakes_per_source_per_s", &Tuning::client_handshakes_per_source_per_s, 1, 1000000},
    {"client_idle_timeout_ms", &Tuning::client_idle_timeout_ms, 100, 86400000},
    {"client_output_bytes_max", &Tuning::client_output_bytes_max, 64LL << 10, 1LL << 40},
    {"client_output_total_bytes_max", &Tuning::client_output_total_bytes_max, 64LL << 10,
     1LL << 44},
    {"http_connections_max", &Tuning::http_connections_max, 1, 100000},
    {"http_threads", &Tuning::http_threads, 1, 256},
    {"http_header_bytes_max", &Tuning::http_header_bytes_max, 1024, 1LL << 20},
    {"http_body_bytes_max", &Tuning::http_body_bytes_max, 0, 64LL << 20},
    {"http_request_timeout_ms", &Tuning::http_request_timeout_ms, 10, 600000},
    {"http_write_timeout_ms", &Tuning::http_write_timeout_ms, 10, 600000},
};

// The limits that must leave room for what the cluster itself needs.
Result<ClusterConfig> check_connection_limits(ClusterConfig cfg, const std::string& source) {
  const Tuning& t = cfg.tuning;
  const auto peers = static_cast<int64_t>(cfg.members.size()) - 1;
  if (t.peer_connections_max < 2 * peers) {
    return bad(source, fmt::format("[tuning] peer_connections_max = {} leaves no room for the "
                                   "cluster's {} peers (at least {}: one connection each, and "
                                   "one more while a peer reconnects)",
                                   t.peer_connections_max, peers, 2 * peers));
  }
  if (t.client_output_bytes_max < t.max_frame_bytes) {
    return bad(source,
               "[tuning] client_output_bytes_max must be at least max_frame_bytes (one "
               "reply must fit)");
  }
  if (t.client_output_total_bytes_max < t.client_output_bytes_max) {
    return bad(source,
               "[tuning] client_output_total_bytes_max must be at least client_output_bytes_max");
  }
  return cfg;
}

}  // namespace

Result<ClusterConfig> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(ENOENT, "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = parse_config(ss.str(), path);
  if (config.ok() && config->tls) cluster::anchor_paths(*config->tls, path);
  return config;
}

Result<ClusterConfig> parse_config(const std::string& toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return bad(source, fmt::format("line {}: {}", e.source().begin.line, e.description()));
  }
  auto file = cluster::parse_cluster_file(toml_text, source);
  if (!file.ok()) return file.status();
  ClusterConfig cfg;
  cfg.cluster_id = file->cluster_id;
  cfg.members = std::move(file->members);
  cfg.insecure = file->insecure;
  cfg.tls = std::move(file->tls);
  if (const toml::table* tuning = root["tuning"].as_table()) {
    for (const auto& [key, value] : *tuning) {
      const std::string k(key.str());
      const TuningKey* tk = nullptr;
      for (const TuningKey& c : kTuningKeys) {
        if (k == c.name) tk = &c;
      }
      if (!tk) return bad(source, "[tuning]: unknown key '" + k + "'");
      auto v = value.value_exact<int64_t>();  // no float conversion (cluster_file.cc)
      if (!v) return bad(source, "[tuning] " + k + " must be an integer");
      if (*v < tk->min || *v > tk->max) {
        return bad(source, fmt::format("[tuning] {} = {} is out of range [{}, {}]", k, *v, tk->min,
                                       tk->max));
      }
      cfg.tuning.*(tk->field) = *v;
    }
  }
  if (cfg.tuning.election_timeout_ms <= cfg.tuning.heartbeat_ms) {
    return bad(source, "[tuning] election_timeout_ms must exceed heartbeat_ms");
  }
  return check_connection_limits(cfg, source);
}

const Member* ClusterConfig::member(paxos::NodeId id) const {
  for (const Member& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

paxos::Config ClusterConfig::core_config(paxos::NodeId self, uint64_t rng_seed) const {
  paxos::Config c;
  c.self = self;
  for (const Member& m : members)
    c.members.push_back(m.id);
  c.rng_seed = rng_seed;
  c.heartbeat_ms = tuning.heartbeat_ms;
  c.election_timeout_ms = tuning.election_timeout_ms;
  c.resend_ms = tuning.resend_ms;
  c.command_retry_ms = tuning.command_retry_ms;
  c.idle_tick_ms = tuning.idle_tick_ms;
  c.pipeline_window = static_cast<size_t>(tuning.pipeline_window);
  c.batch_commands_max = static_cast<size_t>(tuning.batch_commands_max);
  c.batch_bytes_max = static_cast<size_t>(tuning.batch_bytes_max);
  c.pending_commands_max = static_cast<size_t>(tuning.pending_commands_max);
  // Chunks of promises and learn replies stay well inside a frame.
  c.message_bytes_max = static_cast<size_t>(tuning.max_frame_bytes) / 4;
  return c;
}

driver::ReplicaOptions ClusterConfig::replica_options() const {
  driver::ReplicaOptions o;
  o.snapshot_every_instances = static_cast<paxos::Instance>(tuning.snapshot_every_instances);
  o.snapshot_every_bytes = static_cast<uint64_t>(tuning.snapshot_every_bytes);
  o.snapshot_chunk_bytes = static_cast<size_t>(tuning.max_frame_bytes) / 4;
  o.snapshot_fetch_max_bytes = static_cast<uint64_t>(tuning.snapshot_fetch_max_bytes);
  return o;
}

storage::WalOptions ClusterConfig::wal_options() const {
  storage::WalOptions o;
  o.segment_bytes = static_cast<uint64_t>(tuning.wal_segment_bytes);
  return o;
}

HttpLimits ClusterConfig::http_limits() const {
  HttpLimits h;
  h.connections_max = static_cast<size_t>(tuning.http_connections_max);
  h.threads = static_cast<size_t>(tuning.http_threads);
  h.header_bytes_max = static_cast<size_t>(tuning.http_header_bytes_max);
  h.body_bytes_max = static_cast<size_t>(tuning.http_body_bytes_max);
  h.request_timeout = std::chrono::milliseconds(tuning.http_request_timeout_ms);
  h.write_timeout = std::chrono::milliseconds(tuning.http_write_timeout_ms);
  return h;
}

std::vector<TuningKeyInfo> tuning_keys() {
  const Tuning defaults;
  std::vector<TuningKeyInfo> out;
  for (const TuningKey& k : kTuningKeys)
    out.push_back(TuningKeyInfo{k.name, defaults.*(k.field), k.min, k.max});
  return out;
}

std::string to_toml(const ClusterConfig& c) {
  cluster::ClusterFile file;
  file.cluster_id = c.cluster_id;
  file.members = c.members;
  file.insecure = c.insecure;
  file.tls = c.tls;
  std::string out = cluster::to_toml(file);
  const Tuning defaults;
  std::string tuning;
  for (const TuningKey& k : kTuningKeys) {
    if (c.tuning.*(k.field) != defaults.*(k.field)) {
      tuning += fmt::format("{} = {}\n", k.name, c.tuning.*(k.field));
    }
  }
  if (!tuning.empty()) out += "\n[tuning]\n" + tuning;
  return out;
}

}  // namespace paxlock::daemon
