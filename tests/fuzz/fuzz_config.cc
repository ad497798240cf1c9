// Fuzz target: configuration text. The input is parsed as paxlockd's config
// (daemon::parse_config: the cluster file plus [tuning]) and as the cluster
// file the client library reads (cluster::parse_cluster_file).
//
// Properties: no crash, no exception; a file that parses is written back
// (to_toml, as the local launcher does) into text that parses to the same
// cluster id, members, addresses and tuning; parse_config takes a text only
// if parse_cluster_file does.
//
// Host names are never looked up: getaddrinfo is replaced below by one that
// takes numeric addresses only, so a run is deterministic and never touches
// the network (a name reads as "does not resolve").
#include <dlfcn.h>
#include <netdb.h>

#include "cluster/cluster_file.h"
#include "daemon/config.h"
#include "fuzz/fuzz_input.h"

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const auto real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo numeric = hints != nullptr ? *hints : addrinfo{};
  numeric.ai_flags |= AI_NUMERICHOST;
  return real(node, service, &numeric, res);
}

namespace paxlock::fuzz {
namespace {

bool same_address(const cluster::Address& a, const cluster::Address& b) {
  return a.host == b.host && a.port == b.port && a.ip == b.ip;
}

bool same_members(const std::vector<cluster::Member>& a, const std::vector<cluster::Member>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || !same_address(a[i].peer, b[i].peer) ||
        !same_address(a[i].client, b[i].client) || !same_address(a[i].http, b[i].http) ||
        a[i].data_dir != b[i].data_dir) {
      return false;
    }
  }
  return true;
}

std::string tuning_toml(const daemon::Tuning& t) {
  daemon::ClusterConfig c;
  c.cluster_id = "x";
  c.tuning = t;
  return daemon::to_toml(c);
}

bool same_tuning(const daemon::Tuning& a, const daemon::Tuning& b) {
  return tuning_toml(a) == tuning_toml(b);
}

bool same_security(bool insecure_a, const std::optional<cluster::TlsSettings>& a, bool insecure_b,
                   const std::optional<cluster::TlsSettings>& b) {
  if (insecure_a != insecure_b || a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->ca == b->ca && a->cert == b->cert && a->key == b->key &&
         a->client_tokens == b->client_tokens && a->client_auth == b->client_auth &&
         a->admin == b->admin;
}

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paxlock;
  using namespace paxlock::fuzz;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto file = cluster::parse_cluster_file(text, "fuzz.toml");
  auto config = daemon::parse_config(text, "fuzz.toml");
  if (config.ok()) FUZZ_CHECK(file.ok());
  if (file.ok()) {
    auto again = cluster::parse_cluster_file(cluster::to_toml(*file), "again.toml");
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->cluster_id == file->cluster_id);
    FUZZ_CHECK(same_members(again->members, file->members));
    FUZZ_CHECK(same_security(again->insecure, again->tls, file->insecure, file->tls));
  }
  if (config.ok()) {
    auto again = daemon::parse_config(daemon::to_toml(*config), "again.toml");
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->cluster_id == config->cluster_id);
    FUZZ_CHECK(same_members(again->members, config->members));
    FUZZ_CHECK(same_tuning(again->tuning, config->tuning));
    FUZZ_CHECK(same_security(again->insecure, again->tls, config->insecure, config->tls));
  }
  return 0;
}
