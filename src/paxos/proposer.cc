// The proposer: phase 1 over every open instance, then phase 2 only, with a
// bounded pipeline of instances in flight and one batch of commands each.
#include <algorithm>

#include "common/check.h"
#include "paxos/node.h"

namespace paxlock::paxos {

// Pre-vote (the fix for Bug C). A node that was cut off keeps timing out; if
// every timeout raised its ballot, its return would depose a healthy leader:
// it answers the leader's next Accept or Commit with a Nack carrying that
// ballot. So a timeout raises nothing. It first asks every peer whether it
// too has no live leader, and campaigns only once a majority (itself
// included) says so. A node cut off from the majority never wins a pre-vote,
// so its ballot stays where it was and it simply follows again on return. A
// higher promise can still exist (a node that won a pre-vote was cut off
// before its Prepares arrived, or a forced campaign): on_nack() keeps a
// leader that a quorum answers. Forced campaigns (campaign()) skip the
// pre-vote.
void Node::election_timeout() {
  if (mutated(Mutation::kNoPreVote)) {
    start_election();
    return;
  }
  if (role_ == Role::kCandidate) {
    // Phase 1 did not finish in time: ask again before raising the ballot.
    role_ = Role::kFollower;
    p1_ = Phase1{};
  }
  start_pre_vote();
}

bool Node::sees_live_leader() const {
  if (role_ == Role::kLeader) return quorum_alive();
  return leader_alive();
}

void Node::start_pre_vote() {
  ++stats_.pre_votes_started;
  pv_.active = true;
  ++pv_.round;
  pv_.granted.clear();
  pv_.granted.insert(config_.self);
  reset_election_timer(config_.election_timeout_ms, 2 * config_.election_timeout_ms);
  if (pv_.granted.size() >= config_.quorum()) {
    pv_.active = false;
    ++stats_.pre_votes_won;
    start_election();
    return;
  }
  const Ballot would_use = Ballot::next_above(std::max(promised_, highest_seen_), config_.self);
  for (NodeId n : config_.members) {
    if (n == config_.self) continue;
    Message m = make(MessageType::kPreVote, n);
    m.ballot = would_use;
    m.instance = pv_.round;
    send(std::move(m), /*after_sync=*/false);
  }
}

void Node::on_pre_vote(const Message& m) {
  // Nothing changes here: no promise, no timer. The answer only says whether
  // this node, too, lacks a live leader.
  Message r = make(MessageType::kPreVoteReply, m.from);
  r.ballot = m.ballot;
  r.instance = m.instance;
  r.granted = !sees_live_leader();
  send(std::move(r), /*after_sync=*/false);
}

void Node::on_pre_vote_reply(const Message& m) {
  if (!pv_.active || role_ != Role::kFollower || m.instance != pv_.round || !m.granted) return;
  if (std::find(config_.members.begin(), config_.members.end(), m.from) == config_.members.end()) {
    return;
  }
  pv_.granted.insert(m.from);
  if (pv_.granted.size() < config_.quorum()) return;
  pv_.active = false;
  ++stats_.pre_votes_won;
  start_election();
}

void Node::start_election() {
  ++stats_.elections_started;
  if (role_ == Role::kLeader) ++stats_.stepped_down;
  role_ = Role::kCandidate;
  pv_.active = false;
  inflight_.clear();
  accept_out_.clear();
  queue_.clear();
  queued_ids_.clear();
  if (leader_ == config_.self) leader_.reset();
  // The ballot must be above everything seen, and our own promise of it must
  // be durable before any Prepare leaves: after a crash this node must never
  // pick the same ballot again for a different value.
  ballot_ = Ballot::next_above(std::max(promised_, highest_seen_), config_.self);
  promised_ = ballot_;
  heard_at_ballot_ms_.clear();
  highest_seen_ = ballot_;
  ready_.promised = ballot_;
  p1_ = Phase1{};
  p1_.from = first_unchosen_;
  p1_.resend_at = now_ + config_.resend_ms;
  reset_election_timer(config_.election_timeout_ms, 2 * config_.election_timeout_ms);
  for (NodeId n : config_.members) {
    Message m = make(MessageType::kPrepare, n);
    m.ballot = ballot_;
    m.instance = p1_.from;
    send(std::move(m), /*after_sync=*/true);
  }
}

void Node::on_promise(const Message& m) {
  if (role_ != Role::kCandidate || m.ballot != ballot_) return;
  if (p1_.complete.count(m.from)) return;
  auto chunk = p1_.next_chunk.find(m.from);
  const Instance expected = chunk == p1_.next_chunk.end() ? p1_.from : chunk->second;
  if (m.instance != expected) return;  // a duplicate or an old chunk
  peer_ack_ms_[m.from] = now_;
  heard_at_ballot_ms_[m.from] = now_;
  if (m.log_start > p1_.from && m.log_start > first_unchosen_) {
    // The acceptor compacted instances this node never learned; their values
    // are unknown here, so it cannot lead. Catch up through a snapshot first.
    snapshot_from_ = m.from;
    step_down(ballot_);
    return;
  }
  for (const Entry& e : m.entries) {
    if (e.chosen && conflicts_with_chosen(e)) {
      ++stats_.chosen_conflicts;
      refuse(m, "instance " + std::to_string(e.instance) + " is chosen here with another value");
      return;
    }
  }
  const Instance window_end = first_unchosen_ + config_.accept_ahead_max;
  for (const Entry& e : m.entries) {
    if (e.instance < p1_.from || !e.value) continue;
    if (e.instance >= window_end) {
      // An acceptor holds a value this far ahead of what is chosen here:
      // this node is too far behind to lead (every instance up to its top
      // would need a proposal). Not leading is always safe; it learns first.
      step_down(ballot_);
      return;
    }
    if (e.chosen) mark_chosen(e.instance, e.value, e.ballot);
    if (role_ != Role::kCandidate) return;  // mark_chosen may step us down
    Entry& best = p1_.best[e.instance];
    if (e.chosen) {
      best = e;
    } else if (!best.chosen && (!best.value || best.ballot < e.ballot)) {
      best = e;
    }
    p1_.max_seen = std::max(p1_.max_seen, e.instance);
  }
  if (m.more) {
    p1_.next_chunk[m.from] = m.end;
    Message next = make(MessageType::kPrepare, m.from);
    next.ballot = ballot_;
    next.instance = m.end;
    send(std::move(next), /*after_sync=*/true);
    return;
  }
  p1_.complete.insert(m.from);
  if (p1_.complete.size() >= config_.quorum()) become_leader();
}

void Node::become_leader() {
  PAXLOCK_CHECK(role_ == Role::kCandidate);
  PAXLOCK_CHECK(ballot_ == promised_);
  ++stats_.became_leader;
  role_ = Role::kLeader;
  leader_ = config_.self;
  leader_ballot_ = ballot_;
  leader_heard_ms_ = now_;
  inflight_.clear();
  const Instance top = std::max(p1_.max_seen + 1, first_unchosen_);
  // An instance at or past `top` that this node already knows chosen was
  // learned while it campaigned, from a proposer whose ballot its promisers
  // never saw: its phase 1 does not cover the log. Leading would mean
  // proposing at an instance that is chosen (the review's second sequence).
  if (!mutated(Mutation::kNoStepDownOnLearn)) {
    for (Instance i = top; i < log_.end(); ++i) {
      const Slot* s = log_.find(i);
      if (s && s->chosen) {
        step_down(ballot_);
        return;
      }
    }
  }
  for (Instance i = first_unchosen_; i < top; ++i) {
    const Slot* s = log_.find(i);
    if (s && s->chosen) continue;
    auto it = p1_.best.find(i);
    const bool reported = it != p1_.best.end() && it->second.value;
    // P2c: the highest-ballot value reported by the quorum, or a no-op.
    Value v = reported && !mutated(Mutation::kIgnorePhase1Values) ? it->second.value : make_noop();
    propose_at(i, std::move(v));
  }
  next_instance_ = top;
  p1_ = Phase1{};
  for (NodeId n : config_.members)
    peer_ack_ms_[n] = now_;
  last_proposal_ms_ = now_;
  broadcast_commit(/*heartbeat=*/true);
  reroute_all();
}

void Node::propose_at(Instance i, Value value) {
  PAXLOCK_CHECK(role_ == Role::kLeader);
  PAXLOCK_CHECK(i >= log_.start());
  if (const Slot* s = log_.find(i); s && s->chosen) {
    violation("a leader proposed at an instance it knows is chosen");
  }
  Proposal& p = inflight_[i];
  p.value = value;
  p.acks.clear();
  p.resend_at = now_ + config_.resend_ms;
  for (NodeId n : config_.members) {
    accept_out_[n].push_back(Entry{i, ballot_, value, false});
  }
  ++stats_.instances_proposed;
  last_proposal_ms_ = now_;
}

void Node::fill_batches() {
  while (!queue_.empty() && next_instance_ < first_unchosen_ + config_.pipeline_window) {
    auto batch = std::make_shared<Batch>();
    batch->timestamp_ms = wall_ms_ >= 0 ? wall_ms_ : now_;
    size_t bytes = 0;
    while (!queue_.empty() && batch->commands.size() < config_.batch_commands_max) {
      Command& c = queue_.front();
      if (!queued_ids_.count(c.id)) {  // chosen meanwhile: skip the duplicate
        queue_.pop_front();
        continue;
      }
      if (!batch->commands.empty() && bytes + c.bytes() > config_.batch_bytes_max) break;
      bytes += c.bytes();
      queued_ids_.erase(c.id);
      batch->commands.push_back(std::move(c));
      queue_.pop_front();
    }
    if (batch->commands.empty()) break;
    ++stats_.batches;
    stats_.batched_commands += batch->commands.size();
    propose_at(next_instance_++, std::move(batch));
  }
  // A time tick keeps the state machine's clock moving (lease expiry) when
  // there is no traffic: every idle_tick_ms, and as soon as the clock passes
  // the state machine's next deadline (a wait or a lease ending).
  const TimeMs stamp = wall_ms_ >= 0 ? wall_ms_ : now_;
  const bool deadline_due = state_deadline_ && stamp >= *state_deadline_ &&
                            now_ - last_proposal_ms_ >= config_.deadline_tick_gap_ms;
  if (inflight_.empty() && queue_.empty() &&
      (now_ - last_proposal_ms_ >= config_.idle_tick_ms || deadline_due) &&
      next_instance_ < first_unchosen_ + config_.pipeline_window) {
    auto tick = std::make_shared<Batch>();
    tick->timestamp_ms = stamp;
    propose_at(next_instance_++, std::move(tick));
  }
}

void Node::resend_proposals() {
  for (auto& [i, p] : inflight_) {
    if (now_ < p.resend_at) continue;
    for (NodeId n : config_.members) {
      if (p.acks.count(n)) continue;
      accept_out_[n].push_back(Entry{i, ballot_, p.value, false});
      ++stats_.resent_accepts;
    }
    p.resend_at = now_ + config_.resend_ms;
  }
}

void Node::on_accepted(const Message& m) {
  if (role_ != Role::kLeader || m.ballot != ballot_) return;
  peer_ack_ms_[m.from] = now_;
  heard_at_ballot_ms_[m.from] = now_;
  for (Instance i : m.instances) {
    auto it = inflight_.find(i);
    if (it == inflight_.end()) continue;
    it->second.acks.insert(m.from);
    if (it->second.acks.size() < config_.quorum()) continue;
    Value v = std::move(it->second.value);
    inflight_.erase(it);
    ++stats_.instances_chosen;
    mark_chosen(i, v, ballot_);
    if (role_ != Role::kLeader) return;
  }
}

bool Node::quorum_heard_at_ballot() const {
  size_t alive = 1;  // self
  for (const auto& [peer, at] : heard_at_ballot_ms_) {
    if (peer != config_.self && now_ - at < config_.election_timeout_ms) ++alive;
  }
  return alive >= config_.quorum();
}

void Node::on_nack(const Message& m) {
  if (role_ == Role::kFollower) return;
  if (m.ballot <= ballot_) return;
  // A leader that a quorum answers at its ballot, refused by one acceptor
  // whose promise is higher: that promise comes from an election that did not
  // finish (a candidate cut off before its Prepares arrived, a forced
  // campaign), not from a leader the majority follows. Stepping down would
  // cost the cluster an election (Liveness C); instead the leader runs phase
  // 1 again above that ballot, and its followers answer it (sticky rule: a
  // Prepare from their own leader). At most once per election timeout, so
  // that two leaders cannot keep deposing each other this way; otherwise, and
  // without a live quorum, it steps down as before.
  if (role_ == Role::kLeader && !mutated(Mutation::kNoPreVote) && quorum_heard_at_ballot() &&
      (rerun_phase1_ms_ < 0 || now_ - rerun_phase1_ms_ >= config_.election_timeout_ms)) {
    rerun_phase1_ms_ = now_;
    highest_seen_ = std::max(highest_seen_, m.ballot);
    start_election();
    return;
  }
  step_down(m.ballot);
}

void Node::on_commit_ack(const Message& m) {
  if (role_ == Role::kLeader && m.ballot == ballot_) {
    peer_ack_ms_[m.from] = now_;
    heard_at_ballot_ms_[m.from] = now_;
  }
}

void Node::check_quorum() {
  if (quorum_alive()) return;
  // Cut off from a quorum: stop claiming leadership so that commands taken
  // here are sent to whoever leads the majority.
  step_down(ballot_);
}

void Node::broadcast_commit(bool heartbeat) {
  for (NodeId n : config_.members) {
    if (n == config_.self) continue;
    // An Accept going to n in this Ready carries the commit already.
    if (!heartbeat && !accept_out_[n].empty()) continue;
    Message m = make(MessageType::kCommit, n);
    m.ballot = ballot_;
    m.want_ack = heartbeat;
    send(std::move(m), /*after_sync=*/false);
  }
  commit_broadcast_ = first_unchosen_;
  if (heartbeat) heartbeat_at_ = now_ + config_.heartbeat_ms;
}

}  // namespace paxlock::paxos
