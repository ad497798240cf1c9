// What /status and /metrics show: the Prometheus text writer, the disk's
// health, and latency histograms (filled on the event loop and read on the
// status side through a copy taken on the loop).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace paxlock::daemon {

// Prometheus text exposition format (version 0.0.4): the one writer of
// /metrics. A family is its HELP and TYPE lines, then its samples.
class PrometheusText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  // The HELP and TYPE lines of a family; `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view help, std::string_view type);
  // One sample line: name{labels} value.
  void sample(std::string_view name, uint64_t value, Labels labels = {});
  void sample(std::string_view name, double value, Labels labels = {});
  // A family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return out_; }

 private:
  void labels(Labels labels);
  std::string out_;
};

// The disk's state as /status and /metrics show it.
struct DiskHealth {
  bool ok = true;       // writes succeed (false while they fail, or once broken)
  bool broken = false;  // an fdatasync failed: the log refuses every write until a restart
  std::string error;    // the last error the disk reported ("" if none)
  uint64_t log_bytes = 0;
  uint64_t disk_bytes = 0;
  uint64_t write_failures = 0;
};

// The "disk" object of /status.
nlohmann::ordered_json disk_status_json(const DiskHealth& disk);
// paxlock_disk_ok and paxlock_wal_broken.
void disk_metrics(PrometheusText& out, const DiskHealth& disk);
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

  // The family `name` (in seconds), e.g. paxlock_fsync_seconds.
  void write(PrometheusText& out, std::string_view name, std::string_view help) const;
  // The latency below which a share `q` of observations fall (bucket bound).
  uint64_t quantile_us(double q) const;

 private:
  std::array<uint64_t, kBoundsUs.size()> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace paxlock::daemon
