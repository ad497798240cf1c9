// paxlock: the command-line client and local cluster launcher (docs/CLI.md).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "common/version.h"

namespace {

using namespace paxlock::cli;

const std::vector<std::string> kCommands = {"lock",   "acquire", "unlock",  "check",
                                            "status", "list",    "cluster", "hold",
                                            "bench",  "local",   "certs",   "acl"};
// Global options that take a value (the value is the next word unless
// written --opt=value).
const std::vector<std::string> kValued = {"--cluster", "--replica",     "--owner",     "--ttl",
                                          "--timeout", "--session-ttl", "-o",          "--output",
                                          "--cert",    "--key",         "--token-file"};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The first word that should be a command, if it is not one: an error that
// names it and the closest command. CLI11 alone says only "A subcommand is
// required".
std::optional<std::string> unknown_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") return std::nullopt;
    if (!a.empty() && a[0] == '-') {
      if (std::find(kValued.begin(), kValued.end(), a) != kValued.end()) ++i;
      continue;
    }
    if (std::find(kCommands.begin(), kCommands.end(), a) != kCommands.end()) return std::nullopt;
    std::string best;
    size_t best_d = 3;
    for (const std::string& c : kCommands) {
      const size_t d = edit_distance(a, c);
      if (d < best_d) {
        best_d = d;
        best = c;
      }
    }
    std::string msg = "unknown command '" + paxlock::cli::printable(a) + "'";
    if (!best.empty()) msg += "; did you mean '" + best + "'?";
    return msg + " (paxlock --help lists the commands)";
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"paxlock: locks from a paxlock cluster (docs/CLI.md)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options also after the command
  app.set_version_flag("--version", paxlock::version_line("paxlock"));
  Global g;
  std::string output = "text";
  app.add_option("--cluster", g.cluster_file,
                 "cluster file, or a directory holding cluster.toml (default: $PAXLOCK_CLUSTER "
                 "or ./cluster.toml)");
  app.add_option("--replica", g.replica, "random, hash, leader or a node id")
      ->capture_default_str();
  app.add_option("--owner", g.owner, "lock owner (default: $PAXLOCK_OWNER or user@host)");
  app.add_option("--ttl,--session-ttl", g.ttl_s,
                 "lock, acquire: take the lock under a lease of this many seconds, released "
                 "then unless unlocked first (default: held until unlocked); hold: its "
                 "session's TTL (default 10)")
      ->check(CLI::Range(0.1, 86400.0));
  auto* timeout =
      app.add_option("--timeout", g.timeout_s,
                     "seconds to wait for the cluster to answer (exit 3 after); with acquire "
                     "and hold it also caps --max-wait")
          ->check(CLI::Range(0.05, 3600.0))
          ->capture_default_str();
  app.add_flag("--json", g.json, "print one JSON object (schemas: docs/CLI.md)");
  app.add_option("-o,--output", output, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("-q,--quiet", g.quiet, "no notes on stderr");
  app.add_option("--cert", g.cert,
                 "TLS clusters: this client's certificate (default: $PAXLOCK_CERT)");
  app.add_option("--key", g.key, "TLS clusters: its key (default: $PAXLOCK_KEY)");
  app.add_option("--token-file", g.token_file,
                 "TLS clusters: a file holding a bearer token (default: $PAXLOCK_TOKEN_FILE)");

  std::string name;
  uint64_t token = 0;
  double max_wait = 30;
  HoldOptions h;

  auto* lock = app.add_subcommand(
      "lock",
      "try once to take a lock; prints the fencing token (exit 1 if held). The lock is held "
      "until `paxlock unlock` by the same owner, or for --ttl seconds");
  lock->add_option("NAME", name, "lock name")->required();
  auto* acquire = app.add_subcommand(
      "acquire",
      "take a lock, waiting in its FIFO queue (exit 5 on timeout, 6 on deadlock); held until "
      "unlocked, or for --ttl seconds");
  acquire->add_option("NAME", name, "lock name")->required();
  acquire->add_option("--max-wait,--wait", max_wait, "seconds to wait in the queue (0 to 3600)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  auto* unlock = app.add_subcommand("unlock", "release a lock held by this owner");
  unlock->add_option("NAME", name, "lock name")->required();
  unlock->add_option("--token", token, "only if this is still the current token");
  auto* check = app.add_subcommand("check", "is a fencing token still current?");
  check->add_option("NAME", name, "lock name")->required();
  check->add_option("--token", token, "the token")->required();
  auto* status = app.add_subcommand("status", "a lock's holder, token and waiters");
  status->add_option("NAME", name, "lock name (none: list held locks)");
  std::string after;
  uint32_t limit = 100;
  auto* list = app.add_subcommand("list", "held locks, in name order");
  list->add_option("--after", after, "start after this name");
  list->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 1000));
  auto* cluster = app.add_subcommand("cluster", "members, leader, indices, up or down");

  auto* hold = app.add_subcommand(
      "hold",
      "run a command while holding a lock: hold NAME -- CMD... (exits with the command's "
      "status; 4 if the lock was lost)");
  hold->add_option("NAME", name, "lock name")->required();
  hold->add_option("--max-wait,--wait", h.max_wait_s, "seconds to wait for the lock (0 to 3600)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  hold->add_option("--kill-after", h.kill_after_s,
                   "seconds between SIGTERM and SIGKILL when the command must stop")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  hold->add_option("command", h.command, "the command and its arguments (after --)");

  BenchOptions b;
  auto* bench = app.add_subcommand("bench", "load generator: lock-then-unlock cycles");
  bench->add_option("--clients", b.clients, "concurrent clients")->check(CLI::Range(1, 100000));
  bench->add_option("--locks", b.locks, "lock names per client (shared with --contended)")
      ->check(CLI::Range(1, 100000000));
  bench->add_option("--duration", b.duration_s, "seconds measured")
      ->check(CLI::Range(0.1, 86400.0));
  bench->add_option("--warmup", b.warmup_s, "seconds before measuring")
      ->check(CLI::Range(0.0, 3600.0));
  bench->add_flag("--contended", b.contended,
                  "all clients on --locks shared names, try-lock with back-off");
  bench->add_option("--max-cycles", b.max_cycles, "stop after this many cycles");

  LocalOptions l;
  auto* local =
      app.add_subcommand("local", "a local cluster: up, down, status, kill ID, restart ID");
  local->add_option("action", l.action, "up, down, status, kill or restart")
      ->required()
      ->check(CLI::IsMember({"up", "down", "status", "kill", "restart"}));
  local->add_option("id", l.id, "node id (kill, restart)");
  local->add_option("--dir", l.dir, "directory for config, data and logs")->required();
  local->add_option("--nodes", l.nodes, "how many nodes (up, first time)")
      ->check(CLI::Range(1, 15));
  local->add_option("--paxlockd", l.build, "path of paxlockd (default: next to paxlock)");
  std::string daemon_args;
  local->add_option("--daemon-args", daemon_args,
                    "extra arguments for every paxlockd (test options)");
  local->add_option("--wait", l.wait_s, "seconds to wait for nodes to serve");
  local->add_option("--tuning", l.tuning, "key=value for the generated config's [tuning]");
  local->add_flag("--insecure", l.insecure,
                  "up, first time: no TLS and no authentication (default: certificates in "
                  "DIR/certs, TLS on every port, the client identity 'admin')");

  CertsOptions c;
  auto* certs = app.add_subcommand(
      "certs", "make the cluster's CA, node and client certificates and bearer tokens");
  certs->require_subcommand(1);
  auto* certs_init = certs->add_subcommand("init", "a new CA for the cluster (10 years)");
  auto* certs_node = certs->add_subcommand("node",
                                           "a node's certificate, signed by the CA (serverAuth and "
                                           "clientAuth, SAN node-ID.CLUSTER_ID)");
  auto* certs_client =
      certs->add_subcommand("client",
                            "a client's certificate, signed by the CA (clientAuth, CN "
                            "NAME)");
  auto* certs_token = certs->add_subcommand(
      "token", "a bearer token for NAME: printed once, its SHA-256 appended to the token file");
  for (CLI::App* sub : {certs_init, certs_node, certs_client, certs_token}) {
    auto* dir = sub->add_option("--dir", c.dir, "the certificate directory");
    if (sub != certs_token) dir->required();
  }
  certs_init->add_option("--cluster-id", c.cluster_id, "the cluster id of cluster.toml")
      ->required();
  certs_node->add_option("--cluster-id", c.cluster_id, "checked against the CA's (optional)");
  certs_client->add_option("--cluster-id", c.cluster_id, "checked against the CA's (optional)");
  certs_node->add_option("--id", c.id, "the node id")
      ->required()
      ->check(CLI::Range(1u, 0xffffffffu));
  certs_node->add_option("--host", c.hosts,
                         "a DNS name or IP address the node is reached at (repeatable)");
  certs_client->add_option("--name", c.name, "the client identity")->required();
  certs_token->add_option("--name", c.name, "the identity the token proves")->required();
  certs_token->add_option("--file", c.token_file, "the token file (default DIR/tokens)");
  for (CLI::App* sub : {certs_node, certs_client})
    sub->add_option("--days", c.days, "validity in days")
        ->check(CLI::Range(1, 3650))
        ->capture_default_str();
  for (CLI::App* sub : {certs_init, certs_node, certs_client})
    sub->add_flag("--force", c.force, "replace existing files (the key too)");

  AclOptions a;
  auto* acl = app.add_subcommand(
      "acl", "the ACL table (admin): grant IDENTITY ROLE, revoke IDENTITY, list");
  acl->require_subcommand(1);
  auto* acl_grant = acl->add_subcommand(
      "grant", "give IDENTITY a role (read, lock or admin) on names under --prefix");
  auto* acl_revoke = acl->add_subcommand("revoke", "take away IDENTITY's grant on --prefix");
  auto* acl_list = acl->add_subcommand("list", "every grant, in (identity, prefix) order");
  for (CLI::App* sub : {acl_grant, acl_revoke}) {
    sub->add_option("identity", a.identity, "the identity (a client certificate's CN or a token's)")
        ->required();
  }
  acl_grant->add_option("role", a.role, "read, lock or admin")->required();
  for (CLI::App* sub : {acl_grant, acl_revoke}) {
    sub->add_option("--prefix", a.prefix,
                    "the lock-name prefix (default \"\": every name; admin only on \"\")");
  }

  if (auto bad = unknown_command(argc, argv)) {
    std::cerr << "paxlock: " << *bad << std::endl;
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  g.json = g.json || output == "json";
  g.timeout_given = timeout->count() > 0;
  if (g.owner.empty()) g.owner = default_owner();
  if (*lock) return cmd_lock(g, name);
  if (*acquire) return cmd_acquire(g, name, max_wait);
  if (*unlock) return cmd_unlock(g, name, token);
  if (*check) return cmd_check(g, name, token);
  if (*status) return name.empty() ? cmd_list(g, "", 100) : cmd_status(g, name);
  if (*list) return cmd_list(g, after, limit);
  if (*cluster) return cmd_cluster(g);
  if (*hold) {
    h.ttl_s = g.ttl_s > 0 ? g.ttl_s : 10;
    return cmd_hold(g, name, h);
  }
  if (*bench) return cmd_bench(g, b);
  if (*certs) {
    for (CLI::App* sub : {certs_init, certs_node, certs_client, certs_token}) {
      if (*sub) c.action = sub->get_name();
    }
    return cmd_certs(g, c);
  }
  if (*acl) {
    for (CLI::App* sub : {acl_grant, acl_revoke, acl_list}) {
      if (*sub) a.action = sub->get_name();
    }
    return cmd_acl(g, a);
  }
  if (*local) {
    if ((l.action == "kill" || l.action == "restart") && l.id == 0) {
      std::cerr << "paxlock: local " << l.action << " needs a node id" << std::endl;
      return kExitUsage;
    }
    std::istringstream in(daemon_args);
    for (std::string a; in >> a;)
      l.extra_args.push_back(a);
    return cmd_local(g, l);
  }
  return kExitUsage;
}
