#include "driver/replica.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <limits>

#include "common/check.h"

namespace paxlock::driver {

Replica::Replica(const paxos::Config& config, const ReplicaOptions& options,
                 storage::LogStore& store, paxos::Transport& transport,
                 paxos::StateMachine& state_machine)
    : node_(config),
      options_(options),
      store_(store),
      transport_(transport),
      state_machine_(state_machine) {
  state_machine_.set_reply_filter(
      [this](const paxos::CommandId& id) { return waiting_.count(id) > 0; });
}

Status Replica::start(paxos::TimeMs now) {
  now_ = now;
  auto loaded = store_.load();
  if (!loaded.ok()) return loaded.status();
  if (loaded->snapshot) {
    const storage::Snapshot& snap = *loaded->snapshot;
    if (!state_machine_.validate(*snap.data, snap.next) || !state_machine_.restore(*snap.data)) {
      return Status::error(EINVAL, fmt::format("the newest snapshot (next instance {}) does not "
                                               "parse as the state before that instance",
                                               snap.next));
    }
    snapshot_ = snap;
    last_snapshot_next_ = snap.next;
  }
  node_.restore(loaded->log, now);
  node_.set_state_deadline(state_machine_.next_deadline());
  log_bytes_at_snapshot_ = store_.log_bytes();
  pump();
  return {};
}

void Replica::tick(paxos::TimeMs now, paxos::TimeMs wall_ms) {
  now_ = now;
  node_.tick(now, wall_ms);
  log_refusals();
  check_fetch_timeout();
  if (!disk_ok_ && !write_in_flight_ && now_ >= retry_write_at_) start_write();
  pump();
}

void Replica::refresh_clock() {
  if (!options_.clock) return;
  const auto [now, wall_ms] = options_.clock();
  if (now > now_) now_ = now;
  node_.advance_clock(now, wall_ms);
}

void Replica::receive(const paxos::Message& msg) {
  if (msg.to != node_.id()) return;
  refresh_clock();
  switch (msg.type) {
    case paxos::MessageType::kSnapshotRequest:
      on_snapshot_request(msg);
      break;
    case paxos::MessageType::kSnapshotChunk:
      on_snapshot_chunk(msg);
      break;
    default:
      node_.step(msg);
      log_refusals();
  }
  pump();
}

void Replica::log_refusals() {
  const uint64_t refused = node_.stats().messages_refused;
  if (refused == refusals_logged_ || now_ < refusal_log_at_) return;
  // At most one line per interval, whatever a hostile peer sends.
  spdlog::warn("refused {} peer message(s) since the last report; the last: {}",
               refused - refusals_logged_, node_.last_refusal());
  refusals_logged_ = refused;
  refusal_log_at_ = now_ + kRefusalLogIntervalMs;
}

Result<uint64_t> Replica::submit(paxos::Command cmd, ReplyFn reply) {
  const paxos::CommandId id = cmd.id;
  refresh_clock();
  if (node_.propose(std::move(cmd)) != paxos::ProposeStatus::kOk) {
    return Status::error(EBUSY, "replica has too many commands pending");
  }
  const uint64_t tag = ++next_tag_;
  waiting_[id] = Waiting{std::move(reply), tag};
  pump();
  return tag;
}

void Replica::cancel(const paxos::CommandId& id, uint64_t tag) {
  auto it = waiting_.find(id);
  if (it == waiting_.end() || it->second.tag != tag) return;
  waiting_.erase(it);
  node_.abandon(id);
}

void Replica::campaign(paxos::TimeMs now) {
  node_.tick(now);
  node_.campaign();
  pump();
}

void Replica::pump() {
  if (pumping_) return;  // a callback re-entered; the outer loop picks it up
  pumping_ = true;
  for (;;) {
    paxos::Ready ready = node_.take_ready();
    if (ready.empty() && self_inbox_.empty()) break;
    handle(ready);
    while (!self_inbox_.empty()) {
      paxos::Message m = std::move(self_inbox_.front());
      self_inbox_.pop_front();
      node_.step(m);
    }
  }
  pumping_ = false;
}

void Replica::handle(paxos::Ready& ready) {
  // 1. persist (queued for the next write) and 2. sync happen in start_write;
  //    messages that reveal the new state wait for that sync.
  // (A broken store writes nothing again: keep nothing for it.)
  if ((ready.needs_sync() || ready.commit != 0) && !store_.broken()) next_write_.add(ready);
  if (disk_ok_) {
    for (paxos::Message& m : ready.send_after_sync)
      next_messages_.push_back(std::move(m));
  }  // else: never reveal what may not reach the disk; the protocol resends
  // 3. send what depends on nothing durable.
  for (paxos::Message& m : ready.send_now)
    dispatch(std::move(m));
  // 4. apply and 5. answer: chosen values are durable on a quorum already.
  for (const paxos::Entry& e : ready.apply)
    apply(e);
  if (ready.snapshot_from) start_fetch(*ready.snapshot_from);
  if (!write_in_flight_ && (disk_ok_ || now_ >= retry_write_at_)) start_write();
  maybe_snapshot();
}

void Replica::start_write() {
  PAXLOCK_CHECK(!write_in_flight_);
  if (next_write_.empty()) {
    // Nothing new to persist; what waits depended only on earlier, durable writes.
    for (paxos::Message& m : next_messages_)
      dispatch(std::move(m));
    next_messages_.clear();
    return;
  }
  write_in_flight_ = true;
  in_flight_messages_ = std::move(next_messages_);
  next_messages_.clear();
  ++stats_.writes;
  if (next_write_.needs_sync()) ++stats_.synced_writes;
  stats_.records_written += next_write_.entries.size() + (next_write_.promised ? 1 : 0);
  in_flight_batch_ = std::move(next_write_);
  next_write_ = storage::WriteBatch{};
  store_.write(in_flight_batch_, [this](const Status& s) { on_written(s); });
}

void Replica::on_written(const Status& status) {
  PAXLOCK_CHECK(write_in_flight_);
  write_in_flight_ = false;
  if (!status.ok()) {
    // Keep the records for a retry, in front of anything newer; drop every
    // message that depended on them.
    ++stats_.write_failures;
    last_disk_error_ = status;
    if (disk_ok_ || store_.broken()) {  // once per outage, not once per retry
      spdlog::error("node {}: disk write failed: {} ({})", node_.id(), status.message(),
                    store_.broken() ? "the log is broken; restart the replica"
                                    : "retrying; no promise or acknowledgement leaves meanwhile");
    }
    disk_ok_ = false;
    in_flight_messages_.clear();
    next_messages_.clear();
    if (store_.broken()) {
      // A failed fdatasync: nothing will be written again by this process.
      retry_write_at_ = std::numeric_limits<paxos::TimeMs>::max();
      in_flight_batch_ = storage::WriteBatch{};
      next_write_ = storage::WriteBatch{};
      return;
    }
    retry_write_at_ = now_ + options_.disk_retry_ms;
    in_flight_batch_.merge(std::move(next_write_));
    next_write_ = std::move(in_flight_batch_);
    in_flight_batch_ = storage::WriteBatch{};
    return;
  }
  if (!disk_ok_) {
    spdlog::info("node {}: disk writes succeed again ({} failed so far)", node_.id(),
                 stats_.write_failures);
  }
  disk_ok_ = true;
  if (durable_observer_) durable_observer_(in_flight_batch_);
  in_flight_batch_ = storage::WriteBatch{};
  for (paxos::Message& m : in_flight_messages_)
    dispatch(std::move(m));
  in_flight_messages_.clear();
  start_write();
  pump();  // delivers self-addressed messages released above
}

void Replica::dispatch(paxos::Message&& msg) {
  ++stats_.messages_sent;
  if (msg.to == node_.id()) {
    self_inbox_.push_back(std::move(msg));  // delivered by pump()
    return;
  }
  transport_.send(msg);
}

void Replica::apply(const paxos::Entry& entry) {
  replies_.clear();
  state_machine_.apply(entry.instance, *entry.value, replies_);
  ++stats_.instances_applied;
  stats_.commands_applied += entry.value->commands.size();
  node_.set_state_deadline(state_machine_.next_deadline());
  for (paxos::Reply& r : replies_) {
    auto it = waiting_.find(r.id);
    if (it == waiting_.end()) continue;
    ReplyFn fn = std::move(it->second.fn);
    waiting_.erase(it);
    ++stats_.replies_sent;
    fn(r.payload);
  }
}

}  // namespace paxlock::driver
