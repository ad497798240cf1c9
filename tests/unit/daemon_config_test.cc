// paxlockd's configuration (src/daemon/config.cc): the [tuning] table.
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace paxlock::daemon {
namespace {

const std::string kNodes =
    "cluster_id = \"t\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:7101\"\n"
    "client = \"127.0.0.1:7201\"\nhttp = \"127.0.0.1:7301\"\n";

// Found by the config fuzzer: a float tunable went through toml++'s
// conversion to int64, undefined behaviour out of its range. Only integers
// are taken.
TEST(Tuning, AFloatWhereAnIntegerBelongsIsRefused) {
  auto ok = parse_config(kNodes + "[tuning]\nheartbeat_ms = 40\n", "t.toml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->tuning.heartbeat_ms, 40);
  for (const std::string v : {"40.0", "1e300", "-1e300", "nan"}) {
    auto c = parse_config(kNodes + "[tuning]\nheartbeat_ms = " + v + "\n", "t.toml");
    ASSERT_FALSE(c.ok()) << v;
    EXPECT_NE(c.status().message().find("heartbeat_ms must be an integer"), std::string::npos)
        << c.status().message();
  }
}

}  // namespace
}  // namespace paxlock::daemon
