// The client's logic as a pure state machine: no sockets, no clock, no
// threads, no randomness of its own. The library's Asio shell
// (src/client/client.cc) and the simulator's clients (tests/sim/) drive the
// same core:
//
//   inputs   submit(request, now), on_response(replica, response, now),
//            on_connection_lost(replica, now), on_refused(replica, why, now),
//            tick(now), start_session / close_session;
//   outputs  take_sends(): requests to send to replica i (by index into
//            ClientOptions::replicas), take_completions(): finished requests
//            with their public Reply, take_lost_sessions(), and next_tick():
//            when tick() wants to run next.
//
// It owns the client id, sequence numbers, the outstanding set and
// `first_outstanding` (written into the LockCommand of every attempt), the
// replica choice (random / hash / fixed), per-attempt timeouts and retries of
// the SAME (client id, seq) to another replica, marking replicas down for a
// while, request deadlines (kUnavailable), BUSY / SHUTTING_DOWN handling, the
// one conversion pb::ClientResponse -> Reply, and session keep-alives
// (src/client/lease.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/lease.h"
#include "common/rng.h"
#include "paxlock.pb.h"
#include "paxlock/client.h"

namespace paxlock::client {

using Time = std::chrono::steady_clock::time_point;
using Ms = std::chrono::milliseconds;

// Planted bugs for the simulator's mutation tests; effective only when
// compiled with PAXLOCK_MUTATIONS.
enum class Mutation : uint8_t {
  kNone,
  kNewSeqOnRetry,  // a retry after failover takes a new sequence number
};
const char* to_string(Mutation m);
// kNone for "none"; nullopt for a name that is not a client mutation.
std::optional<Mutation> client_mutation_from_string(const std::string& name);

struct CoreConfig {
  // Used when ClientOptions::seed is 0 (the shell passes a random one).
  uint64_t fallback_seed = 1;
  Ms down_for{300};            // after a failure, prefer other replicas this long
  Ms refused_down_for{10000};  // a replica that refused the hello (wrong cluster)
  // When every replica is down (refused connections, BUSY, SHUTTING_DOWN), a
  // request waits before its next attempt: exponential from retry_floor,
  // doubling up to retry_ceiling, each wait drawn in [half, whole] (jitter).
  Ms retry_floor{10};
  Ms retry_ceiling{1000};
  Mutation mutation = Mutation::kNone;
};

// The one conversion from the schema to the public types.
Reply to_reply(const pb::ClientResponse& response);

class ClientCore {
 public:
  using Handle = uint64_t;  // names one submitted request until it completes

  struct Send {
    size_t replica = 0;  // index into ClientOptions::replicas
    pb::ClientRequest request;
    Handle handle = 0;  // the request this is an attempt of
  };
  struct Completion {
    Handle handle = 0;
    Reply reply;
    // Nonzero: a keep-alive the core sent by itself for this session.
    uint64_t keep_alive_of = 0;
  };

  ClientCore(ClientOptions options, CoreConfig config = {});

  uint64_t client_id() const { return client_id_; }
  const ClientOptions& options() const { return opt_; }

  // A lock-service command or a cluster_info request; the core sets
  // client_id, seq, request_id and first_outstanding. `extra_wait`: a
  // blocking lock's wait, added to the attempt and request timeouts.
  // `only_member`: nonzero to ask that replica (by member id) first
  // (cluster_info of one replica). `give_up_after` > 0: the request
  // completes with kUnavailable this long after `now` instead of after the
  // request timeout plus `extra_wait`.
  Handle submit(pb::ClientRequest request, Time now, Ms extra_wait = Ms(0),
                uint32_t only_member = 0, Ms give_up_after = Ms(0));
  void on_response(size_t replica, const pb::ClientResponse& response, Time now);
  // The connection broke (or could not be made): its attempts go elsewhere.
  void on_connection_lost(size_t replica, Time now);
  // The replica refused the hello: its requests fail with `why`.
  void on_refused(size_t replica, const std::string& why, Time now);
  void tick(Time now);
  // Every pending request completes with kUnavailable ("client closed").
  void close();

  // Sessions kept alive by the core: keep-alives every TTL/3, lost at the
  // lease's deadline or when the service says the session expired. Every
  // input that may complete a request (an answer, a lost connection, a
  // refusal) first looks at the deadlines too: a session whose deadline has
  // passed is reported lost along with that completion, even if the tick at
  // its deadline has not run yet (the shell reports losses before it runs
  // the callbacks of completions).
  void start_session(uint64_t id, Ms ttl, Time opened_at, Time now);
  void close_session(uint64_t id);
  bool session_lost(uint64_t id) const;

  std::vector<Send> take_sends();
  std::vector<Completion> take_completions();
  std::vector<uint64_t> take_lost_sessions();
  std::optional<Time> next_tick() const;

  size_t pending() const { return pending_.size(); }
  // The lowest sequence number still waited for (the next one if none).
  uint64_t first_outstanding() const;

 private:
  struct Request {
    pb::ClientRequest req;
    Time deadline{};
    Ms attempt_timeout{};
    Time attempt_deadline{};
    size_t replica = 0;
    int attempts = 0;
    uint32_t only_member = 0;
    Ms backoff{0};        // the next wait when every replica is down
    bool parked = false;  // waiting out `backoff`; attempt_deadline is when it ends
  };
  struct SessionState {
    explicit SessionState(Lease l) : lease(l) {}
    Lease lease;
    std::optional<Time> wake;
  };

  size_t choose(const Request& r, Time now);
  // Sends the request's next attempt to r.replica, or parks it when that
  // replica is down and `after_backoff` is false.
  void attempt(Handle h, Time now, bool after_backoff = false);
  void retry(Handle h, Time now, bool mark_down, bool after_backoff = false);
  void park(Handle h, Request& r, Time now);
  bool up(size_t replica, Time now) const { return down_until_[replica] <= now; }
  void finish(Handle h, Reply reply);
  void step_session(uint64_t id, SessionState& s, Time now);
  void lose_overdue_sessions(Time now);
  void keep_alive_done(uint64_t id, Time sent_at, const Reply& reply);

  ClientOptions opt_;
  CoreConfig config_;
  paxlock::Rng rng_;
  uint64_t client_id_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t next_rid_ = 0;
  Handle next_handle_ = 0;
  std::vector<Time> down_until_;
  std::map<Handle, Request> pending_;
  // pending_'s attempt deadlines in time order, so that tick() and
  // next_tick() do not scan every pending request on every event.
  std::set<std::pair<Time, Handle>> attempt_deadlines_;
  std::map<uint64_t, Handle> by_rid_;  // request id of the current attempt
  std::set<uint64_t> outstanding_;     // seqs not yet answered
  std::map<uint64_t, SessionState> sessions_;
  std::map<Handle, std::pair<uint64_t, Time>> keep_alives_;  // -> session, send time
  std::vector<Send> sends_;
  std::vector<Completion> completions_;
  std::vector<uint64_t> lost_;
};

}  // namespace paxlock::client
