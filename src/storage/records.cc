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
