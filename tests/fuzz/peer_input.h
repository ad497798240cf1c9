// The input format of fuzz_peer_message, shared with the seed generator:
//
//   u8 state                 which prepared node receives the messages
//                            (kPeerStates; taken modulo their number)
//   then up to kPeerMessagesMax times:
//     u8  ms                 time passes (the node ticks) before the message
//     u16 length (LE)        then `length` bytes: one pb::PeerMessage, the
//                            body of a frame on the peer port
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace paxlock::fuzz {

// The prepared nodes of a 3-member cluster {1, 2, 3} (fuzz_peer_message.cc).
enum PeerState : uint8_t {
  kFollower = 0,   // node 2: follows leader 1, instances 1..3 chosen and applied
  kLeader = 1,     // node 1: leads, 1..3 chosen, instance 4 in flight
  kFresh = 2,      // node 3: an empty log, never heard anyone
  kCandidate = 3,  // node 3: campaigned, its prepares not answered yet
  kPeerStates = 4,
};

constexpr size_t kPeerMessagesMax = 64;

inline void append_peer_message(std::string& out, uint8_t ms, std::string_view message) {
  out.push_back(static_cast<char>(ms));
  const size_t n = message.size() < 0xffff ? message.size() : 0xffff;
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(message.substr(0, n));
}

}  // namespace paxlock::fuzz
