// `paxlock certs`: the cluster's CA, node and client certificates and bearer
// tokens, in one directory (the layout is in src/tls/issue.h and
// docs/OPERATIONS.md, "Certificates"). This file only reads flags and prints;
// src/tls makes and writes everything.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/cli.h"
#include "tls/identity.h"
#include "tls/issue.h"
#include "tls/tokens.h"

namespace paxlock::cli {
namespace {

int failed(const CertsOptions& c, const Status& s) {
  fail(fmt::format("certs {}: {}", c.action, s.message()));
  return kExitRefused;
}

int usage(const CertsOptions& c, const std::string& why) {
  fail(fmt::format("certs {}: {}", c.action, why));
  return kExitUsage;
}

Status ensure_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return Status::error(errno, fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
}

tls::Validity leaf_validity(const CertsOptions& c) {
  return {-tls::kBackdateS, c.days * tls::kDayS};
}

void wrote(const Global& g, const tls::IssuedFiles& f, const std::string& what) {
  std::cout << f.cert << "\n" << f.key << "\n";
  note(g, fmt::format("wrote {}: {} and its key {} (mode 0600)", what, f.cert, f.key));
}

int init(const Global& g, const CertsOptions& c) {
  if (auto why = tls::invalid_cluster_id(c.cluster_id)) return usage(c, *why);
  if (Status s = ensure_directory(c.dir); !s.ok()) return failed(c, s);
  auto ca = tls::make_ca(c.cluster_id);
  if (!ca.ok()) return failed(c, ca.status());
  const tls::IssuedFiles files = tls::ca_files(c.dir);
  if (Status s = tls::write_issued(*ca, files, c.force); !s.ok()) return failed(c, s);
  wrote(g, files,
        fmt::format("the CA of cluster '{}', valid {} days", c.cluster_id,
                    tls::kCaValidityS / tls::kDayS));
  return kExitOk;
}

Result<tls::Issued> read_ca(const CertsOptions& c, std::string& cluster_id) {
  auto ca = tls::read_issued(tls::ca_files(c.dir));
  if (!ca.ok()) return ca.status();
  auto named = tls::ca_cluster_id(ca->cert.get());
  if (!named.ok()) return named.status();
  if (!c.cluster_id.empty() && c.cluster_id != *named)
    return Status::error(EINVAL, fmt::format("the CA in {} is of cluster '{}', not '{}'", c.dir,
                                             *named, c.cluster_id));
  cluster_id = *named;
  return ca;
}

int node(const Global& g, const CertsOptions& c) {
  if (c.id == 0) return usage(c, "--id must be a node id (1 or more)");
  std::string cluster_id;
  auto ca = read_ca(c, cluster_id);
  if (!ca.ok()) return failed(c, ca.status());
  auto issued = tls::make_node_certificate(*ca, c.id, cluster_id, c.hosts, leaf_validity(c));
  if (!issued.ok()) return failed(c, issued.status());
  const tls::IssuedFiles files = tls::node_files(c.dir, c.id);
  if (Status s = tls::write_issued(*issued, files, c.force); !s.ok()) return failed(c, s);
  wrote(
      g, files,
      fmt::format("{}'s certificate, valid {} days", tls::node_identity(c.id, cluster_id), c.days));
  return kExitOk;
}

int client(const Global& g, const CertsOptions& c) {
  if (auto why = tls::invalid_client_name(c.name)) return usage(c, *why);
  std::string cluster_id;
  auto ca = read_ca(c, cluster_id);
  if (!ca.ok()) return failed(c, ca.status());
  auto issued = tls::make_client_certificate(*ca, c.name, leaf_validity(c));
  if (!issued.ok()) return failed(c, issued.status());
  const tls::IssuedFiles files = tls::client_files(c.dir, c.name);
  if (Status s = tls::write_issued(*issued, files, c.force); !s.ok()) return failed(c, s);
  wrote(g, files, fmt::format("client {}'s certificate, valid {} days", c.name, c.days));
  return kExitOk;
}

int token(const Global& g, const CertsOptions& c) {
  if (auto why = tls::invalid_client_name(c.name)) return usage(c, *why);
  if (c.dir.empty() && c.token_file.empty()) return usage(c, "--dir or --file is required");
  if (!c.dir.empty()) {
    if (Status s = ensure_directory(c.dir); !s.ok()) return failed(c, s);
  }
  const std::string path = c.token_file.empty() ? tls::tokens_file(c.dir) : c.token_file;
  auto t = tls::generate_token(c.name);
  if (!t.ok()) return failed(c, t.status());
  if (Status s = tls::append_token_line(path, t->line); !s.ok()) return failed(c, s);
  std::cout << t->token << std::endl;
  note(g, fmt::format("added a token for '{}' to {} (only its hash); it is shown only now", c.name,
                      path));
  return kExitOk;
}

}  // namespace

int cmd_certs(const Global& g, const CertsOptions& c) {
  if (c.action == "init") return init(g, c);
  if (c.action == "node") return node(g, c);
  if (c.action == "client") return client(g, c);
  if (c.action == "token") return token(g, c);
  return kExitUsage;
}

}  // namespace paxlock::cli
