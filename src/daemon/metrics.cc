#include "daemon/metrics.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace paxlock::daemon {

void PrometheusText::family(std::string_view name, std::string_view help, std::string_view type) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::labels(Labels labels) {
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += key;
    out_ += "=\"";
    for (const char c : value) {
      if (c == '\\' || c == '"') {
        out_ += '\\';
        out_ += c;
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  out_ += '}';
}

void PrometheusText::sample(std::string_view name, uint64_t value, Labels l) {
  out_ += name;
  labels(l);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusText::sample(std::string_view name, double value, Labels l) {
  out_ += name;
  labels(l);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusText::counter(std::string_view name, std::string_view help, uint64_t value) {
  family(name, help, "counter");
  sample(name, value);
}

void PrometheusText::gauge(std::string_view name, std::string_view help, double value) {
  family(name, help, "gauge");
  sample(name, value);
}

nlohmann::ordered_json disk_status_json(const DiskHealth& disk) {
  return {{"ok", disk.ok && !disk.broken && disk.error.empty()},
          {"broken", disk.broken},
          {"error", disk.error},
          {"log_bytes", disk.log_bytes},
          {"disk_bytes", disk.disk_bytes},
          {"write_failures", disk.write_failures}};
}

void disk_metrics(PrometheusText& out, const DiskHealth& disk) {
  out.gauge("paxlock_disk_ok", "0 while disk writes fail.", disk.ok && !disk.broken ? 1 : 0);
  out.gauge("paxlock_wal_broken",
            "1 once an fdatasync failed: the replica stopped writing, promising and "
            "acknowledging until it is restarted.",
            disk.broken ? 1 : 0);
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

void Histogram::write(PrometheusText& out, std::string_view name, std::string_view help) const {
  out.family(name, help, "histogram");
  const std::string bucket = fmt::format("{}_bucket", name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBoundsUs.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = kBoundsUs[i] == UINT64_MAX
                               ? std::string("+Inf")
                               : fmt::format("{}", static_cast<double>(kBoundsUs[i]) / 1e6);
    out.sample(bucket, cumulative, {{"le", le}});
  }
  out.sample(fmt::format("{}_sum", name), static_cast<double>(sum_us_) / 1e6);
  out.sample(fmt::format("{}_count", name), count_);
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
