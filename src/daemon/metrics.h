// Prometheus-style latency histograms, filled on the event loop and read on
// the status side through a copy taken on the loop.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace paxlock::daemon {

// The disk's state as /status and /metrics show it.
struct DiskHealth {
  bool ok = true;       // writes succeed (false while they fail, or once broken)
  bool broken = false;  // an fdatasync failed: the log refuses every write until a restart
  std::string error;    // the last error the disk reported ("" if none)
  uint64_t log_bytes = 0;
  uint64_t disk_bytes = 0;
  uint64_t write_failures = 0;
};

// A string's content for a JSON string literal (quotes not included).
std::string json_escape(const std::string& s);

// The "disk" object of /status.
std::string disk_status_json(const DiskHealth& disk);
// paxlock_disk_ok and paxlock_wal_broken, Prometheus text.
std::string disk_metrics(const DiskHealth& disk);
// The error line paxlockd logs (once) when the log breaks.
std::string wal_broken_message(const DiskHealth& disk);

class Histogram {
 public:
  // Upper bounds in microseconds: 50 us to 10 s.
  static constexpr std::array<uint64_t, 18> kBoundsUs = {
      50,    100,    250,    500,    1000,    2500,    5000,    10000,    25000,
      50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, UINT64_MAX};

  void observe_us(uint64_t us) {
    for (size_t i = 0; i < kBoundsUs.size(); ++i) {
      if (us <= kBoundsUs[i]) {
        ++counts_[i];
        break;
      }
    }
    ++count_;
    sum_us_ += us;
  }
  uint64_t count() const { return count_; }

  // Prometheus text for `name` (seconds), e.g. paxlock_fsync_seconds.
  std::string prometheus(const std::string& name, const std::string& help) const;
  // The latency below which a share `q` of observations fall (bucket bound).
  uint64_t quantile_us(double q) const;

 private:
  std::array<uint64_t, kBoundsUs.size()> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace paxlock::daemon
