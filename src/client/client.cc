// The client library (include/paxlock/client.h). One I/O thread runs an Asio
// loop with one connection per replica; every request lives in `pending_`
// until answered or out of time, keyed by the request id of its current
// attempt.
#include "paxlock/client.h"

#include <asio.hpp>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "client/lease.h"
#include "cluster/cluster_file.h"
#include "common/hash.h"
#include "common/rng.h"
#include "net/connection.h"
#include "net/wire.h"
#include "paxlock.pb.h"

namespace paxlock {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::tcp;

constexpr auto kConnectTimeout = 500ms;
constexpr auto kDownFor = 300ms;  // after a failure, prefer other replicas this long
constexpr size_t kMaxFrame = 64 << 20;

// The public codes are the schema's, value for value (kUnavailable is the
// client's own: no answer at all).
#define PAXLOCK_SAME(ours, theirs) \
  static_assert(static_cast<int>(ours) == static_cast<int>(theirs), #ours " != " #theirs)
PAXLOCK_SAME(Code::kOk, pb::OK);
PAXLOCK_SAME(Code::kHeld, pb::HELD);
PAXLOCK_SAME(Code::kNotOwner, pb::NOT_OWNER);
PAXLOCK_SAME(Code::kNotHeld, pb::NOT_HELD);
PAXLOCK_SAME(Code::kStaleToken, pb::STALE_TOKEN);
PAXLOCK_SAME(Code::kTimeout, pb::TIMEOUT);
PAXLOCK_SAME(Code::kDeadlock, pb::DEADLOCK);
PAXLOCK_SAME(Code::kSessionExpired, pb::SESSION_EXPIRED);
PAXLOCK_SAME(Code::kInvalid, pb::INVALID);
PAXLOCK_SAME(Code::kTooManyWaiters, pb::TOO_MANY_WAITERS);
PAXLOCK_SAME(Code::kDuplicateIgnored, pb::DUPLICATE_IGNORED);
PAXLOCK_SAME(Code::kBadRequest, pb::BAD_REQUEST);
#undef PAXLOCK_SAME

// The one conversion from the schema to the public types.
Reply from_proto_response(const pb::ClientResponse& r) {
  Reply out;
  const pb::LockResult& res = r.result();
  if (res.code() > pb::DUPLICATE_IGNORED && res.code() != pb::BAD_REQUEST) {
    out.code = Code::kBadRequest;
    out.error = "unexpected answer code " + std::to_string(res.code()) + ": " + r.error();
    return out;
  }
  out.code = static_cast<Code>(res.code());
  out.error = r.error();
  out.token = res.token();
  out.holder = res.holder();
  out.session = res.session();
  out.ttl_ms = res.ttl_ms();
  out.applied_at = res.applied_at();
  out.current = res.current();
  for (const pb::LockInfo& l : res.locks()) {
    LockInfo li{l.name(), l.holder(), l.token(), l.session(), l.since_ms(), {}};
    for (const pb::WaiterInfo& w : l.waiters())
      li.waiters.push_back({w.owner(), w.session(), w.deadline_ms()});
    out.locks.push_back(std::move(li));
  }
  out.next = res.next();
  for (const pb::CycleEdge& e : res.cycle())
    out.cycle.push_back({e.owner(), e.lock(), e.holder()});
  if (r.has_cluster()) {
    const pb::ClusterInfo& c = r.cluster();
    out.cluster.cluster_id = c.cluster_id();
    out.cluster.node_id = c.node_id();
    out.cluster.leader = c.leader();
    out.cluster.role = c.role();
    out.cluster.first_unchosen = c.first_unchosen();
    out.cluster.applied = c.applied();
    for (const pb::MemberInfo& m : c.members()) {
      out.cluster.members.push_back({m.id(), m.client(), m.peer(), m.http()});
    }
  }
  return out;
}

}  // namespace

const char* to_string(Code code) {
  if (code == Code::kUnavailable) return "UNAVAILABLE";
  if (!pb::Code_IsValid(static_cast<int>(code))) return "UNKNOWN";
  return pb::Code_Name(static_cast<pb::Code>(code)).c_str();
}

bool load_cluster_file(const std::string& path, ClientOptions& options, std::string* error) {
  auto cfg = cluster::load_cluster_file(path);
  if (!cfg.ok()) {
    if (error) *error = cfg.status().message();
    return false;
  }
  options.cluster_id = cfg->cluster_id;
  options.replicas.clear();
  for (const cluster::Member& m : cfg->members) {
    options.replicas.push_back(
        {m.id, m.client.to_string(), m.peer.to_string(), m.http.to_string()});
  }
  return true;
}

struct Client::Impl {
  struct Replica {
    Member member;
    tcp::endpoint endpoint;
    std::shared_ptr<net::Connection> conn;
    bool connecting = false;
    std::vector<std::string> queued;  // frames waiting for the connection
    Clock::time_point down_until{};
    std::string bad_address;  // why this replica cannot be reached at all
  };

  struct Pending {
    pb::ClientRequest req;
    Callback done;
    Clock::time_point deadline;
    std::chrono::milliseconds attempt_timeout{};
    size_t replica = 0;
    int attempts = 0;
    asio::steady_timer timer;
    explicit Pending(asio::io_context& io) : timer(io) {}
  };

  explicit Impl(ClientOptions o)
      : opt(std::move(o)),
        work(asio::make_work_guard(io)),
        rng(opt.seed != 0 ? opt.seed
                          : std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)) {
    client_id = opt.client_id != 0 ? opt.client_id : (rng.next() | 1);
    for (const Member& m : opt.replicas) {
      Replica r;
      r.member = m;
      // An address that does not resolve makes the requests sent to this
      // replica fail with the reason (load_cluster_file refuses such a file
      // up front; this is for options built by hand).
      auto addr = cluster::resolve_address(m.client_address);
      auto ep =
          addr.ok() ? net::endpoint_of(addr->ip, addr->port) : Result<tcp::endpoint>(addr.status());
      if (ep.ok()) {
        r.endpoint = *ep;
      } else {
        r.bad_address = "replica " + std::to_string(m.id) + ": " + ep.status().message();
      }
      replicas.push_back(std::move(r));
    }
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    asio::post(io, [this] {
      for (auto& [rid, p] : pending) {
        p->timer.cancel();
        Reply r;
        r.code = Code::kUnavailable;
        r.error = "client closed";
        if (p->done) p->done(r);
      }
      pending.clear();
      for (Replica& r : replicas) {
        if (r.conn) r.conn->close();
      }
      work.reset();
      io.stop();
    });
    thread.join();
  }

  // ------------------------------------------------------- on the I/O thread

  size_t choose(const pb::ClientRequest& req) {
    const size_t n = replicas.size();
    const auto now = Clock::now();
    auto up = [&](size_t i) { return replicas[i].down_until <= now; };
    size_t first = 0;
    switch (opt.choice) {
      case ReplicaChoice::kRandom:
        first = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(n) - 1));
        break;
      case ReplicaChoice::kHash:
        first = fnv1a(req.command().name(),
                      fnv1a(req.command().owner(), static_cast<uint64_t>(req.command().op()))) %
                n;
        break;
      case ReplicaChoice::kFixed:
        for (size_t i = 0; i < n; ++i) {
          if (replicas[i].member.id == opt.fixed_replica) first = i;
        }
        break;
    }
    for (size_t k = 0; k < n; ++k) {
      if (up((first + k) % n)) return (first + k) % n;
    }
    return first;  // all down: try anyway
  }

  void submit(pb::ClientRequest req, Callback done, std::chrono::milliseconds extra_wait) {
    if (replicas.empty()) {
      Reply r;
      r.code = Code::kUnavailable;
      r.error = "no replicas configured";
      done(r);
      return;
    }
    auto p = std::make_shared<Pending>(io);
    req.set_client_id(client_id);
    req.set_seq(++next_seq);
    outstanding.insert(req.seq());
    p->req = std::move(req);
    p->done = std::move(done);
    p->deadline = Clock::now() + opt.request_timeout + extra_wait;
    p->attempt_timeout = opt.attempt_timeout + extra_wait;
    p->replica = choose(p->req);
    attempt(p);
  }

  void attempt(const std::shared_ptr<Pending>& p) {
    ++p->attempts;
    const uint64_t rid = ++next_rid;
    p->req.set_request_id(rid);
    if (p->req.has_command()) p->req.mutable_command()->set_first_outstanding(*outstanding.begin());
    pending[rid] = p;
    send(p->replica, net::make_frame(p->req));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(p->deadline - Clock::now());
    p->timer.expires_after(std::max(1ms, std::min(p->attempt_timeout, left)));
    p->timer.async_wait([this, p, rid](const asio::error_code& ec) {
      if (ec || !pending.count(rid)) return;
      retry(p, rid, /*mark_down=*/true);
    });
  }

  // Sends the same request (same client id and seq) to another replica.
  void retry(const std::shared_ptr<Pending>& p, uint64_t rid, bool mark_down) {
    pending.erase(rid);
    p->timer.cancel();
    if (mark_down) replicas[p->replica].down_until = Clock::now() + kDownFor;
    if (Clock::now() >= p->deadline) {
      Reply r;
      r.code = Code::kUnavailable;
      r.attempts = p->attempts;
      r.error = "no replica answered in time; the request may or may not have taken effect";
      finish(p, r);
      return;
    }
    const size_t n = replicas.size();
    if (n > 1) {
      size_t next = choose(p->req);
      if (next == p->replica) next = (p->replica + 1 + rng.next() % (n - 1)) % n;
      p->replica = next;
    }
    attempt(p);
  }

  void finish(const std::shared_ptr<Pending>& p, Reply& r) {
    outstanding.erase(p->req.seq());
    r.attempts = p->attempts;
    r.client_id = client_id;
    r.seq = p->req.seq();
    if (p->done) p->done(r);
  }

  void on_response(size_t replica, const pb::ClientResponse& resp) {
    auto it = pending.find(resp.request_id());
    if (it == pending.end()) return;  // an attempt we gave up on
    std::shared_ptr<Pending> p = it->second;
    if (p->replica != replica) return;
    if (resp.result().code() == pb::BUSY || resp.result().code() == pb::SHUTTING_DOWN) {
      retry(p, resp.request_id(), /*mark_down=*/true);
      return;
    }
    pending.erase(it);
    p->timer.cancel();
    Reply r = from_proto_response(resp);
    r.served_by = replicas[replica].member.id;
    finish(p, r);
  }

  void connection_lost(size_t replica) {
    Replica& r = replicas[replica];
    r.down_until = Clock::now() + kDownFor;
    std::vector<std::pair<uint64_t, std::shared_ptr<Pending>>> moved;
    for (auto& [rid, p] : pending) {
      if (p->replica == replica) moved.emplace_back(rid, p);
    }
    for (auto& [rid, p] : moved)
      retry(p, rid, /*mark_down=*/false);
  }

  void send(size_t i, std::string frame) {
    Replica& r = replicas[i];
    if (r.conn && !r.conn->closed()) {
      if (!r.conn->send(std::move(frame))) r.conn->close();
      return;
    }
    if (!r.bad_address.empty()) {
      fail_all(i, r.bad_address);
      return;
    }
    r.queued.push_back(std::move(frame));
    if (!r.connecting) {
      r.connecting = true;
      asio::co_spawn(io, connect(i), asio::detached);
    }
  }

  asio::awaitable<void> connect(size_t i) {
    Replica& r = replicas[i];
    tcp::socket socket(io);
    const asio::error_code ec =
        co_await net::connect_with_timeout(socket, r.endpoint, kConnectTimeout);
    r.connecting = false;
    if (ec) {
      r.queued.clear();
      connection_lost(i);
      co_return;
    }
    auto conn = std::make_shared<net::Connection>(std::move(socket), kMaxFrame, 256 << 20);
    r.conn = conn;
    pb::ClientHello hello;
    hello.set_protocol_version(net::kProtocolVersion);
    hello.set_cluster_id(opt.cluster_id);
    conn->send(net::make_frame(hello));
    for (std::string& f : r.queued)
      conn->send(std::move(f));
    r.queued.clear();
    asio::co_spawn(io, conn->write_loop(), asio::detached);
    co_await read_loop(i, conn);
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
      fail_all(i, "replica refused the connection: " + hello.error());
      co_return;
    }
    while (co_await conn->read_frame(frame) == net::ReadStatus::kFrame) {
      pb::ClientResponse resp;
      if (!resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;
      on_response(i, resp);
    }
    conn->close();
    connection_lost(i);
  }

  // A replica that refuses the hello (wrong cluster) will not start working:
  // its requests fail with the reason rather than bouncing around.
  void fail_all(size_t i, const std::string& why) {
    replicas[i].down_until = Clock::now() + 10s;
    std::vector<std::pair<uint64_t, std::shared_ptr<Pending>>> moved;
    for (auto& [rid, p] : pending) {
      if (p->replica == i) moved.emplace_back(rid, p);
    }
    for (auto& [rid, p] : moved) {
      pending.erase(rid);
      p->timer.cancel();
      Reply r;
      r.code = Code::kUnavailable;
      r.error = why;
      finish(p, r);
    }
  }

  ClientOptions opt;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  paxlock::Rng rng;
  uint64_t client_id = 0;
  uint64_t next_seq = 0;
  uint64_t next_rid = 0;
  std::vector<Replica> replicas;
  std::map<uint64_t, std::shared_ptr<Pending>> pending;  // by current request id
  std::set<uint64_t> outstanding;                        // seqs not yet answered
  std::thread thread;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

uint64_t Client::client_id() const {
  return impl_->client_id;
}
const ClientOptions& Client::options() const {
  return impl_->opt;
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
  const auto extra = o.wait;
  PAXLOCK_SUBMIT(req, done, extra);
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
  asio::post(impl_->io, [this, req = std::move(req), done = std::move(done), replica]() mutable {
    if (replica != 0) {
      // Ask that replica only: a temporary fixed choice.
      const ReplicaChoice saved = impl_->opt.choice;
      const uint32_t saved_fixed = impl_->opt.fixed_replica;
      impl_->opt.choice = ReplicaChoice::kFixed;
      impl_->opt.fixed_replica = replica;
      impl_->submit(std::move(req), std::move(done), 0ms);
      impl_->opt.choice = saved;
      impl_->opt.fixed_replica = saved_fixed;
      return;
    }
    impl_->submit(std::move(req), std::move(done), 0ms);
  });
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
std::future<Reply> Client::cluster_info(uint32_t replica) {
  return as_future([&](Callback cb) { cluster_info(replica, std::move(cb)); });
}

Reply Client::acquire(const std::string& name, const std::string& owner, const AcquireOptions& o) {
  const auto deadline = Clock::now() + o.max_wait;
  auto backoff = o.backoff_min;
  paxlock::Rng rng(impl_->client_id ^ fnv1a(name));
  Reply last;
  for (int attempt = 1;; ++attempt) {
    LockOptions lo;
    lo.session = o.session;
    last = lock(name, owner, lo).get();
    if (last.code != Code::kHeld && last.code != Code::kUnavailable) return last;
    if (o.max_attempts > 0 && attempt >= o.max_attempts) return last;
    // Exponential back-off with jitter: sleep in [backoff/2, backoff].
    const auto sleep = std::chrono::milliseconds(
        rng.uniform(backoff.count() / 2, std::max<int64_t>(backoff.count(), 1)));
    if (Clock::now() + sleep >= deadline) return last;
    std::this_thread::sleep_for(sleep);
    backoff = std::min(backoff * 2, o.backoff_max);
  }
}

// ---------------------------------------------------------------- sessions

struct Session::State {
  explicit State(client::Lease l) : lease(l) {}
  std::mutex mu;
  client::Lease lease;  // renewal times and the loss deadline (src/client/lease.h)
  std::function<void()> on_lost;
  std::function<void()> tick;  // runs on the I/O thread only
  std::unique_ptr<asio::steady_timer> timer;
};

Session::Session(Client& client, uint64_t id, std::chrono::milliseconds ttl)
    : client_(client), id_(id), ttl_(ttl) {}

bool Session::lost() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->lease.lost();
}

std::unique_ptr<Session> Client::start_session(const std::string& owner,
                                               std::chrono::milliseconds ttl,
                                               std::function<void()> on_lost, Reply* opened) {
  const auto sent = Clock::now();
  Reply r = as_future([&](Callback cb) { open_session(owner, ttl, std::move(cb)); }).get();
  if (opened) *opened = r;
  if (r.code != Code::kOk) return nullptr;
  std::unique_ptr<Session> s(new Session(*this, r.session, ttl));
  s->state_ = std::make_shared<Session::State>(client::Lease(sent, ttl));
  s->state_->on_lost = std::move(on_lost);
  std::weak_ptr<Session::State> weak = s->state_;
  Impl* impl = impl_.get();
  const uint64_t id = r.session;
  // The lease's step lives in the state (no self-reference, so no leak): it
  // runs on the I/O thread whenever the lease's timer fires, until the
  // session ends. on_lost runs outside the lock (it may call lost()).
  s->state_->tick = [impl, weak, id, this]() {
    auto st = weak.lock();
    if (!st) return;
    const auto now = Clock::now();
    client::Lease::Step step;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      step = st->lease.step(now);
    }
    if (step.lost && st->on_lost) st->on_lost();
    if (step.done) return;
    if (step.send_keep_alive) {
      keep_alive(id, [weak, now](const Reply& rep) {
        auto s2 = weak.lock();
        if (!s2) return;
        bool lost = false;
        {
          std::lock_guard<std::mutex> lock(s2->mu);
          if (rep.code == Code::kOk) {
            s2->lease.acknowledged(now);
          } else if (rep.code == Code::kSessionExpired) {
            lost = s2->lease.expired();
          }
        }
        if (lost && s2->on_lost) s2->on_lost();
      });
    }
    if (!st->timer) st->timer = std::make_unique<asio::steady_timer>(impl->io);
    st->timer->expires_at(step.wake_at);
    st->timer->async_wait([weak](const asio::error_code& ec) {
      auto s3 = weak.lock();
      if (!ec && s3 && s3->tick) s3->tick();
    });
  };
  asio::post(impl_->io, [weak] {
    if (auto st = weak.lock()) st->tick();
  });
  return s;
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->lease.close();
  }
  auto st = state_;
  asio::post(client_.impl_->io, [st] {
    if (st->timer) st->timer->cancel();
    st->tick = nullptr;  // the timer and the step go with the state
  });
  auto done = as_future([&](Client::Callback cb) { client_.close_session(id_, std::move(cb)); });
  done.wait_for(2s);
}

}  // namespace paxlock
