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
constexpr uint32_t kPeerProtocolVersion = 3;

void to_proto(const paxos::Ballot& in, pb::Ballot* out);
paxos::Ballot from_proto(const pb::Ballot& in);

void to_proto(const paxos::Message& in, pb::PeerMessage* out);
// An error saying why if the message is malformed.
Result<paxos::Message> from_proto(const pb::PeerMessage& in);

}  // namespace paxlock::net
