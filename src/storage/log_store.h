// The durable-state interface the driver writes through. Both implementations
// run the same NodeStorage (the segmented WAL of wal.h and the snapshots of
// snapshot_store.h) and differ only in where its calls run:
// - ThreadedLogStore (threaded_log_store.h): paxlockd, a disk thread over PosixFs;
// - SimLogStore (tests/sim/sim_log_store.h): the simulator and the unit tests,
//   over the simulated disk (SimFs), completing in simulated time.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "common/status.h"
#include "paxos/node.h"
#include "storage/snapshot_store.h"

namespace paxlock::storage {

// The records of one or more Readys, in order: later entries for the same
// instance replace earlier ones; the promise and the commit point only grow.
struct WriteBatch {
  std::optional<paxos::Ballot> promised;
  std::vector<paxos::Entry> entries;
  paxos::Instance commit = 0;
  // The same records, already encoded in WAL format by add() (empty for a
  // batch assembled field by field; the WAL then encodes it).
  std::string records;

  bool empty() const { return !promised && entries.empty() && commit == 0; }
  void clear() { *this = WriteBatch{}; }
  // Promises and acceptances must be synced before the messages that reveal
  // them leave; a commit point alone can be lost and re-learned.
  bool needs_sync() const { return promised.has_value() || !entries.empty(); }
  // Appends `later` after this batch.
  void merge(WriteBatch&& later);
  // Fills `records` from the fields of a batch assembled field by field.
  void encode_fields();
  void add(const paxos::Ready& ready);
};

// What a replica restarts from.
struct Loaded {
  paxos::Restored log;  // log_start is the snapshot's `next` (1 without one)
  std::optional<Snapshot> snapshot;
  std::string note;  // what recovery repaired, for the log
};

class LogStore {
 public:
  virtual ~LogStore() = default;

  // The durable state (log and newest snapshot), for restore() after a
  // restart; an error (corruption, wrong data directory) stops the replica.
  virtual Result<Loaded> load() = 0;

  // Called once with the outcome of a write or save_snapshot: ok, or the
  // error the disk reported (file, offset, reason), for the driver to log.
  using Done = std::function<void(const Status& status)>;

  // Appends the batch and makes it durable (when it needs_sync()), then calls
  // done with an ok Status; with the error if it could not be written, in
  // which case nothing of it may be relied on. done is never called from
  // inside write(). At most one write is in flight: the driver groups what
  // arrives meanwhile into the next one (group commit).
  virtual void write(WriteBatch batch, Done done) = 0;

  // Makes the snapshot durable and drops the log it covers; done with the
  // error if it could not be written. Never overlaps another save_snapshot.
  virtual void save_snapshot(Snapshot snap, Done done) = 0;

  // Bytes appended to the log since the process started (snapshot trigger).
  virtual uint64_t log_bytes() const = 0;

  // True once an fdatasync failed: the kernel may have dropped the data, so
  // the log refuses every write until the process restarts and recovers
  // from what is really on disk (Wal::broken). Any thread may ask.
  virtual bool broken() const { return false; }
};

}  // namespace paxlock::storage
