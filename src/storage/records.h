// Encoding of WAL records (format in wal.h). Records are encoded when they
// are added to a WriteBatch, on the driver's thread, while the previous write
// is still being synced; the disk thread only frames, writes and syncs.
#pragma once

#include <cstdint>
#include <string>

#include "common/encoding.h"
#include "paxos/types.h"
#include "paxos/value_codec.h"

namespace paxlock::storage {

enum RecordType : uint8_t {
  kPromiseRecord = 1,
  kAcceptRecord = 2,
  kChosenRecord = 3,
  kCommitRecord = 4,
  kCheckpointRecord = 5,
};

constexpr size_t kRecordHeader = 9;  // length u32, type u8, crc u32

void append_promise(std::string& out, const paxos::Ballot& promised);
void append_entry(std::string& out, const paxos::Entry& entry);
void append_commit(std::string& out, paxos::Instance commit);
void append_checkpoint(std::string& out, const paxos::Ballot& promised, paxos::Instance commit);

// Records embed values and ballots in the core's canonical bytes.
using paxos::decode_value;
using paxos::encode_value;
using paxos::get_ballot;
using paxos::put_ballot;

}  // namespace paxlock::storage
