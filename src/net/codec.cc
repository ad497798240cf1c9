#include "net/codec.h"

namespace paxlock::net {

void to_proto(const paxos::Ballot& in, pb::Ballot* out) {
  out->set_round(in.round);
  out->set_node(in.node);
}

paxos::Ballot from_proto(const pb::Ballot& in) {
  return paxos::Ballot{in.round(), in.node()};
}

}  // namespace paxlock::net
