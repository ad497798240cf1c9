// The client API on a replica's `client` address: after a ClientHello with
// the right cluster id, any number of ClientRequests in flight on one
// connection, answered out of order by request id. Lock-machine requests go
// into the log through Replica::submit (which forwards to the leader or
// proposes, as the core decides) and are answered once applied here;
// CLUSTER_INFO is answered at once. A connection that sends garbage, an
// oversized frame or a wrong hello is closed; the replica keeps serving. A
// refused hello is answered (ServerHello.error says why) before the close.
//
// Bounded resources (issue 16; docs/OPERATIONS.md): connections per port and
// per source address; a hello within the hello timeout and kHelloBytesMax;
// a started frame finished within the frame timeout; a connection with no
// request in flight closed after the idle timeout; replies queued per
// connection (a client over it does not read: cut as a slow reader) and
// across all connections (over it, the connection holding the most is cut).
//
// Authentication (issue 17), unless the cluster runs insecure: the port
// speaks TLS 1.3 (the handshake within the hello timeout, else
// "client_tls_handshake"; a certificate that does not verify fails it), and
// the hello must prove an identity as client_auth allows: a client
// certificate (its CN, tls::client_identity) or a bearer token in the hello
// (tls::Tokens). Without one the hello is refused, saying what is required
// ("client_unauthenticated"). The identity stays with the connection and is
// stamped on every command (service::RequestHandler).
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "driver/replica.h"
#include "net/admission.h"
#include "net/connection.h"
#include "net/listener.h"
#include "net/stats.h"
#include "paxlock.pb.h"
#include "service/request_handler.h"
#include "tls/context.h"

namespace paxlock::daemon {

struct ClientServiceOptions {
  std::string cluster_id;
  paxos::NodeId self = 0;
  Address listen;
  size_t max_frame_bytes = 8 << 20;
  size_t pending_max = 10000;
  size_t output_bytes_max = 32 << 20;         // replies queued on one connection
  size_t output_total_bytes_max = 256 << 20;  // on all of them together
  net::AdmissionLimits admission{4096, 256, 0, 1};
  net::TimeLimits timeouts{std::chrono::milliseconds(5000), std::chrono::milliseconds(30000),
                           std::chrono::milliseconds(300000)};
  // Test option: apply commands but never answer them, as if the replica
  // died between applying and answering (the client must retry elsewhere).
  bool withhold_replies = false;
  // The node's TLS contexts (owned by the daemon, reloaded on SIGHUP). Null:
  // insecure, plain TCP and no identities.
  const tls::TlsContexts* tls = nullptr;
  cluster::ClientAuth client_auth = cluster::ClientAuth::kCert;
  // The identity a bearer token proves, or nullopt (the daemon's token
  // file, reloaded on SIGHUP). Null: no tokens.
  std::function<std::optional<std::string>(std::string_view token)> token_identity;
};

class ClientService {
 public:
  using ClusterInfoFn = std::function<void(pb::ClusterInfo*)>;

  ClientService(asio::io_context& io, ClientServiceOptions options, driver::Replica& replica,
                ClusterInfoFn cluster_info, net::NetStats& stats, Histogram& latency,
                service::RequestCounts& counts);

  Status start();
  // Stops accepting, answers what is pending with SHUTTING_DOWN, closes.
  void stop();
  // Client connections open, and the reply bytes queued on them.
  size_t connections() const { return admission_->connections(); }
  size_t output_bytes() const { return budget_->bytes; }

 private:
  struct Conn;
  // Sets up an admitted connection and starts serving it.
  void accept(net::tcp::socket socket, net::AdmissionSlot slot);
  asio::awaitable<void> serve(std::shared_ptr<Conn> conn);
  // Writes the connection's replies; holds its admission slot until it closes.
  asio::awaitable<void> write(std::shared_ptr<net::Connection> io, net::AdmissionSlot slot);
  // Reads the hello and answers it; false if it was refused.
  asio::awaitable<bool> greet(const std::shared_ptr<Conn>& conn);
  // Who the hello and the connection's certificate prove the client to be
  // ("" in insecure mode), or why it is refused.
  Result<std::string> authenticate(const std::shared_ptr<Conn>& conn, const pb::ClientHello& hello);
  // Answers a hello with `error`, then closes once the answer is written.
  void refuse_hello(const std::shared_ptr<Conn>& conn, const std::string& reason,
                    const std::string& error);
  // Closes connections past their hello, frame or idle timeout.
  asio::awaitable<void> sweep_loop();
  // Over the output budget: cuts the connection with the most replies queued.
  void cut_largest_output();
  void handle(const std::shared_ptr<Conn>& conn, const pb::ClientRequest& req);
  void respond(const std::shared_ptr<Conn>& conn, pb::ClientResponse& resp);
  void reject(const std::shared_ptr<Conn>& conn, const std::string& reason,
              const std::string& detail);
  // Counts and logs (rate-limited) a refusal; `reason` without "client_".
  void note_refusal(const std::string& reason, const std::string& remote,
                    const std::string& detail);

  asio::io_context& io_;
  ClientServiceOptions options_;
  driver::Replica& replica_;
  ClusterInfoFn cluster_info_;
  net::NetStats& stats_;
  Histogram& latency_;
  service::RequestCounts& counts_;
  net::RateLimiter log_limit_;
  std::vector<std::weak_ptr<Conn>> conns_;
  std::shared_ptr<net::Admission> admission_;
  net::Listener listener_;  // the client port
  std::shared_ptr<net::OutputBudget> budget_;
  asio::steady_timer sweep_timer_;
  bool stopped_ = false;
};

}  // namespace paxlock::daemon
