#include "storage/log_store.h"

#include <algorithm>

namespace paxlock::storage {

void WriteBatch::merge(WriteBatch&& later) {
  if (later.promised && (!promised || *promised < *later.promised)) promised = later.promised;
  if (entries.empty()) {
    entries = std::move(later.entries);
  } else {
    entries.insert(entries.end(), std::make_move_iterator(later.entries.begin()),
                   std::make_move_iterator(later.entries.end()));
  }
  commit = std::max(commit, later.commit);
}

void WriteBatch::add(const paxos::Ready& ready) {
  if (ready.promised && (!promised || *promised < *ready.promised)) promised = ready.promised;
  entries.insert(entries.end(), ready.entries.begin(), ready.entries.end());
  commit = std::max(commit, ready.commit);
}

}  // namespace paxlock::storage
