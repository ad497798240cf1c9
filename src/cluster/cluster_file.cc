#include "cluster/cluster_file.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <toml++/toml.h>

#include <cerrno>
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

}  // namespace

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
  return parse_cluster_file(ss.str(), path);
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
    if (k != "cluster_id" && k != "node" && k != "tuning") {
      return bad(source, "unknown key '" + k + "' (expected cluster_id, [[node]], [tuning])");
    }
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
  for (const Member& m : c.members) {
    out += fmt::format("\n[[node]]\nid = {}\npeer = {}\nclient = {}\nhttp = {}\n", m.id,
                       quoted(m.peer.to_string()), quoted(m.client.to_string()),
                       quoted(m.http.to_string()));
    if (!m.data_dir.empty()) out += fmt::format("data_dir = {}\n", quoted(m.data_dir));
  }
  return out;
}

}  // namespace paxlock::cluster
