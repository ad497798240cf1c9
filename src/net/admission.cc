#include "net/admission.h"

#include <algorithm>

#include "common/check.h"

namespace paxlock::net {

Admission::Verdict Admission::admit(const std::string& source, SteadyTime now) {
  if (connections_ >= limits_.connections_max) return Verdict::kPortFull;
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= AdmissionLimits::kSourcesMax) prune(now);
    if (sources_.size() >= AdmissionLimits::kSourcesMax) return Verdict::kPortFull;
    it = sources_.emplace(source, Source{0, limits_.hello_burst, now}).first;
  }
  if (it->second.connections >= limits_.per_source_max) return Verdict::kSourceFull;
  ++it->second.connections;
  ++connections_;
  return Verdict::kAdmit;
}

void Admission::release(const std::string& source) {
  auto it = sources_.find(source);
  PAXLOCK_CHECK(it != sources_.end());
  PAXLOCK_CHECK(it->second.connections > 0);
  PAXLOCK_CHECK(connections_ > 0);
  --it->second.connections;
  --connections_;
  // Kept while its bucket refills (as of its last hello): closing every
  // connection must not reset a source's hello budget. prune() forgets it
  // later.
  if (it->second.connections == 0 && it->second.tokens >= limits_.hello_burst) {
    sources_.erase(it);
  }
}

bool Admission::allow_hello(const std::string& source, SteadyTime now) {
  if (limits_.hellos_per_second <= 0) return true;
  auto it = sources_.find(source);
  if (it == sources_.end()) return false;  // only admitted connections send hellos
  Source& s = it->second;
  refill(s, now);
  if (s.tokens < 1) return false;
  s.tokens -= 1;
  return true;
}

size_t Admission::connections_from(const std::string& source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.connections;
}

void Admission::refill(Source& s, SteadyTime now) const {
  if (now <= s.refilled) return;
  const double seconds = std::chrono::duration<double>(now - s.refilled).count();
  s.tokens = std::min(limits_.hello_burst, s.tokens + seconds * limits_.hellos_per_second);
  s.refilled = now;
}

void Admission::prune(SteadyTime now) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    refill(it->second, now);
    if (it->second.connections == 0 && it->second.tokens >= limits_.hello_burst) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
}

AdmissionSlot::AdmissionSlot(std::shared_ptr<Admission> admission, std::string source)
    : admission_(std::move(admission)), source_(std::move(source)) {}

AdmissionSlot::~AdmissionSlot() {
  if (admission_) admission_->release(source_);
}

AdmissionSlot::AdmissionSlot(AdmissionSlot&& other) noexcept
    : admission_(std::move(other.admission_)), source_(std::move(other.source_)) {
  other.admission_.reset();
}

std::chrono::milliseconds sweep_period(const TimeLimits& limits) {
  const auto shortest = std::min({limits.hello, limits.frame, limits.idle});
  return std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(20),
                                               std::chrono::milliseconds(1000));
}

Expiry expiry(const Activity& a, SteadyTime now, const TimeLimits& limits) {
  if (!a.greeted && now - a.opened >= limits.hello) return Expiry::kHello;
  if (a.partial_since && now - *a.partial_since >= limits.frame) return Expiry::kFrame;
  if (a.greeted && !a.busy && now - a.last_frame >= limits.idle) return Expiry::kIdle;
  return Expiry::kNone;
}

}  // namespace paxlock::net
