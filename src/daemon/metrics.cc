#include "daemon/metrics.h"

#include <fmt/format.h>

namespace paxlock::daemon {

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string disk_status_json(const DiskHealth& disk) {
  return fmt::format(
      "{{\"ok\": {}, \"broken\": {}, \"error\": \"{}\", \"log_bytes\": {}, "
      "\"disk_bytes\": {}, \"write_failures\": {}}}",
      disk.ok && !disk.broken && disk.error.empty(), disk.broken, json_escape(disk.error),
      disk.log_bytes, disk.disk_bytes, disk.write_failures);
}

std::string disk_metrics(const DiskHealth& disk) {
  return fmt::format(
      "# HELP paxlock_disk_ok 0 while disk writes fail.\n"
      "# TYPE paxlock_disk_ok gauge\n"
      "paxlock_disk_ok {}\n"
      "# HELP paxlock_wal_broken 1 once an fdatasync failed: the replica stopped writing, "
      "promising and acknowledging until it is restarted.\n"
      "# TYPE paxlock_wal_broken gauge\n"
      "paxlock_wal_broken {}\n",
      disk.ok && !disk.broken ? 1 : 0, disk.broken ? 1 : 0);
}

std::string wal_broken_message(const DiskHealth& disk) {
  return fmt::format(
      "DISK FAILURE: an fdatasync of the write-ahead log failed ({}). The kernel may have "
      "dropped the data, so this replica no longer writes, promises or acknowledges anything; "
      "it keeps answering from what the others choose. Restart it to recover from what is on "
      "disk; if it fails again, replace the disk (docs/OPERATIONS.md, \"When a disk fills up or "
      "fails\")",
      disk.error.empty() ? "no detail" : disk.error);
}

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

}  // namespace paxlock::daemon
