// Messages between replicas. Every field a message type does not use is left
// at its default; net/codec.cc turns these into protobuf frames.
#pragma once

#include <string>
#include <vector>

#include "paxos/types.h"

namespace paxlock::paxos {

enum class MessageType : uint8_t {
  kPrepare = 1,       // phase 1a: ballot; instance = first instance covered
  kPromise = 2,       // phase 1b: entries >= instance; more/end when chunked
  kAccept = 3,        // phase 2a: entries to accept at ballot; commit piggybacked
  kAccepted = 4,      // phase 2b: instances accepted at ballot
  kNack = 5,          // ballot = the acceptor's higher promise
  kCommit = 6,        // leader heartbeat: instances < commit are chosen
  kCommitAck = 7,     // follower's answer to kCommit; commit = its first unchosen
  kLearnRequest = 8,  // ask for chosen values in [instance, end)
  kLearnReply = 9,    // chosen entries; log_start > instance means "take a snapshot"
  kForward = 10,      // commands handed to the leader to propose
  // Snapshot transfer, handled by the driver (server/replica), never the core:
  kSnapshotRequest = 11,  // send me your snapshot from byte `offset`
  kSnapshotChunk = 12,    // bytes [offset, offset+data) of the snapshot covering < instance
  // Pre-vote (docs/DESIGN.md): before raising any ballot, a node that lost its
  // leader asks whether a majority also has no live leader.
  kPreVote = 13,       // instance = the asker's pre-vote round; ballot = the ballot it would use
  kPreVoteReply = 14,  // granted = no live leader here; instance and ballot echo the request
};

const char* to_string(MessageType t);

struct Message {
  MessageType type = MessageType::kCommit;
  NodeId from = 0;
  NodeId to = 0;
  Ballot ballot;
  Instance instance = 0;
  Instance end = 0;
  // The sender's first unchosen instance (everything below is chosen), sent
  // on every message so that learning rides along with normal traffic.
  Instance commit = 0;
  // The sender's first instance still in its log (below it was compacted
  // into a snapshot).
  Instance log_start = 0;
  bool more = false;
  bool want_ack = false;  // Commit: a heartbeat that asks for a CommitAck
  bool granted = false;   // PreVoteReply: the pre-vote is granted
  std::vector<Entry> entries;
  std::vector<Instance> instances;
  std::vector<Command> commands;
  // Snapshot chunks.
  uint64_t offset = 0;
  uint64_t total = 0;  // snapshot size in bytes
  uint32_t crc = 0;    // CRC32C of data
  std::string data;

  // Rough encoded size, used for byte limits on batches and chunks.
  size_t bytes() const;
  std::string to_string() const;
};

}  // namespace paxlock::paxos
