#include "storage/mem_log_store.h"

#include <algorithm>

#include "common/check.h"

namespace paxlock::storage {

paxos::Restored MemLogStore::load() {
  paxos::Restored r;
  r.promised = promised_;
  r.commit = commit_;
  r.entries.reserve(entries_.size());
  for (const auto& [i, e] : entries_)
    r.entries.push_back(e);
  return r;
}

void MemLogStore::write(WriteBatch batch, std::function<void(bool)> done) {
  PAXLOCK_CHECK_MSG(!done_, "a second write while one is in flight");
  in_flight_ = std::move(batch);
  done_ = std::move(done);
  if (on_write_) on_write_();
}

void MemLogStore::make_durable(const WriteBatch& batch) {
  if (batch.promised) promised_ = std::max(promised_, *batch.promised);
  for (const paxos::Entry& e : batch.entries)
    entries_[e.instance] = e;
  commit_ = std::max(commit_, batch.commit);
  durable_records_ += batch.entries.size() + (batch.promised ? 1 : 0) + (batch.commit ? 1 : 0);
}

void MemLogStore::complete_write() {
  PAXLOCK_CHECK(done_);
  make_durable(in_flight_);
  in_flight_ = WriteBatch{};
  auto done = std::move(done_);
  done_ = nullptr;
  done(true);
}

void MemLogStore::crash(paxos::Rng& rng) {
  if (!done_) return;
  // Records in write order: the promise first, then the entries, then the
  // commit point. Keep a random prefix of them.
  const size_t total =
      (in_flight_.promised ? 1 : 0) + in_flight_.entries.size() + (in_flight_.commit ? 1 : 0);
  size_t keep = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(total)));
  WriteBatch kept;
  if (in_flight_.promised && keep > 0) {
    kept.promised = in_flight_.promised;
    --keep;
  }
  for (size_t i = 0; i < in_flight_.entries.size() && keep > 0; ++i, --keep) {
    kept.entries.push_back(in_flight_.entries[i]);
  }
  if (in_flight_.commit && keep > 0) kept.commit = in_flight_.commit;
  make_durable(kept);
  in_flight_ = WriteBatch{};
  done_ = nullptr;
}

}  // namespace paxlock::storage
