#include "paxos/message.h"

#include <fmt/format.h>

namespace paxlock::paxos {

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kPrepare:
      return "Prepare";
    case MessageType::kPromise:
      return "Promise";
    case MessageType::kAccept:
      return "Accept";
    case MessageType::kAccepted:
      return "Accepted";
    case MessageType::kNack:
      return "Nack";
    case MessageType::kCommit:
      return "Commit";
    case MessageType::kCommitAck:
      return "CommitAck";
    case MessageType::kLearnRequest:
      return "LearnRequest";
    case MessageType::kLearnReply:
      return "LearnReply";
    case MessageType::kForward:
      return "Forward";
    case MessageType::kSnapshotRequest:
      return "SnapshotRequest";
    case MessageType::kSnapshotChunk:
      return "SnapshotChunk";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteReply:
      return "PreVoteReply";
  }
  return "Unknown";
}

size_t Message::bytes() const {
  size_t n = 64;
  for (const Entry& e : entries)
    n += 32 + (e.value ? e.value->bytes() : 0);
  n += instances.size() * 8;
  for (const Command& c : commands)
    n += c.bytes();
  return n;
}

std::string Message::to_string() const {
  return fmt::format("{} {}->{} b={} i={} end={} commit={} start={} more={} e={} n={} c={}",
                     paxos::to_string(type), from, to, ballot.to_string(), instance, end, commit,
                     log_start, more, entries.size(), instances.size(), commands.size());
}

}  // namespace paxlock::paxos
