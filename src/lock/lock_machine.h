// The lock service's replicated state machine. Deterministic: the same chosen
// log gives the same state, byte for byte, on every replica. Every iteration
// whose order can change a result (releasing a session's locks, searching the
// wait-for graph) runs in a canonical order (sorted names, FIFO queues), never
// in a hash container's order, so that a replica restored from a snapshot
// answers exactly like one that applied the whole log.
//
// Time comes only from the chosen values: each batch carries its proposing
// leader's clock, and the machine's clock is the largest timestamp seen so far
// (docs/LOCKS.md: leases, and the margin a client must keep).
//
// Semantics, reply codes and limits: docs/LOCKS.md.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "lock/command.h"
#include "paxos/state_machine.h"

namespace paxlock::lock {

struct MachineOptions {
  // A client's exactly-once record lives this long after its last command,
  // its last answer, and the end of the longest wait it asked for.
  paxos::TimeMs client_ttl_ms = 5 * 60 * 1000;
  // Answers kept per client (waits still queued do not count); beyond it
  // the answer given longest ago is forgotten.
  size_t client_replies_max = 1024;
  // A failed try-lock that says it will retry counts as waiting this long.
  paxos::TimeMs retry_edge_ms = 2000;
  // Deadlock search visits at most this many owners.
  size_t deadlock_search_max = 10000;
  // Planted bug for the test suites (compiled in only with PAXLOCK_MUTATIONS):
  // retries are executed again instead of answered from the record.
  bool mutation_no_dedup = false;
  // Planted bug E: every session expiry that has passed is handled before any
  // wait deadline, whatever their times (a wait that ended before a lease
  // did is then granted the lock instead of timing out).
  bool mutation_sessions_before_waits = false;
  // Planted bug: a lease lasts a third of its TTL (open and keep_alive).
  bool mutation_short_lease = false;
};

class LockMachine : public paxos::StateMachine {
 public:
  explicit LockMachine(MachineOptions options = {});

  std::optional<paxos::TimeMs> next_deadline() const override;
  void apply(paxos::Instance instance, const paxos::Batch& batch,
             std::vector<paxos::Reply>& replies) override;
  std::string snapshot() const override;
  bool validate(std::string_view data, paxos::Instance next) const override;
  bool restore(std::string_view data) override;
  void set_reply_filter(std::function<bool(const paxos::CommandId&)> wants) override {
    wants_reply_ = std::move(wants);
  }

  size_t locks_held() const { return locks_.size(); }
  size_t sessions() const { return sessions_.size(); }
  size_t clients() const { return clients_.size(); }
  size_t waiters() const { return wait_deadlines_.size(); }
  paxos::TimeMs now() const { return now_; }
  uint64_t last_token() const { return next_token_; }
  paxos::Instance applied() const { return instance_; }
  // The exactly-once record of (identity, client): does it exist, and how
  // many answers (not counting waits still queued) does it keep?
  bool has_record(uint64_t client, const std::string& identity = "") const {
    return clients_.count(ClientKey{identity, client}) > 0;
  }
  size_t answers_kept(uint64_t client, const std::string& identity = "") const;
  size_t acl_grants() const { return acl_.size(); }
  // Does any identity hold the admin role? (A replica then has no
  // acl_bootstrap to propose.)
  bool has_admin() const { return admins_ > 0; }
  // Does `identity` hold the admin role (for what the daemon serves outside
  // the log: HTTP's /status and /chosen)?
  bool is_admin(const std::string& identity) const;

 private:
  // Exactly-once records are per (identity, client id): a client id is the
  // client's own choice, so another identity reusing it must not reach this
  // identity's answers (issue 17). The empty identity (insecure mode) is one
  // more key, which makes every record exactly what it was before.
  struct ClientKey {
    std::string identity;
    uint64_t id = 0;
    friend auto operator<=>(const ClientKey&, const ClientKey&) = default;
  };
  struct ClientKeyHash {
    size_t operator()(const ClientKey& k) const {
      return std::hash<std::string>{}(k.identity) ^ (k.id * 0x9e3779b97f4a7c15ULL);
    }
  };
  // A request the machine may answer later (a queued blocking lock): the
  // record it belongs to, and the command id its answer is sent under.
  //
  // Answers leave the machine keyed by paxos::CommandId (client, seq) alone,
  // and the layers above route by it: the core takes a command whose id is
  // pending as a resend of it (Node::propose), and the replica keeps one
  // callback per id (driver::Replica::waiting_), so two identities sending
  // the same (client, seq) to one replica would get one execution and each
  // other's answer, whatever this machine keys its records by. The replica
  // that stamps identities must therefore make the wire-level client id a
  // function of both (say the first 8 bytes of SHA-256(identity, 0, client
  // id)) before the command reaches the core; this machine's keying by
  // identity is then the second line, for commands that reach the log.
  struct RequestId {
    std::string identity;
    paxos::CommandId cmd;
    friend auto operator<=>(const RequestId&, const RequestId&) = default;
  };

  using OwnerId = uint32_t;
  struct Owner {
    std::string name;
    uint32_t refs = 0;                              // locks held, waits, retry edges, sessions
    std::set<std::string> waiting_on;               // locks it is queued for
    std::map<std::string, paxos::TimeMs> retrying;  // failed try-locks it will retry
  };
  struct Waiting {
    OwnerId owner;
    uint64_t session;
    RequestId req;
    paxos::TimeMs deadline;
  };
  struct Lock {
    OwnerId holder = 0;
    uint64_t token = 0;
    uint64_t session = 0;
    paxos::TimeMs since = 0;
    std::unique_ptr<std::deque<Waiting>> waiters;  // null when nobody waits
  };
  struct Session {
    OwnerId owner = 0;
    paxos::TimeMs ttl = 0;
    paxos::TimeMs expires = 0;
    std::set<std::string> locks;  // held under this session
  };
  struct Cached {
    std::string reply;
    bool pending = false;             // a blocking wait not answered yet
    paxos::Instance answered_at = 0;  // the reply's applied_at; 0 while pending
  };
  struct Client {
    paxos::TimeMs expires = 0;
    // Below it, a command not in `replies` gets DUPLICATE_IGNORED: the client
    // declared it no longer waits for it, or its answer was forgotten under
    // the answer limit.
    uint64_t first_outstanding = 0;
    std::map<uint64_t, Cached> replies;  // by seq
    // The answered entries of `replies`, oldest answer first (derived).
    std::set<std::pair<paxos::Instance, uint64_t>> by_age;
  };

  // lock_machine.cc: the operations.
  void apply_command(paxos::Instance instance, const paxos::Command& cmd,
                     std::vector<paxos::Reply>& replies);
  bool execute(const Command& c, const paxos::CommandId& id, Result& r);
  bool do_lock(const Command& c, const paxos::CommandId& id, Result& r);
  void do_unlock(const Command& c, Result& r);
  void do_read(const Command& c, Result& r) const;
  void do_list(const Command& c, Result& r) const;
  void do_open_session(const Command& c, Result& r);
  void do_keep_alive(const Command& c, Result& r);
  void do_close_session(const Command& c, Result& r);
  paxos::TimeMs lease(paxos::TimeMs ttl) const;  // how long a renewal lasts
  // `now_ + ms`, saturated at the ends of time rather than overflowing: a
  // batch stamp or a snapshot's clock from a peer can be anything (found by
  // the snapshot fuzzer: signed overflow past INT64_MAX).
  paxos::TimeMs after(paxos::TimeMs ms) const {
    paxos::TimeMs t;
    if (__builtin_add_overflow(now_, ms, &t)) t = ms > 0 ? INT64_MAX : INT64_MIN;
    return t;
  }
  void grant(const std::string& name, OwnerId owner, uint64_t session, Lock& lock);
  void release(std::unordered_map<std::string, Lock>::iterator it);
  void answer(const RequestId& id, Result r);
  void record_answer(Client& client, uint64_t seq, std::string reply, paxos::Instance at);
  std::map<uint64_t, Cached>::iterator forget_reply(Client& client,
                                                    std::map<uint64_t, Cached>::iterator it);
  LockInfo info(const std::string& name, const Lock& lock) const;
  // False once the token counter reached 2^64-1: no grant is possible then,
  // and a request that needs one is INVALID. Counting there takes 2^64
  // grants; only a forged snapshot starts near it (found by the snapshot
  // fuzzer: the counter wrapped to token 0, and every snapshot taken after
  // was refused, at restarts and by peers).
  bool tokens_left() const { return next_token_ < UINT64_MAX; }

  // lock_graph.cc: owners, waits, deadlock detection, expiry.
  OwnerId intern(const std::string& name);
  void unref(OwnerId id);
  bool find_cycle(OwnerId requester, const std::string& lock_name, std::vector<WaitEdge>& cycle);
  void remove_waiter(const std::string& name, std::deque<Waiting>& q, size_t index);
  void withdraw_wait(const RequestId& id);
  void end_session(uint64_t id, std::vector<paxos::Reply>& replies);
  void expire(std::vector<paxos::Reply>& replies);
  void expire_wait();
  void expire_retry();
  void expire_record();
  void touch_client(const ClientKey& key, Client& c, paxos::TimeMs wait_ms = 0);

  // lock_acl.cc: identities, owners bound to them, the ACL table. Each
  // deny_* is false (and leaves `r` alone) when the command's identity may
  // go on; otherwise it sets PERMISSION_DENIED with the reason. A command
  // without identity is never denied.
  Role role_on(const std::string& identity, std::string_view name) const;
  bool may_act_as(const std::string& identity, const std::string& owner) const;
  bool deny_owner(const Command& c, const std::string& owner, Result& r) const;
  bool deny_name(const Command& c, Role needed, Result& r) const;
  // For list: the names `identity` may read (all for an empty identity).
  std::function<bool(const std::string&)> reader(const std::string& identity) const;
  void do_acl_grant(const Command& c, Result& r);
  void do_acl_revoke(const Command& c, Result& r);
  void do_acl_bootstrap(const Command& c, Result& r);
  void do_acl_list(const Command& c, Result& r) const;
  // The snapshot's grants into an empty table; false if one is malformed (a
  // role that is not one, the text rule, over a limit, a duplicate).
  bool restore_grants(const pb::LockSnapshot& s);
  // Would taking away the role of (identity, prefix) leave no admin?
  bool last_admin(const std::pair<std::string, std::string>& key) const;

  MachineOptions options_;
  paxos::TimeMs now_ = 0;
  paxos::Instance instance_ = 0;  // being applied
  uint64_t next_token_ = 0;
  uint64_t next_session_ = 0;

  std::unordered_map<std::string, Lock> locks_;
  std::vector<Owner> owners_;  // index 0 unused
  std::vector<OwnerId> free_owners_;
  std::unordered_map<std::string, OwnerId> owner_ids_;
  std::unordered_map<uint64_t, Session> sessions_;
  std::unordered_map<ClientKey, Client, ClientKeyHash> clients_;
  // The ACL table: (identity, prefix) -> role, at most kAclGrantsMax, and
  // how many of them are admin (derived).
  std::map<std::pair<std::string, std::string>, Role> acl_;
  size_t admins_ = 0;

  // Deadlines, in canonical order.
  std::set<std::pair<paxos::TimeMs, uint64_t>> session_expiry_;
  std::set<std::tuple<paxos::TimeMs, std::string, RequestId>> wait_deadlines_;
  std::set<std::tuple<paxos::TimeMs, OwnerId, std::string>> retry_expiry_;
  std::set<std::pair<paxos::TimeMs, ClientKey>> client_expiry_;
  // The lock each queued blocking command waits for (derived, not in snapshots).
  std::map<RequestId, std::string> queued_;

  std::function<bool(const paxos::CommandId&)> wants_reply_;
  std::vector<paxos::Reply>* replies_ = nullptr;  // during apply: deferred answers go here
};

}  // namespace paxlock::lock
