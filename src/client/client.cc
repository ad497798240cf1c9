// The client library (include/paxlock/client.h): a thin Asio shell around the
// pure client core (src/client/client_core.h). One I/O thread runs an Asio
// loop with one connection per replica; every core input (a call, a frame, a
// lost connection, the timer) runs on that thread, and after each one the
// shell sends what the core wants sent, runs the callbacks of completed
// requests and arms one timer for the core's next tick.
#include "paxlock/client.h"

#include <asio.hpp>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "client/client_core.h"
#include "cluster/cluster_file.h"
#include "common/hash.h"
#include "common/rng.h"
#include "net/connection.h"
#include "net/wire.h"
#include "tls/context.h"
#include "tls/identity.h"

namespace paxlock {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::tcp;

constexpr auto kConnectTimeout = 500ms;
constexpr size_t kMaxFrame = 64 << 20;

uint64_t random_seed() {
  return std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32);
}

client::CoreConfig core_config() {
  client::CoreConfig c;
  c.fallback_seed = random_seed();
  return c;
}

}  // namespace

std::pair<std::string, std::string> client_certificate(const ClientOptions& o) {
  if (o.tls_cert.empty() && o.token.empty()) return {o.default_tls_cert, o.default_tls_key};
  return {o.tls_cert, o.tls_key};
}

bool load_cluster_file(const std::string& path, ClientOptions& options, std::string* error) {
  auto cfg = cluster::load_cluster_file(path);
  if (!cfg.ok()) {
    if (error) *error = cfg.status().message();
    return false;
  }
  // The same rule as the replicas': a file that says nothing about security
  // is refused, so that a client never talks in the clear by omission.
  if (auto why = cluster::missing_security(cfg->insecure, cfg->tls, path)) {
    if (error) *error = *why;
    return false;
  }
  options.cluster_id = cfg->cluster_id;
  options.tls = cfg->tls.has_value();
  options.tls_ca = cfg->tls ? cfg->tls->ca : "";
  // The file's client credentials (or none): used only if the caller sets
  // none of its own, before or after this call (client_certificate).
  options.default_tls_cert = cfg->tls ? cfg->tls->client_cert : "";
  options.default_tls_key = cfg->tls ? cfg->tls->client_key : "";
  options.replicas.clear();
  for (const cluster::Member& m : cfg->members) {
    // The client address as resolved when the file was read, so that the
    // client connects where the file was checked to point.
    options.replicas.push_back({m.id, m.client.resolved(), m.peer.to_string(), m.http.to_string()});
  }
  return true;
}

struct Client::Impl {
  struct Replica {
    tcp::endpoint endpoint;
    std::shared_ptr<net::Connection> conn;
    bool connecting = false;
    std::vector<std::string> queued;  // frames waiting for the connection
  };

  explicit Impl(ClientOptions o)
      : core(std::move(o), core_config()), work(asio::make_work_guard(io)), timer(io) {
    for (const Member& m : core.options().replicas) {
      Replica r;
      // An address that does not resolve is refused here, naming it
      // (load_cluster_file refuses such a file up front; this catches options
      // built by hand), never replaced by a default.
      auto addr = cluster::resolve_address(m.client_address);
      auto ep =
          addr.ok() ? net::endpoint_of(addr->ip, addr->port) : Result<tcp::endpoint>(addr.status());
      if (!ep.ok()) {
        throw std::invalid_argument("paxlock::Client: replica " + std::to_string(m.id) +
                                    " client address: " + ep.status().message());
      }
      r.endpoint = *ep;
      replicas.push_back(std::move(r));
    }
    if (core.options().tls) {
      const ClientOptions& o = core.options();
      const auto [cert, key] = client_certificate(o);
      auto ctx = tls::make_client_context({o.tls_ca, cert, key});
      if (!ctx.ok()) throw std::invalid_argument("paxlock::Client: TLS: " + ctx.status().message());
      tls_context = std::move(*ctx);
    }
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    asio::post(io, [this] {
      core.close();
      timer.cancel();
      pump();
      for (Replica& r : replicas) {
        if (r.conn) r.conn->close();
      }
      work.reset();
      io.stop();
    });
    thread.join();
  }

  // ------------------------------------------------------- on the I/O thread

  void submit(pb::ClientRequest req, Callback done, std::chrono::milliseconds extra_wait,
              uint32_t only_member = 0,
              std::chrono::milliseconds give_up_after = std::chrono::milliseconds(0)) {
    const auto h =
        core.submit(std::move(req), Clock::now(), extra_wait, only_member, give_up_after);
    if (done) callbacks[h] = std::move(done);
    pump();
  }

  // After every input: send what the core wants sent, complete what it
  // completed, and arm the timer for its next tick.
  void pump() {
    for (;;) {
      auto sends = core.take_sends();
      auto completions = core.take_completions();
      auto lost = core.take_lost_sessions();
      if (sends.empty() && completions.empty() && lost.empty()) break;
      for (auto& s : sends)
        send(s.replica, net::make_frame(s.request));
      // Losses before answers: an answer the core completed after a lease's
      // deadline (a grant under it, say) reaches its callback with the
      // Session already lost and on_lost already run.
      for (uint64_t id : lost) {
        auto it = session_lost.find(id);
        if (it == session_lost.end()) continue;
        auto fn = std::move(it->second);
        session_lost.erase(it);
        if (fn) fn();
      }
      for (auto& c : completions) {
        auto it = callbacks.find(c.handle);
        if (it == callbacks.end()) continue;
        Callback done = std::move(it->second);
        callbacks.erase(it);
        done(c.reply);
      }
    }
    arm_timer();
  }

  void arm_timer() {
    const auto next = core.next_tick();
    if (!next) {
      if (armed) timer.cancel();
      armed.reset();
      return;
    }
    // A timer that fires early costs one idle tick; re-arming it on every
    // answer costs a system call each, so only an earlier deadline re-arms.
    if (armed && *armed <= *next) return;
    armed = *next;
    timer.expires_at(*next);
    timer.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      armed.reset();
      core.tick(Clock::now());
      pump();
    });
  }

  void send(size_t i, std::string frame) {
    Replica& r = replicas[i];
    if (r.conn && !r.conn->closed()) {
      if (r.conn->send(std::move(frame)) != net::SendStatus::kQueued) r.conn->close();
      return;
    }
    r.queued.push_back(std::move(frame));
    if (!r.connecting) {
      r.connecting = true;
      asio::co_spawn(io, connect(i), asio::detached);
    }
  }

  void connection_lost(size_t i) {
    core.on_connection_lost(i, Clock::now());
    pump();
  }

  asio::awaitable<void> connect(size_t i) {
    Replica& r = replicas[i];
    tcp::socket socket(io);
    const asio::error_code ec =
        co_await net::connect_with_timeout(socket, r.endpoint, kConnectTimeout);
    if (ec) {
      r.connecting = false;
      r.queued.clear();
      connection_lost(i);
      co_return;
    }
    auto conn = tls_context
                    ? std::make_shared<net::Connection>(net::Stream(std::move(socket), tls_context),
                                                        kMaxFrame, 256 << 20)
                    : std::make_shared<net::Connection>(std::move(socket), kMaxFrame, 256 << 20);
    // Until the hello is queued, r.conn stays empty and r.connecting set, so
    // that send() queues every request behind it: during the TLS handshake
    // (a co_await) requests went onto the connection ahead of the hello, and
    // the replica read one as the hello ("client protocol 5564 is not spoken
    // here").
    if (conn->is_tls()) {
      const Status secured = co_await handshake(i, conn);
      if (!secured.ok()) r.connecting = false;
      if (secured.code() == ECONNRESET) {
        // The connection ended before TLS said anything (a replica killed or
        // restarting, a timeout): lost, and its requests go elsewhere.
        conn->close();
        r.queued.clear();
        connection_lost(i);
        co_return;
      }
      if (!secured.ok()) {
        conn->close();
        r.queued.clear();
        core.on_refused(i, secured.message(), Clock::now());
        pump();
        co_return;
      }
    }
    pb::ClientHello hello;
    hello.set_protocol_version(net::kProtocolVersion);
    hello.set_cluster_id(core.options().cluster_id);
    if (conn->is_tls()) hello.set_token(core.options().token);
    conn->send(net::make_frame(hello));
    for (std::string& f : r.queued)
      conn->send(std::move(f));
    r.queued.clear();
    r.conn = conn;
    r.connecting = false;
    asio::co_spawn(io, conn->write_loop(), asio::detached);
    co_await read_loop(i, conn);
  }

  // The TLS handshake with replica i, and the check that its certificate
  // is that node's: OK, or why the replica cannot be used.
  asio::awaitable<Status> handshake(size_t i, const std::shared_ptr<net::Connection>& conn) {
    const Member& m = core.options().replicas[i];
    const asio::error_code ec =
        co_await net::handshake_with_timeout(conn, asio::ssl::stream_base::client, kConnectTimeout);
    if (ec) {
      // A TLS error (an alert, a certificate that does not verify) is a
      // refusal; anything else is a connection that ended (ECONNRESET).
      const bool tls_said = ec.category() == asio::error::get_ssl_category() &&
                            ec != asio::ssl::error::stream_truncated;
      co_return Status::error(tls_said ? EPROTO : ECONNRESET,
                              "TLS handshake with replica " + std::to_string(m.id) +
                                  " failed: " + conn->handshake_failure(ec));
    }
    const tls::X509Ptr cert = conn->peer_certificate();
    const Status named =
        cert ? tls::certificate_names_node(cert.get(), m.id, core.options().cluster_id)
             : Status::error(EACCES, "no certificate");
    if (!named.ok()) {
      co_return Status::error(EACCES, "replica " + std::to_string(m.id) + " at " +
                                          m.client_address +
                                          " is not that node of the cluster: " + named.message());
    }
    co_return Status();
  }

  asio::awaitable<void> read_loop(size_t i, std::shared_ptr<net::Connection> conn) {
    std::string_view frame;
    if (co_await conn->read_frame(frame) != net::ReadStatus::kFrame) {
      conn->close();
      connection_lost(i);
      co_return;
    }
    pb::ServerHello hello;
    if (!hello.ParseFromArray(frame.data(), static_cast<int>(frame.size())) ||
        !hello.error().empty()) {
      conn->close();
      core.on_refused(i, "replica refused the connection: " + hello.error(), Clock::now());
      pump();
      co_return;
    }
    while (co_await conn->read_frame(frame) == net::ReadStatus::kFrame) {
      pb::ClientResponse resp;
      if (!resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;
      core.on_response(i, resp, Clock::now());
      pump();
    }
    conn->close();
    connection_lost(i);
  }

  asio::io_context io;
  client::ClientCore core;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;
  std::optional<Clock::time_point> armed;  // what the timer waits for
  std::vector<Replica> replicas;
  tls::ContextPtr tls_context;  // null: plain TCP
  std::map<client::ClientCore::Handle, Callback> callbacks;
  std::map<uint64_t, std::function<void()>> session_lost;  // on_lost by session id
  std::thread thread;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

uint64_t Client::client_id() const {
  return impl_->core.client_id();
}
const ClientOptions& Client::options() const {
  return impl_->core.options();
}

namespace {

pb::ClientRequest request(pb::Op op, const std::string& name = "", const std::string& owner = "") {
  pb::ClientRequest r;
  r.mutable_command()->set_op(op);
  r.mutable_command()->set_name(name);
  r.mutable_command()->set_owner(owner);
  return r;
}

std::future<Reply> as_future(const std::function<void(Client::Callback)>& call) {
  auto promise = std::make_shared<std::promise<Reply>>();
  auto future = promise->get_future();
  call([promise](const Reply& r) { promise->set_value(r); });
  return future;
}

}  // namespace

#define PAXLOCK_SUBMIT(req, done, extra)                                      \
  asio::post(impl_->io, [this, req = std::move(req), done = std::move(done),  \
                         wait = std::chrono::milliseconds(extra)]() mutable { \
    impl_->submit(std::move(req), std::move(done), wait);                     \
  })

void Client::lock(const std::string& name, const std::string& owner, const LockOptions& o,
                  Callback done) {
  pb::ClientRequest req = request(pb::LOCK, name, owner);
  req.mutable_command()->set_session(o.session);
  req.mutable_command()->set_wait_ms(o.wait.count());
  req.mutable_command()->set_will_retry(o.will_retry);
  asio::post(impl_->io, [this, req = std::move(req), done = std::move(done), o]() mutable {
    impl_->submit(std::move(req), std::move(done), o.wait, 0, o.give_up_after);
  });
}

void Client::unlock(const std::string& name, const std::string& owner, uint64_t token,
                    Callback done) {
  pb::ClientRequest req = request(pb::UNLOCK, name, owner);
  req.mutable_command()->set_token(token);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::check(const std::string& name, uint64_t token, Callback done) {
  pb::ClientRequest req = request(pb::CHECK, name);
  req.mutable_command()->set_token(token);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::status(const std::string& name, Callback done) {
  pb::ClientRequest req = request(pb::STATUS, name);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::list(const std::string& after, uint32_t limit, Callback done) {
  pb::ClientRequest req = request(pb::LIST, after);
  req.mutable_command()->set_limit(limit);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::open_session(const std::string& owner, std::chrono::milliseconds ttl, Callback done) {
  pb::ClientRequest req = request(pb::OPEN_SESSION, "", owner);
  req.mutable_command()->set_ttl_ms(ttl.count());
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::keep_alive(uint64_t session, Callback done) {
  pb::ClientRequest req = request(pb::KEEP_ALIVE);
  req.mutable_command()->set_session(session);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::close_session(uint64_t session, Callback done) {
  pb::ClientRequest req = request(pb::CLOSE_SESSION);
  req.mutable_command()->set_session(session);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::cluster_info(uint32_t replica, Callback done) {
  pb::ClientRequest req;
  req.set_cluster_info(true);
  // replica != 0: ask that replica first (others only if it fails).
  asio::post(impl_->io, [this, req = std::move(req), done = std::move(done), replica]() mutable {
    impl_->submit(std::move(req), std::move(done), 0ms, replica);
  });
}

void Client::acl_grant(const AclGrant& grant, Callback done) {
  pb::ClientRequest req = request(pb::ACL_GRANT);
  pb::AclGrant* g = req.mutable_command()->mutable_grant();
  g->set_identity(grant.identity);
  g->set_prefix(grant.prefix);
  g->set_role(static_cast<pb::Role>(grant.role));
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::acl_revoke(const std::string& identity, const std::string& prefix, Callback done) {
  pb::ClientRequest req = request(pb::ACL_REVOKE);
  pb::AclGrant* g = req.mutable_command()->mutable_grant();
  g->set_identity(identity);
  g->set_prefix(prefix);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

void Client::acl_list(const std::string& after_identity, const std::string& after_prefix,
                      uint32_t limit, Callback done) {
  pb::ClientRequest req = request(pb::ACL_LIST);
  pb::AclGrant* g = req.mutable_command()->mutable_grant();
  g->set_identity(after_identity);
  g->set_prefix(after_prefix);
  req.mutable_command()->set_limit(limit);
  PAXLOCK_SUBMIT(req, done, 0ms);
}

#undef PAXLOCK_SUBMIT

std::future<Reply> Client::lock(const std::string& name, const std::string& owner,
                                const LockOptions& options) {
  return as_future([&](Callback cb) { lock(name, owner, options, std::move(cb)); });
}
std::future<Reply> Client::unlock(const std::string& name, const std::string& owner,
                                  uint64_t token) {
  return as_future([&](Callback cb) { unlock(name, owner, token, std::move(cb)); });
}
std::future<Reply> Client::check(const std::string& name, uint64_t token) {
  return as_future([&](Callback cb) { check(name, token, std::move(cb)); });
}
std::future<Reply> Client::status(const std::string& name) {
  return as_future([&](Callback cb) { status(name, std::move(cb)); });
}
std::future<Reply> Client::list(const std::string& after, uint32_t limit) {
  return as_future([&](Callback cb) { list(after, limit, std::move(cb)); });
}
std::future<Reply> Client::acl_grant(const AclGrant& grant) {
  return as_future([&](Callback cb) { acl_grant(grant, std::move(cb)); });
}
std::future<Reply> Client::acl_revoke(const std::string& identity, const std::string& prefix) {
  return as_future([&](Callback cb) { acl_revoke(identity, prefix, std::move(cb)); });
}
std::future<Reply> Client::acl_list(const std::string& after_identity,
                                    const std::string& after_prefix, uint32_t limit) {
  return as_future(
      [&](Callback cb) { acl_list(after_identity, after_prefix, limit, std::move(cb)); });
}
std::future<Reply> Client::cluster_info(uint32_t replica) {
  return as_future([&](Callback cb) { cluster_info(replica, std::move(cb)); });
}

Reply Client::acquire(const std::string& name, const std::string& owner, const AcquireOptions& o) {
  // The wait is the service's: the owner joins the lock's FIFO queue (and
  // deadlock detection) for up to max_wait. The answer is asked for a
  // little before max_wait ends (kAnswerEarly) so that it arrives in time;
  // only an unavailable cluster is retried here, with back-off. The answer
  // has kAnswerEarly + kAnswerMargin to arrive (a time tick, one round and
  // the reply; an ASan build under CI load needed more than 100 ms) and the
  // call still returns within kAnswerMargin of max_wait. kAnswerEarly is
  // below kAnswerMargin: asked for exactly 100 ms early, an answer came
  // 101 ms early (the replicas stamp time in whole milliseconds).
  constexpr auto kAnswerMargin = 100ms;
  constexpr auto kAnswerEarly = 80ms;
  constexpr auto kLongestWait = std::chrono::milliseconds(3600 * 1000);  // LOCKS.md
  const auto start = Clock::now();
  const auto deadline = start + o.max_wait;
  auto backoff = std::max(o.backoff_min, std::chrono::milliseconds(10));
  paxlock::Rng rng(impl_->core.client_id() ^ fnv1a(name));
  Reply last;
  int sent = 0;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    LockOptions lo;
    lo.session = o.session;
    // A short wait keeps at least half of what is left.
    lo.wait = std::clamp(std::max(left - kAnswerEarly, left / 2), std::chrono::milliseconds(0),
                         kLongestWait);
    // The answer to a wait comes about kAnswerEarly before max_wait ends; it
    // is waited for up to kAnswerMargin after. A try (no time left to wait)
    // gets the request timeout for its answer: a grant must never be
    // reported as "unknown" only because the round trip took 1 ms.
    lo.give_up_after = lo.wait > std::chrono::milliseconds(0)
                           ? left + kAnswerMargin
                           : std::max(left + kAnswerMargin, impl_->core.options().request_timeout);
    const int before = last.attempts;
    last = lock(name, owner, lo).get();
    last.attempts += before;
    ++sent;
    const bool more_time = Clock::now() + kAnswerMargin < deadline;
    if (last.code == Code::kTimeout && more_time && lo.wait == kLongestWait) continue;
    if (last.code != Code::kUnavailable) break;
    if (o.max_attempts > 0 && sent >= o.max_attempts) break;
    // Exponential back-off with jitter: sleep in [backoff/2, backoff].
    const auto sleep = std::chrono::milliseconds(
        rng.uniform(backoff.count() / 2, std::max<int64_t>(backoff.count(), 1)));
    if (Clock::now() + sleep >= deadline) break;
    std::this_thread::sleep_for(sleep);
    backoff = std::min(backoff * 2, std::max(o.backoff_max, backoff));
  }
  return last;
}

// ---------------------------------------------------------------- sessions

// The lease itself lives in the client core (renewals on its tick, the loss
// deadline, SESSION_EXPIRED answers); the Session only keeps the flag that
// lost() reads from any thread, and the user's on_lost.
struct Session::State {
  std::atomic<bool> lost{false};
  std::function<void()> on_lost;
};

Session::Session(Client& client, uint64_t id, std::chrono::milliseconds ttl)
    : client_(client), id_(id), ttl_(ttl) {}

bool Session::lost() const {
  return state_->lost.load();
}

std::unique_ptr<Session> Client::start_session(const std::string& owner,
                                               std::chrono::milliseconds ttl,
                                               std::function<void()> on_lost, Reply* opened) {
  const auto sent = Clock::now();
  Reply r = as_future([&](Callback cb) { open_session(owner, ttl, std::move(cb)); }).get();
  if (opened) *opened = r;
  if (r.code != Code::kOk) return nullptr;
  std::unique_ptr<Session> s(new Session(*this, r.session, ttl));
  s->state_ = std::make_shared<Session::State>();
  s->state_->on_lost = std::move(on_lost);
  std::weak_ptr<Session::State> weak = s->state_;
  Impl* impl = impl_.get();
  const uint64_t id = r.session;
  asio::post(impl->io, [impl, weak, id, sent, ttl] {
    if (weak.expired()) return;
    // on_lost runs once, on the I/O thread (the core reports a loss once).
    impl->session_lost[id] = [weak] {
      auto st = weak.lock();
      if (!st) return;
      st->lost = true;
      if (st->on_lost) st->on_lost();
    };
    impl->core.start_session(id, ttl, sent, Clock::now());
    impl->pump();
  });
  return s;
}

Session::~Session() {
  Client::Impl* impl = client_.impl_.get();
  const uint64_t id = id_;
  asio::post(impl->io, [impl, id] {
    impl->core.close_session(id);
    impl->session_lost.erase(id);
    impl->pump();
  });
  auto done = as_future([&](Client::Callback cb) { client_.close_session(id_, std::move(cb)); });
  done.wait_for(2s);
}

}  // namespace paxlock
