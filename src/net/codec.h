// Conversions between the core's and the lock machine's plain types and their
// protobuf wire form (proto/paxlock.proto). Decoding validates everything a
// peer or client could get wrong and says what, instead of trusting it.
#pragma once

#include <string>

#include "lock/command.h"
#include "paxlock.pb.h"
#include "paxos/ballot.h"
#include "paxos/message.h"

namespace paxlock::net {

// The client protocol.
constexpr uint32_t kProtocolVersion = 1;
// The peer protocol. 2: PreVote and PreVoteReply (an older replica would
// drop the connection on them; a mixed cluster is refused at the hello).
constexpr uint32_t kPeerProtocolVersion = 2;

void to_proto(const paxos::Ballot& in, pb::Ballot* out);
paxos::Ballot from_proto(const pb::Ballot& in);

void to_proto(const paxos::Message& in, pb::PeerMessage* out);
// False (with `error` saying why) if the message is malformed.
bool from_proto(const pb::PeerMessage& in, paxos::Message& out, std::string* error);

// A client request as a lock-machine command. False (with `error`) if it is
// not one (unknown op, CLUSTER_INFO, missing client id or sequence number).
bool to_command(const pb::ClientRequest& in, lock::Command& out, std::string* error);
void to_response(const lock::Result& in, pb::ClientResponse* out);
// The reverse, for the client library.
void to_request(const lock::Command& in, pb::ClientRequest* out);
void from_response(const pb::ClientResponse& in, lock::Result& out);

}  // namespace paxlock::net
