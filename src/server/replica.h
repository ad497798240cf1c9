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
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <unordered_map>

#include "paxos/node.h"
#include "server/state_machine.h"
#include "server/transport.h"
#include "storage/log_store.h"

namespace paxlock::server {

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
};

class Replica {
 public:
  using ReplyFn = std::function<void(const std::string& reply)>;

  Replica(const paxos::Config& config, storage::LogStore& store, Transport& transport,
          StateMachine& state_machine);

  // Restores the core from the store. Call once, first.
  void start(paxos::TimeMs now);

  void tick(paxos::TimeMs now);
  void receive(const paxos::Message& msg);
  // Takes a client command; `reply` runs once it is applied here. Returns
  // false (and never calls `reply`) if the replica is too busy.
  bool submit(paxos::Command cmd, ReplyFn reply);
  // The client stopped waiting (timeout, closed connection).
  void cancel(const paxos::CommandId& id);
  // Forces phase 1 now (leader hand-over, simulator fault).
  void campaign(paxos::TimeMs now);

  // Called with each write once it is durable (tests and the simulator use
  // it to check the acceptors' state; nothing in production sets it).
  void set_durable_observer(std::function<void(const storage::WriteBatch&)> observer) {
    durable_observer_ = std::move(observer);
  }

  const paxos::Node& node() const { return node_; }
  const ReplicaStats& stats() const { return stats_; }
  // False once a write failed: the replica no longer persists, so it must
  // neither promise nor accept (it stops sending the messages that would).
  bool disk_ok() const { return disk_ok_; }

 private:
  void pump();
  void handle(paxos::Ready& ready);
  void start_write();
  void on_written(bool ok);
  void dispatch(paxos::Message&& msg);
  void apply(const paxos::Entry& entry);

  paxos::Node node_;
  storage::LogStore& store_;
  Transport& transport_;
  StateMachine& state_machine_;
  ReplicaStats stats_;

  bool pumping_ = false;
  bool disk_ok_ = true;
  std::deque<paxos::Message> self_inbox_;

  bool write_in_flight_ = false;
  std::vector<paxos::Message> in_flight_messages_;  // leave when the write is durable
  storage::WriteBatch in_flight_copy_;              // only kept for durable_observer_
  std::function<void(const storage::WriteBatch&)> durable_observer_;
  storage::WriteBatch next_write_;
  std::vector<paxos::Message> next_messages_;

  std::unordered_map<paxos::CommandId, ReplyFn, paxos::CommandIdHash> waiting_;
  std::vector<Reply> replies_;  // scratch
};

}  // namespace paxlock::server
