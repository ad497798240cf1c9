#include "daemon/client_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/wire.h"
#include "tls/identity.h"
#include "tls/tokens.h"

namespace paxlock::daemon {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A refused hello's answer gets this long to reach the client.
constexpr auto kRefusalLinger = 1000ms;

}  // namespace

struct ClientService::Conn {
  std::shared_ptr<net::Connection> io;
  std::unique_ptr<service::RequestHandler> handler;  // validation, submit, answers
  std::map<uint64_t, Clock::time_point> started;     // by request id, for the latency
};

ClientService::ClientService(asio::io_context& io, ClientServiceOptions options,
                             driver::Replica& replica, ClusterInfoFn cluster_info,
                             net::NetStats& stats, Histogram& latency,
                             service::RequestCounts& counts)
    : io_(io),
      options_(std::move(options)),
      replica_(replica),
      cluster_info_(std::move(cluster_info)),
      stats_(stats),
      latency_(latency),
      counts_(counts),
      admission_(std::make_shared<net::Admission>(options_.admission)),
      listener_(io, "client", admission_),
      budget_(std::make_shared<net::OutputBudget>(
          net::OutputBudget{options_.output_total_bytes_max, 0})),
      sweep_timer_(io) {}

Status ClientService::start() {
  if (Status st = listener_.listen(options_.listen); !st.ok()) return st;
  listener_.start([this](net::tcp::socket socket,
                         net::AdmissionSlot slot) { accept(std::move(socket), std::move(slot)); },
                  [this](const std::string& reason, const std::string& source,
                         const std::string& detail) { note_refusal(reason, source, detail); });
  asio::co_spawn(io_, sweep_loop(), asio::detached);
  return {};
}

void ClientService::stop() {
  stopped_ = true;
  listener_.close();
  sweep_timer_.cancel();
  for (auto& weak : conns_) {
    auto conn = weak.lock();
    if (!conn) continue;
    conn->handler->shut_down();
  }
}

void ClientService::note_refusal(const std::string& reason, const std::string& remote,
                                 const std::string& detail) {
  ++stats_.connection_errors["client_" + reason];
  uint64_t suppressed = 0;
  if (log_limit_.allow(reason, suppressed)) {
    spdlog::warn("client connection from {} closed: {} ({} similar suppressed)", remote, detail,
                 suppressed);
  }
}

void ClientService::reject(const std::shared_ptr<Conn>& conn, const std::string& reason,
                           const std::string& detail) {
  note_refusal(reason, conn->io->remote(), detail);
  conn->io->close();
}

void ClientService::accept(net::tcp::socket socket, net::AdmissionSlot slot) {
  auto conn = std::make_shared<Conn>();
  // Replies queue up to output_bytes_max here and output_total_bytes_max
  // on all connections; a client that stops reading is cut off.
  conn->io = options_.tls
                 ? std::make_shared<net::Connection>(
                       net::Stream(std::move(socket), options_.tls->client_server()),
                       net::kHelloBytesMax, options_.output_bytes_max, budget_)
                 : std::make_shared<net::Connection>(std::move(socket), net::kHelloBytesMax,
                                                     options_.output_bytes_max, budget_);
  std::weak_ptr<Conn> weak = conn;
  service::RequestHandlerOptions ho;
  ho.pending_max = options_.pending_max;
  ho.withhold_replies = options_.withhold_replies;
  ho.counts = &counts_;
  conn->handler = std::make_unique<service::RequestHandler>(
      replica_, ho, cluster_info_, [this, weak](pb::ClientResponse& resp, bool from_log) {
        auto c = weak.lock();
        if (!c) return;
        auto it = c->started.find(resp.request_id());
        // A refusal of a second request under an id still in flight ("request
        // id in use") leaves the first one's start time alone.
        if (it != c->started.end() && (from_log || !c->handler->waiting_for(resp.request_id()))) {
          if (from_log) {
            latency_.observe_us(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->second)
                    .count()));
          }
          c->started.erase(it);
        }
        respond(c, resp);
      });
  ++stats_.client_connections;
  std::erase_if(conns_, [](const auto& w) { return w.expired(); });
  conns_.push_back(conn);
  asio::co_spawn(io_, write(conn->io, std::move(slot)), asio::detached);
  asio::co_spawn(io_, serve(conn), asio::detached);
}

asio::awaitable<void> ClientService::write(std::shared_ptr<net::Connection> io,
                                           net::AdmissionSlot slot) {
  (void)slot;  // held until the connection closed
  co_await io->write_loop();
}

void ClientService::refuse_hello(const std::shared_ptr<Conn>& conn, const std::string& reason,
                                 const std::string& error) {
  pb::ServerHello answer;
  answer.set_protocol_version(net::kProtocolVersion);
  answer.set_cluster_id(options_.cluster_id);
  answer.set_node_id(options_.self);
  answer.set_error(error);
  note_refusal(reason, conn->io->remote(), error);
  (void)conn->io->send(net::make_frame(answer));
  conn->io->close_after_flush(kRefusalLinger);
}

asio::awaitable<bool> ClientService::greet(const std::shared_ptr<Conn>& conn) {
  std::string_view frame;
  const net::ReadStatus st = co_await conn->io->read_frame(frame);
  if (st == net::ReadStatus::kClosed) co_return false;
  pb::ClientHello hello;
  if (st == net::ReadStatus::kTooBig) {
    refuse_hello(
        conn, "bad_hello",
        fmt::format("a hello is at most {} bytes: not a paxlock client?", net::kHelloBytesMax));
    co_return false;
  }
  if (!hello.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    refuse_hello(conn, "bad_hello", "the hello does not parse: not a paxlock client?");
    co_return false;
  }
  if (hello.protocol_version() != net::kProtocolVersion) {
    refuse_hello(conn, "wrong_cluster",
                 fmt::format("client protocol {} is not spoken here: this replica speaks "
                             "protocol {} (use a client of the same release)",
                             hello.protocol_version(), net::kProtocolVersion));
    co_return false;
  }
  if (hello.cluster_id() != options_.cluster_id) {
    refuse_hello(conn, "wrong_cluster",
                 fmt::format("wrong cluster: this replica (node {}) serves cluster '{}', the "
                             "client asked for '{}' (check the cluster file)",
                             options_.self, options_.cluster_id, hello.cluster_id()));
    co_return false;
  }
  auto identity = authenticate(conn, hello);
  if (!identity.ok()) {
    refuse_hello(conn, "unauthenticated", identity.status().message());
    co_return false;
  }
  conn->handler->set_identity(std::move(*identity));
  pb::ServerHello answer;
  answer.set_protocol_version(net::kProtocolVersion);
  answer.set_cluster_id(options_.cluster_id);
  answer.set_node_id(options_.self);
  (void)conn->io->send(net::make_frame(answer));
  co_return true;
}

Result<std::string> ClientService::authenticate(const std::shared_ptr<Conn>& conn,
                                                const pb::ClientHello& hello) {
  if (!options_.tls) return std::string();  // insecure: nobody is anyone
  const bool certs = options_.client_auth != cluster::ClientAuth::kToken;
  const bool tokens = options_.client_auth != cluster::ClientAuth::kCert;
  std::optional<std::string> by_cert;
  std::optional<std::string> by_token;
  if (const tls::X509Ptr cert = conn->io->peer_certificate(); cert && certs) {
    auto id = tls::client_identity(cert.get());
    if (!id.ok()) {
      return Status::error(
          EACCES, "the client certificate is no client identity: " + id.status().message());
    }
    by_cert = *id;
  }
  if (!hello.token().empty() && tokens) {
    if (hello.token().size() > tls::kTokenBytesMax || !options_.token_identity) {
      return Status::error(EACCES, "the token is not valid on this cluster");
    }
    by_token = options_.token_identity(hello.token());
    if (!by_token) {
      return Status::error(EACCES, "the token is not valid on this cluster (unknown, or revoked)");
    }
  }
  if (by_cert && by_token && *by_cert != *by_token) {
    return Status::error(EACCES, fmt::format("the client certificate (identity '{}') and the "
                                             "token (identity '{}') name different identities",
                                             *by_cert, *by_token));
  }
  if (by_cert) return *by_cert;
  if (by_token) return *by_token;
  return Status::error(
      EACCES,
      fmt::format("not authenticated: this cluster (client_auth = \"{}\") requires {}",
                  cluster::to_string(options_.client_auth),
                  certs && tokens ? "a client certificate (--cert/--key) or a token (--token-file)"
                  : certs         ? "a client certificate (--cert/--key)"
                                  : "a token (--token-file)"));
}

asio::awaitable<void> ClientService::serve(std::shared_ptr<Conn> conn) {
  if (options_.tls) {
    // Nothing is spent on a connection before it sends something, and a
    // handshake (ECDHE, a signature, a chain check on the event loop) only
    // within the source's rate.
    if (co_await conn->io->wait_readable() || conn->io->closed()) {
      conn->io->close();
      co_return;
    }
    if (!admission_->allow_hello(conn->io->remote_address(), Clock::now())) {
      reject(conn, "handshake_rate",
             fmt::format("more than {} TLS handshakes a second from {}",
                         options_.admission.hellos_per_second, conn->io->remote_address()));
      co_return;
    }
  }
  // The handshake has the hello deadline (the sweep closes a connection
  // still in it, counted as "client_tls_handshake").
  if (const asio::error_code ec = co_await conn->io->handshake(asio::ssl::stream_base::server)) {
    if (!conn->io->closed()) {
      reject(conn, "tls_handshake", "TLS handshake failed: " + conn->io->handshake_failure(ec));
    }
    co_return;
  }
  if (!co_await greet(conn)) co_return;  // refused: closes once the answer is out
  conn->io->set_greeted();
  conn->io->set_max_frame_bytes(options_.max_frame_bytes);
  std::string_view frame;
  while (!stopped_) {
    const net::ReadStatus st = co_await conn->io->read_frame(frame);
    if (st == net::ReadStatus::kClosed) break;
    if (st == net::ReadStatus::kTooBig) {
      reject(conn, "frame_too_big", "request frame over max_frame_bytes");
      break;
    }
    pb::ClientRequest req;
    if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      reject(conn, "bad_frame", "request does not parse");
      break;
    }
    ++stats_.client_requests;
    handle(conn, req);
  }
  // The client went away: stop waiting for its commands (they may still be
  // chosen; a retry elsewhere gets the recorded answer).
  conn->handler->cancel_all();
  conn->started.clear();
  conn->io->close();
}

asio::awaitable<void> ClientService::sweep_loop() {
  const auto period = net::sweep_period(options_.timeouts);
  while (!stopped_) {
    sweep_timer_.expires_after(period);
    asio::error_code ec;
    co_await sweep_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    const auto now = Clock::now();
    std::erase_if(conns_, [](const auto& w) { return w.expired(); });
    for (const auto& weak : conns_) {
      auto conn = weak.lock();
      if (!conn || conn->io->closed()) continue;
      net::Activity a;
      a.opened = conn->io->opened_at();
      a.greeted = conn->io->greeted();
      a.last_frame = conn->io->last_frame_at();
      a.partial_since = conn->io->partial_since();
      a.busy = conn->handler->pending() > 0;
      switch (net::expiry(a, now, options_.timeouts)) {
        case net::Expiry::kNone:
          break;
        case net::Expiry::kHello:
          if (!conn->io->handshake_done()) {
            reject(conn, "tls_handshake",
                   fmt::format("no TLS handshake within {} ms", options_.timeouts.hello.count()));
          } else {
            reject(conn, "hello_timeout",
                   fmt::format("no hello within {} ms", options_.timeouts.hello.count()));
          }
          break;
        case net::Expiry::kFrame:
          reject(conn, "frame_timeout",
                 fmt::format("a request frame started and not finished within {} ms",
                             options_.timeouts.frame.count()));
          break;
        case net::Expiry::kIdle:
          reject(conn, "idle_timeout",
                 fmt::format("no request for {} ms and none in flight",
                             options_.timeouts.idle.count()));
          break;
      }
    }
  }
}

void ClientService::cut_largest_output() {
  std::shared_ptr<Conn> largest;
  for (const auto& weak : conns_) {
    auto conn = weak.lock();
    if (!conn || conn->io->closed()) continue;
    if (!largest || conn->io->queued_bytes() > largest->io->queued_bytes()) largest = conn;
  }
  if (!largest) return;
  reject(largest, "output_budget",
         fmt::format("replies queued for all clients reached {} bytes; this connection held "
                     "the most ({} bytes): the client does not read them",
                     options_.output_total_bytes_max, largest->io->queued_bytes()));
}

void ClientService::respond(const std::shared_ptr<Conn>& conn, pb::ClientResponse& resp) {
  std::string frame = net::make_frame(resp);
  net::SendStatus st = conn->io->send(std::move(frame));
  if (st == net::SendStatus::kBudgetFull) {
    // The slowest reader most likely holds the most: it goes, not
    // necessarily this one.
    cut_largest_output();
    st = conn->io->send(std::move(frame));
  }
  switch (st) {
    case net::SendStatus::kQueued:
    case net::SendStatus::kClosed:
      break;
    case net::SendStatus::kQueueFull:
      reject(conn, "slow_reader",
             fmt::format("over {} bytes of replies queued: the client does not read them",
                         options_.output_bytes_max));
      break;
    case net::SendStatus::kBudgetFull:
      reject(conn, "output_budget",
             fmt::format("replies queued for all clients reached {} bytes",
                         options_.output_total_bytes_max));
      break;
  }
}

void ClientService::handle(const std::shared_ptr<Conn>& conn, const pb::ClientRequest& req) {
  conn->started.try_emplace(req.request_id(), Clock::now());
  conn->handler->handle(req);
}

}  // namespace paxlock::daemon
