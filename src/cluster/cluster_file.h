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
//   [tls]                       # TLS on every port (or insecure = true)
//   ca = "certs/ca.crt"
//   cert = "certs/node-{id}.crt"      # {id}: the node's id
//   key = "certs/node-{id}.key"
//   client_tokens = "certs/tokens"    # optional: bearer tokens (hashed)
//   client_auth = "cert"              # "cert", "token" or "cert_or_token"
//   admin = "alice"                   # optional: the first admin identity
//
//   [tuning]                    # optional; read by the replicas only
//
// Security is explicit: a file has a [tls] table, or `insecure = true` (a
// top-level key: plain TCP, no identities), never both; a replica refuses to
// start with neither (docs/OPERATIONS.md, "Certificates"). Each node reads
// its own certificate and key: `{id}` in `cert` and `key` stands for its id,
// so one file serves the whole cluster. Relative paths are relative to the
// directory of the cluster file (load_cluster_file anchors them), so the
// file and its certificates move together. Clients read `ca` (to verify the
// replicas) and `client_auth`; their own credentials come from their flags.
//
// This library reads the cluster's identity and members, for the daemon
// (src/daemon/config.h adds [tuning]) and the client library alike. Every
// address is resolved here, once: an IP literal as it is, a host name through
// the resolver, and a name that does not resolve is an error naming it, never
// a silent fallback.
#pragma once

#include <cstdint>
#include <optional>
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

// How a client proves its identity on the client port.
enum class ClientAuth : uint8_t {
  kCert,         // a client certificate (CN = identity)
  kToken,        // a bearer token in the hello (the token file)
  kCertOrToken,  // either
};
const char* to_string(ClientAuth auth);

// The [tls] table.
struct TlsSettings {
  std::string ca;
  std::string cert;           // may hold "{id}"
  std::string key;            // may hold "{id}"
  std::string client_tokens;  // empty: no token file
  ClientAuth client_auth = ClientAuth::kCert;
  // The bootstrap admin: the replicas propose it (acl_bootstrap) at start,
  // and it becomes the admin if the ACL table has none. Empty: none.
  std::string admin;
  // Under [tls], HTTP is HTTPS: /status and /chosen are for admins, and
  // /metrics for any identified client, unless this opens it to anyone who
  // reaches the port (a scraper without a certificate or token).
  bool metrics_public = false;
  // Credentials a client using this file presents unless told others (the
  // CLI's --cert/--key/--token-file or their environment variables): what
  // `paxlock local up` writes for its admin identity, so that a local
  // cluster's file is all a command needs. Both or neither; the replicas do
  // not read them.
  std::string client_cert;
  std::string client_key;

  // `cert` and `key` with "{id}" replaced by `node_id`.
  std::string cert_of(uint32_t node_id) const;
  std::string key_of(uint32_t node_id) const;
  bool accepts_tokens() const { return client_auth != ClientAuth::kCert; }
  bool accepts_certs() const { return client_auth != ClientAuth::kToken; }
};

struct ClusterFile {
  std::string cluster_id;
  std::vector<Member> members;
  bool insecure = false;           // `insecure = true`: plain TCP, no identities
  std::optional<TlsSettings> tls;  // the [tls] table
  const Member* member(uint32_t id) const;
};

// Why a replica must not start with this security setting (neither [tls]
// nor insecure = true), or nullopt. `source` names the file.
std::optional<std::string> missing_security(bool insecure, const std::optional<TlsSettings>& tls,
                                            const std::string& source);
// Makes the relative paths of `tls` relative to the directory of the file
// at `file_path` (what load_cluster_file and the daemon's load_config do).
void anchor_paths(TlsSettings& tls, const std::string& file_path);

// "host:port" or "[v6]:port", syntax only (ip left empty).
Result<Address> parse_address(const std::string& text);
// parse_address, then the host resolved to a numeric address.
Result<Address> resolve_address(const std::string& text);

Result<ClusterFile> load_cluster_file(const std::string& path);
// Top-level keys other than cluster_id, insecure, [[node]], [tls] and
// [tuning] are refused;
// [tuning] is left to the daemon (daemon/config.h).
Result<ClusterFile> parse_cluster_file(const std::string& toml_text, const std::string& source);
// The cluster part as TOML (the local launcher writes it).
std::string to_toml(const ClusterFile& file);

}  // namespace paxlock::cluster
