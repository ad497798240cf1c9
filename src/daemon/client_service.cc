#include "daemon/client_service.h"

#include <spdlog/spdlog.h>

#include "net/wire.h"

namespace paxlock::daemon {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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
      acceptor_(io) {}

Status ClientService::start() {
  auto listen = net::endpoint_of(options_.listen.ip, options_.listen.port);
  if (!listen.ok()) {
    return Status::error(EINVAL, "cannot listen for clients on " + options_.listen.to_string() +
                                     ": " + listen.status().message());
  }
  asio::error_code ec;
  const net::tcp::endpoint ep = *listen;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(ec.value(), "cannot listen for clients on " + options_.listen.to_string() +
                                         ": " + ec.message());
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void ClientService::stop() {
  stopped_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  for (auto& weak : conns_) {
    auto conn = weak.lock();
    if (!conn) continue;
    conn->handler->shut_down();
  }
}

void ClientService::reject(const std::shared_ptr<Conn>& conn, const std::string& reason,
                           const std::string& detail) {
  ++stats_.connection_errors["client_" + reason];
  uint64_t suppressed = 0;
  if (log_limit_.allow(reason, suppressed)) {
    spdlog::warn("client connection from {} closed: {} ({} similar suppressed)", conn->io->remote(),
                 detail, suppressed);
  }
  conn->io->close();
}

asio::awaitable<void> ClientService::accept_loop() {
  while (!stopped_) {
    asio::error_code ec;
    net::tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopped_) break;
      continue;
    }
    auto conn = std::make_shared<Conn>();
    // Replies queue up to many frames; a client that stops reading is cut off.
    conn->io = std::make_shared<net::Connection>(std::move(socket), options_.max_frame_bytes,
                                                 64 * options_.max_frame_bytes);
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
    asio::co_spawn(io_, conn->io->write_loop(), asio::detached);
    asio::co_spawn(io_, serve(conn), asio::detached);
  }
}

asio::awaitable<void> ClientService::serve(std::shared_ptr<Conn> conn) {
  asio::steady_timer deadline(io_, 5s);
  deadline.async_wait([io = conn->io](const asio::error_code& ec) {
    if (!ec) io->close();  // no hello in time
  });
  std::string_view frame;
  net::ReadStatus st = co_await conn->io->read_frame(frame);
  deadline.cancel();
  pb::ClientHello hello;
  pb::ServerHello answer;
  answer.set_protocol_version(net::kProtocolVersion);
  answer.set_cluster_id(options_.cluster_id);
  answer.set_node_id(options_.self);
  if (st != net::ReadStatus::kFrame ||
      !hello.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    if (st != net::ReadStatus::kClosed) reject(conn, "bad_hello", "no valid hello");
    conn->io->close();
    co_return;
  }
  if (hello.protocol_version() != net::kProtocolVersion ||
      hello.cluster_id() != options_.cluster_id) {
    answer.set_error("this is cluster '" + options_.cluster_id + "', protocol " +
                     std::to_string(net::kProtocolVersion));
    conn->io->send(net::make_frame(answer));
    reject(conn, "wrong_cluster",
           "client for cluster '" + hello.cluster_id() + "', protocol " +
               std::to_string(hello.protocol_version()));
    co_return;
  }
  conn->io->send(net::make_frame(answer));
  while (!stopped_) {
    st = co_await conn->io->read_frame(frame);
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

void ClientService::respond(const std::shared_ptr<Conn>& conn, pb::ClientResponse& resp) {
  if (!conn->io->send(net::make_frame(resp))) {
    reject(conn, "slow_reader", "client does not read its replies");
  }
}

void ClientService::handle(const std::shared_ptr<Conn>& conn, const pb::ClientRequest& req) {
  conn->started.try_emplace(req.request_id(), Clock::now());
  conn->handler->handle(req);
}

}  // namespace paxlock::daemon
