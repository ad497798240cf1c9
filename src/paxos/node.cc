// Node: construction, restore, timers, leadership bookkeeping and Ready
// assembly. The role-specific handlers live in acceptor.cc, proposer.cc,
// learner.cc and commands.cc.
#include "paxos/node.h"

#include <algorithm>
#include <iterator>

#include "common/check.h"

namespace paxlock::paxos {

const char* to_string(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

const char* to_string(Mutation m) {
  const auto k = static_cast<size_t>(m);
  return k < std::size(kMutationNames) ? kMutationNames[k].name : "unknown";
}

std::optional<Mutation> parse_mutation(std::string_view name) {
  for (const MutationName& n : kMutationNames) {
    if (name == n.name) return n.mutation;
  }
  return std::nullopt;
}

size_t Config::quorum() const {
  size_t q = members.size() / 2 + 1;
#if PAXLOCK_MUTATIONS
  if (mutation == Mutation::kSmallQuorum && q > 1) --q;
#endif
  return q;
}

Node::Node(const Config& config) : config_(config), rng_(config.rng_seed) {
  PAXLOCK_CHECK(!config_.members.empty());
  PAXLOCK_CHECK(std::find(config_.members.begin(), config_.members.end(), config_.self) !=
                config_.members.end());
  PAXLOCK_CHECK(config_.pipeline_window > 0);
  PAXLOCK_CHECK(config_.batch_commands_max > 0);
  PAXLOCK_CHECK(config_.heartbeat_ms > 0);
  PAXLOCK_CHECK(config_.election_timeout_ms > config_.heartbeat_ms);
  std::sort(config_.members.begin(), config_.members.end());
}

bool Node::mutated(Mutation m) const {
#if PAXLOCK_MUTATIONS
  return config_.mutation == m;
#else
  (void)m;
  return false;
#endif
}

void Node::restore(const Restored& state, TimeMs now) {
  now_ = now;
  promised_ = mutated(Mutation::kForgetPromiseOnRestart) ? Ballot{} : state.promised;
  highest_seen_ = state.promised;
  log_.reset(state.log_start);
  first_unchosen_ = next_apply_ = known_commit_ = state.log_start;
  for (const Entry& e : state.entries) {
    if (e.instance < state.log_start || !e.value) continue;
    Slot& s = log_.at(e.instance);
    s.ballot = e.ballot;
    s.value = e.value;
    s.chosen = e.chosen || e.instance < state.commit;
    highest_seen_ = std::max(highest_seen_, e.ballot);
  }
  while (const Slot* s = log_.find(first_unchosen_)) {
    if (!s->chosen) break;
    ++first_unchosen_;
  }
  known_commit_ = std::max(first_unchosen_, state.commit);
  persisted_commit_ = first_unchosen_;
  next_instance_ = first_unchosen_;
  // A restarted node first listens for the current leader, a little longer
  // than a follower that lost one: connections to it are being re-established.
  // The hold-off counts from the first tick (start_holdoff).
  start_holdoff();
  holdoff_pending_ = true;
}

void Node::start_holdoff() {
  reset_election_timer(2 * config_.election_timeout_ms, 3 * config_.election_timeout_ms);
  quiet_until_ = now_ + 2 * config_.election_timeout_ms;
}

std::optional<NodeId> Node::leader() const {
  if (role_ == Role::kLeader) return config_.self;
  if (leader_alive()) return leader_;
  return std::nullopt;
}

bool Node::leader_alive() const {
  return leader_.has_value() && now_ - leader_heard_ms_ < config_.election_timeout_ms;
}

void Node::heard_from_leader(NodeId from, const Ballot& b) {
  if (b < leader_ballot_) return;
  const bool changed = leader_ != from || leader_ballot_ != b;
  leader_ = from;
  leader_ballot_ = b;
  leader_heard_ms_ = now_;
  pv_.active = false;  // a leader is alive: no election needed
  if (from != config_.self) {
    reset_election_timer(config_.election_timeout_ms, 2 * config_.election_timeout_ms);
  }
  // Commands forwarded to an old leader go to the new one now.
  if (changed && from != config_.self) reroute_all();
}

void Node::reset_election_timer(TimeMs min_ms, TimeMs max_ms) {
  election_deadline_ = now_ + rng_.uniform(min_ms, max_ms);
}

void Node::raise_promise(const Ballot& b) {
  if (b <= promised_) return;
  promised_ = b;
  ready_.promised = b;
  highest_seen_ = std::max(highest_seen_, b);
  if (role_ != Role::kFollower && ballot_ < b) step_down(b);
}

void Node::step_down(const Ballot& seen) {
  highest_seen_ = std::max(highest_seen_, seen);
  if (role_ == Role::kFollower) return;
  if (role_ == Role::kLeader) ++stats_.stepped_down;
  role_ = Role::kFollower;
  inflight_.clear();
  accept_out_.clear();
  p1_ = Phase1{};
  queue_.clear();
  queued_ids_.clear();
  if (leader_ == config_.self) leader_.reset();
  // Back off for a randomized while so that dueling proposers spread out.
  reset_election_timer(config_.election_timeout_ms / 2, 2 * config_.election_timeout_ms);
  reroute_all();
}

Message Node::make(MessageType type, NodeId to) const {
  Message m;
  m.type = type;
  m.from = config_.self;
  m.to = to;
  return m;
}

void Node::send(Message msg, bool after_sync) {
  msg.commit = first_unchosen_;
  msg.log_start = log_.start();
  if (after_sync) {
    ready_.send_after_sync.push_back(std::move(msg));
  } else {
    ready_.send_now.push_back(std::move(msg));
  }
}

void Node::advance_clock(TimeMs now, TimeMs wall_ms) {
  if (now > now_) now_ = now;
  if (wall_ms >= 0) wall_ms_ = wall_ms;
}

void Node::tick(TimeMs now, TimeMs wall_ms) {
  PAXLOCK_CHECK(now >= now_);
  advance_clock(now, wall_ms);
  if (holdoff_pending_) {
    // The first tick after restore(): the hold-off starts now, unless the
    // node already heard a leader (which set its own timer).
    holdoff_pending_ = false;
    if (role_ == Role::kFollower && !leader_alive()) start_holdoff();
  }
  switch (role_) {
    case Role::kFollower:
      if (now_ >= election_deadline_) election_timeout();
      break;
    case Role::kCandidate:
      if (now_ >= election_deadline_) {
        election_timeout();
      } else if (now_ >= p1_.resend_at) {
        // Re-ask every acceptor whose promise is not whole yet.
        for (NodeId n : config_.members) {
          if (p1_.complete.count(n)) continue;
          Message m = make(MessageType::kPrepare, n);
          m.ballot = ballot_;
          auto it = p1_.next_chunk.find(n);
          m.instance = it == p1_.next_chunk.end() ? p1_.from : it->second;
          send(std::move(m), /*after_sync=*/true);
          ++stats_.resent_prepares;
        }
        p1_.resend_at = now_ + config_.resend_ms;
      }
      break;
    case Role::kLeader:
      resend_proposals();
      if (now_ >= heartbeat_at_) {
        check_quorum();
        if (role_ == Role::kLeader) broadcast_commit(/*heartbeat=*/true);
      }
      break;
  }
  if (learn_outstanding_ && now_ >= learn_resend_at_) request_learn(/*resend=*/true);
  retry_commands();
}

void Node::step(const Message& m) {
  if (const char* why = refusal(m)) {
    refuse(m, why);
    return;
  }
  // A pre-vote's ballot is only the one its sender would use: nothing was
  // promised at it.
  if (m.type != MessageType::kPreVote && m.type != MessageType::kPreVoteReply) {
    highest_seen_ = std::max(highest_seen_, m.ballot);
  }
  if (m.commit > known_commit_) {
    // Learning goes at most accept_ahead_max past what is chosen here: a
    // commit point from far ahead (or a hostile one) is approached in steps,
    // raised again by every message that carries it.
    known_commit_ = std::min(m.commit, first_unchosen_ + config_.accept_ahead_max);
    commit_source_ = m.from;
  }
  switch (m.type) {
    case MessageType::kPrepare:
      on_prepare(m);
      break;
    case MessageType::kPromise:
      on_promise(m);
      break;
    case MessageType::kAccept:
      on_accept(m);
      break;
    case MessageType::kAccepted:
      on_accepted(m);
      break;
    case MessageType::kNack:
      on_nack(m);
      break;
    case MessageType::kCommit:
      on_commit(m);
      break;
    case MessageType::kCommitAck:
      on_commit_ack(m);
      break;
    case MessageType::kLearnRequest:
      on_learn_request(m);
      break;
    case MessageType::kLearnReply:
      on_learn_reply(m);
      break;
    case MessageType::kForward:
      on_forward(m);
      break;
    case MessageType::kPreVote:
      on_pre_vote(m);
      break;
    case MessageType::kPreVoteReply:
      on_pre_vote_reply(m);
      break;
    case MessageType::kSnapshotRequest:
    case MessageType::kSnapshotChunk:
      break;  // the driver's business
  }
  if (first_unchosen_ < known_commit_ && !learn_outstanding_) request_learn(/*resend=*/false);
}

void Node::flush_outboxes() {
  for (auto& [to, entries] : accept_out_) {
    // Split so that no message exceeds the byte limit.
    size_t i = 0;
    while (i < entries.size()) {
      Message m = make(MessageType::kAccept, to);
      m.ballot = ballot_;
      size_t bytes = 0;
      while (i < entries.size() && (m.entries.empty() || bytes < config_.message_bytes_max)) {
        bytes += entries[i].value ? entries[i].value->bytes() : 0;
        m.entries.push_back(std::move(entries[i++]));
      }
      send(std::move(m), /*after_sync=*/false);
    }
  }
  accept_out_.clear();
  for (auto& [key, instances] : accepted_out_) {
    if (instances.empty()) continue;
    Message m = make(MessageType::kAccepted, key.first);
    m.ballot = key.second;
    m.instances = std::move(instances);
    send(std::move(m), /*after_sync=*/true);
  }
  accepted_out_.clear();
  for (auto& [to, commands] : forward_out_) {
    Message m = make(MessageType::kForward, to);
    m.commands = std::move(commands);
    send(std::move(m), /*after_sync=*/false);
  }
  forward_out_.clear();
}

Ready Node::take_ready() {
  if (role_ == Role::kLeader) {
    fill_batches();
    if (first_unchosen_ > commit_broadcast_) broadcast_commit(/*heartbeat=*/false);
  }
  flush_outboxes();
  deliver(ready_);
  if (first_unchosen_ > persisted_commit_) {
    ready_.commit = first_unchosen_;
    persisted_commit_ = first_unchosen_;
  }
  if (snapshot_from_) {
    ready_.snapshot_from = snapshot_from_;
    snapshot_from_.reset();
  }
  check_invariants();
  Ready out = std::move(ready_);
  ready_ = Ready{};
  return out;
}

void Node::compact(Instance upto) {
  PAXLOCK_CHECK(upto <= next_apply_);
  if (upto <= log_.start()) return;
  log_.compact(upto);
}

void Node::install_snapshot(Instance next) {
  if (next <= next_apply_) return;
  // The snapshot covers everything below `next`. What this acceptor accepted
  // at or above it stays: it may have been acknowledged.
  log_.discard_below(next);
  next_apply_ = next;
  first_unchosen_ = std::max(first_unchosen_, next);
  while (const Slot* s = log_.find(first_unchosen_)) {
    if (!s->chosen) break;
    ++first_unchosen_;
  }
  known_commit_ = std::max(known_commit_, next);
  persisted_commit_ = std::max(persisted_commit_, next);
  if (next_instance_ < next) next_instance_ = next;
  if (role_ != Role::kFollower) step_down(promised_);
}

void Node::check_invariants() {
  PAXLOCK_CHECK(next_apply_ <= first_unchosen_ || mutated(Mutation::kApplyOutOfOrder));
  PAXLOCK_CHECK(first_unchosen_ >= log_.start());
  if (role_ == Role::kLeader) {
    PAXLOCK_CHECK(ballot_ == promised_);
    PAXLOCK_CHECK(ballot_.node == config_.self);
    // A leader proposes only above what is chosen: its next instance never
    // falls below the first unchosen one (Bug A broke this).
    if (next_instance_ < first_unchosen_) {
      violation("a leader's next instance is below its first unchosen");
    }
  }
  if (role_ == Role::kCandidate) PAXLOCK_CHECK(ballot_ == promised_);
}

}  // namespace paxlock::paxos
