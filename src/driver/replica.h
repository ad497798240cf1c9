// The driver of one replica: feeds the consensus core and carries out what it
// asks for, in the one safe order:
//   persist -> sync -> send -> apply -> answer.
// The same code runs in paxlockd (POSIX disk, TCP, steady clock) and in the
// simulator (simulated disk, network and time), so the simulator tests the
// real ordering.
//
// Group commit: while one write is being synced, the records of every Ready
// that arrives go into the next write, together with the messages that must
// wait for them; when the sync completes, its messages leave and the next
// write starts.
//
// Snapshots: every `snapshot_every_instances` applied instances (or
// `snapshot_every_bytes` of log) the state machine is serialised and saved;
// the log below it is then dropped. A peer that needs compacted instances
// fetches the snapshot in checksummed chunks (replica_snapshot.cc).
//
// Disk errors: a failed write is kept and retried every `disk_retry_ms`;
// until a write succeeds, nothing that depends on the disk (promises,
// acknowledgements) leaves the node. After a failed fdatasync the store is
// broken for good (LogStore::broken): the replica stops writing and never
// again promises or acknowledges; it still learns and applies what the
// others choose, and answers its clients from that. Restart it.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/status.h"
#include "paxos/node.h"
#include "paxos/state_machine.h"
#include "paxos/transport.h"
#include "storage/log_store.h"

namespace paxlock::driver {

struct ReplicaOptions {
  paxos::Instance snapshot_every_instances = 10000;
  uint64_t snapshot_every_bytes = 64ULL << 20;
  size_t snapshot_chunk_bytes = 256 << 10;
  paxos::TimeMs snapshot_fetch_timeout_ms = 1000;
  int snapshot_fetch_attempts = 10;
  // A snapshot fetched from a peer may not be larger than this: a `total`
  // above it (a confused or hostile peer) is refused before any memory is
  // spent on it.
  uint64_t snapshot_fetch_max_bytes = 1ULL << 30;
  paxos::TimeMs disk_retry_ms = 200;
  // The clocks as tick() takes them: (monotonic ms, wall ms or -1). If set,
  // the replica reads them before each message and command it hands to the
  // core (Node::advance_clock), so that batch stamps are never older than
  // the commands in them, however long the event loop stalled.
  std::function<std::pair<paxos::TimeMs, paxos::TimeMs>()> clock;
};

// Counters for metrics; they only ever grow.
struct ReplicaStats {
  uint64_t writes = 0;
  uint64_t synced_writes = 0;
  uint64_t records_written = 0;
  uint64_t messages_sent = 0;
  uint64_t instances_applied = 0;
  uint64_t commands_applied = 0;
  uint64_t replies_sent = 0;
  uint64_t write_failures = 0;
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_installed = 0;
  uint64_t snapshot_chunks_sent = 0;
  uint64_t snapshot_chunks_rejected = 0;
  uint64_t snapshot_save_failures = 0;
};

class Replica {
 public:
  using ReplyFn = std::function<void(const std::string& reply)>;

  Replica(const paxos::Config& config, const ReplicaOptions& options, storage::LogStore& store,
          paxos::Transport& transport, paxos::StateMachine& state_machine);

  // Loads the store and restores the state machine and the core. Call once,
  // first; an error (corruption, wrong data directory) means do not serve.
  Status start(paxos::TimeMs now);

  // `now` monotonic; `wall_ms` the wall clock for batch timestamps (-1: use now).
  void tick(paxos::TimeMs now, paxos::TimeMs wall_ms = -1);
  void receive(const paxos::Message& msg);
  // Takes a client command; `reply` runs once it is applied here. Returns a
  // tag naming this wait, or an EBUSY Status (and never calls `reply`) if the
  // replica has too many commands pending: the client should back off. A
  // second submit of the same command replaces the first wait.
  Result<uint64_t> submit(paxos::Command cmd, ReplyFn reply);
  // The client stopped waiting (timeout, closed connection); `tag` from
  // submit, so that an old connection cannot cancel a newer wait.
  void cancel(const paxos::CommandId& id, uint64_t tag);
  size_t waiting() const { return waiting_.size(); }
  // Forces phase 1 now (leader hand-over, simulator fault).
  void campaign(paxos::TimeMs now);

  // Called with each write once it is durable (tests and the simulator use
  // it to check the acceptors' state; nothing in production sets it).
  void set_durable_observer(std::function<void(const storage::WriteBatch&)> observer) {
    durable_observer_ = std::move(observer);
  }

  const paxos::Node& node() const { return node_; }
  const ReplicaStats& stats() const { return stats_; }
  // False while writes fail: the replica neither promises nor accepts.
  bool disk_ok() const { return disk_ok_; }
  // True once a failed fdatasync broke the log: only a restart recovers.
  bool disk_broken() const { return store_.broken(); }
  // The last error the store reported for a write or a snapshot save (ok if
  // none yet); it stays after the disk recovers, for the status page.
  const Status& last_disk_error() const { return last_disk_error_; }
  paxos::Instance snapshot_next() const { return snapshot_ ? snapshot_->next : 0; }

 private:
  struct Fetch {
    paxos::NodeId peer = 0;
    paxos::Instance next = 0;  // 0 until the first chunk names it
    uint64_t offset = 0;
    uint64_t total = 0;  // the size the first chunk announced
    std::string data;
    paxos::TimeMs deadline = 0;
    int attempts = 0;
  };

  void refresh_clock();
  void log_refusals();
  void pump();
  void handle(paxos::Ready& ready);
  void start_write();
  void on_written(const Status& status);
  void dispatch(paxos::Message&& msg);
  void apply(const paxos::Entry& entry);

  // replica_snapshot.cc
  void maybe_snapshot();
  void on_snapshot_saved(const storage::Snapshot& snap, bool installed, const Status& status);
  void start_fetch(paxos::NodeId peer);
  void request_chunk();
  void on_snapshot_request(const paxos::Message& m);
  void on_snapshot_chunk(const paxos::Message& m);
  void install(storage::Snapshot snap);
  void check_fetch_timeout();

  paxos::Node node_;
  ReplicaOptions options_;
  storage::LogStore& store_;
  paxos::Transport& transport_;
  paxos::StateMachine& state_machine_;
  ReplicaStats stats_;
  paxos::TimeMs now_ = 0;
  static constexpr paxos::TimeMs kRefusalLogIntervalMs = 5000;
  uint64_t refusals_logged_ = 0;
  paxos::TimeMs refusal_log_at_ = 0;

  bool pumping_ = false;
  std::deque<paxos::Message> self_inbox_;

  // Writes (group commit).
  bool write_in_flight_ = false;
  storage::WriteBatch in_flight_batch_;             // kept to retry if it fails
  std::vector<paxos::Message> in_flight_messages_;  // leave when the write is durable
  storage::WriteBatch next_write_;
  std::vector<paxos::Message> next_messages_;
  bool disk_ok_ = true;
  paxos::TimeMs retry_write_at_ = 0;
  Status last_disk_error_;
  std::function<void(const storage::WriteBatch&)> durable_observer_;

  // Snapshots.
  std::optional<storage::Snapshot> snapshot_;  // newest durable one, served to peers
  bool snapshot_saving_ = false;
  paxos::Instance last_snapshot_next_ = 1;
  uint64_t log_bytes_at_snapshot_ = 0;
  std::optional<Fetch> fetch_;
  std::optional<storage::Snapshot> pending_install_;
  uint64_t snapshot_failures_logged_ = 0;  // snapshot_save_failures before this outage

  struct Waiting {
    ReplyFn fn;
    uint64_t tag;
  };
  std::unordered_map<paxos::CommandId, Waiting, paxos::CommandIdHash> waiting_;
  uint64_t next_tag_ = 0;
  std::vector<paxos::Reply> replies_;  // scratch
};

}  // namespace paxlock::driver
