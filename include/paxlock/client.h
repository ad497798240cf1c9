// paxlock client library: the public API.
//
//   paxlock::ClientOptions opt;
//   std::string error;
//   if (!paxlock::load_cluster_file("cluster.toml", opt, &error)) { ... }
//   paxlock::Client client(opt);
//   paxlock::Reply r = client.acquire("jobs/nightly", "worker-7", {});
//   if (r.code == paxlock::Code::kOk) { use r.token as the fencing token; }
//   client.unlock("jobs/nightly", "worker-7", r.token).get();
//
// Every call is asynchronous underneath: many requests share one connection
// per replica and are answered out of order. Each request is spread over the
// replicas (random by default, or by a fixed hash of the request, or to one
// replica); if an attempt gets no answer in time, or its replica is down, the
// same request (same client id and sequence number) is sent to another
// replica, so a retry never applies twice. Callbacks run on the client's own
// I/O thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace paxlock {

enum class Code : uint8_t {
  kOk = 0,
  kHeld = 1,
  kNotOwner = 2,
  kNotHeld = 3,
  kStaleToken = 4,
  kTimeout = 5,
  kDeadlock = 6,
  kSessionExpired = 7,
  kInvalid = 8,
  kTooManyWaiters = 9,
  kDuplicateIgnored = 10,
  // The authenticated identity may not do this (its owner is another
  // identity's, or it lacks the right on the name); `error` says what.
  kPermissionDenied = 11,
  kBadRequest = 21,  // the client library sent something the server refused
  // Not an answer of the service: the outcome is unknown (no replica answered
  // before the request's deadline; it may or may not have taken effect).
  kUnavailable = 100,
};

const char* to_string(Code code);

struct Waiter {
  std::string owner;
  uint64_t session = 0;
  int64_t deadline_ms = 0;
};

struct LockInfo {
  std::string name;
  std::string holder;
  uint64_t token = 0;
  uint64_t session = 0;
  int64_t since_ms = 0;
  std::vector<Waiter> waiters;
};

struct WaitEdge {
  std::string owner;
  std::string lock;
  std::string holder;
};

struct Member {
  uint32_t id = 0;
  std::string client_address;  // host:port
  std::string peer_address;
  std::string http_address;
};

struct ClusterInfo {
  std::string cluster_id;
  uint32_t node_id = 0;  // the replica that answered
  uint32_t leader = 0;   // as far as it knows; 0 if none
  std::string role;
  uint64_t first_unchosen = 0;
  uint64_t applied = 0;
  std::vector<Member> members;
};

// The rights of docs/LOCKS.md, "Identities, owners and ACLs": `read` on a
// name prefix (check, status, list), `lock` (also lock and unlock), `admin`
// (everything, on the empty prefix only).
enum class AclRole : uint8_t { kRead = 1, kLock = 2, kAdmin = 3 };
const char* to_string(AclRole role);  // "read", "lock", "admin"
std::optional<AclRole> acl_role_from_string(const std::string& word);

struct AclGrant {
  std::string identity;
  std::string prefix;
  AclRole role = AclRole::kRead;
};

struct Reply {
  Code code = Code::kOk;
  uint64_t token = 0;            // lock: the fencing token; check/unlock: the current one
  std::string holder;            // who holds the lock (HELD, status, NOT_OWNER)
  uint64_t session = 0;          // open_session: the new session id
  int64_t ttl_ms = 0;            // open_session, keep_alive
  uint64_t applied_at = 0;       // the log instance whose apply produced the answer
  bool current = false;          // check
  std::vector<LockInfo> locks;   // status, list
  std::string next;              // list: continue after this name ("" at the end)
  std::vector<WaitEdge> cycle;   // deadlock
  std::vector<AclGrant> grants;  // acl_list: a page, in (identity, prefix) order
  ClusterInfo cluster;           // cluster_info
  uint32_t served_by = 0;        // the replica that answered
  uint64_t client_id = 0;        // the request's id in the log is (client_id, seq);
  uint64_t seq = 0;              // every attempt of one request shares it
  int attempts = 0;              // how many replicas were tried
  std::string error;  // detail for kUnavailable / kBadRequest / kPermissionDenied / kInvalid
};

enum class ReplicaChoice : uint8_t {
  kRandom,  // a random replica per request (default)
  kHash,    // replica = fnv1a(request bytes) mod N: reproducible
  kFixed,   // always `fixed_replica` (others only when it fails)
};

struct ClientOptions {
  std::string cluster_id;
  std::vector<Member> replicas;
  ReplicaChoice choice = ReplicaChoice::kRandom;
  uint32_t fixed_replica = 0;
  // An attempt that got no answer in this time is sent to another replica
  // (a blocking lock's attempt waits its wait time on top).
  std::chrono::milliseconds attempt_timeout{1000};
  // After this, a request completes with kUnavailable (outcome unknown).
  std::chrono::milliseconds request_timeout{10000};
  uint64_t client_id = 0;  // 0: random
  uint64_t seed = 0;       // for replica choice and back-off jitter; 0: random
  // TLS, as the cluster file's [tls] says (load_cluster_file sets `tls` and
  // `tls_ca`). The replicas' certificates are verified against the CA and
  // must be the nodes' (node-<id>.<cluster_id>). The client proves its
  // identity with a certificate and key (CN = identity) or a bearer token.
  bool tls = false;
  std::string tls_ca;    // the cluster's CA certificate (PEM file)
  std::string tls_cert;  // this client's certificate (PEM file), or empty
  std::string tls_key;   // its key
  std::string token;     // a bearer token ("pxl_..."), or empty
  // The cluster file's [tls] client_cert and client_key (what `paxlock local
  // up` writes for its admin): presented only when tls_cert and token are
  // both empty, so credentials a caller sets always win.
  std::string default_tls_cert;
  std::string default_tls_key;
};

// The certificate and key a client with these options presents (both empty:
// none, or a token).
std::pair<std::string, std::string> client_certificate(const ClientOptions& options);

// Reads the cluster file that the replicas use (cluster_id, [[node]] tables,
// [tls] or insecure) into `options`: the replicas, `tls`, `tls_ca` and the
// default credentials; a caller's tls_cert, tls_key and token are left as
// they are. False with `error` set if it cannot, or if the file has neither
// [tls] nor insecure = true (as the replicas refuse it).
bool load_cluster_file(const std::string& path, ClientOptions& options, std::string* error);

// One answer of a replica's HTTP port.
struct HttpAnswer {
  int status = 0;  // 200; 401 unauthenticated, 403 not an admin, ...
  std::string body;
};

// GET `path` (for example "/status" or "/metrics") from replica `replica`'s
// HTTP port, as `options` say: under TLS over HTTPS, the replica's
// certificate verified against the CA and naming that node, with this
// client's certificate (or its token, as "Authorization: Bearer"); plain
// HTTP otherwise. Blocking, on any thread. False with `error` set if there
// is no such replica, TLS refused, or no whole answer (at most 64 MiB) came
// within `timeout`.
bool http_get(const ClientOptions& options, uint32_t replica, const std::string& path,
              std::chrono::milliseconds timeout, HttpAnswer& answer, std::string* error);

struct LockOptions {
  uint64_t session = 0;               // hold the lock under this session
  std::chrono::milliseconds wait{0};  // > 0: queue for up to this long (at most 1 h)
  bool will_retry = false;            // a HELD answer counts as waiting (deadlock detection)
  // > 0: complete with kUnavailable if no answer came this long after the
  // call (default: the request timeout plus `wait`).
  std::chrono::milliseconds give_up_after{0};
};

struct AcquireOptions {
  uint64_t session = 0;
  // How long to wait in the lock's queue. The call returns by then: OK,
  // TIMEOUT (still held), DEADLOCK (waiting would close a cycle; see
  // reply.cycle), another refusal, or kUnavailable (no answer; the outcome
  // is unknown).
  std::chrono::milliseconds max_wait{30000};
  // Back-off between tries while the cluster is unavailable.
  std::chrono::milliseconds backoff_min{10};
  std::chrono::milliseconds backoff_max{1000};
  int max_attempts = 0;  // 0: no limit but max_wait
};

class Session;

class Client {
 public:
  using Callback = std::function<void(const Reply&)>;

  // Throws std::invalid_argument if a replica's client address is not
  // host:port or its host does not resolve (load_cluster_file checks this),
  // or if TLS is on and the CA, certificate or key cannot be used (the
  // message names the file and the problem).
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Asynchronous calls: `done` runs once, on the client's I/O thread.
  void lock(const std::string& name, const std::string& owner, const LockOptions& options,
            Callback done);
  void unlock(const std::string& name, const std::string& owner, uint64_t token, Callback done);
  void check(const std::string& name, uint64_t token, Callback done);
  void status(const std::string& name, Callback done);
  void list(const std::string& after, uint32_t limit, Callback done);
  void open_session(const std::string& owner, std::chrono::milliseconds ttl, Callback done);
  void keep_alive(uint64_t session, Callback done);
  void close_session(uint64_t session, Callback done);
  void cluster_info(uint32_t replica, Callback done);  // replica 0: any
  // The ACL table, for an admin identity (else kPermissionDenied). A grant
  // replaces the role of the same (identity, prefix); revoking a grant that
  // does not exist is kNotHeld; neither may leave the table without an
  // admin (kInvalid). acl_list returns up to `limit` grants (at most 1,000)
  // after (after_identity, after_prefix); a full page may have more.
  void acl_grant(const AclGrant& grant, Callback done);
  void acl_revoke(const std::string& identity, const std::string& prefix, Callback done);
  void acl_list(const std::string& after_identity, const std::string& after_prefix, uint32_t limit,
                Callback done);

  // The same, as futures.
  std::future<Reply> lock(const std::string& name, const std::string& owner,
                          const LockOptions& options = {});
  std::future<Reply> unlock(const std::string& name, const std::string& owner, uint64_t token = 0);
  std::future<Reply> check(const std::string& name, uint64_t token);
  std::future<Reply> status(const std::string& name);
  std::future<Reply> list(const std::string& after, uint32_t limit);
  std::future<Reply> cluster_info(uint32_t replica = 0);
  std::future<Reply> acl_grant(const AclGrant& grant);
  std::future<Reply> acl_revoke(const std::string& identity, const std::string& prefix);
  std::future<Reply> acl_list(const std::string& after_identity, const std::string& after_prefix,
                              uint32_t limit);

  // Takes the lock, waiting in its FIFO queue on the service for up to
  // max_wait (a blocking `lock`; deadlock detection applies). Retries with
  // exponential back-off and jitter only while no replica answers. Blocks
  // the caller; returns the answer (reply.attempts: requests sent in all).
  Reply acquire(const std::string& name, const std::string& owner, const AcquireOptions& options);

  // A session kept alive in the background (see Session).
  std::unique_ptr<Session> start_session(const std::string& owner, std::chrono::milliseconds ttl,
                                         std::function<void()> on_lost, Reply* opened = nullptr);

  uint64_t client_id() const;
  const ClientOptions& options() const;

 private:
  friend class Session;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A lease renewed every TTL/3. If it cannot be renewed in time (no
// keep-alive acknowledged for TTL minus a margin of 2 x 300 ms + 100 ms, see
// docs/LOCKS.md), or the service says it expired, `on_lost` runs once (on the
// client's I/O thread): every lock held under it must be treated as lost.
// The deadline has a timer of its own: on_lost runs at the deadline, not at
// the next renewal tick after it (src/client/lease.h). An answer that arrives
// after the deadline reaches its callback only after on_lost ran, even if it
// was read before the timer fired: a grant under this session delivered with
// lost() true is not to be used (docs/LOCKS.md).
// Destroying the Session closes it (releasing its locks).
class Session {
 public:
  ~Session();
  uint64_t id() const { return id_; }
  bool lost() const;
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  friend class Client;
  Session(Client& client, uint64_t id, std::chrono::milliseconds ttl);
  struct State;
  Client& client_;
  uint64_t id_;
  std::chrono::milliseconds ttl_;
  std::shared_ptr<State> state_;
};

}  // namespace paxlock
