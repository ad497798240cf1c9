// Commands this node took from clients: it owns each one until it sees it
// chosen (or the client gives up), forwarding it to the leader it knows,
// queueing it when it leads, and sending it again on a timer, so that a
// command whose instance went to another value is proposed again later.
#include <algorithm>

#include "paxos/node.h"

namespace paxlock::paxos {

ProposeStatus Node::propose(Command cmd) {
  if (pending_.count(cmd.id)) return ProposeStatus::kOk;  // a client resend
  if (pending_.size() >= config_.pending_commands_max) return ProposeStatus::kBusy;
  const CommandId id = cmd.id;
  auto [it, inserted] = pending_.emplace(id, Pending{std::move(cmd)});
  route(it->second);
  return ProposeStatus::kOk;
}

void Node::abandon(const CommandId& id) {
  pending_.erase(id);
}

void Node::route(Pending& p) {
  p.retry_at = now_ + config_.command_retry_ms;
  retry_queue_.emplace_back(p.retry_at, p.cmd.id);
  if (role_ == Role::kLeader) {
    p.state = Pending::State::kQueued;
    enqueue(p.cmd);
    return;
  }
  if (leader_alive() && *leader_ != config_.self) {
    p.state = Pending::State::kForwarded;
    p.forwarded_to = *leader_;
    forward_out_[*leader_].push_back(p.cmd);
    ++stats_.commands_forwarded;
    return;
  }
  p.state = Pending::State::kUnsent;
  // No live leader known: run phase 1 here soon. Not at once: a node that
  // just restarted may simply not have heard the leader's heartbeat yet, and
  // never within its restart hold-off (DESIGN.md section 10): until then a
  // follower that has not heard the new leader yet would grant its pre-vote
  // and promise it, and the restarted node would depose a working leader.
  if (role_ == Role::kFollower) {
    const TimeMs soon = now_ + rng_.uniform(config_.heartbeat_ms, 2 * config_.heartbeat_ms);
    election_deadline_ = std::min(election_deadline_, std::max(soon, quiet_until_));
  }
}

void Node::enqueue(const Command& cmd) {
  if (queue_.size() >= config_.pending_commands_max) return;  // the owner resends
  if (queued_ids_.insert(cmd.id).second) queue_.push_back(cmd);
}

void Node::on_forward(const Message& m) {
  if (role_ != Role::kLeader) return;  // the owner re-sends to the right node
  for (const Command& c : m.commands)
    enqueue(c);
}

void Node::retry_commands() {
  while (!retry_queue_.empty() && retry_queue_.front().first <= now_) {
    const auto [at, id] = retry_queue_.front();
    retry_queue_.pop_front();
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.retry_at != at) continue;  // chosen or re-routed
    Pending& p = it->second;
    if (role_ == Role::kLeader && p.state == Pending::State::kQueued) {
      // In our queue or in an instance in flight: proposal resends cover it.
      p.retry_at = now_ + config_.command_retry_ms;
      retry_queue_.emplace_back(p.retry_at, id);
      continue;
    }
    ++stats_.commands_retried;
    route(p);
  }
}

void Node::reroute_all() {
  for (auto& [id, p] : pending_) {
    if (role_ == Role::kLeader && p.state == Pending::State::kQueued) continue;
    route(p);
  }
}

void Node::command_chosen(const CommandId& id) {
  pending_.erase(id);
  queued_ids_.erase(id);
}

}  // namespace paxlock::paxos
