#include "paxos/log.h"

#include "common/check.h"

namespace paxlock::paxos {

const Slot* InstanceLog::find(Instance i) const {
  if (i < start_ || i >= end()) return nullptr;
  return &slots_[i - start_];
}

Slot* InstanceLog::find(Instance i) {
  if (i < start_ || i >= end()) return nullptr;
  return &slots_[i - start_];
}

Slot& InstanceLog::at(Instance i) {
  PAXLOCK_CHECK(i >= start_);
  if (i >= end()) slots_.resize(i - start_ + 1);
  return slots_[i - start_];
}

void InstanceLog::compact(Instance new_start) {
  while (start_ < new_start && !slots_.empty()) {
    PAXLOCK_CHECK_MSG(slots_.front().chosen, "compacting an instance not known chosen");
    slots_.pop_front();
    ++start_;
  }
  if (start_ < new_start) start_ = new_start;
}

void InstanceLog::discard_below(Instance new_start) {
  while (start_ < new_start && !slots_.empty()) {
    slots_.pop_front();
    ++start_;
  }
  if (start_ < new_start) start_ = new_start;
}

void InstanceLog::reset(Instance new_start) {
  slots_.clear();
  start_ = new_start;
}

}  // namespace paxlock::paxos
