#include "daemon/daemon.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <charconv>
#include <filesystem>
#include <future>
#include <random>

#include "common/check.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/version.h"
#include "daemon/process_metrics.h"
#include "lock.pb.h"
#include "lock/command.h"
#include "paxos/value_codec.h"
#include "storage/membership.h"
#include "storage/node_storage.h"
#include "storage/snapshot_store.h"
#include "tls/identity.h"
#include "tls/pem.h"

namespace paxlock::daemon {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kTick = 5ms;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Descriptors beyond the connection limits: listeners, peers dialed, WAL
// segments, snapshots, the HTTP server's connections.
constexpr rlim_t kDescriptorsSpare = 128;

// Raises the soft limit on open files to what the connection limits can
// use (up to the hard limit), and warns if that is not enough: running out
// of descriptors would refuse connections the limits allow.
void fit_descriptor_limit(const Tuning& t) {
  const rlim_t wanted =
      static_cast<rlim_t>(t.peer_connections_max + t.client_connections_max) + kDescriptorsSpare;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= wanted) return;
  rlimit raised = lim;
  raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, lim.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  if (lim.rlim_cur < wanted) {
    spdlog::warn(
        "open files are limited to {}, but the connection limits allow {} connections "
        "(peer_connections_max + client_connections_max) plus about {} more: raise "
        "the limit (LimitNOFILE) or lower the connection limits",
        lim.rlim_cur, t.peer_connections_max + t.client_connections_max, kDescriptorsSpare);
  }
}

}  // namespace

Daemon::Daemon(ClusterConfig config, DaemonOptions options)
    : config_(std::move(config)),
      options_(options),
      tick_timer_(io_),
      signals_(io_, SIGINT, SIGTERM),
      reload_signal_(io_, SIGHUP),
      bootstrap_timer_(io_),
      started_(Clock::now()) {}

Daemon::~Daemon() {
  if (http_) http_->stop();
}

Status Daemon::start() {
  fit_descriptor_limit(config_.tuning);
  // Which node this is, before anything is read for it: `--id 9` says the
  // id is not in the file, not that node-9.crt is missing.
  self_ = config_.member(options_.id);
  if (!self_) {
    std::string ids;
    for (const Member& m : config_.members)
      ids += (ids.empty() ? "" : ", ") + std::to_string(m.id);
    return Status::error(
        EINVAL, fmt::format("node id {} is not in the config (its ids: {})", options_.id, ids));
  }
  Status s = load_security();
  if (!s.ok()) return s;
  s = open_data_dir();
  if (!s.ok()) return s;
  create_store_and_machine();
  create_transport();
  s = recover();
  if (!s.ok()) return s;
  s = transport_->start();
  if (!s.ok()) return s;
  s = start_client_service();
  if (!s.ok()) return s;
  s = start_http();
  if (!s.ok()) return s;
  signals_.async_wait([this](const asio::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    shutdown();
  });
  // A SIGHUP that came during the start was queued by reload_signal_ (made
  // with the Daemon): it reloads now.
  wait_for_reload_signal();
  if (tls_ && !config_.tls->admin.empty()) bootstrap_admin();
  schedule_tick();
  if (config_.insecure) {
    // At every start (not before: a start refused for another reason says
    // that one thing).
    spdlog::warn(
        "INSECURE: the cluster file says insecure = true: peer and client ports are plain TCP, "
        "any peer naming the cluster id is trusted, and clients are not authenticated (no "
        "identities, no ACLs). Use [tls] (docs/OPERATIONS.md, \"Certificates\") outside tests");
  }
  spdlog::info("serving: peers on {}, clients on {}, http on {}, data in {}",
               self_->peer.to_string(), self_->client.to_string(), self_->http.to_string(),
               data_dir_);
  return {};
}

Status Daemon::load_security() {
  if (auto why = cluster::missing_security(config_.insecure, config_.tls, "the cluster file")) {
    return Status::error(EINVAL, *why);
  }
  if (config_.insecure) return {};  // warned about once started
  const cluster::TlsSettings& t = *config_.tls;
  if (!t.accepts_tokens() && !t.client_tokens.empty()) {
    spdlog::warn(
        "[tls] client_tokens = {} is ignored: client_auth = \"{}\" takes no tokens "
        "(\"token\" or \"cert_or_token\" would)",
        t.client_tokens, cluster::to_string(t.client_auth));
  }
  tls::TlsFiles files{t.ca, t.cert_of(options_.id), t.key_of(options_.id)};
  // The client port lets a client without a certificate through the
  // handshake; its hello must then prove an identity (client_service.h),
  // which refuses it with a clear answer instead of a TLS alert.
  // Our own certificate must name this node, or every peer would refuse
  // it: checked at start and at every reload (SIGHUP) alike.
  const paxos::NodeId self = options_.id;
  const std::string cluster_id = config_.cluster_id;
  auto contexts =
      tls::TlsContexts::load(files, tls::ClientCerts::kOptional, [self, cluster_id](X509* cert) {
        const Status named = tls::certificate_names_node(cert, self, cluster_id);
        if (named.ok()) return named;
        return Status::error(EINVAL, fmt::format("it is not node {}'s: {}", self, named.message()));
      });
  if (!contexts.ok()) return Status::error(EINVAL, "[tls]: " + contexts.status().message());
  if (!t.admin.empty()) {
    if (auto why = tls::invalid_client_name(t.admin)) {
      return Status::error(EINVAL, "[tls] admin '" + t.admin + "': " + *why);
    }
  }
  tls_ = std::move(*contexts);
  if (!t.client_tokens.empty()) {
    auto tokens = tls::Tokens::read(t.client_tokens);
    if (!tokens.ok())
      return Status::error(EINVAL, "[tls] client_tokens: " + tokens.status().message());
    tokens_ = std::move(*tokens);
  }
  spdlog::info(
      "TLS on the peer, client and HTTP ports: CA {}, certificate {}; clients by {}{}; /metrics {}",
      t.ca, files.cert, cluster::to_string(t.client_auth),
      tokens_ ? fmt::format(" ({} tokens)", tokens_->size()) : "",
      t.metrics_public ? "public (metrics_public)" : "for identified clients");
  return {};
}

void Daemon::wait_for_reload_signal() {
  reload_signal_.async_wait([this](const asio::error_code& ec, int) {
    if (ec || stopping_) return;
    reload_security();
    wait_for_reload_signal();
  });
}

void Daemon::bootstrap_admin() {
  if (bootstrap_answered_ || stopping_) return;
  if (machine_->has_admin()) {
    // Already decided by the log (an earlier start, or another replica's
    // bootstrap applied here): proposing it again would only add an entry.
    bootstrap_answered_ = true;
    spdlog::info("acl_bootstrap: not needed (the state already has an admin)");
    return;
  }
  lock::Command cmd;
  cmd.op = lock::Op::kAclBootstrap;
  cmd.grant.identity = config_.tls->admin;
  cmd.first_outstanding = 1;
  // Sent with no identity (it is the replica's own) under a client id no
  // client can have: derived from this node's name, which is never a client
  // identity (tls::invalid_client_name refuses "node-...").
  const paxos::CommandId id{
      service::wire_client_id(tls::node_identity(options_.id, config_.cluster_id), 0), 1};
  const Result<uint64_t> tag =
      replica_->submit(paxos::Command{id, lock::encode(cmd)}, [this](const std::string& reply) {
        pb::LockResult result;
        if (bootstrap_answered_ || !lock::decode_result(reply, &result).ok()) return;
        bootstrap_answered_ = true;
        if (result.code() != pb::OK) {
          spdlog::error("acl_bootstrap of admin '{}' refused: code {} {}", config_.tls->admin,
                        static_cast<int>(result.code()), result.reason());
        } else if (result.current()) {
          spdlog::info("acl_bootstrap: '{}' is the admin", config_.tls->admin);
        } else {
          spdlog::info("acl_bootstrap: not needed ({})", result.reason());
        }
      });
  (void)tag;  // busy: tried again below
  // Until answered, proposed again (the same command: answered once).
  bootstrap_timer_.expires_after(2s);
  bootstrap_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) bootstrap_admin();
  });
}

void Daemon::reload_security() {
  if (!tls_) {
    spdlog::warn("SIGHUP: nothing to reload (insecure mode: no TLS files)");
    return;
  }
  if (Status s = tls_->reload(); s.ok()) {
    if (http_) http_->set_tls(tls_->client_server());
    spdlog::info("SIGHUP: TLS files reloaded (generation {}); new connections use them",
                 tls_->generation());
  } else {
    spdlog::error("SIGHUP: the TLS files were not reloaded, the ones in force stay: {}",
                  s.message());
  }
  const std::string& path = config_.tls->client_tokens;
  if (path.empty()) return;
  if (auto tokens = tls::Tokens::read(path); tokens.ok()) {
    tokens_ = std::move(*tokens);
    spdlog::info("SIGHUP: token file {} reloaded ({} tokens)", path, tokens_->size());
  } else {
    spdlog::error("SIGHUP: the token file was not reloaded, the tokens in force stay: {}",
                  tokens.status().message());
  }
}

Status Daemon::open_data_dir() {
  PAXLOCK_CHECK(self_ != nullptr);
  data_dir_ = !options_.data_dir.empty() ? options_.data_dir : self_->data_dir;
  if (data_dir_.empty()) {
    return Status::error(EINVAL, "no data directory: give --data-dir or data_dir in the config");
  }
  Status s = storage::create_dirs(fs_, data_dir_);
  if (!s.ok()) return s;
  auto lock = storage::DirectoryLock::acquire(data_dir_);
  if (!lock.ok()) return lock.status();
  dir_lock_ = std::move(*lock);
  // In this order: a snapshot copied into a directory never started is
  // recognised by the missing IDENTITY, which the next step writes.
  s = storage::refuse_copied_snapshot(fs_, data_dir_);
  if (s.ok()) s = storage::check_identity(fs_, data_dir_, config_.cluster_id, options_.id);
  if (!s.ok()) return s;
  storage::Membership membership{config_.cluster_id, {}};
  for (const Member& m : config_.members)
    membership.peers[m.id] = m.peer.to_string();
  auto checked =
      storage::check_membership(fs_, data_dir_, membership, options_.accept_peer_address_change);
  if (!checked.ok()) return checked.status();
  if (*checked == storage::MembershipCheck::kRecorded) {
    spdlog::info("recorded the cluster's membership in {}/MEMBERSHIP", data_dir_);
  } else if (*checked == storage::MembershipCheck::kAddressesRecorded) {
    spdlog::warn(
        "--accept-peer-address-change: recorded the cluster file's peer addresses in {}/MEMBERSHIP",
        data_dir_);
  }
  return {};
}

void Daemon::create_store_and_machine() {
  storage::WalOptions wal = config_.wal_options();
#if PAXLOCK_MUTATIONS
  wal.skip_fsync = options_.skip_fsync;
  wal.checkpoint_unwritten = options_.mutation == paxos::Mutation::kCheckpointUnwritten;
  if (options_.fail_fsync_after >= 0) fs_.fail_datasync_after(options_.fail_fsync_after);
#endif
  store_ = std::make_unique<storage::ThreadedLogStore>(
      fs_, data_dir_, config_.cluster_id, options_.id, wal,
      [this](std::function<void()> fn) { asio::post(io_, std::move(fn)); });
  lock::MachineOptions mo;
  mo.mutation_no_dedup = options_.lock_no_dedup;
  mo.mutation_short_lease = options_.lock_short_lease;
  machine_ = std::make_unique<lock::LockMachine>(mo);
}

void Daemon::create_transport() {
  net::PeerTransportOptions po;
  po.cluster_id = config_.cluster_id;
  po.self = options_.id;
  po.listen = self_->peer;
  for (const Member& m : config_.members) {
    if (m.id != options_.id) po.peers[m.id] = m.peer;
  }
  po.max_frame_bytes = static_cast<size_t>(config_.tuning.max_frame_bytes);
  po.queue_bytes = static_cast<size_t>(config_.tuning.peer_queue_bytes);
  const Tuning& t = config_.tuning;
  po.admission.connections_max = static_cast<size_t>(t.peer_connections_max);
  po.admission.per_source_max = static_cast<size_t>(t.peer_connections_per_source_max);
  po.admission.hellos_per_second = static_cast<double>(t.peer_hellos_per_source_per_s);
  po.admission.hello_burst = static_cast<double>(t.peer_hellos_per_source_per_s);
  po.timeouts.hello = std::chrono::milliseconds(t.hello_timeout_ms);
  po.timeouts.frame = std::chrono::milliseconds(t.frame_timeout_ms);
  po.timeouts.idle = std::chrono::milliseconds(t.peer_idle_timeout_ms);
  po.takeover_idle = std::chrono::milliseconds(t.peer_takeover_idle_ms);
  po.drop_rate = options_.drop_rate;
  po.fault_seed = options_.fault_seed;
  po.tls = tls_ ? &*tls_ : nullptr;
  transport_ = std::make_unique<net::PeerTransport>(
      io_, po, [this](const paxos::Message& m) { replica_->receive(m); }, net_stats_);
}

Status Daemon::recover() {
  paxos::Config core = config_.core_config(options_.id, std::random_device{}());
  core.mutation = options_.mutation;
  if (options_.no_sticky_leader) core.sticky_leader = false;
  driver::ReplicaOptions ro = config_.replica_options();
  ro.clock = [] {
    const paxos::TimeMs now =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count();
    return std::make_pair(now, wall_ms());
  };
  replica_ = std::make_unique<driver::Replica>(core, ro, *store_, *transport_, *machine_);
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  Status s = replica_->start(now);
  if (!s.ok()) return s;
  const paxos::Node& node = replica_->node();
  spdlog::info("recovered: promised {}, log {}..{}, first unchosen {}, snapshot at {}",
               node.promised().to_string(), node.log_start(), node.log_end(), node.first_unchosen(),
               replica_->snapshot_next());
  note_snapshot(true);
  return {};
}

void Daemon::note_snapshot(bool recovered) {
  const paxos::Instance next = replica_->snapshot_next();
  if (next == snapshot_next_seen_) return;
  snapshot_next_seen_ = next;
  snapshot_wall_ms_ = wall_ms();
  if (!recovered || next == 0) return;
  // Made before this process started: its file's time says when.
  std::error_code ec;
  const auto path =
      std::filesystem::path(data_dir_) / "snap" / storage::SnapshotStore::file_name(next);
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return;  // dated by the recovery, the best known
  snapshot_wall_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                          .count();
}

Status Daemon::start_client_service() {
  ClientServiceOptions co;
  co.cluster_id = config_.cluster_id;
  co.self = options_.id;
  co.listen = self_->client;
  co.max_frame_bytes = static_cast<size_t>(config_.tuning.max_frame_bytes);
  co.pending_max = static_cast<size_t>(config_.tuning.client_pending_max);
  co.withhold_replies = options_.withhold_replies;
  const Tuning& t = config_.tuning;
  co.output_bytes_max = static_cast<size_t>(t.client_output_bytes_max);
  co.output_total_bytes_max = static_cast<size_t>(t.client_output_total_bytes_max);
  co.admission.connections_max = static_cast<size_t>(t.client_connections_max);
  co.admission.per_source_max = static_cast<size_t>(t.client_connections_per_source_max);
  if (tls_) {
    // What a handshake costs the event loop is paid only within this rate.
    co.admission.hellos_per_second = static_cast<double>(t.client_handshakes_per_source_per_s);
    co.admission.hello_burst = static_cast<double>(t.client_handshakes_per_source_per_s);
  }
  co.timeouts.hello = std::chrono::milliseconds(t.hello_timeout_ms);
  co.timeouts.frame = std::chrono::milliseconds(t.frame_timeout_ms);
  co.timeouts.idle = std::chrono::milliseconds(t.client_idle_timeout_ms);
  if (tls_) {
    co.tls = &*tls_;
    co.client_auth = config_.tls->client_auth;
    co.token_identity = [this](std::string_view token) -> std::optional<std::string> {
      return tokens_ ? tokens_->identity_of(token) : std::nullopt;
    };
  }
  clients_ = std::make_unique<ClientService>(
      io_, co, *replica_, [this](pb::ClusterInfo* info) { fill_cluster_info(info); }, net_stats_,
      client_latency_, request_counts_);
  return clients_->start();
}

Status Daemon::start_http() {
  http_ = std::make_unique<HttpServer>(config_.http_limits());
  // Under [tls]: HTTPS with the client port's context (the node's
  // certificate; a client certificate optional, verified if shown).
  if (tls_) http_->set_tls(tls_->client_server());
  http_->get("/status", [this](const httplib::Request& req, httplib::Response& res) {
    if (!http_allowed(req, res, HttpAccess::kAdmin)) return;
    // ?hash=1 adds a hash of the whole state (costs a snapshot; for tests).
    res.set_content(
        on_loop(req.has_param("hash") ? &Daemon::status_json_with_hash : &Daemon::status_json),
        "application/json");
  });
  http_->get("/chosen", [this](const httplib::Request& req, httplib::Response& res) {
    if (!http_allowed(req, res, HttpAccess::kAdmin)) return;
    serve_chosen(req, res);
  });
  const HttpAccess metrics_access =
      config_.tls && config_.tls->metrics_public ? HttpAccess::kAnyone : HttpAccess::kIdentified;
  http_->get("/metrics",
             [this, metrics_access](const httplib::Request& req, httplib::Response& res) {
               if (!http_allowed(req, res, metrics_access)) return;
               std::string text = on_loop(&Daemon::metrics_text);
               if (!stopping_) {
                 PrometheusText process;
                 process_metrics(process);
                 text += process.text();
               }
               res.set_content(std::move(text), "text/plain; version=0.0.4");
             });
  Status s = http_->start(self_->http.ip, self_->http.port);
  if (!s.ok()) {
    return Status::error(
        s.code(), "cannot listen for http on " + self_->http.to_string() + ": " + s.message());
  }
  return {};
}

bool Daemon::http_allowed(const httplib::Request& req, httplib::Response& res, HttpAccess need) {
  if (!tls_ || need == HttpAccess::kAnyone) return true;
  const cluster::ClientAuth auth = config_.tls->client_auth;
  const bool certs = auth != cluster::ClientAuth::kToken;
  const bool tokens = auth != cluster::ClientAuth::kCert;
  const auto answer = [&res](int status, const std::string& why) {
    res.status = status;
    if (status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"paxlock\"");
    const char* code = status == 401   ? "UNAUTHENTICATED"
                       : status == 403 ? "PERMISSION_DENIED"
                                       : "UNAVAILABLE";
    res.set_content(to_json_line({{"code", code}, {"error", why}}) + "\n", "application/json");
    return false;
  };
  std::optional<std::string> by_cert;
  if (const tls::X509Ptr cert = HttpServer::current_peer_certificate(); cert && certs) {
    auto id = tls::client_identity(cert.get());
    if (!id.ok()) {
      return answer(401, "the client certificate is no client identity: " + id.status().message());
    }
    by_cert = *id;
  }
  std::string bearer;
  if (tokens && req.has_header("Authorization")) {
    const std::string value = req.get_header_value("Authorization");
    constexpr std::string_view kScheme = "bearer ";  // the scheme's case does not matter
    const bool bearer_scheme =
        value.size() > kScheme.size() &&
        std::equal(kScheme.begin(), kScheme.end(), value.begin(),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
    if (!bearer_scheme || value.size() - kScheme.size() > tls::kTokenBytesMax) {
      return answer(401, "Authorization must be \"Bearer <token>\"");
    }
    bearer = value.substr(kScheme.size());
  }
  if (!by_cert && bearer.empty()) {
    return answer(401, fmt::format("not authenticated: this cluster (client_auth = \"{}\") "
                                   "requires {}",
                                   cluster::to_string(auth),
                                   certs && tokens ? "a client certificate or a bearer token"
                                   : certs         ? "a client certificate"
                                                   : "a bearer token"));
  }
  if (stopping_) return answer(503, "shutting down");
  // The token file and the ACL table live on the event loop. Captures by
  // value: the loop may run it after this thread stopped waiting.
  auto promise = std::make_shared<std::promise<std::pair<int, std::string>>>();
  auto future = promise->get_future();
  asio::post(io_, [this, by_cert, bearer, need, promise] {
    std::optional<std::string> id = by_cert;
    if (!bearer.empty()) {
      const std::optional<std::string> by_token =
          tokens_ ? tokens_->identity_of(bearer) : std::nullopt;
      if (!by_token) {
        return promise->set_value(
            {401, "the token is not valid on this cluster (unknown, or revoked)"});
      }
      if (id && *id != *by_token) {
        return promise->set_value(
            {401, fmt::format("the client certificate (identity '{}') and the token (identity "
                              "'{}') name different identities",
                              *id, *by_token)});
      }
      id = by_token;
    }
    if (need == HttpAccess::kAdmin && !machine_->is_admin(*id)) {
      return promise->set_value(
          {403, fmt::format("identity '{}' is not an admin (this page is for admins)", *id)});
    }
    promise->set_value({200, ""});
  });
  if (future.wait_for(2s) != std::future_status::ready) return answer(503, "busy");
  const auto [status, why] = future.get();
  return status == 200 || answer(status, why);
}

// /chosen?from=A&to=B: a hash of each chosen value still in the log, for
// comparing replicas' logs (tests; at most 10,000 instances per call).
void Daemon::serve_chosen(const httplib::Request& req, httplib::Response& res) {
  uint64_t from = 1;
  uint64_t to = 0;
  const auto param = [&req](const char* key, uint64_t& out) {
    if (!req.has_param(key)) return true;
    const std::string v = req.get_param_value(key);
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && end == v.data() + v.size();
  };
  if (!param("from", from) || !param("to", to)) {
    res.status = 400;
    res.set_content("from and to must be instance numbers\n", "text/plain");
    return;
  }
  if (!req.has_param("to")) to = from + 1000;
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  asio::post(io_, [this, from, to, promise] { promise->set_value(chosen_json(from, to)); });
  res.set_content(future.wait_for(2s) == std::future_status::ready ? future.get()
                                                                   : to_json_line(Json::object()),
                  "application/json");
}

void Daemon::run() {
  io_.run();
}

void Daemon::shutdown() {
  if (stopping_.exchange(true)) return;
  bootstrap_timer_.cancel();
  clients_->stop();
  transport_->stop();
  tick_timer_.cancel();
  // Give the last answers a moment to leave, then stop the loop. The disk
  // thread finishes its queued writes when the store is destroyed.
  auto timer = std::make_shared<asio::steady_timer>(io_, 200ms);
  timer->async_wait([this, timer](const asio::error_code&) { io_.stop(); });
}

void Daemon::schedule_tick() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    on_tick();
    schedule_tick();
  });
}

void Daemon::on_tick() {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  replica_->tick(now, wall_ms());
  const auto leader = replica_->node().leader();
  if (leader != last_leader_) {
    if (leader) {
      ++leader_changes_;
      spdlog::info("leader is now node {}", *leader);
    } else {
      spdlog::info("no live leader known");
    }
    last_leader_ = leader;
  }
  const paxos::Role role = replica_->node().role();
  if (role != last_role_) {
    spdlog::info("role is now {} (ballot {}, promised {}, first unchosen {})",
                 paxos::to_string(role), replica_->node().ballot().to_string(),
                 replica_->node().promised().to_string(), replica_->node().first_unchosen());
    last_role_ = role;
  }
  if (!wal_broken_logged_ && replica_->disk_broken()) {
    wal_broken_logged_ = true;  // once: the state does not change until a restart
    spdlog::error("{}", wal_broken_message(disk_health()));
  }
  note_snapshot(false);
  std::vector<uint32_t> syncs;
  store_->take_sync_latencies(syncs);
  for (uint32_t us : syncs)
    fsync_latency_.observe_us(us);
}

DiskHealth Daemon::disk_health() const {
  DiskHealth d;
  d.ok = replica_->disk_ok();
  d.broken = replica_->disk_broken();
  d.error = store_->last_error();
  d.log_bytes = store_->log_bytes();
  d.disk_bytes = store_->disk_bytes();
  d.write_failures = replica_->stats().write_failures;
  return d;
}

void Daemon::fill_cluster_info(pb::ClusterInfo* info) {
  const paxos::Node& node = replica_->node();
  info->set_cluster_id(config_.cluster_id);
  info->set_node_id(options_.id);
  info->set_leader(node.leader().value_or(0));
  info->set_role(paxos::to_string(node.role()));
  info->set_first_unchosen(node.first_unchosen());
  info->set_applied(node.next_apply() - 1);
  for (const Member& m : config_.members) {
    pb::MemberInfo* mi = info->add_members();
    mi->set_id(m.id);
    mi->set_peer(m.peer.to_string());
    mi->set_client(m.client.to_string());
    mi->set_http(m.http.to_string());
  }
}

std::string Daemon::on_loop(std::string (Daemon::*render)()) {
  if (stopping_) return to_json_line({{"error", "shutting down"}}) + "\n";
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  asio::post(io_, [this, render, promise] { promise->set_value((this->*render)()); });
  if (future.wait_for(2s) != std::future_status::ready) {
    return to_json_line({{"error", "busy"}}) + "\n";
  }
  return future.get();
}

Json Daemon::status() {
  const paxos::Node& node = replica_->node();
  const auto now = Clock::now();
  Json peers = Json::array();
  for (const Member& m : config_.members) {
    if (m.id == options_.id) continue;
    // Since the last message or keepalive from the peer; null if none came
    // since this process started.
    const auto heard = transport_->last_heard(m.id);
    const Json ago =
        heard.time_since_epoch().count() == 0
            ? Json(nullptr)
            : Json(std::chrono::duration_cast<std::chrono::milliseconds>(now - heard).count());
    peers.push_back(
        {{"id", m.id}, {"connected", transport_->connected(m.id)}, {"last_heard_ms_ago", ago}});
  }
  const auto leader = node.leader();
  return {
      {"node_id", options_.id},
      {"cluster_id", config_.cluster_id},
      {"role", paxos::to_string(node.role())},
      {"leader", leader ? Json(*leader) : Json(nullptr)},
      {"ballot", node.ballot().to_string()},
      {"promised", node.promised().to_string()},
      {"first_unchosen", node.first_unchosen()},
      {"applied", node.next_apply() - 1},
      {"known_commit", node.known_commit()},
      {"log_start", node.log_start()},
      {"snapshot", replica_->snapshot_next()},
      {"pending_commands", node.pending_commands()},
      {"waiting_clients", replica_->waiting()},
      {"locks_held", machine_->locks_held()},
      {"sessions", machine_->sessions()},
      {"state_time_ms", machine_->now()},
      {"last_token", machine_->last_token()},
      {"peers", std::move(peers)},
      {"disk", disk_status_json(disk_health())},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - started_).count()},
  };
}

std::string Daemon::status_json() {
  return to_json_line(status()) + "\n";
}

std::string Daemon::status_json_with_hash() {
  Json j = status();
  const std::string state = machine_->snapshot();
  j["state_hash"] = fmt::format("{:016x}", fnv1a(state));
  // What clients' commands act on (locks and their waiters, sessions, ACL
  // grants, the next token and session ids), without what every command
  // moves (the clock, the applied instance, exactly-once records): equal
  // before and after a command that was refused and changed nothing.
  pb::LockSnapshot table;
  PAXLOCK_CHECK(table.ParseFromString(state));
  table.clear_now_ms();
  table.clear_applied_instance();
  table.clear_clients();
  table.clear_retries();
  j["table_hash"] = fmt::format("{:016x}", fnv1a(table.SerializeAsString()));
  return to_json_line(j) + "\n";
}

std::string Daemon::chosen_json(uint64_t from, uint64_t to) {
  const paxos::Node& node = replica_->node();
  from = std::max<uint64_t>(from, node.log_start());
  to = std::min<uint64_t>({to, node.first_unchosen(), from + 10000});
  Json chosen = Json::object();
  std::string value;
  for (uint64_t i = from; i < to; ++i) {
    const paxos::Slot* s = node.slot(i);
    if (!s || !s->chosen || !s->value) continue;
    value.clear();
    paxos::encode_value(*s->value, value);
    chosen[std::to_string(i)] = fmt::format("{:016x}", fnv1a(value));
  }
  return to_json_line({{"log_start", node.log_start()},
                       {"first_unchosen", node.first_unchosen()},
                       {"chosen", std::move(chosen)}}) +
         "\n";
}

std::string Daemon::metrics_text() {
  const paxos::NodeStats& c = replica_->node().stats();
  const driver::ReplicaStats& r = replica_->stats();
  const net::NetStats& n = net_stats_;
  const paxos::Node& node = replica_->node();
  PrometheusText out;
  out.family("paxlock_build_info", "The build: release, git revision and build type.", "gauge");
  out.sample("paxlock_build_info", uint64_t{1},
             {{"version", version()}, {"revision", git_revision()}, {"build_type", build_type()}});
  out.counter("paxlock_proposals_total", "Instances this node proposed as leader.",
              c.instances_proposed);
  out.counter("paxlock_instances_chosen_total", "Instances chosen and applied here.",
              r.instances_applied);
  out.counter("paxlock_commands_applied_total", "Commands applied here.", r.commands_applied);
  out.family("paxlock_retransmissions_total", "Messages sent again because no answer came.",
             "counter");
  out.sample("paxlock_retransmissions_total", c.resent_accepts, {{"kind", "accept"}});
  out.sample("paxlock_retransmissions_total", c.resent_prepares, {{"kind", "prepare"}});
  out.sample("paxlock_retransmissions_total", c.commands_retried, {{"kind", "command"}});
  out.sample("paxlock_retransmissions_total", c.learn_requests, {{"kind", "learn"}});
  out.counter("paxlock_peer_messages_refused_total",
              "Peer messages refused before they reached the consensus core (out of range, "
              "not a member, a conflicting chosen value).",
              c.messages_refused);
  out.counter("paxlock_chosen_conflicts_total",
              "Peer messages naming another value for an instance chosen here (refused).",
              c.chosen_conflicts);
  out.counter("paxlock_leader_changes_total", "Times this node saw a new leader.", leader_changes_);
  out.counter("paxlock_elections_total", "Phase 1 runs this node started.", c.elections_started);
  out.counter("paxlock_pre_votes_total", "Pre-vote rounds this node started.", c.pre_votes_started);
  out.counter("paxlock_pre_votes_won_total", "Pre-vote rounds a majority granted.",
              c.pre_votes_won);
  out.counter("paxlock_batches_total", "Batches this node proposed as leader.", c.batches);
  out.counter("paxlock_batched_commands_total", "Commands in those batches.", c.batched_commands);
  out.counter("paxlock_fsyncs_total", "Synced writes.", r.synced_writes);
  out.counter("paxlock_write_failures_total", "Failed disk writes.", r.write_failures);
  out.counter("paxlock_snapshots_taken_total", "Snapshots taken.", r.snapshots_taken);
  out.counter("paxlock_snapshots_installed_total", "Snapshots installed from peers.",
              r.snapshots_installed);
  out.counter("paxlock_snapshot_save_failures_total", "Snapshots that could not be saved.",
              r.snapshot_save_failures);
  out.counter("paxlock_client_requests_total", "Client requests received.", n.client_requests);
  out.family("paxlock_requests_total", "Client requests answered, by op and result.", "counter");
  for (size_t op = 0; op < service::RequestCounts::kOps.size(); ++op) {
    for (size_t res = 0; res < service::RequestCounts::kResults.size(); ++res) {
      out.sample("paxlock_requests_total", request_counts_.count(op, res),
                 {{"op", service::RequestCounts::kOps[op]},
                  {"result", service::RequestCounts::kResults[res]}});
    }
  }
  out.counter("paxlock_peer_messages_sent_total", "Messages sent to peers.", n.peer_frames_out);
  out.counter("paxlock_peer_messages_received_total", "Messages received from peers.",
              n.peer_frames_in);
  out.family("paxlock_peer_messages_dropped_total", "Outgoing messages dropped.", "counter");
  out.sample("paxlock_peer_messages_dropped_total", n.peer_dropped_queue_full,
             {{"reason", "queue_full"}});
  out.sample("paxlock_peer_messages_dropped_total", n.peer_dropped_down, {{"reason", "down"}});
  out.sample("paxlock_peer_messages_dropped_total", n.peer_dropped_fault,
             {{"reason", "fault_injection"}});
  out.counter("paxlock_peer_keepalives_sent_total",
              "Keepalives sent to peers on connections otherwise idle.", n.peer_keepalives_out);
  out.counter("paxlock_peer_keepalives_received_total", "Keepalives received from peers.",
              n.peer_keepalives_in);
  out.family("paxlock_connection_errors_total", "Connections closed for what the other side did.",
             "counter");
  for (const auto& [reason, count] : n.connection_errors) {
    out.sample("paxlock_connection_errors_total", count, {{"reason", reason}});
  }
  out.family("paxlock_connections", "Connections open on a listening port.", "gauge");
  out.sample("paxlock_connections", static_cast<uint64_t>(transport_->inbound_connections()),
             {{"port", "peer"}});
  out.sample("paxlock_connections", static_cast<uint64_t>(clients_->connections()),
             {{"port", "client"}});
  out.gauge("paxlock_client_output_bytes",
            "Reply bytes queued for clients, on all connections (the output budget's use).",
            static_cast<double>(clients_->output_bytes()));
  out.gauge("paxlock_locks_held", "Locks held.", static_cast<double>(machine_->locks_held()));
  out.gauge("paxlock_sessions", "Open sessions.", static_cast<double>(machine_->sessions()));
  out.gauge("paxlock_first_unchosen", "First instance not known chosen.",
            static_cast<double>(node.first_unchosen()));
  out.gauge("paxlock_chosen_index", "Every instance up to this one is known chosen here.",
            static_cast<double>(node.first_unchosen() - 1));
  out.gauge("paxlock_applied_index", "Every instance up to this one is applied here.",
            static_cast<double>(node.next_apply() - 1));
  out.gauge("paxlock_known_commit_index",
            "The highest instance any replica reported chosen to this one.",
            static_cast<double>(node.known_commit() - 1));
  out.gauge("paxlock_is_leader", "1 if this node leads.",
            node.role() == paxos::Role::kLeader ? 1 : 0);
  out.gauge("paxlock_leader_id", "The node this one knows as the live leader (0: none).",
            static_cast<double>(node.leader().value_or(0)));
  const paxos::Instance snap = replica_->snapshot_next();
  out.gauge("paxlock_snapshot_index", "The last instance the newest snapshot covers (0: none).",
            static_cast<double>(snap > 0 ? snap - 1 : 0));
  out.gauge(
      "paxlock_snapshot_timestamp_seconds",
      "When the newest snapshot was taken or installed, since the Unix epoch (0: none).",
      snapshot_wall_ms_ < 0 || snap == 0 ? 0.0 : static_cast<double>(snapshot_wall_ms_) / 1e3);
  out.gauge("paxlock_snapshot_age_seconds",
            "Seconds since the newest snapshot was taken or installed (-1: none yet).",
            snapshot_wall_ms_ < 0 || snap == 0
                ? -1.0
                : static_cast<double>(std::max<int64_t>(0, wall_ms() - snapshot_wall_ms_)) / 1e3);
  disk_metrics(out, disk_health());
  fsync_latency_.write(out, "paxlock_fsync_seconds", "WAL fdatasync latency.");
  client_latency_.write(out, "paxlock_client_request_seconds",
                        "Client request latency, receive to answer.");
  http_metrics(out);
  return out.text();
}

void Daemon::http_metrics(PrometheusText& out) const {
  const HttpStats* h = http_ ? &http_->stats() : nullptr;
  out.gauge("paxlock_http_connections", "HTTP connections open.",
            h ? static_cast<double>(h->open.load()) : 0.0);
  out.counter("paxlock_http_requests_total", "HTTP requests read whole and routed.",
              h ? h->answered.load() : 0);
  out.family("paxlock_http_refusals_total", "HTTP connections refused or closed early, by reason.",
             "counter");
  for (size_t i = 0; i < kHttpRefusalReasons.size(); ++i) {
    out.sample("paxlock_http_refusals_total",
               h ? h->refusals(static_cast<HttpRefusal>(i)) : uint64_t{0},
               {{"reason", kHttpRefusalReasons[i]}});
  }
}

}  // namespace paxlock::daemon
