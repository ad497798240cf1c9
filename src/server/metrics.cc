#include "server/metrics.h"

#include <fmt/format.h>

namespace paxlock::server {

std::string Histogram::prometheus(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBoundsUs.size(); ++i) {
    cumulative += counts_[i];
    if (kBoundsUs[i] == UINT64_MAX) {
      out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    } else {
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                         static_cast<double>(kBoundsUs[i]) / 1e6, cumulative);
    }
  }
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, static_cast<double>(sum_us_) / 1e6, name,
                     count_);
  return out;
}

uint64_t Histogram::quantile_us(double q) const {
  if (count_ == 0) return 0;
  const auto target = static_cast<uint64_t>(q * static_cast<double>(count_));
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBoundsUs.size(); ++i) {
    cumulative += counts_[i];
    if (cumulative > target) return kBoundsUs[i];
  }
  return kBoundsUs.back();
}

}  // namespace paxlock::server
