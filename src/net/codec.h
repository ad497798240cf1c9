// Conversions between the core's messages and their protobuf wire form
// (proto/paxlock.proto). Decoding validates everything a peer could get wrong
// and says what, instead of trusting it.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "paxlock.pb.h"
#include "paxos/ballot.h"
#include "paxos/message.h"

namespace paxlock::net {

// The peer protocol. 2: PreVote and PreVoteReply (an older replica would
// drop the connection on them; a mixed cluster is refused at the hello).
// 3: commands in the log are LockCommand messages (a replica of version 2
// would read them as invalid and answer differently).
// 4: transport keepalives (kPeerKeepaliveType; a replica of version 3 would
// close the connection on each as an unknown message type).
constexpr uint32_t kPeerProtocolVersion = 4;

// A PeerMessage of this type is the transport's keepalive, never a message of
// the core: `from` and `to` set, every other field ignored. A replica sends
// one on each outgoing connection that carried nothing else for a keepalive
// interval (PeerTransport), so that every connected peer is heard from
// regularly, followers too (they exchange no core messages). Outside the
// core's MessageType range.
constexpr uint32_t kPeerKeepaliveType = 64;

// The most entries, instances or commands a peer message may hold (the core
// refuses more too: paxos/validate.cc).
constexpr size_t kPeerRepeatedMax = size_t{1} << 20;

// Counts the repeated fields of a PeerMessage frame on the wire, before it is
// parsed: a frame announcing more than kPeerRepeatedMax of any is refused
// without allocating for them (parsed, 2^20 empty commands take about 130 MB).
// Bytes that are not well-formed protobuf are left to the parser.
Status check_peer_frame(std::string_view frame);

void to_proto(const paxos::Ballot& in, pb::Ballot* out);
paxos::Ballot from_proto(const pb::Ballot& in);

void to_proto(const paxos::Message& in, pb::PeerMessage* out);
// An error saying why if the message is malformed.
Result<paxos::Message> from_proto(const pb::PeerMessage& in);

}  // namespace paxlock::net
