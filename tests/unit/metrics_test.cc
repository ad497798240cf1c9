// The Prometheus text writer and the histograms of /metrics.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "daemon/process_metrics.h"
#include "net/stats.h"

namespace paxlock::daemon {
namespace {

TEST(PrometheusText, FamiliesAndSamplesInTheExpositionFormat) {
  PrometheusText out;
  out.counter("a_total", "Things.", uint64_t{3});
  out.gauge("b", "A level.", 0.5);
  out.family("c_total", "Labelled.", "counter");
  out.sample("c_total", uint64_t{7}, {{"kind", "x"}, {"why", "say \"hi\"\\\n"}});
  EXPECT_EQ(out.text(),
            "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n"
            "# HELP b A level.\n# TYPE b gauge\nb 0.5\n"
            "# HELP c_total Labelled.\n# TYPE c_total counter\n"
            "c_total{kind=\"x\",why=\"say \\\"hi\\\"\\\\\\n\"} 7\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeInSeconds) {
  Histogram h;
  h.observe_us(40);
  h.observe_us(60);
  h.observe_us(20000000);  // above every finite bound
  PrometheusText out;
  h.write(out, "lat_seconds", "Latency.");
  const std::string& t = out.text();
  EXPECT_EQ(t.rfind("# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n", 0), 0u) << t;
  EXPECT_NE(t.find("\nlat_seconds_bucket{le=\"5e-05\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nlat_seconds_bucket{le=\"0.0001\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nlat_seconds_bucket{le=\"10\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nlat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nlat_seconds_sum 20.0001\nlat_seconds_count 3\n"), std::string::npos) << t;
}

TEST(DiskStatus, ErrorTextIsEscapedJson) {
  DiskHealth d;
  d.error = "bad \"disk\"\t\x01";
  const auto j = disk_status_json(d);
  EXPECT_EQ(j.at("error"), d.error);
  EXPECT_EQ(j.at("ok"), false);  // an error means not ok
  EXPECT_EQ(nlohmann::ordered_json::parse(j.dump()).at("error"), d.error);
}

TEST(NetStats, EveryConnectionErrorReasonStartsAtZero) {
  const net::NetStats n;
  ASSERT_EQ(n.connection_errors.size(), net::kConnectionErrorReasons.size());
  for (std::string_view reason : net::kConnectionErrorReasons) {
    auto it = n.connection_errors.find(std::string(reason));
    ASSERT_NE(it, n.connection_errors.end()) << reason;
    EXPECT_EQ(it->second, 0u) << reason;
  }
}

TEST(ProcessMetrics, StatLineFieldsAreCountedAfterTheLastParenthesis) {
  // A command name with spaces and a ')' of its own.
  const std::string line =
      "4242 (pax lock) d) S 1 4242 4242 0 -1 4194560 1540 0 0 0 "
      "250 75 0 0 20 0 5 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 "
      "17 1 0 0 0 0 0\n";
  const auto st = parse_proc_stat(line);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->utime_ticks, 250u);
  EXPECT_EQ(st->stime_ticks, 75u);
  EXPECT_EQ(st->start_ticks, 123456u);
  EXPECT_EQ(st->vsize_bytes, 987654321u);
  EXPECT_EQ(st->rss_pages, 2048u);

  EXPECT_FALSE(parse_proc_stat("").has_value());
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2 3").has_value());  // truncated
  EXPECT_FALSE(parse_proc_stat("4242 x S").has_value());          // no command name
  std::string bad = line;
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  EXPECT_FALSE(parse_proc_stat(bad).has_value());
}

TEST(ProcessMetrics, BootTimeAndOpenFileLimit) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
            std::optional<uint64_t>(1700000000));
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n").has_value());
  EXPECT_FALSE(parse_boot_time("btime soon\n").has_value());
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n";
  EXPECT_EQ(parse_max_open_files(limits), std::optional<uint64_t>(1024));
  EXPECT_EQ(parse_max_open_files("Max open files  unlimited  unlimited  files\n"),
            std::optional<uint64_t>(UINT64_MAX));
  EXPECT_FALSE(parse_max_open_files("Max cpu time 1 1 seconds\n").has_value());
}

// The value of the unlabelled sample `name` in `text`, or -1.
double value_of(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size()));
}

TEST(ProcessMetrics, ThisProcessFromProc) {
  PrometheusText out;
  process_metrics(out);
  const std::string t = "\n" + out.text();
  EXPECT_NE(t.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << t;
  EXPECT_GE(value_of(t, "process_cpu_seconds_total"), 0.0) << t;
  EXPECT_GT(value_of(t, "process_resident_memory_bytes"), 1e5) << t;
  EXPECT_GT(value_of(t, "process_virtual_memory_bytes"), 1e5) << t;
  EXPECT_GE(value_of(t, "process_open_fds"), 3.0) << t;  // stdin, stdout, stderr
  EXPECT_GE(value_of(t, "process_max_fds"), value_of(t, "process_open_fds")) << t;
  const double now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  const double start = value_of(t, "process_start_time_seconds");
  EXPECT_LE(start, now + 2) << t;
  EXPECT_GT(start, now - 3600) << t;  // this test started less than an hour ago
}

TEST(ProcessMetrics, ReadSmallFileStopsAtTheBound) {
  const auto all = read_small_file("/proc/self/status");
  ASSERT_TRUE(all.has_value());
  EXPECT_GT(all->size(), 100u);
  const auto some = read_small_file("/proc/self/status", 100);
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(some->size(), 100u);
  EXPECT_FALSE(read_small_file("/proc/self/no-such-file").has_value());
}

}  // namespace
}  // namespace paxlock::daemon
