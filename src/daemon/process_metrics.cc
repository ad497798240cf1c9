#include "daemon/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace paxlock::daemon {
namespace {

// The next whitespace-separated token of `s` from `pos` (empty at the end).
std::string_view next_token(std::string_view s, size_t& pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n'))
    ++pos;
  const size_t begin = pos;
  while (pos < s.size() && s[pos] != ' ' && s[pos] != '\t' && s[pos] != '\n')
    ++pos;
  return s.substr(begin, pos - begin);
}

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Signed fields (rss may be reported negative by some kernels): clamp at 0.
std::optional<uint64_t> to_u64_clamped(std::string_view s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return to_u64(s);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

std::optional<uint64_t> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  uint64_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the descriptor of the listing itself
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  // Fields 3.. follow the command name; keep 14, 15, 22, 23 and 24.
  size_t pos = close + 1;
  ProcStat st;
  for (int field = 3; field <= 24; ++field) {
    const std::string_view tok = next_token(text, pos);
    if (tok.empty()) return std::nullopt;
    std::optional<uint64_t> v;
    switch (field) {
      case 14:
        if (!(v = to_u64(tok))) return std::nullopt;
        st.utime_ticks = *v;
        break;
      case 15:
        if (!(v = to_u64(tok))) return std::nullopt;
        st.stime_ticks = *v;
        break;
      case 22:
        if (!(v = to_u64(tok))) return std::nullopt;
        st.start_ticks = *v;
        break;
      case 23:
        if (!(v = to_u64(tok))) return std::nullopt;
        st.vsize_bytes = *v;
        break;
      case 24:
        if (!(v = to_u64_clamped(tok))) return std::nullopt;
        st.rss_pages = *v;
        break;
      default:
        break;
    }
  }
  return st;
}

std::optional<uint64_t> parse_boot_time(std::string_view proc_stat) {
  size_t line = 0;
  while (line < proc_stat.size()) {
    size_t end = proc_stat.find('\n', line);
    if (end == std::string_view::npos) end = proc_stat.size();
    const std::string_view l = proc_stat.substr(line, end - line);
    size_t pos = 0;
    if (next_token(l, pos) == "btime") {
      const std::string_view value = next_token(l, pos);
      if (!next_token(l, pos).empty()) return std::nullopt;
      return to_u64(value);
    }
    line = end + 1;
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_max_open_files(std::string_view limits) {
  constexpr std::string_view kName = "Max open files";
  size_t line = 0;
  while (line < limits.size()) {
    size_t end = limits.find('\n', line);
    if (end == std::string_view::npos) end = limits.size();
    const std::string_view l = limits.substr(line, end - line);
    if (l.substr(0, kName.size()) == kName) {
      size_t pos = kName.size();
      const std::string_view soft = next_token(l, pos);
      if (soft == "unlimited") return UINT64_MAX;
      return to_u64(soft);
    }
    line = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> read_small_file(const std::string& path, size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  std::vector<char> buf(4096);
  while (out.size() < max) {
    const ssize_t n = ::read(fd, buf.data(), std::min(buf.size(), max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void process_metrics(PrometheusText& out) {
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto stat_text = read_small_file("/proc/self/stat");
  const auto st = stat_text ? parse_proc_stat(*stat_text) : std::nullopt;
  if (st && ticks > 0 && page > 0) {
    out.family("process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
               "counter");
    out.sample("process_cpu_seconds_total",
               static_cast<double>(st->utime_ticks + st->stime_ticks) / static_cast<double>(ticks));
    out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
              static_cast<double>(st->rss_pages) * static_cast<double>(page));
    out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
              static_cast<double>(st->vsize_bytes));
    const auto proc_stat = read_small_file("/proc/stat");
    const auto boot = proc_stat ? parse_boot_time(*proc_stat) : std::nullopt;
    if (boot) {
      out.gauge("process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
                static_cast<double>(*boot) +
                    static_cast<double>(st->start_ticks) / static_cast<double>(ticks));
    }
  }
  if (const auto fds = count_open_fds()) {
    out.gauge("process_open_fds", "Open file descriptors.", static_cast<double>(*fds));
  }
  const auto limits = read_small_file("/proc/self/limits");
  if (const auto max = limits ? parse_max_open_files(*limits) : std::nullopt) {
    out.gauge("process_max_fds", "The limit on open file descriptors (soft).",
              static_cast<double>(*max));
  }
}

}  // namespace paxlock::daemon
