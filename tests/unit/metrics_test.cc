// The Prometheus text writer and the histograms of /metrics.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace paxlock::daemon
