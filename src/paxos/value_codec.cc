#include "paxos/value_codec.h"

namespace paxlock::paxos {

void put_ballot(Writer& w, const paxos::Ballot& b) {
  w.varint(b.round);
  w.varint(b.node);
}

bool get_ballot(Reader& r, paxos::Ballot& b) {
  uint64_t node = 0;
  if (!r.varint(b.round) || !r.varint(node) || node > UINT32_MAX) return false;
  b.node = static_cast<paxos::NodeId>(node);
  return true;
}

void encode_value(const paxos::Batch& batch, std::string& out) {
  Writer w(out);
  w.svarint(batch.timestamp_ms);
  w.varint(batch.commands.size());
  for (const paxos::Command& c : batch.commands) {
    w.varint(c.id.client);
    w.varint(c.id.seq);
    w.bytes(c.payload);
  }
}

bool decode_value(Reader& r, paxos::Value& out) {
  auto batch = std::make_shared<paxos::Batch>();
  uint64_t count = 0;
  if (!r.svarint(batch->timestamp_ms) || !r.varint(count) || count > r.remaining()) return false;
  batch->commands.resize(count);
  for (paxos::Command& c : batch->commands) {
    std::string_view payload;
    if (!r.varint(c.id.client) || !r.varint(c.id.seq) || !r.bytes(payload)) return false;
    c.payload.assign(payload);
  }
  out = std::move(batch);
  return true;
}

}  // namespace paxlock::paxos
