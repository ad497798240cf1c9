// The pure part of serving clients, shared by the daemon's ClientService
// (Asio, one handler per connection) and the simulator (one per simulated
// connection): validate a pb::ClientRequest, submit its command to the
// Replica as paxos::Command{(client_id, seq), lock::encode(command)}, and
// answer with a pb::ClientResponse whose result is the lock machine's result
// (or a refusal: BAD_REQUEST, BUSY, SHUTTING_DOWN). No sockets, no clock.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "driver/replica.h"
#include "paxlock.pb.h"

namespace paxlock::service {

struct RequestHandlerOptions {
  size_t pending_max = 10000;  // requests in flight on one connection
  // Test option: apply commands but never answer them, as if the replica
  // died between applying and answering (the client must retry elsewhere).
  bool withhold_replies = false;
};

class RequestHandler {
 public:
  // `from_log`: the answer comes from an applied command (not a refusal or
  // cluster info given at once).
  using Respond = std::function<void(pb::ClientResponse& response, bool from_log)>;
  using ClusterInfoFn = std::function<void(pb::ClusterInfo*)>;

  // `respond` may be called from inside handle() or later, from the
  // replica's apply; never after the handler is destroyed.
  RequestHandler(driver::Replica& replica, RequestHandlerOptions options,
                 ClusterInfoFn cluster_info, Respond respond);
  ~RequestHandler();
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;

  void handle(const pb::ClientRequest& request);
  // The connection closed: stop waiting for its commands (they may still be
  // chosen; a retry elsewhere gets the recorded answer).
  void cancel_all();
  // Shutting down: answer everything pending with SHUTTING_DOWN (and every
  // later request too), and stop waiting.
  void shut_down();
  size_t pending() const { return state_->pending.size(); }
  bool waiting_for(uint64_t request_id) const { return state_->pending.count(request_id) != 0; }

 private:
  struct State {
    // request id -> the command it waits for, and the wait's tag
    std::map<uint64_t, std::pair<paxos::CommandId, uint64_t>> pending;
    Respond respond;
    bool withhold = false;
  };
  driver::Replica& replica_;
  RequestHandlerOptions options_;
  ClusterInfoFn cluster_info_;
  std::shared_ptr<State> state_;
  bool stopped_ = false;
};

}  // namespace paxlock::service
