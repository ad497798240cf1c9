#include "storage/log_store.h"

#include <algorithm>

#include "storage/records.h"

namespace paxlock::storage {

void WriteBatch::encode_fields() {
  if (!records.empty() || empty()) return;
  if (promised) append_promise(records, *promised);
  for (const paxos::Entry& e : entries)
    append_entry(records, e);
  if (commit != 0) append_commit(records, commit);
}

void WriteBatch::merge(WriteBatch&& later) {
  encode_fields();
  later.encode_fields();
  if (later.promised && (!promised || *promised < *later.promised)) promised = later.promised;
  if (entries.empty()) {
    entries = std::move(later.entries);
  } else {
    entries.insert(entries.end(), std::make_move_iterator(later.entries.begin()),
                   std::make_move_iterator(later.entries.end()));
  }
  commit = std::max(commit, later.commit);
  if (records.empty()) {
    records = std::move(later.records);
  } else {
    records += later.records;
  }
}

void WriteBatch::add(const paxos::Ready& ready) {
  if (ready.promised) {
    append_promise(records, *ready.promised);
    if (!promised || *promised < *ready.promised) promised = ready.promised;
  }
  for (const paxos::Entry& e : ready.entries)
    append_entry(records, e);
  entries.insert(entries.end(), ready.entries.begin(), ready.entries.end());
  if (ready.commit != 0) append_commit(records, ready.commit);
  commit = std::max(commit, ready.commit);
}

}  // namespace paxlock::storage
