// The standard process_* metrics of a Prometheus exporter (CPU, memory,
// file descriptors, start time), read from /proc/self. The parsers are pure
// (unit-tested on captured text); process_metrics() reads the files, each at
// most kProcReadMax bytes, and leaves out a family whose file it cannot read
// or parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/metrics.h"

namespace paxlock::daemon {

inline constexpr size_t kProcReadMax = 64 << 10;

// The fields of /proc/<pid>/stat that the metrics use (proc(5)).
struct ProcStat {
  uint64_t utime_ticks = 0;  // field 14
  uint64_t stime_ticks = 0;  // field 15
  uint64_t start_ticks = 0;  // field 22: start time after boot, in clock ticks
  uint64_t vsize_bytes = 0;  // field 23
  uint64_t rss_pages = 0;    // field 24
};

// nullopt if `text` is not a stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses: fields are counted
// after its last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The "btime" line of /proc/stat: the boot time in seconds since the epoch.
std::optional<uint64_t> parse_boot_time(std::string_view proc_stat);
// The soft limit of the "Max open files" line of /proc/<pid>/limits
// (UINT64_MAX for "unlimited").
std::optional<uint64_t> parse_max_open_files(std::string_view limits);

// Up to `max` bytes of a file (procfs files have no size to stat); nullopt
// if it cannot be opened or read.
std::optional<std::string> read_small_file(const std::string& path, size_t max = kProcReadMax);

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds,
// process_open_fds and process_max_fds of this process.
void process_metrics(PrometheusText& out);

}  // namespace paxlock::daemon
