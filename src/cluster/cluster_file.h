// The cluster file (TOML), shared by every replica and client:
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
//   [tuning]                    # optional; read by the replicas only
//
// This library reads the cluster's identity and members, for the daemon
// (src/daemon/config.h adds [tuning]) and the client library alike. Every
// address is resolved here, once: an IP literal as it is, a host name through
// the resolver, and a name that does not resolve is an error naming it, never
// a silent fallback.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace paxlock::cluster {

struct Address {
  std::string host;  // as written
  uint16_t port = 0;
  std::string ip;  // numeric, resolved from host when the file was read
  std::string to_string() const { return host + ":" + std::to_string(port); }
  // The resolved form, "ip:port" ("[ip]:port" for IPv6): what to connect to.
  std::string resolved() const {
    const bool v6 = ip.find(':') != std::string::npos;
    return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  }
};

struct Member {
  uint32_t id = 0;
  Address peer;
  Address client;
  Address http;
  std::string data_dir;
};

struct ClusterFile {
  std::string cluster_id;
  std::vector<Member> members;
  const Member* member(uint32_t id) const;
};

// "host:port" or "[v6]:port", syntax only (ip left empty).
Result<Address> parse_address(const std::string& text);
// parse_address, then the host resolved to a numeric address.
Result<Address> resolve_address(const std::string& text);

Result<ClusterFile> load_cluster_file(const std::string& path);
// Top-level keys other than cluster_id, [[node]] and [tuning] are refused;
// [tuning] is left to the daemon (daemon/config.h).
Result<ClusterFile> parse_cluster_file(const std::string& toml_text, const std::string& source);
// The cluster part as TOML (the local launcher writes it).
std::string to_toml(const ClusterFile& file);

}  // namespace paxlock::cluster
