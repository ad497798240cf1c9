#include "paxos/value_codec.h"

#include <algorithm>

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
  // The count is what the bytes claim: memory grows with the commands that
  // really decode, never with the count (an up-front resize made 1 MB of
  // junk announcing 1M commands allocate 48 MB).
  constexpr uint64_t kReserveMax = 256;
  batch->commands.reserve(static_cast<size_t>(std::min(count, kReserveMax)));
  for (uint64_t i = 0; i < count; ++i) {
    paxos::Command& c = batch->commands.emplace_back();
    std::string_view payload;
    if (!r.varint(c.id.client) || !r.varint(c.id.seq) || !r.bytes(payload)) return false;
    c.payload.assign(payload);
  }
  out = std::move(batch);
  return true;
}

}  // namespace paxlock::paxos
