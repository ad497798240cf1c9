#include "server/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

namespace paxlock::server {
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
};

Result<Address> address_field(const toml::table& t, const char* key, const std::string& where) {
  auto v = t[key].value<std::string>();
  if (!v) return Status::error(EINVAL, where + " has no '" + key + "' address (\"host:port\")");
  auto a = parse_address(*v);
  if (!a.ok()) return Status::error(EINVAL, where + " " + key + ": " + a.status().message());
  return a;
}

}  // namespace

Result<Address> parse_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::error(EINVAL, "'" + text + "' is not host:port");
  }
  Address a;
  a.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
    return Status::error(EINVAL, "'" + text + "' has a bad port");
  }
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return Status::error(EINVAL, "'" + text + "' has a port out of range");
  a.port = static_cast<uint16_t>(p);
  return a;
}

Result<ClusterConfig> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(ENOENT, "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

Result<ClusterConfig> parse_config(const std::string& toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return bad(source, fmt::format("line {}: {}", e.source().begin.line, e.description()));
  }
  ClusterConfig cfg;
  for (const auto& [key, value] : root) {
    const std::string k(key.str());
    if (k != "cluster_id" && k != "node" && k != "tuning") {
      return bad(source, "unknown key '" + k + "' (expected cluster_id, [[node]], [tuning])");
    }
  }
  auto cluster_id = root["cluster_id"].value<std::string>();
  if (!cluster_id || cluster_id->empty()) return bad(source, "missing cluster_id (a string)");
  cfg.cluster_id = *cluster_id;
  const toml::array* nodes = root["node"].as_array();
  if (!nodes || nodes->empty()) return bad(source, "no [[node]] tables");
  std::set<paxos::NodeId> ids;
  std::set<std::string> addresses;
  for (size_t i = 0; i < nodes->size(); ++i) {
    const toml::table* t = (*nodes)[i].as_table();
    const std::string where = fmt::format("node #{}", i + 1);
    if (!t) return bad(source, where + " is not a table");
    for (const auto& [key, value] : *t) {
      const std::string k(key.str());
      if (k != "id" && k != "peer" && k != "client" && k != "http" && k != "data_dir") {
        return bad(source, where + ": unknown key '" + k + "'");
      }
    }
    Member m;
    auto id = (*t)["id"].value<int64_t>();
    if (!id || *id < 1 || *id > 1000000) {
      return bad(source, where + " needs an integer id between 1 and 1000000");
    }
    m.id = static_cast<paxos::NodeId>(*id);
    if (!ids.insert(m.id).second) return bad(source, fmt::format("duplicate node id {}", m.id));
    const std::string w = fmt::format("node {}", m.id);
    for (auto [key, field] :
         {std::pair{"peer", &Member::peer}, std::pair{"client", &Member::client},
          std::pair{"http", &Member::http}}) {
      auto a = address_field(*t, key, w);
      if (!a.ok()) return bad(source, a.status().message());
      if (!addresses.insert(a->to_string()).second) {
        return bad(source, fmt::format("{} {}: address {} is used twice", w, key, a->to_string()));
      }
      m.*field = *a;
    }
    if (auto dir = (*t)["data_dir"].value<std::string>()) m.data_dir = *dir;
    cfg.members.push_back(std::move(m));
  }
  if (const toml::table* tuning = root["tuning"].as_table()) {
    for (const auto& [key, value] : *tuning) {
      const std::string k(key.str());
      const TuningKey* tk = nullptr;
      for (const TuningKey& c : kTuningKeys) {
        if (k == c.name) tk = &c;
      }
      if (!tk) return bad(source, "[tuning]: unknown key '" + k + "'");
      auto v = value.value<int64_t>();
      if (!v) return bad(source, "[tuning] " + k + " must be an integer");
      if (*v < tk->min || *v > tk->max) {
        return bad(source, fmt::format("[tuning] {} = {} is out of range [{}, {}]", k, *v, tk->min,
                                       tk->max));
      }
      cfg.tuning.*(tk->field) = *v;
    }
  } else if (root.contains("tuning")) {
    return bad(source, "tuning must be a table");
  }
  if (cfg.tuning.election_timeout_ms <= cfg.tuning.heartbeat_ms) {
    return bad(source, "[tuning] election_timeout_ms must exceed heartbeat_ms");
  }
  return cfg;
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

ReplicaOptions ClusterConfig::replica_options() const {
  ReplicaOptions o;
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

std::string to_toml(const ClusterConfig& c) {
  std::string out = fmt::format("cluster_id = \"{}\"\n", c.cluster_id);
  for (const Member& m : c.members) {
    out += fmt::format("\n[[node]]\nid = {}\npeer = \"{}\"\nclient = \"{}\"\nhttp = \"{}\"\n", m.id,
                       m.peer.to_string(), m.client.to_string(), m.http.to_string());
    if (!m.data_dir.empty()) out += fmt::format("data_dir = \"{}\"\n", m.data_dir);
  }
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

}  // namespace paxlock::server
