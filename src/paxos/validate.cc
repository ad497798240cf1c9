// Validation of peer input (issue 16). Every message is checked here before
// any handler sees it: a field out of range means the sender is broken or
// hostile, and the message is dropped and counted, never allowed to reach an
// invariant check (those stay fatal for the core's own mistakes). What is
// checked:
// - addressing: to this node, from a member;
// - ballots (the message's and every entry's): a round of at most
//   Ballot::kRoundMax and a member's node id (or the zero ballot); a Prepare,
//   Accept or Commit carries its sender's own ballot;
// - sizes: at most 2^20 entries, instances or commands;
// - every instance number at most kInstanceMax (no arithmetic on it wraps);
// - instances are checked where they are used (acceptor window, learner
//   window, phase 1 window), since what is in range depends on the state.
#include <algorithm>

#include "paxos/node.h"

namespace paxlock::paxos {

bool Node::is_member(NodeId n) const {
  return std::binary_search(config_.members.begin(), config_.members.end(), n);
}

bool Node::ballot_in_range(const Ballot& b) const {
  if (b.is_zero()) return true;
  return b.round >= 1 && b.round <= Ballot::kRoundMax && is_member(b.node);
}

const char* Node::refusal(const Message& m) const {
  if (m.to != config_.self) return "addressed to another node";
  if (!is_member(m.from)) return "sender is not a member";
  if (m.type < MessageType::kPrepare || m.type > MessageType::kPreVoteReply) {
    return "unknown message type";
  }
  if (!ballot_in_range(m.ballot)) return "ballot out of range";
  switch (m.type) {
    case MessageType::kPrepare:
    case MessageType::kAccept:
    case MessageType::kCommit:
      if (m.ballot.is_zero() || m.ballot.node != m.from) {
        return "a proposer's message without the proposer's own ballot";
      }
      break;
    default:
      break;
  }
  // A sanity bound (a frame's size already bounds the memory): far more
  // than an honest promise chunk or learn reply holds.
  constexpr size_t most = size_t{1} << 20;
  if (m.entries.size() > most || m.instances.size() > most || m.commands.size() > most) {
    return "too many entries, instances or commands";
  }
  for (Instance i : {m.instance, m.end, m.commit, m.log_start}) {
    if (i > kInstanceMax) return "instance number out of range";
  }
  for (Instance i : m.instances) {
    if (i > kInstanceMax) return "instance number out of range";
  }
  for (const Entry& e : m.entries) {
    if (!ballot_in_range(e.ballot)) return "entry ballot out of range";
    if (e.instance == 0) return "entry for instance 0";
    if (e.instance > kInstanceMax) return "instance number out of range";
  }
  return nullptr;
}

bool Node::conflicts_with_chosen(const Entry& e) const {
  const Slot* s = log_.find(e.instance);
  return s && s->chosen && e.value && !same_value(s->value, e.value);
}

void Node::refuse(const Message& m, std::string why) {
  ++stats_.messages_refused;
  last_refusal_ = std::string(to_string(m.type)) + " from node " + std::to_string(m.from) + ": " +
                  std::move(why);
}

}  // namespace paxlock::paxos
