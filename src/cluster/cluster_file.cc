#include "cluster/cluster_file.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <toml++/toml.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace paxlock::cluster {
namespace {

Status bad(const std::string& source, const std::string& what) {
  return Status::error(EINVAL, source + ": " + what);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Result<Address> address_field(const toml::table& t, const char* key, const std::string& where) {
  auto v = t[key].value<std::string>();
  if (!v) return Status::error(EINVAL, where + " has no '" + key + "' address (\"host:port\")");
  auto a = resolve_address(*v);
  if (!a.ok()) return Status::error(EINVAL, where + " " + key + ": " + a.status().message());
  return a;
}

constexpr std::string_view kIdPlaceholder = "{id}";

std::string with_id(std::string path, uint32_t node_id) {
  for (size_t at = path.find(kIdPlaceholder); at != std::string::npos;
       at = path.find(kIdPlaceholder, at)) {
    const std::string id = std::to_string(node_id);
    path.replace(at, kIdPlaceholder.size(), id);
    at += id.size();
  }
  return path;
}

Result<TlsSettings> parse_tls(const toml::table& t, const std::string& source) {
  TlsSettings tls;
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    if (k == "http_insecure") {
      return bad(source,
                 "[tls] http_insecure is gone: under [tls] HTTP is HTTPS, /status and /chosen "
                 "for admins, /metrics for identified clients (metrics_public = true opens it)");
    }
    if (k == "metrics_public") {
      auto b = value.value<bool>();
      if (!b || !value.is_boolean())
        return bad(source, "[tls] metrics_public must be true or false");
      tls.metrics_public = *b;
      continue;
    }
    std::string* field = k == "ca"              ? &tls.ca
                         : k == "cert"          ? &tls.cert
                         : k == "key"           ? &tls.key
                         : k == "client_tokens" ? &tls.client_tokens
                         : k == "admin"         ? &tls.admin
                         : k == "client_cert"   ? &tls.client_cert
                         : k == "client_key"    ? &tls.client_key
                                                : nullptr;
    if (field == nullptr && k != "client_auth") {
      return bad(source, "[tls]: unknown key '" + k +
                             "' (expected ca, cert, key, client_tokens, client_auth, admin, "
                             "metrics_public, client_cert, client_key)");
    }
    auto v = value.value<std::string>();
    if (!v || v->empty()) return bad(source, "[tls] " + k + " must be a non-empty string");
    if (field != nullptr) {
      *field = *v;
    } else if (*v == "cert") {
      tls.client_auth = ClientAuth::kCert;
    } else if (*v == "token") {
      tls.client_auth = ClientAuth::kToken;
    } else if (*v == "cert_or_token") {
      tls.client_auth = ClientAuth::kCertOrToken;
    } else {
      return bad(source, "[tls] client_auth = '" + *v +
                             "': expected \"cert\", \"token\" or \"cert_or_token\"");
    }
  }
  for (auto [key, field] :
       {std::pair{"ca", &tls.ca}, std::pair{"cert", &tls.cert}, std::pair{"key", &tls.key}}) {
    if (field->empty()) return bad(source, fmt::format("[tls] has no '{}' (a file path)", key));
  }
  if (tls.client_cert.empty() != tls.client_key.empty()) {
    return bad(source, "[tls] client_cert and client_key go together");
  }
  if (tls.accepts_tokens() && tls.client_tokens.empty()) {
    return bad(source,
               fmt::format("[tls] client_auth = \"{}\" needs client_tokens (the token file)",
                           to_string(tls.client_auth)));
  }
  return tls;
}

}  // namespace

const char* to_string(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kCert:
      return "cert";
    case ClientAuth::kToken:
      return "token";
    case ClientAuth::kCertOrToken:
      return "cert_or_token";
  }
  return "?";
}

std::string TlsSettings::cert_of(uint32_t node_id) const {
  return with_id(cert, node_id);
}

std::string TlsSettings::key_of(uint32_t node_id) const {
  return with_id(key, node_id);
}

std::optional<std::string> missing_security(bool insecure, const std::optional<TlsSettings>& tls,
                                            const std::string& source) {
  if (insecure || tls) return std::nullopt;
  return source +
         " has neither a [tls] table nor insecure = true: paxlock is secure by default. "
         "Add [tls] with ca, cert and key (docs/OPERATIONS.md, \"Certificates\"; paxlock "
         "certs makes them), or insecure = true to run without TLS and authentication";
}

void anchor_paths(TlsSettings& tls, const std::string& file_path) {
  const std::filesystem::path dir = std::filesystem::path(file_path).parent_path();
  if (dir.empty()) return;
  for (std::string* p :
       {&tls.ca, &tls.cert, &tls.key, &tls.client_tokens, &tls.client_cert, &tls.client_key}) {
    if (!p->empty() && std::filesystem::path(*p).is_relative()) *p = (dir / *p).string();
  }
}

Result<Address> parse_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::error(EINVAL, "'" + text + "' is not host:port");
  }
  Address a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);  // [v6]:port
  }
  if (a.host.find_first_of(" \t[]") != std::string::npos) {
    return Status::error(EINVAL, "'" + text + "' has a malformed host");
  }
  const std::string port = text.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
    return Status::error(EINVAL, "'" + text + "' has a bad port");
  }
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return Status::error(EINVAL, "'" + text + "' has a port out of range");
  a.port = static_cast<uint16_t>(p);
  return a;
}

Result<Address> resolve_address(const std::string& text) {
  auto a = parse_address(text);
  if (!a.ok()) return a;
  if (is_ip_literal(a->host)) {
    a->ip = a->host;
    return a;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(a->host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return Status::error(EINVAL, fmt::format("cannot resolve host '{}' of '{}': {}", a->host, text,
                                             rc != 0 ? gai_strerror(rc) : "no address"));
  }
  char ip[INET6_ADDRSTRLEN] = {};
  const void* raw = found->ai_family == AF_INET6
                        ? static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr)
                        : static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr);
  inet_ntop(found->ai_family, raw, ip, sizeof ip);
  freeaddrinfo(found);
  a->ip = ip;
  return a;
}

const Member* ClusterFile::member(uint32_t id) const {
  for (const Member& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

Result<ClusterFile> load_cluster_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(ENOENT, "cannot read cluster file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::error(EIO, "cannot read cluster file " + path);
  auto file = parse_cluster_file(ss.str(), path);
  if (file.ok() && file->tls) anchor_paths(*file->tls, path);
  return file;
}

Result<ClusterFile> parse_cluster_file(const std::string& toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return bad(source, fmt::format("line {}: {}", e.source().begin.line, e.description()));
  }
  ClusterFile cfg;
  for (const auto& [key, value] : root) {
    const std::string k(key.str());
    if (k != "cluster_id" && k != "insecure" && k != "node" && k != "tls" && k != "tuning") {
      return bad(source, "unknown key '" + k +
                             "' (expected cluster_id, insecure, [[node]], [tls], [tuning])");
    }
  }
  if (root.contains("insecure")) {
    auto insecure = root["insecure"].value_exact<bool>();
    if (!insecure) return bad(source, "insecure must be true or false");
    cfg.insecure = *insecure;
  }
  if (root.contains("tls")) {
    const toml::table* t = root["tls"].as_table();
    if (!t) return bad(source, "tls must be a table");
    auto tls = parse_tls(*t, source);
    if (!tls.ok()) return tls.status();
    cfg.tls = std::move(*tls);
  }
  if (cfg.insecure && cfg.tls) {
    return bad(source, "insecure = true and a [tls] table contradict each other: keep one");
  }
  auto cluster_id = root["cluster_id"].value<std::string>();
  if (!cluster_id || cluster_id->empty()) return bad(source, "missing cluster_id (a string)");
  cfg.cluster_id = *cluster_id;
  const toml::array* nodes = root["node"].as_array();
  if (!nodes || nodes->empty()) return bad(source, "no [[node]] tables");
  std::set<uint32_t> ids;
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
    // value_exact: an integer, not a float converted (toml++ 3.3 converts
    // 1e300 to int64 with undefined behaviour; found by the config fuzzer).
    auto id = (*t)["id"].value_exact<int64_t>();
    if (!id || *id < 1 || *id > 1000000) {
      return bad(source, where + " needs an integer id between 1 and 1000000");
    }
    m.id = static_cast<uint32_t>(*id);
    if (!ids.insert(m.id).second) return bad(source, fmt::format("duplicate node id {}", m.id));
    const std::string w = fmt::format("node {}", m.id);
    for (auto [key, field] :
         {std::pair{"peer", &Member::peer}, std::pair{"client", &Member::client},
          std::pair{"http", &Member::http}}) {
      auto a = address_field(*t, key, w);
      if (!a.ok()) return bad(source, a.status().message());
      if (!addresses.insert(a->ip + ":" + std::to_string(a->port)).second) {
        return bad(source, fmt::format("{} {}: address {} is used twice", w, key, a->to_string()));
      }
      m.*field = *a;
    }
    if (auto dir = (*t)["data_dir"].value<std::string>()) m.data_dir = *dir;
    cfg.members.push_back(std::move(m));
  }
  if (root.contains("tuning") && !root["tuning"].as_table()) {
    return bad(source, "tuning must be a table");
  }
  return cfg;
}

namespace {

// A TOML basic string ("..."), every quote, backslash and control character
// escaped. (toml++ 3.3 writes a string with a newline as a multi-line literal
// '''...''', which cannot hold three quotes in a row: the config fuzzer found
// such a cluster id written back into a file that did not parse.)
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace

std::string to_toml(const ClusterFile& c) {
  std::string out = fmt::format("cluster_id = {}\n", quoted(c.cluster_id));
  if (c.insecure) out += "insecure = true\n";
  for (const Member& m : c.members) {
    out += fmt::format("\n[[node]]\nid = {}\npeer = {}\nclient = {}\nhttp = {}\n", m.id,
                       quoted(m.peer.to_string()), quoted(m.client.to_string()),
                       quoted(m.http.to_string()));
    if (!m.data_dir.empty()) out += fmt::format("data_dir = {}\n", quoted(m.data_dir));
  }
  if (c.tls) {
    out += fmt::format("\n[tls]\nca = {}\ncert = {}\nkey = {}\n", quoted(c.tls->ca),
                       quoted(c.tls->cert), quoted(c.tls->key));
    if (!c.tls->client_tokens.empty()) {
      out += fmt::format("client_tokens = {}\n", quoted(c.tls->client_tokens));
    }
    out += fmt::format("client_auth = \"{}\"\n", to_string(c.tls->client_auth));
    if (!c.tls->admin.empty()) out += fmt::format("admin = {}\n", quoted(c.tls->admin));
    if (c.tls->metrics_public) out += "metrics_public = true\n";
    if (!c.tls->client_cert.empty()) {
      out += fmt::format("client_cert = {}\nclient_key = {}\n", quoted(c.tls->client_cert),
                         quoted(c.tls->client_key));
    }
  }
  return out;
}

}  // namespace paxlock::cluster
