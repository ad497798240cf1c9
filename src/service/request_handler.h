// The pure part of serving clients, shared by the daemon's ClientService
// (Asio, one handler per connection) and the simulator (one per simulated
// connection): validate a pb::ClientRequest, submit its command to the
// Replica as paxos::Command{(client_id, seq), lock::encode(command)}, and
// answer with a pb::ClientResponse whose result is the lock machine's result
// (or a refusal: BAD_REQUEST, BUSY, SHUTTING_DOWN, or INVALID for a name or
// owner that breaks the text rule, lock::check_names). No sockets, no clock.
//
// Identities (issue 17): every command is stamped with the identity the
// connection proved (whatever the client wrote there), and its client id is
// derived from (identity, client id) (wire_client_id). ACL operations are
// passed on from an authenticated client (the lock machine decides whether
// it is an admin) and refused in insecure mode, where nobody is anyone.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string_view>

#include "driver/replica.h"
#include "paxlock.pb.h"

namespace paxlock::service {

// Answers given, by the request's op and the answer's code: what
// paxlock_requests_total{op,result} exports (every pair, from zero). The
// tables are fixed, so nothing a client sends can add a series.
class RequestCounts {
 public:
  // Index 0 is any op the schema does not name (answered BAD_REQUEST or
  // INVALID); 1..8 are pb::Op's values, 9..12 the ACL ops (pb::Op 10..13);
  // the last a cluster_info request.
  static constexpr std::array<std::string_view, 14> kOps = {
      "unknown",    "lock",         "unlock",        "check",         "status",
      "list",       "open_session", "keep_alive",    "close_session", "acl_grant",
      "acl_revoke", "acl_list",     "acl_bootstrap", "cluster_info"};
  // pb::Code's names in lower case (0..11, then 20..22), and "other" for a
  // code the schema does not name.
  static constexpr std::array<std::string_view, 16> kResults = {"ok",
                                                                "held",
                                                                "not_owner",
                                                                "not_held",
                                                                "stale_token",
                                                                "timeout",
                                                                "deadlock",
                                                                "session_expired",
                                                                "invalid",
                                                                "too_many_waiters",
                                                                "duplicate_ignored",
                                                                "permission_denied",
                                                                "busy",
                                                                "bad_request",
                                                                "shutting_down",
                                                                "other"};

  static size_t op_of(const pb::ClientRequest& request);
  static size_t result_of(int code);

  void add(size_t op, size_t result) { ++counts_.at(op).at(result); }
  uint64_t count(size_t op, size_t result) const { return counts_.at(op).at(result); }

 private:
  std::array<std::array<uint64_t, kResults.size()>, kOps.size()> counts_{};
};

// The client id a request's command carries into the core and the log: the
// client's own id when there is no identity (insecure mode: as before
// identities), otherwise the first 8 bytes (little-endian) of
// SHA-256(identity || 0x00 || client_id as 8 bytes little-endian), and 1 in
// place of 0. The core's pending commands and the replica's waits are keyed
// by (client id, seq) alone (src/lock/lock_machine.h, RequestId): without
// this, two identities that chose the same client id would share one
// execution and each other's answers.
uint64_t wire_client_id(std::string_view identity, uint64_t client_id);

struct RequestHandlerOptions {
  size_t pending_max = 10000;  // requests in flight on one connection
  // Test option: apply commands but never answer them, as if the replica
  // died between applying and answering (the client must retry elsewhere).
  bool withhold_replies = false;
  // Counts every answer given (a withheld one is not); null: not counted.
  RequestCounts* counts = nullptr;
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

  // Who the connection proved to be (empty: insecure mode). Set once, after
  // the hello, before the first request; every command is stamped with it.
  void set_identity(std::string identity);
  const std::string& identity() const { return identity_; }

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
  struct Wait {
    paxos::CommandId id;
    uint64_t tag = 0;  // the replica's name for the wait
    size_t op = 0;     // RequestCounts::kOps index
  };
  struct State {
    std::map<uint64_t, Wait> pending;  // by request id
    Respond respond;
    bool withhold = false;
    RequestCounts* counts = nullptr;
    // Counts the answer, then gives it.
    void answer(size_t op, pb::ClientResponse& response, bool from_log);
  };
  driver::Replica& replica_;
  RequestHandlerOptions options_;
  ClusterInfoFn cluster_info_;
  std::shared_ptr<State> state_;
  std::string identity_;
  bool stopped_ = false;
};

}  // namespace paxlock::service
