// The learner: marking instances chosen, the leader's commit rule, catch-up
// through LearnRequest/LearnReply, and in-order delivery to the state machine.
#include <algorithm>

#include "common/check.h"
#include "paxos/node.h"

namespace paxlock::paxos {

void Node::violation(const char* what) {
  // With a planted bug the simulator must see the damage and report it;
  // without one, a broken invariant stops the process.
  PAXLOCK_CHECK_MSG(config_.mutation != Mutation::kNone, what);
  if (violation_.empty()) violation_ = what;
}

void Node::mark_chosen(Instance i, const Value& value, const Ballot& ballot) {
  PAXLOCK_CHECK(value != nullptr);
  if (i < log_.start()) return;
  Slot& s = log_.at(i);
  if (s.chosen) {
    if (!same_value(s.value, value)) violation("two different values chosen for one instance");
    return;
  }
  // One value per (instance, ballot): if our acceptor holds this ballot's
  // value, it is already on disk; otherwise persist the learned value, so
  // that a restart never pairs the commit point with a stale acceptance.
  const bool on_disk = s.value && ((!ballot.is_zero() && s.ballot == ballot) || s.value == value);
  if (!on_disk) {
    s.ballot = ballot;
    s.value = value;
    ready_.entries.push_back(Entry{i, ballot, value, true});
  }
  s.chosen = true;
  if (role_ != Role::kFollower && ballot > ballot_ && !mutated(Mutation::kNoStepDownOnLearn)) {
    // Chosen at a ballot above ours: a majority promised that ballot, so
    // ours can no longer win anything new, and a commit point we announce
    // could pair a follower's acceptance at our ballot with another value.
    step_down(ballot);
  }
  if (role_ == Role::kLeader) {
    auto it = inflight_.find(i);
    if (it != inflight_.end()) {
      const bool ours = same_value(it->second.value, value);
      inflight_.erase(it);
      // Another value won an instance we proposed at our ballot: a higher
      // ballot chose it, so we no longer lead. Our commands go round again.
      if (!ours) step_down(promised_);
    } else if (i >= next_instance_ && !mutated(Mutation::kNoStepDownOnLearn)) {
      // An instance we never proposed at our ballot was chosen (learned from
      // a commit point or a LearnReply): another proposer ran phase 2 with a
      // ballot that passed ours at a majority. Our phase 1 no longer covers
      // the log, so proposing at `next_instance_` could choose a second value
      // for an instance that is already chosen (Bug A). Step down; a new
      // phase 1 starts from the first unchosen instance.
      step_down(promised_);
    }
  }
  while (const Slot* next = log_.find(first_unchosen_)) {
    if (!next->chosen) break;
    ++first_unchosen_;
  }
  known_commit_ = std::max(known_commit_, first_unchosen_);
}

void Node::apply_commit(const Ballot& b, Instance commit) {
  for (Instance i = first_unchosen_; i < commit; ++i) {
    Slot* s = log_.find(i);
    if (!s || !s->value) break;
    if (s->chosen) continue;
    if (s->ballot != b) break;
    mark_chosen(i, s->value, b);
  }
}

void Node::on_commit(const Message& m) {
  if (!ballot_ok(m.ballot)) {
    nack(m);  // a stale leader: tell it to step down
    return;
  }
  if (role_ != Role::kFollower && m.from != config_.self) step_down(m.ballot);
  heard_from_leader(m.from, m.ballot);
  apply_commit(m.ballot, m.commit);
  if (m.want_ack) {
    Message r = make(MessageType::kCommitAck, m.from);
    r.ballot = m.ballot;
    send(std::move(r), /*after_sync=*/false);
  }
}

void Node::on_learn_request(const Message& m) {
  Message r = make(MessageType::kLearnReply, m.from);
  r.instance = m.instance;
  if (m.instance < log_.start()) {
    // Compacted here: the reply's log_start tells the peer to fetch a snapshot.
    send(std::move(r), /*after_sync=*/false);
    return;
  }
  const Instance end = std::min(m.end, log_.end());
  size_t bytes = 0;
  Instance i = m.instance;
  for (; i < end; ++i) {
    const Slot* s = log_.find(i);
    if (!s->chosen) continue;
    if (!r.entries.empty() && bytes >= config_.message_bytes_max) break;
    r.entries.push_back(Entry{i, s->ballot, s->value, true});
    bytes += 32 + s->value->bytes();
  }
  if (i < end) {
    r.more = true;
    r.end = i;
  }
  send(std::move(r), /*after_sync=*/false);
}

void Node::on_learn_reply(const Message& m) {
  // Chosen values are taken only from the answer to the request outstanding
  // now, to the peer it went to, and only within the learning window: a
  // duplicate, a late answer or a reply nobody asked for changes nothing.
  if (!learn_outstanding_ || m.from != learn_target_ || m.instance != learn_from_) return;
  const Instance before = first_unchosen_;
  const Instance window_end = first_unchosen_ + config_.accept_ahead_max;
  for (const Entry& e : m.entries) {
    if (e.chosen && conflicts_with_chosen(e)) {
      ++stats_.chosen_conflicts;
      refuse(m, "instance " + std::to_string(e.instance) + " is chosen here with another value");
      return;
    }
  }
  for (const Entry& e : m.entries) {
    if (!e.chosen || !e.value || e.instance < m.instance || e.instance >= window_end) continue;
    mark_chosen(e.instance, e.value, e.ballot);
  }
  if (m.log_start > m.instance && m.log_start > first_unchosen_) {
    // The peer compacted what we need: fetch its snapshot, and leave learning
    // alone until the snapshot had time to arrive.
    snapshot_from_ = m.from;
    learn_resend_at_ = now_ + 10 * config_.resend_ms;
    return;
  }
  if (first_unchosen_ >= known_commit_) {
    learn_outstanding_ = false;
  } else if (first_unchosen_ > before || m.more) {
    request_learn(/*resend=*/false);  // progress, or more to come: ask again at once
  }                                   // else the resend timer asks another peer
}

void Node::request_learn(bool resend) {
  if (first_unchosen_ >= known_commit_) {
    learn_outstanding_ = false;
    return;
  }
  NodeId target = commit_source_;
  if (resend || target == config_.self || target == 0) {
    // Someone else, picked at random among the peers.
    std::vector<NodeId> peers;
    for (NodeId n : config_.members) {
      if (n != config_.self) peers.push_back(n);
    }
    if (peers.empty()) return;
    target = peers[rng_.uniform(0, static_cast<int64_t>(peers.size()) - 1)];
  } else if (leader_alive() && leader_ != config_.self) {
    target = *leader_;
  }
  Message m = make(MessageType::kLearnRequest, target);
  m.instance = first_unchosen_;
  m.end = known_commit_;
  send(std::move(m), /*after_sync=*/false);
  learn_outstanding_ = true;
  learn_target_ = target;
  learn_from_ = first_unchosen_;
  learn_resend_at_ = now_ + config_.resend_ms;
  ++stats_.learn_requests;
}

void Node::deliver(Ready& out) {
  if (mutated(Mutation::kApplyOutOfOrder)) {
    // Planted bug: hand out whatever is chosen, gaps or not.
    for (Instance i = next_apply_; i < log_.end(); ++i) {
      const Slot* s = log_.find(i);
      if (!s->chosen || delivered_out_of_order_.count(i)) continue;
      delivered_out_of_order_.insert(i);
      out.apply.push_back(Entry{i, s->ballot, s->value, true});
      for (const Command& c : s->value->commands)
        command_chosen(c.id);
    }
    while (delivered_out_of_order_.count(next_apply_)) {
      delivered_out_of_order_.erase(next_apply_);
      ++next_apply_;
    }
    return;
  }
  while (next_apply_ < first_unchosen_) {
    const Slot* s = log_.find(next_apply_);
    PAXLOCK_CHECK(s != nullptr);
    PAXLOCK_CHECK(s->chosen);
    out.apply.push_back(Entry{next_apply_, s->ballot, s->value, true});
    for (const Command& c : s->value->commands)
      command_chosen(c.id);
    ++next_apply_;
  }
}

}  // namespace paxlock::paxos
