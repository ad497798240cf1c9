// The client API on a replica's `client` address: after a ClientHello with
// the right cluster id, any number of ClientRequests in flight on one
// connection, answered out of order by request id. Lock-machine requests go
// into the log through Replica::submit (which forwards to the leader or
// proposes, as the core decides) and are answered once applied here;
// CLUSTER_INFO is answered at once. A connection that sends garbage, an
// oversized frame or a wrong hello is closed; the replica keeps serving.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "driver/replica.h"
#include "net/connection.h"
#include "net/stats.h"
#include "paxlock.pb.h"
#include "service/request_handler.h"

namespace paxlock::daemon {

struct ClientServiceOptions {
  std::string cluster_id;
  paxos::NodeId self = 0;
  Address listen;
  size_t max_frame_bytes = 8 << 20;
  size_t pending_max = 10000;
  // Test option: apply commands but never answer them, as if the replica
  // died between applying and answering (the client must retry elsewhere).
  bool withhold_replies = false;
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

 private:
  struct Conn;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Conn> conn);
  void handle(const std::shared_ptr<Conn>& conn, const pb::ClientRequest& req);
  void respond(const std::shared_ptr<Conn>& conn, pb::ClientResponse& resp);
  void reject(const std::shared_ptr<Conn>& conn, const std::string& reason,
              const std::string& detail);

  asio::io_context& io_;
  ClientServiceOptions options_;
  driver::Replica& replica_;
  ClusterInfoFn cluster_info_;
  net::NetStats& stats_;
  Histogram& latency_;
  service::RequestCounts& counts_;
  net::RateLimiter log_limit_;
  net::tcp::acceptor acceptor_;
  std::vector<std::weak_ptr<Conn>> conns_;
  bool stopped_ = false;
};

}  // namespace paxlock::daemon
