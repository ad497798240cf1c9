// Conversions between the core's plain types and their protobuf wire form.
#pragma once

#include "paxlock.pb.h"
#include "paxos/ballot.h"

namespace paxlock::net {

void to_proto(const paxos::Ballot& in, pb::Ballot* out);
paxos::Ballot from_proto(const pb::Ballot& in);

}  // namespace paxlock::net
