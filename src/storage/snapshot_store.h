// Snapshots of the state machine, one file each, written atomically.
//
// ON-DISK FORMAT: `snap-<16 hex digits of next>.snap` in the snapshot directory
//   0  magic       8 bytes "PXLSNAP1"
//   8  next        u64  first instance NOT covered (the log resumes here)
//   16 length      u64  bytes of state-machine data that follow the header
//   24 data_crc    u32  CRC32C of the data
//   28 header_crc  u32  CRC32C of bytes 0..27
//   32 data        the state machine's own serialisation (protobuf)
//
// WHAT A CRASH CAN LEAVE BEHIND: a snapshot is written to `<name>.tmp`,
// synced, renamed into place and the directory synced; only then are older
// snapshots (and log segments below it) deleted. A crash leaves either the old
// snapshot or the new one in place, plus perhaps a `.tmp` file, which loading
// removes. A newest snapshot that fails its checksum (after rereads) is
// corruption: loading fails, naming the file.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "paxos/types.h"
#include "storage/fs.h"

namespace paxlock::storage {

struct Snapshot {
  paxos::Instance next = 1;  // first instance not covered by `data`
  std::shared_ptr<const std::string> data;
};

class SnapshotStore {
 public:
  SnapshotStore(Fs& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // The newest snapshot, or nullopt if there is none.
  Result<std::optional<Snapshot>> load();
  // Writes `snap` atomically, then deletes every older snapshot.
  Status save(const Snapshot& snap);

  static std::string encode_header(paxos::Instance next, std::string_view data);
  // A whole snapshot file (header and data), as save() writes it.
  static std::string encode(const Snapshot& snap);
  // Parses a whole snapshot file; nullopt if any check fails.
  static std::optional<Snapshot> decode(std::string_view file);
  // `snap-<16 hex digits>.snap`: the name save() gives `next`.
  static std::string file_name(paxos::Instance next);
  static bool is_snapshot_name(const std::string& name);

 private:
  Fs& fs_;
  std::string dir_;
};

}  // namespace paxlock::storage
