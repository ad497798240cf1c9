// The acceptor's rules (Paxos Made Simple, P1a and phase 2b):
// - promise a prepare whose ballot is at least the promised one, reporting
//   every accepted value from the requested instance on;
// - accept an accept request whose ballot is at least the promised one;
// - answer anything below the promise with a Nack carrying the promise, so
//   that the proposer jumps ahead instead of crawling.
// Promises and acceptances leave only after they are durable
// (send_after_sync).
#include <algorithm>

#include "paxos/node.h"

namespace paxlock::paxos {

bool Node::ballot_ok(const Ballot& b) const {
  if (mutated(Mutation::kSkipBallotCheck)) return true;
  return b >= promised_;
}

bool Node::quorum_alive() const {
  size_t alive = 1;  // self
  for (const auto& [peer, at] : peer_ack_ms_) {
    if (peer != config_.self && now_ - at < config_.election_timeout_ms) ++alive;
  }
  return alive >= config_.quorum();
}

void Node::nack(const Message& m) {
  Message r = make(MessageType::kNack, m.from);
  r.ballot = promised_;
  r.instance = m.instance;
  // The promise it reveals may have been made in this very Ready.
  send(std::move(r), /*after_sync=*/true);
  ++stats_.nacks_sent;
}

void Node::on_prepare(const Message& m) {
  if (!ballot_ok(m.ballot)) {
    nack(m);
    return;
  }
  // Sticky leader: while this node follows a live leader (or leads with a
  // live quorum) it does not answer anyone else's higher prepare, so a node
  // that was cut off cannot depose a working leader when it returns. Not
  // answering is always safe; the candidate retries.
  if (config_.sticky_leader && m.ballot > promised_ && m.from != config_.self) {
    if (role_ == Role::kLeader && quorum_alive()) return;
    if (role_ != Role::kLeader && leader_alive() && leader_ != m.from) return;
  }
  raise_promise(m.ballot);
  if (m.from != config_.self) {
    // Give the candidate time to finish before anyone else tries.
    reset_election_timer(config_.election_timeout_ms, 2 * config_.election_timeout_ms);
  }
  send_promise(m.from, m.instance);
}

void Node::send_promise(NodeId to, Instance from) {
  Message r = make(MessageType::kPromise, to);
  r.ballot = std::max(promised_, Ballot{});
  r.instance = from;
  size_t bytes = 0;
  Instance i = std::max(from, log_.start());
  for (; i < log_.end(); ++i) {
    const Slot* s = log_.find(i);
    if (!s->value) continue;
    if (!r.entries.empty() && bytes >= config_.message_bytes_max) break;
    r.entries.push_back(Entry{i, s->ballot, s->value, s->chosen});
    bytes += 32 + s->value->bytes();
  }
  if (i < log_.end()) {
    r.more = true;
    r.end = i;
  }
  send(std::move(r), /*after_sync=*/true);
}

void Node::on_accept(const Message& m) {
  if (!ballot_ok(m.ballot) && !mutated(Mutation::kAcceptBelowPromise)) {
    nack(m);
    return;
  }
  raise_promise(m.ballot);
  heard_from_leader(m.from, m.ballot);
  std::vector<Instance>& acks = accepted_out_[{m.from, m.ballot}];
  for (const Entry& e : m.entries) {
    if (e.instance < log_.start() || !e.value) continue;  // compacted: chosen long ago
    if (e.instance >= first_unchosen_ + config_.accept_ahead_max) continue;
    Slot& s = log_.at(e.instance);
    if (s.chosen) {
      // Acknowledge only the value that was chosen: any other would let a
      // stale leader count this node for a value that can no longer win.
      if (same_value(s.value, e.value)) acks.push_back(e.instance);
      continue;
    }
    if (s.value && s.ballot == m.ballot) {  // a resend: already on disk
      acks.push_back(e.instance);
      continue;
    }
    s.ballot = m.ballot;
    s.value = e.value;
    ready_.entries.push_back(Entry{e.instance, m.ballot, e.value, false});
    acks.push_back(e.instance);
  }
  apply_commit(m.ballot, m.commit);
}

}  // namespace paxlock::paxos
