// Read access to the whole state of a paxos::Node, for the explorer: a
// fingerprint over everything that can influence the node's future behaviour
// (state dedup must never merge two states that can still diverge), and a
// one-line description for replays. node.h names this struct as a friend.
//
// Time is abstracted (explorer.h, "Time"): a node's clock only moves by whole
// explorer actions. With `exact_timers` every timer enters the fingerprint
// relative to the node's clock; without, the explorer only ever advances a
// clock by more than every timer's span, so that at the next tick every timer
// has fired whatever its value: timer values are then left out and each lease
// ("heard from the leader", "peer acknowledged", "idle since") enters as the
// boolean the core derives from it at the current time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "paxos/node.h"

namespace paxlock::explore {

// 64-bit incremental hash (splitmix-style mixing of each word).
class Hasher {
 public:
  void add(uint64_t v) {
    h_ ^= v + 0x9e3779b97f4a7c15ULL + (h_ << 6) + (h_ >> 2);
    h_ = mix(h_);
  }
  void add(std::string_view s) {
    add(s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      add(w);
    }
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    add(w);
  }
  void add(const paxos::Ballot& b) {
    add(b.round);
    add(b.node);
  }
  void add_value(const paxos::Value& v) {
    if (!v) {
      add(0xdeadULL);
      return;
    }
    add(static_cast<uint64_t>(v->timestamp_ms));
    add(v->commands.size());
    for (const paxos::Command& c : v->commands) {
      add(c.id.client);
      add(c.id.seq);
      add(c.payload);
    }
  }
  uint64_t value() const { return h_; }

  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t h_ = 0x243f6a8885a308d3ULL;
};

}  // namespace paxlock::explore

namespace paxlock::paxos {

struct NodeInspector {
  static Instance next_instance(const Node& n) { return n.next_instance_; }
  static TimeMs now(const Node& n) { return n.now_; }

  static uint64_t fingerprint(const Node& n, bool exact_timers) {
    explore::Hasher h;
    const TimeMs now = n.now_;
    const TimeMs et = n.config_.election_timeout_ms;
    auto timer = [&](TimeMs t) {
      if (exact_timers) h.add(static_cast<uint64_t>(t - now));
    };
    h.add(static_cast<uint64_t>(n.wall_ms_));
    // Acceptor.
    h.add(n.promised_);
    h.add(n.log_.start());
    h.add(n.log_.end());
    for (Instance i = n.log_.start(); i < n.log_.end(); ++i) {
      const Slot* s = n.log_.find(i);
      h.add(s->ballot);
      h.add_value(s->value);
      h.add(s->chosen ? 1 : 0);
    }
    // Learner.
    h.add(n.first_unchosen_);
    h.add(n.next_apply_);
    h.add(n.known_commit_);
    h.add(n.commit_source_);
    h.add(n.persisted_commit_);
    h.add(n.learn_outstanding_ ? 1 : 0);
    timer(n.learn_resend_at_);
    h.add(n.learn_target_);
    h.add(n.learn_from_);
    h.add(n.snapshot_from_ ? *n.snapshot_from_ + 1 : 0);
    h.add(n.delivered_out_of_order_.size());
    for (Instance i : n.delivered_out_of_order_)
      h.add(i);
    h.add(n.violation_);
    // Proposer.
    h.add(static_cast<uint64_t>(n.role_));
    h.add(n.ballot_);
    h.add(n.highest_seen_);
    h.add(n.p1_.from);
    h.add(n.p1_.complete.size());
    for (NodeId id : n.p1_.complete)
      h.add(id);
    h.add(n.p1_.next_chunk.size());
    for (const auto& [id, i] : n.p1_.next_chunk) {
      h.add(id);
      h.add(i);
    }
    h.add(n.p1_.best.size());
    for (const auto& [i, e] : n.p1_.best) {
      h.add(i);
      h.add(e.instance);
      h.add(e.ballot);
      h.add_value(e.value);
      h.add(e.chosen ? 1 : 0);
    }
    h.add(n.p1_.max_seen);
    timer(n.p1_.resend_at);
    h.add(n.pv_.active ? 1 : 0);
    h.add(n.pv_.round);
    h.add(n.pv_.granted.size());
    for (NodeId id : n.pv_.granted)
      h.add(id);
    h.add(n.inflight_.size());
    for (const auto& [i, p] : n.inflight_) {
      h.add(i);
      h.add_value(p.value);
      h.add(p.acks.size());
      for (NodeId id : p.acks)
        h.add(id);
      timer(p.resend_at);
    }
    h.add(n.next_instance_);
    h.add(n.commit_broadcast_);
    timer(n.election_deadline_);
    timer(n.heartbeat_at_);
    // The restart hold-off: whether it still holds, and whether it is yet to
    // be drawn at the first tick.
    if (exact_timers) {
      timer(n.quiet_until_);
    } else {
      h.add(now < n.quiet_until_ ? 1 : 0);
    }
    h.add(n.holdoff_pending_ ? 1 : 0);
    if (exact_timers) {
      timer(n.last_proposal_ms_);
    } else {
      h.add(now - n.last_proposal_ms_ >= n.config_.idle_tick_ms ? 1 : 0);
    }
    h.add(n.peer_ack_ms_.size());
    for (const auto& [id, at] : n.peer_ack_ms_) {
      h.add(id);
      if (exact_timers) {
        timer(at);
      } else {
        h.add(now - at < et ? 1 : 0);
      }
    }
    h.add(n.heard_at_ballot_ms_.size());
    for (const auto& [id, at] : n.heard_at_ballot_ms_) {
      h.add(id);
      if (exact_timers) {
        timer(at);
      } else {
        h.add(now - at < et ? 1 : 0);
      }
    }
    if (exact_timers) {
      timer(n.rerun_phase1_ms_);
    } else {
      h.add(n.rerun_phase1_ms_ >= 0 && now - n.rerun_phase1_ms_ < et ? 1 : 0);
    }
    // Leadership as seen here.
    h.add(n.leader_ ? *n.leader_ + 1 : 0);
    h.add(n.leader_ballot_);
    if (exact_timers) {
      timer(n.leader_heard_ms_);
    } else {
      h.add(now - n.leader_heard_ms_ < et ? 1 : 0);
    }
    // Commands, in a canonical order (pending_ is unordered).
    std::vector<const Node::Pending*> pending;
    for (const auto& [id, p] : n.pending_)
      pending.push_back(&p);
    std::sort(pending.begin(), pending.end(),
              [](const Node::Pending* a, const Node::Pending* b) { return a->cmd.id < b->cmd.id; });
    h.add(pending.size());
    for (const Node::Pending* p : pending) {
      h.add(p->cmd.id.client);
      h.add(p->cmd.id.seq);
      h.add(p->cmd.payload);
      h.add(static_cast<uint64_t>(p->state));
      h.add(p->forwarded_to);
      timer(p->retry_at);
    }
    // The retry queue: order, and whether each entry is still the live one.
    h.add(n.retry_queue_.size());
    for (const auto& [at, id] : n.retry_queue_) {
      h.add(id.client);
      h.add(id.seq);
      auto it = n.pending_.find(id);
      h.add(it != n.pending_.end() && it->second.retry_at == at ? 1 : 0);
      timer(at);
    }
    h.add(n.queue_.size());
    for (const Command& c : n.queue_) {
      h.add(c.id.client);
      h.add(c.id.seq);
      h.add(c.payload);
    }
    std::vector<CommandId> queued(n.queued_ids_.begin(), n.queued_ids_.end());
    std::sort(queued.begin(), queued.end());
    h.add(queued.size());
    for (const CommandId& id : queued) {
      h.add(id.client);
      h.add(id.seq);
    }
    return h.value();
  }
};

}  // namespace paxlock::paxos
