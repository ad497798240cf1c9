#include "net/peer_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "net/codec.h"

namespace paxlock::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kHelloTimeout = 5s;
constexpr auto kConnectTimeout = 1000ms;
constexpr auto kBackoffMin = 50ms;
constexpr auto kBackoffMax = 2000ms;
// An outgoing connection whose oldest queued frame waited this long is
// presumed dead (a blackholed peer) and reopened.
constexpr auto kStallTimeout = 3s;

// Data left unacknowledged this long fails the connection, so that a peer
// behind a partition is noticed and redialed instead of waiting out TCP's
// retransmission back-off (which grows to minutes).
void set_user_timeout(tcp::socket& socket, std::chrono::milliseconds timeout) {
  const unsigned int ms = static_cast<unsigned int>(timeout.count());
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

}  // namespace

PeerTransport::PeerTransport(asio::io_context& io, PeerTransportOptions options, Deliver deliver,
                             NetStats& stats)
    : io_(io),
      options_(std::move(options)),
      deliver_(std::move(deliver)),
      stats_(stats),
      rng_(options_.fault_seed),
      acceptor_(io),
      keepalive_timer_(io) {}

Status PeerTransport::start() {
  for (const auto& [id, addr] : options_.peers) {
    auto peer = endpoint_of(addr.ip, addr.port);
    if (!peer.ok()) {
      return Status::error(EINVAL, "peer " + std::to_string(id) + " at " + addr.to_string() + ": " +
                                       peer.status().message());
    }
    peer_endpoints_[id] = *peer;
  }
  auto listen = endpoint_of(options_.listen.ip, options_.listen.port);
  if (!listen.ok()) {
    return Status::error(EINVAL, "cannot listen for peers on " + options_.listen.to_string() +
                                     ": " + listen.status().message());
  }
  asio::error_code ec;
  const tcp::endpoint ep = *listen;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(ec.value(), "cannot listen for peers on " + options_.listen.to_string() +
                                         ": " + ec.message());
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
  for (const auto& [id, addr] : options_.peers) {
    (void)addr;
    asio::co_spawn(io_, dial_loop(id), asio::detached);
  }
  asio::co_spawn(io_, keepalive_loop(), asio::detached);
  return {};
}

void PeerTransport::stop() {
  stopped_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  keepalive_timer_.cancel();
  for (auto& [id, c] : out_) {
    if (c) c->close();
  }
  for (auto& c : in_)
    c->close();
}

bool PeerTransport::connected(paxos::NodeId peer) const {
  auto it = out_.find(peer);
  return it != out_.end() && it->second && !it->second->closed();
}

void PeerTransport::send(const paxos::Message& msg) {
  if (options_.drop_rate > 0 && rng_.chance(options_.drop_rate)) {
    ++stats_.peer_dropped_fault;
    return;
  }
  auto it = out_.find(msg.to);
  if (it == out_.end() || !it->second || it->second->closed()) {
    ++stats_.peer_dropped_down;
    return;
  }
  pb::PeerMessage pm;
  to_proto(msg, &pm);
  std::string frame = make_frame(pm);
  const size_t bytes = frame.size();
  if (!enqueue(msg.to, *it->second, std::move(frame))) return;
  ++stats_.peer_frames_out;
  stats_.peer_bytes_out += bytes;
}

bool PeerTransport::enqueue(paxos::NodeId peer, Connection& conn, std::string frame) {
  if (!conn.send(std::move(frame))) {
    ++stats_.peer_dropped_queue_full;
    // A queue that stopped draining long ago belongs to a dead connection.
    if (Clock::now() - conn.write_pending_since() > kStallTimeout) {
      ++stats_.connection_errors["stalled"];
      conn.close();
    }
    return false;
  }
  sent_since_keepalive_[peer] = true;
  return true;
}

asio::awaitable<void> PeerTransport::keepalive_loop() {
  while (!stopped_) {
    keepalive_timer_.expires_after(options_.keepalive_interval);
    asio::error_code ec;
    co_await keepalive_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    for (auto& [peer, conn] : out_) {
      if (!conn || conn->closed()) continue;
      // Whatever went out since the last round already tells the peer we live.
      if (std::exchange(sent_since_keepalive_[peer], false)) continue;
      pb::PeerMessage pm;
      pm.set_type(kPeerKeepaliveType);
      pm.set_from(options_.self);
      pm.set_to(peer);
      if (enqueue(peer, *conn, make_frame(pm))) {
        sent_since_keepalive_[peer] = false;  // a keepalive does not excuse the next one
        ++stats_.peer_keepalives_out;
      }
    }
  }
}

void PeerTransport::reject(const std::shared_ptr<Connection>& conn, const std::string& reason,
                           const std::string& detail) {
  ++stats_.connection_errors[reason];
  uint64_t suppressed = 0;
  if (log_limit_.allow(reason, suppressed)) {
    spdlog::warn("peer connection from {} closed: {} ({} similar suppressed)", conn->remote(),
                 detail, suppressed);
  }
  conn->close();
}

asio::awaitable<void> PeerTransport::accept_loop() {
  while (!stopped_) {
    asio::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopped_) break;
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket), options_.max_frame_bytes,
                                             options_.queue_bytes);
    std::erase_if(in_, [](const auto& c) { return c->closed(); });
    in_.push_back(conn);
    asio::co_spawn(io_, inbound(conn), asio::detached);
  }
}

asio::awaitable<void> PeerTransport::inbound(std::shared_ptr<Connection> conn) {
  // The hello must arrive promptly.
  asio::steady_timer deadline(io_, kHelloTimeout);
  deadline.async_wait([conn](const asio::error_code& ec) {
    if (!ec) conn->close();
  });
  std::string_view frame;
  ReadStatus st = co_await conn->read_frame(frame);
  deadline.cancel();
  if (st != ReadStatus::kFrame) {
    if (st == ReadStatus::kTooBig) reject(conn, "frame_too_big", "hello frame over the limit");
    conn->close();
    co_return;
  }
  pb::PeerHello hello;
  if (!hello.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    reject(conn, "bad_frame", "hello does not parse");
    co_return;
  }
  if (hello.protocol_version() != kPeerProtocolVersion) {
    reject(conn, "bad_version",
           "peer protocol version " + std::to_string(hello.protocol_version()) + ", expected " +
               std::to_string(kPeerProtocolVersion) + " (upgrade every replica together)");
    co_return;
  }
  if (hello.cluster_id() != options_.cluster_id) {
    reject(conn, "wrong_cluster",
           "cluster id '" + hello.cluster_id() + "', expected '" + options_.cluster_id + "'");
    co_return;
  }
  const paxos::NodeId from = hello.node_id();
  if (!options_.peers.count(from)) {
    reject(conn, "unknown_node", "node id " + std::to_string(from) + " is not a peer");
    co_return;
  }
  // A new connection from a peer replaces its old one, which may be a
  // half-open leftover of a partition or a crash.
  if (auto old = inbound_by_node_[from].lock(); old && old != conn) old->close();
  inbound_by_node_[from] = conn;
  // The peer is up (it may have just restarted): if we have no connection to
  // it, dial now instead of waiting out the back-off, so that it hears the
  // leader before its election timer runs out.
  if (!connected(from)) {
    auto timer = backoff_timers_.find(from);
    if (timer != backoff_timers_.end()) timer->second->cancel();
  }
  while (!stopped_) {
    st = co_await conn->read_frame(frame);
    if (st == ReadStatus::kClosed) break;
    if (st == ReadStatus::kTooBig) {
      reject(conn, "frame_too_big", "frame over max_frame_bytes from node " + std::to_string(from));
      break;
    }
    pb::PeerMessage pm;
    if (!pm.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      reject(conn, "bad_frame", "frame does not parse from node " + std::to_string(from));
      break;
    }
    if (pm.type() == kPeerKeepaliveType) {
      if (pm.from() != from || pm.to() != options_.self) {
        reject(conn, "bad_message", "misaddressed keepalive from node " + std::to_string(from));
        break;
      }
      ++stats_.peer_keepalives_in;
      last_heard_[from] = Clock::now();
      continue;
    }
    auto decoded = from_proto(pm);
    if (!decoded.ok()) {
      reject(conn, "bad_message",
             decoded.status().message() + " from node " + std::to_string(from));
      break;
    }
    paxos::Message& msg = *decoded;
    if (msg.from != from || msg.to != options_.self) {
      reject(conn, "bad_message", "misaddressed message from node " + std::to_string(from));
      break;
    }
    ++stats_.peer_frames_in;
    last_heard_[from] = Clock::now();
    deliver_(msg);
  }
  conn->close();
}

asio::awaitable<void> PeerTransport::dial_loop(paxos::NodeId peer) {
  auto backoff = std::chrono::milliseconds(kBackoffMin);
  const tcp::endpoint ep = peer_endpoints_.at(peer);
  auto timer_ptr = std::make_shared<asio::steady_timer>(io_);
  backoff_timers_[peer] = timer_ptr;
  asio::steady_timer& timer = *timer_ptr;
  while (!stopped_) {
    tcp::socket socket(io_);
    const asio::error_code ec = co_await connect_with_timeout(socket, ep, kConnectTimeout);
    if (!ec && !stopped_) {
      set_user_timeout(socket, kStallTimeout);
      auto conn = std::make_shared<Connection>(std::move(socket), options_.max_frame_bytes,
                                               options_.queue_bytes);
      // The peer never writes on this connection: a read that completes
      // means it closed, and the connection is redialed at once.
      asio::co_spawn(
          io_,
          [conn]() -> asio::awaitable<void> {
            std::string_view ignored;
            while (co_await conn->read_frame(ignored) == ReadStatus::kFrame) {
            }
            conn->close();
          },
          asio::detached);
      pb::PeerHello hello;
      hello.set_protocol_version(kPeerProtocolVersion);
      hello.set_cluster_id(options_.cluster_id);
      hello.set_node_id(options_.self);
      conn->send(make_frame(hello));
      out_[peer] = conn;
      ++stats_.peer_connects;
      const auto opened = Clock::now();
      co_await conn->write_loop();
      out_[peer].reset();
      if (Clock::now() - opened > 1s) backoff = kBackoffMin;  // it worked for a while
    }
    if (stopped_) break;
    // Exponential back-off with jitter, so that restarted nodes do not
    // reconnect in lockstep.
    const auto jitter = std::chrono::milliseconds(rng_.uniform(0, backoff.count()));
    timer.expires_after(backoff / 2 + jitter);
    asio::error_code woken;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, woken));
    // Cancelled: the peer just connected to us, so it is up; dial at once.
    backoff = woken ? kBackoffMin : std::min<std::chrono::milliseconds>(backoff * 2, kBackoffMax);
  }
}

}  // namespace paxlock::net
