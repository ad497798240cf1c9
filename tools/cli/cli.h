// The `paxlock` command line: shared options, output and exit codes.
// docs/CLI.md is the user's reference (every command, flag, environment
// variable, exit code and JSON schema); keep the two in step.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/text.h"
#include "paxlock/client.h"

namespace paxlock::cli {

// Exit codes (docs/CLI.md, "Exit codes"). `hold` exits with its command's
// status once it held the lock.
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;      // held by another, not the owner, stale token, ...
constexpr int kExitUsage = 2;        // bad flags, an invalid name or owner, no cluster file
constexpr int kExitUnavailable = 3;  // no answer in time: the outcome is unknown
constexpr int kExitLost = 4;         // hold: the lock was lost while the command ran
constexpr int kExitTimeout = 5;      // acquire/hold: still held by another at --max-wait
constexpr int kExitDeadlock = 6;     // acquire/hold: waiting would close a cycle

// The JSON output's schema version ("v" in every object).
constexpr int kJsonVersion = 1;

struct Global {
  std::string cluster_file;
  std::string replica = "random";  // random, hash, leader or a node id
  std::string owner;               // after main(): never empty
  double ttl_s = 0;                // lock/acquire: a lease of this many seconds
  double timeout_s = 10;
  bool timeout_given = false;  // --timeout on the command line: caps --max-wait too
  bool json = false;
  bool quiet = false;
  // Credentials for a cluster with [tls] (else $PAXLOCK_CERT, $PAXLOCK_KEY,
  // $PAXLOCK_TOKEN_FILE): a client certificate and key, or a file holding
  // a bearer token.
  std::string cert;
  std::string key;
  std::string token_file;
};

// Builds client options from the global flags; on error prints one line and
// returns false.
bool client_options(const Global& g, ClientOptions& out);
// $PAXLOCK_OWNER, else user@host.
std::string default_owner();
// The cluster file to use: --cluster, else $PAXLOCK_CLUSTER, else
// ./cluster.toml; a directory means its cluster.toml.
std::string cluster_file_path(const Global& g);

int exit_code(Code code);
// Why a name or owner would be refused, or nullopt if it is fine (the rules
// of docs/LOCKS.md, checked before anything is sent).
std::optional<std::string> invalid_name(const std::string& name);
std::optional<std::string> invalid_owner(const std::string& owner);
// Text from the service, for a terminal: paxlock::printable (common/text.h),
// control characters and invalid UTF-8 escaped.
using paxlock::printable;
// Milliseconds since the Unix epoch as RFC 3339 UTC ("2026-12-03T08:00:00.123Z").
std::string rfc3339(int64_t epoch_ms);

void fail(const std::string& message);                   // one line on stderr
void note(const Global& g, const std::string& message);  // stderr unless --quiet or --json

// The words for an answer that is not a success (stderr, text mode).
std::string refusal_text(const std::string& command, const std::string& name, const Reply& r);
// A DEADLOCK's cycle as JSON (the `cycle` field).
Json cycle_json(const std::vector<WaitEdge>& cycle);

// The JSON object every command prints with --json starts with these fields.
Json json_head(const std::string& command, Code code, int exit);
void print_json(const Json& j);  // one line on stdout

int cmd_lock(const Global& g, const std::string& name);
int cmd_acquire(const Global& g, const std::string& name, double max_wait_s);
int cmd_unlock(const Global& g, const std::string& name, uint64_t token);
int cmd_check(const Global& g, const std::string& name, uint64_t token);
int cmd_status(const Global& g, const std::string& name);
int cmd_list(const Global& g, const std::string& after, uint32_t limit);
int cmd_cluster(const Global& g);

struct HoldOptions {
  double max_wait_s = 30;
  double ttl_s = 10;
  double kill_after_s = 5;
  std::vector<std::string> command;
};
int cmd_hold(const Global& g, const std::string& name, const HoldOptions& h);

struct BenchOptions {
  int clients = 16;
  int locks = 100;  // lock names per client (uncontended) or shared (contended)
  double duration_s = 10;
  double warmup_s = 1;
  bool contended = false;
  uint64_t max_cycles = 0;  // 0: no limit but the duration
};
int cmd_bench(const Global& g, const BenchOptions& b);

struct LocalOptions {
  std::string action;  // up, down, status, kill, restart
  std::string dir;
  int nodes = 3;
  uint32_t id = 0;
  std::string build = "";               // where paxlockd is (default: next to this binary)
  std::vector<std::string> extra_args;  // passed to every paxlockd (test options)
  std::vector<std::string> tuning;      // key=value for the config's [tuning] (up, first time)
  // up, first time: no certificates, `insecure = true` (default: a CA, each
  // node's certificate and an admin client's, and a [tls] table).
  bool insecure = false;
  double wait_s = 20;
};
int cmd_local(const Global& g, const LocalOptions& l);

// `paxlock certs init|node|client|token` (certs.cc; src/tls does the work).
struct CertsOptions {
  std::string action;  // init, node, client, token
  std::string dir;
  std::string cluster_id;          // init: required; node, client: checked against the CA's
  uint32_t id = 0;                 // node
  std::vector<std::string> hosts;  // node: extra DNS names and IP addresses
  std::string name;                // client, token
  std::string token_file;          // token: instead of DIR/tokens
  int64_t days = 365;              // node, client: validity
  bool force = false;              // replace existing files
};
int cmd_certs(const Global& g, const CertsOptions& c);

// `paxlock acl grant|revoke|list` (acl.cc): the ACL table, by an admin.
struct AclOptions {
  std::string action;    // grant, revoke, list
  std::string identity;  // grant, revoke
  std::string role;      // grant: read, lock, admin
  std::string prefix;    // grant, revoke: the lock-name prefix ("" = every name)
};
int cmd_acl(const Global& g, const AclOptions& a);

// The effective wait of acquire/hold: --max-wait, capped by --timeout when
// that was given.
std::chrono::milliseconds effective_wait(const Global& g, double max_wait_s);
std::chrono::milliseconds ms(double seconds);

}  // namespace paxlock::cli
