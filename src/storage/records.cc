#include "storage/records.h"

#include "storage/crc32c.h"

namespace paxlock::storage {
namespace {

void put_u32_at(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = static_cast<char>(v >> (8 * i));
}

// Reserves the header, lets the caller append the body, then fills in length
// and checksum: no copy of the body.
size_t begin_record(std::string& out, RecordType type) {
  const size_t at = out.size();
  out.append(kRecordHeader, '\0');
  out[at + 4] = static_cast<char>(type);
  return at;
}

void end_record(std::string& out, size_t at) {
  const size_t body = at + kRecordHeader;
  put_u32_at(out, at, static_cast<uint32_t>(out.size() - body));
  uint32_t crc = crc32c(0, out.data() + at + 4, 1);
  crc = crc32c(crc, out.data() + body, out.size() - body);
  put_u32_at(out, at + 5, crc);
}

}  // namespace

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

void append_promise(std::string& out, const paxos::Ballot& promised) {
  const size_t at = begin_record(out, kPromiseRecord);
  Writer w(out);
  put_ballot(w, promised);
  end_record(out, at);
}

void append_entry(std::string& out, const paxos::Entry& e) {
  const size_t at = begin_record(out, e.chosen ? kChosenRecord : kAcceptRecord);
  Writer w(out);
  w.varint(e.instance);
  put_ballot(w, e.ballot);
  encode_value(*e.value, out);
  end_record(out, at);
}

void append_commit(std::string& out, paxos::Instance commit) {
  const size_t at = begin_record(out, kCommitRecord);
  Writer w(out);
  w.varint(commit);
  end_record(out, at);
}

void append_checkpoint(std::string& out, const paxos::Ballot& promised, paxos::Instance commit) {
  const size_t at = begin_record(out, kCheckpointRecord);
  Writer w(out);
  put_ballot(w, promised);
  w.varint(commit);
  end_record(out, at);
}

}  // namespace paxlock::storage
