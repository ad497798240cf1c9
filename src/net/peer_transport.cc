#include "net/peer_transport.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "net/codec.h"
#include "tls/identity.h"

namespace paxlock::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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
      keepalive_timer_(io),
      sweep_timer_(io),
      admission_(std::make_shared<Admission>(options_.admission)),
      listener_(io, "peer", admission_) {}

Status PeerTransport::start() {
  for (const auto& [id, addr] : options_.peers) {
    auto peer = endpoint_of(addr.ip, addr.port);
    if (!peer.ok()) {
      return Status::error(EINVAL, "peer " + std::to_string(id) + " at " + addr.to_string() + ": " +
                                       peer.status().message());
    }
    peer_endpoints_[id] = *peer;
  }
  if (Status st = listener_.listen(options_.listen); !st.ok()) return st;
  listener_.start(
      [this](tcp::socket socket, AdmissionSlot slot) {
        auto conn = make_connection(std::move(socket),
                                    options_.tls ? options_.tls->peer_server() : nullptr);
        std::erase_if(in_, [](const auto& c) { return c->closed(); });
        in_.push_back(conn);
        asio::co_spawn(io_, inbound(conn, std::move(slot)), asio::detached);
      },
      [this](const std::string& reason, const std::string& source, const std::string& detail) {
        note_refusal(reason, source, detail);
      });
  for (const auto& [id, addr] : options_.peers) {
    (void)addr;
    asio::co_spawn(io_, dial_loop(id), asio::detached);
  }
  asio::co_spawn(io_, keepalive_loop(), asio::detached);
  asio::co_spawn(io_, sweep_loop(), asio::detached);
  return {};
}

void PeerTransport::stop() {
  stopped_ = true;
  listener_.close();
  keepalive_timer_.cancel();
  sweep_timer_.cancel();
  for (auto& [id, c] : out_) {
    if (c) c->close();
  }
  for (auto& c : in_)
    c->close();
}

std::shared_ptr<Connection> PeerTransport::make_connection(tcp::socket socket,
                                                           const tls::ContextPtr& context) {
  // Frames are refused as soon as their header says more than a hello (the
  // limit rises once the hello is accepted; dialed connections never get
  // more: the peer never writes on them).
  if (context) {
    return std::make_shared<Connection>(Stream(std::move(socket), context), kHelloBytesMax,
                                        options_.queue_bytes);
  }
  return std::make_shared<Connection>(std::move(socket), kHelloBytesMax, options_.queue_bytes);
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
  if (conn.send(std::move(frame)) != SendStatus::kQueued) {
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

void PeerTransport::note_refusal(const std::string& reason, const std::string& remote,
                                 const std::string& detail) {
  ++stats_.connection_errors[reason];
  uint64_t suppressed = 0;
  if (log_limit_.allow(reason, suppressed)) {
    spdlog::warn("peer connection from {} closed: {} ({} similar suppressed)", remote, detail,
                 suppressed);
  }
}

void PeerTransport::reject(const std::shared_ptr<Connection>& conn, const std::string& reason,
                           const std::string& detail) {
  note_refusal(reason, conn->remote(), detail);
  conn->close();
}

asio::awaitable<paxos::NodeId> PeerTransport::greet(const std::shared_ptr<Connection>& conn) {
  std::string_view frame;
  const ReadStatus st = co_await conn->read_frame(frame);
  if (st == ReadStatus::kTooBig) {
    reject(conn, "frame_too_big", fmt::format("hello frame over {} bytes", kHelloBytesMax));
  }
  if (st != ReadStatus::kFrame) co_return 0;
  pb::PeerHello hello;
  if (!hello.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    reject(conn, "bad_frame", "hello does not parse");
    co_return 0;
  }
  if (hello.protocol_version() != kPeerProtocolVersion) {
    reject(conn, "bad_version",
           "peer protocol version " + std::to_string(hello.protocol_version()) + ", expected " +
               std::to_string(kPeerProtocolVersion) + " (upgrade every replica together)");
    co_return 0;
  }
  if (hello.cluster_id() != options_.cluster_id) {
    reject(conn, "wrong_cluster",
           "cluster id '" + hello.cluster_id() + "', expected '" + options_.cluster_id + "'");
    co_return 0;
  }
  const paxos::NodeId from = hello.node_id();
  if (!options_.peers.count(from)) {
    reject(conn, "unknown_node", "node id " + std::to_string(from) + " is not a peer");
    co_return 0;
  }
  // The certificate (verified by the handshake) must name the node the
  // hello claims; before anything else may happen in that node's name.
  if (conn->is_tls()) {
    const tls::X509Ptr cert = conn->peer_certificate();
    const Status named = cert ? tls::certificate_names_node(cert.get(), from, options_.cluster_id)
                              : Status::error(EACCES, "no certificate");
    if (!named.ok()) {
      reject(conn, "peer_certificate",
             fmt::format("a hello as node {} with a certificate that is not node {}'s: {}", from,
                         from, named.message()));
      co_return 0;
    }
  }
  // A live connection from that node stays: a second hello naming it is
  // refused (it may be forged). One that went quiet (a half-open leftover of
  // a partition or a crash) is replaced.
  if (auto old = inbound_by_node_[from].lock(); old && old != conn && !old->closed()) {
    const auto quiet =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - old->last_frame_at());
    if (quiet < options_.takeover_idle) {
      reject(conn, "duplicate_peer",
             fmt::format("a hello as node {}, whose connection from {} is live (heard {} ms ago)",
                         from, old->remote(), quiet.count()));
      co_return 0;
    }
    uint64_t suppressed = 0;
    if (log_limit_.allow("takeover", suppressed)) {
      spdlog::info(
          "node {} connected from {}; its connection from {} was silent for {} ms and "
          "is closed ({} similar suppressed)",
          from, conn->remote(), old->remote(), quiet.count(), suppressed);
    }
    old->close();
  }
  co_return from;
}

asio::awaitable<void> PeerTransport::inbound(std::shared_ptr<Connection> conn, AdmissionSlot slot) {
  (void)slot;  // held until the connection is done with
  // Nothing is spent on a connection before it sends something, and then
  // only within the source's rate of hellos: a TLS handshake (ECDHE, a
  // signature, a chain check) costs the event loop, a hello is cheap.
  if (co_await conn->wait_readable() || conn->closed()) {
    conn->close();
    co_return;
  }
  if (!admission_->allow_hello(conn->remote_address(), Clock::now())) {
    reject(conn, "hello_rate",
           fmt::format("more than {} hellos a second from {}", options_.admission.hellos_per_second,
                       conn->remote_address()));
    co_return;
  }
  // The handshake has the hello deadline (the sweep closes a connection
  // still in it, counted as "tls_handshake").
  if (const asio::error_code ec = co_await conn->handshake(asio::ssl::stream_base::server)) {
    if (!conn->closed()) {
      reject(conn, "tls_handshake", "TLS handshake failed: " + conn->handshake_failure(ec));
    }
    co_return;
  }
  const paxos::NodeId from = co_await greet(conn);
  if (from == 0 || conn->closed()) {
    conn->close();
    co_return;
  }
  inbound_by_node_[from] = conn;
  conn->set_greeted();
  conn->set_max_frame_bytes(options_.max_frame_bytes);
  // The peer is up (it may have just restarted): if we have no connection to
  // it, dial now instead of waiting out the back-off, so that it hears the
  // leader before its election timer runs out.
  if (!connected(from)) {
    auto timer = backoff_timers_.find(from);
    if (timer != backoff_timers_.end()) timer->second->cancel();
  }
  std::string_view frame;
  while (!stopped_) {
    const ReadStatus st = co_await conn->read_frame(frame);
    if (st == ReadStatus::kClosed) break;
    if (st == ReadStatus::kTooBig) {
      reject(conn, "frame_too_big", "frame over max_frame_bytes from node " + std::to_string(from));
      break;
    }
    if (Status s = check_peer_frame(frame); !s.ok()) {
      reject(conn, "bad_message", s.message() + " from node " + std::to_string(from));
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

asio::awaitable<void> PeerTransport::sweep_loop() {
  const auto period = sweep_period(options_.timeouts);
  while (!stopped_) {
    sweep_timer_.expires_after(period);
    asio::error_code ec;
    co_await sweep_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    const auto now = Clock::now();
    std::erase_if(in_, [](const auto& c) { return c->closed(); });
    for (const auto& conn : in_) {
      Activity a;
      a.opened = conn->opened_at();
      a.greeted = conn->greeted();
      a.last_frame = conn->last_frame_at();
      a.partial_since = conn->partial_since();
      switch (expiry(a, now, options_.timeouts)) {
        case Expiry::kNone:
          break;
        case Expiry::kHello:
          if (!conn->handshake_done()) {
            reject(conn, "tls_handshake",
                   fmt::format("no TLS handshake within {} ms", options_.timeouts.hello.count()));
          } else {
            reject(conn, "hello_timeout",
                   fmt::format("no hello within {} ms", options_.timeouts.hello.count()));
          }
          break;
        case Expiry::kFrame:
          reject(conn, "frame_timeout",
                 fmt::format("a frame started and not finished within {} ms",
                             options_.timeouts.frame.count()));
          break;
        case Expiry::kIdle:
          reject(conn, "idle_timeout",
                 fmt::format("nothing received for {} ms", options_.timeouts.idle.count()));
          break;
      }
    }
  }
}

asio::awaitable<bool> PeerTransport::secure_dialed(paxos::NodeId peer,
                                                   const std::shared_ptr<Connection>& conn) {
  if (!conn->is_tls()) co_return true;
  const asio::error_code ec = co_await handshake_with_timeout(conn, asio::ssl::stream_base::client,
                                                              options_.timeouts.hello);
  Status named;
  if (ec) {
    named = Status::error(EPROTO, "TLS handshake failed: " + conn->handshake_failure(ec));
  } else {
    const tls::X509Ptr cert = conn->peer_certificate();
    named = cert ? tls::certificate_names_node(cert.get(), peer, options_.cluster_id)
                 : Status::error(EACCES, "no certificate");
  }
  if (named.ok()) co_return true;
  const std::string reason = ec ? "tls_handshake" : "peer_certificate";
  ++stats_.connection_errors[reason];
  uint64_t suppressed = 0;
  if (log_limit_.allow("dial_" + reason, suppressed)) {
    spdlog::warn("connection to node {} at {} closed: {} ({} similar suppressed)", peer,
                 conn->remote(), named.message(), suppressed);
  }
  conn->close();
  co_return false;
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
    std::shared_ptr<Connection> conn;
    if (!ec && !stopped_) {
      set_user_timeout(socket, kStallTimeout);
      conn =
          make_connection(std::move(socket), options_.tls ? options_.tls->peer_client() : nullptr);
      if (!co_await secure_dialed(peer, conn)) conn.reset();
    }
    if (conn && !stopped_) {
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
