// Replica-to-replica messaging over TCP. Each node dials every peer and sends
// only on the connection it dialed; it receives on the connections the peers
// dialed to it. A connection starts with a PeerHello (protocol version,
// cluster id, node id); one with the wrong cluster, an unknown node or a bad
// version is closed, counted and logged (rate-limited). So is one sending a
// frame over the limit, a frame that does not parse, or an unknown message
// type. Outgoing connections reconnect with exponential back-off and jitter;
// send queues are bounded, and what does not fit is dropped: the protocol
// resends what matters.
//
// Keepalives: an outgoing connection that carried nothing for a keepalive
// interval gets a keepalive frame (kPeerKeepaliveType, never handed to the
// core), so that every connected peer is heard from at least every two
// intervals, followers too, which exchange no core messages. last_heard()
// then means something for every peer, and a dead connection between two
// followers is noticed (stall detection) before one of them needs it. The
// cost is bounded: at most one small frame per peer per interval, through
// the same bounded queue.
//
// Hostile input (issue 16): inbound connections are admitted within
// per-port and per-source limits (net/admission.h); a hello must come within
// the hello timeout, in at most kHelloBytesMax bytes, and at most
// `hellos_per_second` per source address; a started frame must finish
// within the frame timeout; a greeted connection that delivers nothing for
// the idle timeout is closed (a live peer sends keepalives). A hello that
// names a node whose connection is live (a frame within `takeover_idle`) is
// refused, never allowed to tear down the real one: a forged hello cannot
// cut a healthy peer off (authentication comes later; a forger can still
// take the place of a node whose connection is dead). Every refusal is
// counted by reason and logged rate-limited.
//
// mTLS (issue 17), unless the cluster runs insecure: every connection, both
// ways, is TLS 1.3 with the node certificates (tls::TlsContexts; the
// handshake verifies the chain to the cluster's CA and must finish within
// the hello timeout, else "tls_handshake"). The accepting side then reads
// the hello and refuses ("peer_certificate") a peer whose certificate does
// not name the node its hello claims, before any message is read and before
// it may replace a live connection; the dialing side refuses a peer whose
// certificate does not name the node it dialed. A forged hello now needs
// that node's key.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>

#include "cluster/cluster_file.h"
#include "common/rng.h"
#include "net/admission.h"
#include "net/connection.h"
#include "net/listener.h"
#include "net/stats.h"
#include "paxos/transport.h"
#include "tls/context.h"

namespace paxlock::net {

struct PeerTransportOptions {
  std::string cluster_id;
  paxos::NodeId self = 0;
  cluster::Address listen;
  std::map<paxos::NodeId, cluster::Address> peers;  // everyone but self; resolved
  size_t max_frame_bytes = 8 << 20;
  size_t queue_bytes = 32 << 20;
  double drop_rate = 0.0;  // test option: drop this share of outgoing messages
  uint64_t fault_seed = 1;
  std::chrono::milliseconds keepalive_interval{500};
  // Inbound connections on the peer port.
  AdmissionLimits admission{64, 16, 10, 10};
  TimeLimits timeouts{std::chrono::milliseconds(5000), std::chrono::milliseconds(30000),
                      std::chrono::milliseconds(10000)};
  // A hello for a node whose connection delivered a frame more recently
  // than this is refused; an older connection is replaced.
  std::chrono::milliseconds takeover_idle{2000};
  // The node's TLS contexts (owned by the daemon, reloaded on SIGHUP; each
  // new connection takes the ones in force). Null: insecure, plain TCP.
  const tls::TlsContexts* tls = nullptr;
};

class PeerTransport : public paxos::Transport {
 public:
  using Deliver = std::function<void(const paxos::Message&)>;

  PeerTransport(asio::io_context& io, PeerTransportOptions options, Deliver deliver,
                NetStats& stats);

  // Binds the listener (an error if the address is taken) and starts dialing.
  Status start();
  void stop();
  void send(const paxos::Message& msg) override;
  // Peers with a live outgoing connection.
  bool connected(paxos::NodeId peer) const;
  // When a message or a keepalive from `peer` last arrived (epoch 0 if never).
  std::chrono::steady_clock::time_point last_heard(paxos::NodeId peer) const {
    auto it = last_heard_.find(peer);
    return it == last_heard_.end() ? std::chrono::steady_clock::time_point{} : it->second;
  }
  // Inbound connections open on the peer port.
  size_t inbound_connections() const { return admission_->connections(); }

 private:
  asio::awaitable<void> inbound(std::shared_ptr<Connection> conn, AdmissionSlot slot);
  // Reads and checks the hello; the peer's id, or 0 if it was refused.
  asio::awaitable<paxos::NodeId> greet(const std::shared_ptr<Connection>& conn);
  // Closes inbound connections past their hello, frame or idle timeout.
  asio::awaitable<void> sweep_loop();
  asio::awaitable<void> dial_loop(paxos::NodeId peer);
  // A dialed connection: TLS handshake and the check that the other end is
  // `peer` (nothing to do in insecure mode). False: closed, counted.
  asio::awaitable<bool> secure_dialed(paxos::NodeId peer, const std::shared_ptr<Connection>& conn);
  // A new connection over `socket`: TLS with `context`, or plain if null.
  std::shared_ptr<Connection> make_connection(tcp::socket socket, const tls::ContextPtr& context);
  asio::awaitable<void> keepalive_loop();
  // Queues `frame` on the outgoing connection to `peer`; false (counted as
  // dropped) if its queue is full, closing a connection that stalled.
  bool enqueue(paxos::NodeId peer, Connection& conn, std::string frame);
  void reject(const std::shared_ptr<Connection>& conn, const std::string& reason,
              const std::string& detail);
  // Counts and logs (rate-limited) a refusal by `reason`.
  void note_refusal(const std::string& reason, const std::string& remote,
                    const std::string& detail);

  asio::io_context& io_;
  PeerTransportOptions options_;
  Deliver deliver_;
  NetStats& stats_;
  RateLimiter log_limit_;
  paxlock::Rng rng_;
  std::map<paxos::NodeId, tcp::endpoint> peer_endpoints_;  // resolved in start()
  std::map<paxos::NodeId, std::shared_ptr<Connection>> out_;
  std::vector<std::shared_ptr<Connection>> in_;
  std::map<paxos::NodeId, std::weak_ptr<Connection>> inbound_by_node_;
  std::map<paxos::NodeId, std::chrono::steady_clock::time_point> last_heard_;
  std::map<paxos::NodeId, std::shared_ptr<asio::steady_timer>> backoff_timers_;
  // Peers sent something since the last keepalive round (no keepalive due).
  std::map<paxos::NodeId, bool> sent_since_keepalive_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer sweep_timer_;
  std::shared_ptr<Admission> admission_;
  Listener listener_;  // the peer port
  bool stopped_ = false;
};

}  // namespace paxlock::net
