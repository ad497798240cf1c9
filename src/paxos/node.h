// The Multi-Paxos consensus core of one replica: proposer, acceptor and
// learner in one deterministic state machine.
//
// It owns no sockets, files, clocks, threads or global randomness. The caller
// (server/replica.h in production and in the simulator) feeds it:
//   tick(now)     the passage of time,
//   step(msg)     a message from a peer (or from itself),
//   propose(cmd)  a client command this replica took,
// and after each call takes one Ready: records to persist, messages to send
// and chosen values to apply, with the rule that `send_after_sync` messages
// leave only once every record of that Ready (and all earlier ones) is durable.
//
// Protocol summary (docs/DESIGN.md has the long form):
// - Ballots are (round, node). Acceptors keep one promised ballot for all
//   instances and, per instance, the accepted (ballot, value).
// - A node that needs a leader and knows no live one runs phase 1 once, for
//   every instance from its first unchosen one on. Promises come back in
//   chunks. With a quorum of complete promises it re-proposes, per instance,
//   the highest-ballot value reported (no-op for holes) and becomes leader;
//   from then on it runs phase 2 only, up to `pipeline_window` instances in
//   flight, packing queued commands into one batch per instance.
// - Other nodes forward commands to the leader they know; the node that took
//   a command keeps it until it sees it chosen and re-sends it on a timer, so
//   a command that loses its instance is proposed again later.
// - The leader announces "every instance below c is chosen" at its ballot b
//   (Commit, also piggybacked on Accept). A follower marks instance i < c
//   chosen when it accepted i at exactly b: the leader proposed one value per
//   instance at b and only claims instances whose b-value is the chosen one.
//   Anything else is fetched with LearnRequest.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/rng.h"
#include "paxos/config.h"
#include "paxos/log.h"
#include "paxos/message.h"
#include "paxos/types.h"

namespace paxlock::paxos {

// One batch of work for the caller. See the file comment for the order.
struct Ready {
  std::optional<Ballot> promised;  // new promise to persist
  std::vector<Entry> entries;      // accepted or learned-chosen entries to persist
  Instance commit = 0;             // new first-unchosen instance to persist; 0 = unchanged
  std::vector<Message> send_now;
  std::vector<Message> send_after_sync;
  std::vector<Entry> apply;             // chosen values, in instance order, each once
  std::optional<NodeId> snapshot_from;  // fetch and install a snapshot from this peer

  // True if something here must be synced before send_after_sync may leave.
  bool needs_sync() const { return promised.has_value() || !entries.empty(); }
  bool empty() const {
    return !promised && entries.empty() && commit == 0 && send_now.empty() &&
           send_after_sync.empty() && apply.empty() && !snapshot_from;
  }
};

// The durable state a replica restarts from.
struct Restored {
  Ballot promised;
  Instance log_start = 1;      // first instance not covered by the snapshot
  Instance commit = 0;         // every instance below was known chosen
  std::vector<Entry> entries;  // last record per instance, any order
};

enum class Role : uint8_t { kFollower, kCandidate, kLeader };
const char* to_string(Role r);

enum class ProposeStatus : uint8_t {
  kOk,    // taken: it will be chosen unless abandoned
  kBusy,  // too many pending commands; the client should back off
};

// Counters for metrics; they only ever grow.
struct NodeStats {
  uint64_t elections_started = 0;
  uint64_t pre_votes_started = 0;
  uint64_t pre_votes_won = 0;
  uint64_t became_leader = 0;
  uint64_t stepped_down = 0;
  uint64_t instances_proposed = 0;
  uint64_t instances_chosen = 0;
  uint64_t commands_forwarded = 0;
  uint64_t commands_retried = 0;
  uint64_t resent_prepares = 0;
  uint64_t resent_accepts = 0;
  uint64_t learn_requests = 0;
  uint64_t nacks_sent = 0;
  uint64_t batches = 0;
  uint64_t batched_commands = 0;
  // Peer input refused before it touched the state (validate.cc): a message
  // out of range, and a chosen value that conflicts with one chosen here.
  uint64_t messages_refused = 0;
  uint64_t chosen_conflicts = 0;
};

class Node {
 public:
  explicit Node(const Config& config);

  // Loads durable state after a restart. Call once, before anything else.
  void restore(const Restored& state, TimeMs now);

  // `now` is monotonic (timers); `wall_ms`, if given, is the wall clock the
  // leader stamps its batches with (the lock machine's leases need clocks
  // that agree across nodes). Without it, batches carry `now`.
  void tick(TimeMs now, TimeMs wall_ms = -1);
  // Moves the clocks forward without running timers (those wait for the
  // next tick). A driver calls it before each event it delivers, so that a
  // leader whose loop stalled (a pause, a starved CPU, a slow disk call)
  // stamps the batch of a command that arrived after the stall with the
  // time it arrived, not with its last tick: a lease renewed by a stale
  // stamp would end earlier than its client reckons.
  void advance_clock(TimeMs now, TimeMs wall_ms = -1);
  void step(const Message& msg);
  ProposeStatus propose(Command cmd);
  // The client gave up on a command: stop re-sending it (it may still be chosen).
  void abandon(const CommandId& id);
  // The state machine's next deadline in log time (StateMachine::
  // next_deadline): a leader with nothing else to propose proposes a time
  // tick once its clock reaches it, so that waits and leases end on time
  // rather than at the next idle tick.
  void set_state_deadline(std::optional<TimeMs> deadline) { state_deadline_ = deadline; }
  // Runs phase 1 now with a fresh ballot, whoever leads, without a pre-vote.
  // Safe at any time; the simulator uses it to make proposers duel.
  void campaign() { start_election(); }

  Ready take_ready();

  // A snapshot covering every instance below `upto` is durable: forget them.
  void compact(Instance upto);
  // A snapshot covering every instance below `next` was installed.
  void install_snapshot(Instance next);

  // Read-only view for status pages, tests and invariant checks.
  NodeId id() const { return config_.self; }
  Role role() const { return role_; }
  Ballot promised() const { return promised_; }
  Ballot ballot() const { return ballot_; }
  std::optional<NodeId> leader() const;
  Instance first_unchosen() const { return first_unchosen_; }
  Instance next_apply() const { return next_apply_; }
  Instance known_commit() const { return known_commit_; }
  // The leader's next instance to propose at (meaningful while leading).
  Instance next_instance() const { return next_instance_; }
  Instance log_start() const { return log_.start(); }
  Instance log_end() const { return log_.end(); }
  const Slot* slot(Instance i) const { return log_.find(i); }
  size_t pending_commands() const { return pending_.size(); }
  size_t inflight_instances() const { return inflight_.size(); }
  const NodeStats& stats() const { return stats_; }
  const Config& config() const { return config_; }
  // Set instead of aborting when a planted mutation broke an invariant, so
  // that the simulator can report it; empty otherwise.
  const std::string& violation_seen() const { return violation_; }
  // Why the last refused message was refused (stats().messages_refused
  // counts them); empty if none was. The driver logs it, rate-limited.
  const std::string& last_refusal() const { return last_refusal_; }

 private:
  // tests/explore reads the whole state to fingerprint it (model checking).
  friend struct NodeInspector;
  // Scripted scenario tests (tests/unit) put a node in a state that its own
  // timers would reach, such as a learn request outstanding to a given peer.
  friend struct ScenarioAccess;

  // What this node knows about a command it took from a client.
  struct Pending {
    Command cmd;
    enum class State : uint8_t { kUnsent, kForwarded, kQueued } state = State::kUnsent;
    NodeId forwarded_to = 0;
    TimeMs retry_at = 0;
  };

  // The leader's view of one instance it proposed at ballot_.
  struct Proposal {
    Value value;
    std::set<NodeId> acks;
    TimeMs resend_at = 0;
  };

  // A pre-vote round in progress: who said they have no live leader either.
  struct PreVote {
    bool active = false;
    uint64_t round = 0;
    std::set<NodeId> granted;
  };

  // Phase 1 in progress at ballot_.
  struct Phase1 {
    Instance from = 0;
    std::set<NodeId> complete;              // acceptors whose promise is whole
    std::map<NodeId, Instance> next_chunk;  // expected start of the next chunk
    std::map<Instance, Entry> best;         // highest-ballot value per instance
    Instance max_seen = 0;
    TimeMs resend_at = 0;
  };

  // node.cc: timers, leadership bookkeeping, Ready assembly.
  bool mutated(Mutation m) const;
  bool leader_alive() const;
  void heard_from_leader(NodeId from, const Ballot& b);
  void reset_election_timer(TimeMs min_ms, TimeMs max_ms);
  void start_holdoff();
  void raise_promise(const Ballot& b);
  void step_down(const Ballot& seen);
  void send(Message msg, bool after_sync);
  Message make(MessageType type, NodeId to) const;
  void flush_outboxes();
  void check_invariants();

  // acceptor.cc
  void on_prepare(const Message& m);
  void on_accept(const Message& m);
  void send_promise(NodeId to, Instance from);
  void nack(const Message& m);
  bool ballot_ok(const Ballot& b) const;
  bool quorum_alive() const;

  // proposer.cc
  void election_timeout();
  void start_pre_vote();
  void on_pre_vote(const Message& m);
  void on_pre_vote_reply(const Message& m);
  bool sees_live_leader() const;
  bool quorum_heard_at_ballot() const;
  void start_election();
  void on_promise(const Message& m);
  void on_nack(const Message& m);
  void become_leader();
  void propose_at(Instance i, Value value);
  void on_accepted(const Message& m);
  void on_commit_ack(const Message& m);
  void fill_batches();
  void resend_proposals();
  void check_quorum();
  void broadcast_commit(bool heartbeat);

  // learner.cc
  void mark_chosen(Instance i, const Value& value, const Ballot& ballot);
  void violation(const char* what);
  // validate.cc: nullptr if `m` may reach the handlers, else why not.
  const char* refusal(const Message& m) const;
  bool ballot_in_range(const Ballot& b) const;
  bool is_member(NodeId n) const;
  // A chosen entry from a peer that names a value other than the one chosen
  // here: refused (counted), never an invariant failure.
  bool conflicts_with_chosen(const Entry& e) const;
  void refuse(const Message& m, std::string why);
  void apply_commit(const Ballot& b, Instance commit);
  void on_commit(const Message& m);
  void on_learn_request(const Message& m);
  void on_learn_reply(const Message& m);
  void request_learn(bool resend);
  void deliver(Ready& out);

  // commands.cc: commands this node took, and the leader's queue.
  void route(Pending& p);
  void enqueue(const Command& cmd);
  void on_forward(const Message& m);
  void retry_commands();
  void reroute_all();
  void command_chosen(const CommandId& id);

  Config config_;
  Rng rng_;
  TimeMs now_ = 0;
  TimeMs wall_ms_ = -1;
  NodeStats stats_;

  // Acceptor.
  Ballot promised_;
  InstanceLog log_;

  // Learner.
  Instance first_unchosen_ = 1;  // every instance below is chosen
  Instance next_apply_ = 1;      // every instance below was handed out to apply
  Instance known_commit_ = 1;    // highest first-unchosen any peer reported
  NodeId commit_source_ = 0;     // who reported known_commit_
  Instance persisted_commit_ = 0;
  bool learn_outstanding_ = false;
  TimeMs learn_resend_at_ = 0;
  NodeId learn_target_ = 0;
  Instance learn_from_ = 0;  // first instance of the outstanding request
  std::optional<NodeId> snapshot_from_;
  std::set<Instance> delivered_out_of_order_;  // only under kApplyOutOfOrder
  std::string violation_;
  std::string last_refusal_;

  // Proposer.
  Role role_ = Role::kFollower;
  Ballot ballot_;        // our ballot while candidate or leader
  Ballot highest_seen_;  // highest ballot seen anywhere
  Phase1 p1_;
  PreVote pv_;
  std::map<Instance, Proposal> inflight_;
  Instance next_instance_ = 1;
  Instance commit_broadcast_ = 0;
  TimeMs election_deadline_ = 0;
  // A restarted node's hold-off (DESIGN.md section 10): it campaigns no
  // earlier than this, whatever its commands ask. Drawn at its first tick,
  // not at restore(): the driver reads the clock before it loads the disk,
  // and recovery time must not eat the hold-off.
  TimeMs quiet_until_ = 0;
  bool holdoff_pending_ = false;
  TimeMs heartbeat_at_ = 0;
  TimeMs last_proposal_ms_ = 0;
  std::optional<TimeMs> state_deadline_;
  std::map<NodeId, TimeMs> peer_ack_ms_;  // last answer to our ballot, per peer
  // Answers to our current ballot actually received (promises, Accepted,
  // CommitAck), unlike peer_ack_ms_, which become_leader() primes.
  std::map<NodeId, TimeMs> heard_at_ballot_ms_;
  TimeMs rerun_phase1_ms_ = -1;  // last time a Nack made the leader run phase 1 again

  // Leadership as seen by this node.
  std::optional<NodeId> leader_;
  Ballot leader_ballot_;
  TimeMs leader_heard_ms_ = 0;

  // Commands.
  std::unordered_map<CommandId, Pending, CommandIdHash> pending_;
  std::deque<std::pair<TimeMs, CommandId>> retry_queue_;
  std::deque<Command> queue_;  // leader: commands waiting for an instance
  std::unordered_set<CommandId, CommandIdHash> queued_ids_;

  // Output being assembled for the next take_ready().
  Ready ready_;
  std::map<NodeId, std::vector<Entry>> accept_out_;
  std::map<std::pair<NodeId, Ballot>, std::vector<Instance>> accepted_out_;  // by (to, ballot)
  std::map<NodeId, std::vector<Command>> forward_out_;
};

}  // namespace paxlock::paxos
