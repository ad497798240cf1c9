// The segmented write-ahead log of one replica's acceptor and learner state.
//
// ON-DISK FORMAT (all integers little-endian)
//
// The log is a directory of segment files named `wal-<16 hex digits>.log`,
// numbered from 1 upwards with no gaps. A segment is preallocated to
// `segment_bytes` with zeros (so appends never change its size, and a
// fdatasync need not flush size metadata); a batch larger than what is left
// goes into a fresh segment, which then grows beyond the preallocated size.
//
// Segment header, 32 bytes:
//   0  magic      8 bytes "PXLWAL01"
//   8  index      u64  segment number
//   16 node       u32  node id of the replica that owns the log
//   20 reserved   u64  zero
//   28 crc        u32  CRC32C of bytes 0..27
//
// Then batches, each starting at a multiple of 512 bytes (the gap is zeros), so
// that writing a batch never rewrites a sector of an earlier, synced batch. A
// batch is what one group commit wrote with one write() and one fdatasync();
// the first batch of a segment is its checkpoint:
//   0  magic      u32  0x31425850 ("PXB1")
//   4  length     u32  payload bytes that follow the 24-byte header
//   8  seq        u64  batch sequence number, +1 per batch across segments;
//                      never 2^64-1 (recovery refuses it: its successor would wrap)
//   16 digest     u32  CRC32C of the payload's record checksum fields, in order
//   20 header_crc u32  CRC32C of bytes 0..19
//   24 payload    records, back to back
// After the last batch the segment holds zeros (the preallocated tail).
//
// A record:
//   0  length     u32  body bytes
//   4  type       u8
//   5  crc        u32  CRC32C of the type byte and the body
//   9  body
// Record types and bodies (varint = LEB128, ballot = varint round, varint node):
//   1 Promise     ballot                         the acceptor's promise
//   2 Accept      varint instance, ballot, value accepted (ballot, value)
//   3 Chosen      varint instance, ballot, value a value learned chosen
//   4 Commit      varint instance                every instance below is chosen
//   5 Checkpoint  ballot, varint commit          promise and commit point at the
//                                                start of each segment, so that
//                                                older segments can be deleted
// value = zigzag varint timestamp_ms, varint count, then per command:
//         varint client, varint seq, varint length, payload bytes.
//
// Replay: the highest promise wins, the last Accept/Chosen of an instance
// replaces earlier ones, the highest commit wins.
//
// WHAT A CRASH CAN LEAVE BEHIND, AND WHAT RECOVERY DOES
// A batch is valid when its header checksum, every record's checksum and the
// digest all match and the records fill exactly `length` bytes.
// - Only the last batch can be incomplete: the driver writes a batch only
//   after the previous one was synced, and batches never share a sector. A torn or garbled last
//   batch (bad header or payload checksum, with no valid batch anywhere after it) was never
//   acknowledged: recovery zeroes it and appends after the previous batch.
// - A bad checksum with a valid batch after it, or in any segment but the
//   last, is corruption of synced data: opening fails, naming file and byte
//   offset. (A bit flip in the last batch after it was synced cannot be told
//   from a torn write and is truncated like one.)
// - A new segment is written (header, checkpoint), synced, and its directory
//   entry synced before any batch goes into it. A last segment whose header
//   is bad was being created: recovery removes it.
// - Deleted segments: compaction deletes whole segments below the snapshot
//   point, oldest first; a segment that reappears after a crash is harmless.
// Checksum failures are re-read before they count, so a transient read error
// is not mistaken for corruption.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "paxos/node.h"
#include "storage/fs.h"
#include "storage/log_store.h"
#include "storage/records.h"

namespace paxlock::storage {

struct WalOptions {
  uint64_t segment_bytes = 64ULL << 20;
  bool preallocate = true;
  // Planted bug for the chaos tests (effective only with PAXLOCK_MUTATIONS):
  // sync() returns without fdatasync.
  bool skip_fsync = false;
  // Planted Bug B (effective only with PAXLOCK_MUTATIONS): a segment's
  // checkpoint takes the commit point and promise of the batch being
  // appended, before that batch is written.
  bool checkpoint_unwritten = false;
};

// What recovery found, for logs and status pages.
struct WalRecovery {
  paxos::Restored state;  // log_start is left at 1; the caller sets it
  uint64_t segments = 0;
  uint64_t batches = 0;
  uint64_t records = 0;
  uint64_t truncated_bytes = 0;  // torn tail zeroed
  std::string note;              // what was repaired, if anything
};

namespace wal_detail {
struct BatchView;              // a parsed batch (wal.cc)
enum class BatchAt : uint8_t;  // what starts at a batch position (wal.cc)
}  // namespace wal_detail

class Wal {
 public:
  // Opens the log in `dir` (created if absent), replaying every segment.
  static Result<std::unique_ptr<Wal>> open(Fs& fs, const std::string& dir, paxos::NodeId node,
                                           const WalOptions& options, WalRecovery* recovery);

  // Writes the batch (one write call); durable only after sync().
  Status append(const WriteBatch& batch);
  // fdatasync of everything appended.
  Status sync();
  // Deletes the oldest segments whose instances are all below `start`.
  Status compact(paxos::Instance start);

  uint64_t bytes_appended() const { return bytes_appended_; }
  size_t segment_count() const { return segments_.size(); }
  uint64_t disk_bytes() const;
  // Set once a sync failed: the page cache may no longer match the disk, so
  // the log refuses further writes until the process restarts and recovers.
  bool broken() const { return broken_; }
  // The highest commit point that is on disk (synced), in a Commit record or
  // a checkpoint. For invariant checks: it must never cover an instance whose
  // newest acceptance is not on disk.
  paxos::Instance durable_commit() const { return durable_commit_; }

 private:
  using BatchView = wal_detail::BatchView;
  using BatchAt = wal_detail::BatchAt;

  struct Segment {
    uint64_t index = 0;
    std::string path;
    paxos::Instance max_instance = 0;  // highest Accept/Chosen instance in it
    uint64_t size = 0;                 // file size
  };

  Wal(Fs& fs, std::string dir, paxos::NodeId node, const WalOptions& options);
  Status recover(WalRecovery* recovery);
  Status replay_segment(Segment& seg, bool last, std::map<paxos::Instance, paxos::Entry>& entries,
                        WalRecovery* recovery);
  // Reads the segment into `data` and checks its header; false if it was a
  // half-created last segment, which it removes.
  Result<bool> read_segment(Segment& seg, bool last, std::string& data, WalRecovery* recovery);
  // The first thing at `pos` that is not a valid batch ends the segment's
  // batches: fine for the zeroed tail, zeroed for a torn last batch, an error
  // for corruption before the tail.
  Status end_of_batches(const Segment& seg, bool last, BatchAt at, size_t pos, std::string& data,
                        WalRecovery* recovery);
  Status apply_batch(Segment& seg, const BatchView& b, size_t pos,
                     std::map<paxos::Instance, paxos::Entry>& entries, WalRecovery* recovery);
  // Zeroes what follows the last batch of the last segment if it is not all
  // zeros (a torn header too short to parse).
  Status zero_dirty_tail(const Segment& seg, size_t pos, std::string& data, WalRecovery* recovery);
  Status zero_torn_tail(const Segment& seg, size_t pos, std::string& data, WalRecovery* recovery);
  Status open_segment(uint64_t index);
  Status write_batch(std::string& frame);
  void encode(const WriteBatch& batch, std::string& frame, paxos::Instance& max_instance);
  // The batch is written: its promise and commit point may go into checkpoints.
  void note_written(const WriteBatch& batch);

  Fs& fs_;
  std::string dir_;
  paxos::NodeId node_;
  WalOptions options_;
  std::vector<Segment> segments_;
  std::unique_ptr<File> active_;  // the last segment
  uint64_t offset_ = 0;           // where the next batch goes in the active segment
  uint64_t next_seq_ = 1;
  bool dirty_ = false;
  bool broken_ = false;
  uint64_t bytes_appended_ = 0;
  // What written batches hold (never a batch still being written): the
  // checkpoint of a new segment repeats these.
  paxos::Ballot promised_;
  paxos::Instance commit_ = 0;
  paxos::Instance durable_commit_ = 0;  // see durable_commit()
  // A segment file a failed rotation made and could not remove; the next
  // rotation removes it before creating the same name ("" if none).
  std::string half_created_;
  std::string scratch_;
};

}  // namespace paxlock::storage
