// Snapshots in the driver: taking them, serving them to peers in checksummed
// chunks, and fetching and installing one when the core says that the
// instances it needs were compacted away everywhere it asked.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "driver/replica.h"
#include "storage/crc32c.h"

namespace paxlock::driver {

void Replica::maybe_snapshot() {
  if (snapshot_saving_) return;
  if (pending_install_) {
    storage::Snapshot snap = std::move(*pending_install_);
    pending_install_.reset();
    install(std::move(snap));
    return;
  }
  const paxos::Instance next = node_.next_apply();
  const bool by_count = next >= last_snapshot_next_ + options_.snapshot_every_instances;
  const bool by_bytes =
      store_.log_bytes() >= log_bytes_at_snapshot_ + options_.snapshot_every_bytes &&
      next > last_snapshot_next_;
  if (!by_count && !by_bytes) return;
  storage::Snapshot snap{next, std::make_shared<const std::string>(state_machine_.snapshot())};
  snapshot_saving_ = true;
  last_snapshot_next_ = next;
  log_bytes_at_snapshot_ = store_.log_bytes();
  store_.save_snapshot(snap, [this, snap](const Status& s) { on_snapshot_saved(snap, false, s); });
}

void Replica::on_snapshot_saved(const storage::Snapshot& snap, bool installed,
                                const Status& status) {
  snapshot_saving_ = false;
  if (!status.ok()) {
    last_disk_error_ = status;
    if (stats_.snapshot_save_failures++ == snapshot_failures_logged_) {  // once per outage
      spdlog::error("node {}: could not save the snapshot at instance {} ({}): {}; retrying",
                    node_.id(), snap.next, installed ? "fetched from a peer" : "taken here",
                    status.message());
    }
  } else if (stats_.snapshot_save_failures != snapshot_failures_logged_) {
    spdlog::info("node {}: snapshot saved at instance {} after {} failed attempts", node_.id(),
                 snap.next, stats_.snapshot_save_failures - snapshot_failures_logged_);
    snapshot_failures_logged_ = stats_.snapshot_save_failures;
  }
  if (status.ok()) {
    if (installed && snap.next > node_.next_apply()) {
      // Validated before it was saved, so it parses.
      PAXLOCK_CHECK(state_machine_.restore(*snap.data));
      node_.install_snapshot(snap.next);
      node_.set_state_deadline(state_machine_.next_deadline());
      ++stats_.snapshots_installed;
    } else if (!installed) {
      ++stats_.snapshots_taken;
    }
    if (!snapshot_ || snapshot_->next < snap.next) snapshot_ = snap;
    last_snapshot_next_ = std::max(last_snapshot_next_, snap.next);
    node_.compact(std::min(snap.next, node_.next_apply()));
  } else if (!installed) {
    last_snapshot_next_ = snapshot_ ? snapshot_->next : 1;  // try again later
  }
  pump();
}

void Replica::start_fetch(paxos::NodeId peer) {
  if (fetch_ || pending_install_ || peer == node_.id()) return;
  fetch_ = Fetch{};
  fetch_->peer = peer;
  request_chunk();
}

void Replica::request_chunk() {
  paxos::Message m;
  m.type = paxos::MessageType::kSnapshotRequest;
  m.from = node_.id();
  m.to = fetch_->peer;
  m.offset = fetch_->offset;
  fetch_->deadline = now_ + options_.snapshot_fetch_timeout_ms;
  dispatch(std::move(m));
}

void Replica::check_fetch_timeout() {
  if (!fetch_ || now_ < fetch_->deadline) return;
  if (++fetch_->attempts >= options_.snapshot_fetch_attempts) {
    fetch_.reset();  // the core asks again if it still needs one
    return;
  }
  request_chunk();
}

void Replica::on_snapshot_request(const paxos::Message& m) {
  paxos::Message r;
  r.type = paxos::MessageType::kSnapshotChunk;
  r.from = node_.id();
  r.to = m.from;
  if (!snapshot_ || m.offset > snapshot_->data->size()) {
    r.total = 0;  // nothing to offer: the requester gives up and asks again later
    dispatch(std::move(r));
    return;
  }
  const std::string& data = *snapshot_->data;
  r.instance = snapshot_->next;
  r.offset = m.offset;
  r.total = data.size();
  r.data = data.substr(m.offset, options_.snapshot_chunk_bytes);
  r.crc = storage::crc32c(r.data);
  ++stats_.snapshot_chunks_sent;
  dispatch(std::move(r));
}

void Replica::on_snapshot_chunk(const paxos::Message& m) {
  if (!fetch_ || m.from != fetch_->peer) return;
  if (m.total == 0 || m.instance == 0) {
    fetch_.reset();
    return;
  }
  if (m.instance > paxos::kInstanceMax) {
    // No log gets there (paxos/types.h): the peer is broken or hostile.
    ++stats_.snapshot_chunks_rejected;
    fetch_.reset();
    return;
  }
  if (storage::crc32c(m.data) != m.crc) {
    ++stats_.snapshot_chunks_rejected;
    request_chunk();  // damaged in flight: ask for the same bytes again
    return;
  }
  if (m.total > options_.snapshot_fetch_max_bytes) {
    // Refused before a byte is kept: never grow toward a size we do not accept.
    ++stats_.snapshot_chunks_rejected;
    spdlog::error(
        "node {}: refusing the snapshot at instance {} from node {}: {} bytes is over "
        "snapshot_fetch_max_bytes ({})",
        node_.id(), m.instance, m.from, m.total, options_.snapshot_fetch_max_bytes);
    fetch_.reset();  // the core asks again if it still needs one
    return;
  }
  if (fetch_->next == 0) {
    if (m.offset != 0) return;  // a stale answer; ours is on its way
    fetch_->next = m.instance;
    fetch_->total = m.total;
  } else if (fetch_->next != m.instance) {
    // The peer took a newer snapshot meanwhile: start over with that one.
    fetch_->next = 0;
    fetch_->offset = 0;
    fetch_->total = 0;
    fetch_->data.clear();
    request_chunk();
    return;
  }
  if (m.offset != fetch_->offset) return;  // a duplicate
  if (m.total != fetch_->total || m.data.size() > fetch_->total - fetch_->offset) {
    // The same snapshot cannot change size, and a chunk cannot run past its
    // end: the peer is confused. Drop what we have; the core asks again.
    ++stats_.snapshot_chunks_rejected;
    if (m.total != fetch_->total) {
      spdlog::error(
          "node {}: refusing a snapshot chunk from node {}: the snapshot at instance {} "
          "was announced with {} bytes, this chunk says {}; dropping the fetch",
          node_.id(), m.from, m.instance, fetch_->total, m.total);
    } else {
      spdlog::error(
          "node {}: refusing a snapshot chunk from node {}: {} bytes at offset {} run "
          "past the end of the snapshot at instance {} ({} bytes); dropping the fetch",
          node_.id(), m.from, m.data.size(), m.offset, m.instance, m.total);
    }
    fetch_.reset();
    return;
  }
  if (m.data.empty() && fetch_->offset < m.total) return;
  fetch_->data += m.data;
  fetch_->offset += m.data.size();
  fetch_->attempts = 0;
  if (fetch_->offset < m.total) {
    request_chunk();
    return;
  }
  storage::Snapshot snap{fetch_->next,
                         std::make_shared<const std::string>(std::move(fetch_->data))};
  fetch_.reset();
  if (snap.next <= node_.next_apply()) return;  // caught up some other way
  if (!state_machine_.validate(*snap.data, snap.next)) {
    ++stats_.snapshot_chunks_rejected;  // a peer sent nonsense; never install it
    return;
  }
  install(std::move(snap));
}

void Replica::install(storage::Snapshot snap) {
  if (snapshot_saving_) {
    pending_install_ = std::move(snap);
    return;
  }
  // Durable first, then in memory: a crash in between restarts from it.
  snapshot_saving_ = true;
  store_.save_snapshot(snap, [this, snap](const Status& s) { on_snapshot_saved(snap, true, s); });
}

}  // namespace paxlock::driver
