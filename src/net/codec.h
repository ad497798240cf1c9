// Conversions between the core's messages and their protobuf wire form
// (proto/paxlock.proto). Decoding validates everything a peer could get wrong
// and says what, instead of trusting it.
#pragma once

#include <string>

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

void to_proto(const paxos::Ballot& in, pb::Ballot* out);
paxos::Ballot from_proto(const pb::Ballot& in);

void to_proto(const paxos::Message& in, pb::PeerMessage* out);
// An error saying why if the message is malformed.
Result<paxos::Message> from_proto(const pb::PeerMessage& in);

}  // namespace paxlock::net
