// paxlockd: one replica as a process. Wires the pieces together on one event
// loop thread (the core, the driver, the lock machine, the peer transport and
// the client API), one disk thread (ThreadedLogStore) and the HTTP server's
// threads for /status and /metrics (http_server.h; they read the state
// through the event loop).
#pragma once

#include <asio.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "daemon/client_service.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "driver/replica.h"
#include "lock/lock_machine.h"
#include "net/peer_transport.h"
#include "storage/posix_fs.h"
#include "storage/threaded_log_store.h"
#include "tls/context.h"
#include "tls/tokens.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace paxlock::daemon {

struct DaemonOptions {
  paxos::NodeId id = 0;
  std::string data_dir;  // overrides the config's data_dir
  // The cluster file's peer addresses replace those the data directory
  // recorded (storage/membership.h); ids must still agree.
  bool accept_peer_address_change = false;
  double drop_rate = 0.0;
  uint64_t fault_seed = 1;
  bool withhold_replies = false;                      // test option
  bool no_sticky_leader = false;                      // test option
  paxos::Mutation mutation = paxos::Mutation::kNone;  // test builds only
  bool lock_no_dedup = false;                         // test builds only
  bool lock_short_lease = false;                      // test builds only
  bool skip_fsync = false;                            // test builds only
  int64_t fail_fsync_after = -1;                      // test builds only
};

class Daemon {
 public:
  Daemon(ClusterConfig config, DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Locks the data directory, recovers, binds every listener. An error means
  // the replica must not run (it says why in one line).
  Status start();
  // Serves until SIGTERM or SIGINT, then shuts down cleanly.
  void run();

  // Rendered on the event loop (the HTTP thread asks through post()).
  std::string status_json();
  std::string status_json_with_hash();
  std::string chosen_json(uint64_t from, uint64_t to);
  // The replica's metrics (on the loop) and then the process's (read from
  // /proc on the HTTP thread).
  std::string metrics_text();

 private:
  // The steps of start(), in order.
  // Finds this node in the config, locks its data directory, checks that
  // the directory belongs to this node and cluster (IDENTITY, MEMBERSHIP).
  Status open_data_dir();
  // The cluster file's security: loads the TLS files and the token file
  // (the certificate must be this node's), or warns that it runs insecure.
  Status load_security();
  // SIGHUP: TlsContexts::reload and the token file read again; whatever
  // fails keeps what is in force, and the reason is logged.
  void reload_security();
  void wait_for_reload_signal();
  // [tls] admin: proposes acl_bootstrap until it is answered (every
  // replica does; the first applied wins, the others change nothing).
  void bootstrap_admin();
  void create_store_and_machine();
  void create_transport();
  Status recover();  // the replica, from what is on disk
  Status start_client_service();
  Status start_http();  // /status, /chosen and /metrics
  // Who may read an HTTP page under [tls] (insecure: anyone, all pages).
  enum class HttpAccess : uint8_t { kAnyone, kIdentified, kAdmin };
  // True if the request may have the page; otherwise false with the answer
  // in `res`: 401 if it proves no identity (a client certificate or an
  // "Authorization: Bearer" token, as client_auth allows), 403 if the
  // identity lacks the admin role a kAdmin page needs.
  bool http_allowed(const httplib::Request& req, httplib::Response& res, HttpAccess need);
  void serve_chosen(const httplib::Request& req, httplib::Response& res);

  void schedule_tick();
  void on_tick();
  void fill_cluster_info(pb::ClusterInfo* info);
  DiskHealth disk_health() const;
  void note_snapshot(bool recovered);
  std::string on_loop(std::string (Daemon::*render)());
  void http_metrics(PrometheusText& out) const;  // paxlock_http_*
  nlohmann::ordered_json status();
  void shutdown();

  ClusterConfig config_;
  DaemonOptions options_;
  const Member* self_ = nullptr;
  std::string data_dir_;

  asio::io_context io_;
  asio::steady_timer tick_timer_;
  asio::signal_set signals_;
  asio::signal_set reload_signal_;  // SIGHUP
  asio::steady_timer bootstrap_timer_;
  bool bootstrap_answered_ = false;
  std::chrono::steady_clock::time_point started_;

  storage::PosixFs fs_;
  std::unique_ptr<storage::DirectoryLock> dir_lock_;
  std::unique_ptr<storage::ThreadedLogStore> store_;
  std::unique_ptr<lock::LockMachine> machine_;
  std::unique_ptr<net::PeerTransport> transport_;
  std::unique_ptr<driver::Replica> replica_;
  std::unique_ptr<ClientService> clients_;
  std::unique_ptr<HttpServer> http_;
  std::optional<tls::TlsContexts> tls_;  // empty: insecure
  std::optional<tls::Tokens> tokens_;    // the token file, if the config names one

  net::NetStats net_stats_;
  Histogram fsync_latency_;
  Histogram client_latency_;
  service::RequestCounts request_counts_;
  // The newest snapshot (taken or installed) that this process knows of:
  // its first instance not covered, and when it was made (wall clock, ms;
  // -1 if there is none). One recovered from disk is dated by its file.
  paxos::Instance snapshot_next_seen_ = 0;
  int64_t snapshot_wall_ms_ = -1;
  uint64_t leader_changes_ = 0;
  std::optional<paxos::NodeId> last_leader_;
  paxos::Role last_role_ = paxos::Role::kFollower;
  bool wal_broken_logged_ = false;
  std::atomic<bool> stopping_{false};
};

// Parses the command line and runs a daemon: the whole of paxlockd's main().
int daemon_main(int argc, char** argv);

}  // namespace paxlock::daemon
