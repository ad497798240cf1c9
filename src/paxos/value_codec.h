// The canonical bytes of the core's values and ballots: a value is its
// batch's timestamp, then each command's client id, sequence number and
// payload. The WAL stores values this way (storage/records.h) and peer
// messages carry them this way (net/codec.h), so both depend on the core
// only, not on each other. Decoding checks every bound.
#pragma once

#include <string>

#include "common/encoding.h"
#include "paxos/types.h"

namespace paxlock::paxos {

void put_ballot(Writer& w, const Ballot& b);
bool get_ballot(Reader& r, Ballot& b);
void encode_value(const Batch& batch, std::string& out);
bool decode_value(Reader& r, Value& out);

}  // namespace paxlock::paxos
