// The connection limits of [tuning] (issue 16): defaults, ranges, the
// checks that keep room for the cluster itself, and the launcher's round
// trip through to_toml.
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace paxlock::daemon {
namespace {

std::string nodes(int n) {
  std::string text = "cluster_id = \"t\"\n";
  for (int i = 1; i <= n; ++i) {
    text += "[[node]]\nid = " + std::to_string(i) + "\npeer = \"127.0.0.1:71" + std::to_string(i) +
            "0\"\nclient = \"127.0.0.1:72" + std::to_string(i) + "0\"\nhttp = \"127.0.0.1:73" +
            std::to_string(i) + "0\"\n";
  }
  return text;
}

std::string error_of(const std::string& text) {
  auto cfg = parse_config(text, "test");
  return cfg.ok() ? "" : cfg.status().message();
}

TEST(ConnectionLimits, DefaultsAreThoseDocumented) {
  auto cfg = parse_config(nodes(3), "test");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  const Tuning& t = cfg->tuning;
  EXPECT_EQ(t.hello_timeout_ms, 5000);
  EXPECT_EQ(t.frame_timeout_ms, 30000);
  EXPECT_EQ(t.peer_connections_max, 64);
  EXPECT_EQ(t.peer_connections_per_source_max, 16);
  EXPECT_EQ(t.peer_hellos_per_source_per_s, 10);
  EXPECT_EQ(t.peer_idle_timeout_ms, 10000);
  EXPECT_EQ(t.peer_takeover_idle_ms, 2000);
  EXPECT_EQ(t.client_connections_max, 4096);
  EXPECT_EQ(t.client_connections_per_source_max, 256);
  EXPECT_EQ(t.client_handshakes_per_source_per_s, 200);
  EXPECT_EQ(t.client_idle_timeout_ms, 300000);
  EXPECT_EQ(t.client_output_bytes_max, 32 << 20);
  EXPECT_EQ(t.client_output_total_bytes_max, 256 << 20);
}

TEST(ConnectionLimits, EachKeyIsReadAndWrittenBack) {
  const std::string tuning =
      "[tuning]\nhello_timeout_ms = 700\nframe_timeout_ms = 900\npeer_connections_max = 20\n"
      "peer_connections_per_source_max = 3\npeer_hellos_per_source_per_s = 4\n"
      "peer_idle_timeout_ms = 3000\npeer_takeover_idle_ms = 1500\nclient_connections_max = 50\n"
      "client_connections_per_source_max = 5\nclient_idle_timeout_ms = 800\n"
      "client_output_bytes_max = 16777216\nclient_output_total_bytes_max = 33554432\n";
  auto cfg = parse_config(nodes(3) + tuning, "test");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->tuning.peer_hellos_per_source_per_s, 4);
  EXPECT_EQ(cfg->tuning.client_output_total_bytes_max, 32 << 20);
  auto again = parse_config(to_toml(*cfg), "again");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(to_toml(*again), to_toml(*cfg));
  EXPECT_EQ(again->tuning.client_idle_timeout_ms, 800);
  EXPECT_EQ(again->tuning.peer_takeover_idle_ms, 1500);
}

TEST(ConnectionLimits, OutOfRangeValuesAreRefusedByName) {
  EXPECT_NE(error_of(nodes(3) + "[tuning]\nhello_timeout_ms = 0\n").find("hello_timeout_ms"),
            std::string::npos);
  EXPECT_NE(
      error_of(nodes(3) + "[tuning]\npeer_idle_timeout_ms = 500\n").find("peer_idle_timeout_ms"),
      std::string::npos);
  EXPECT_NE(
      error_of(nodes(3) + "[tuning]\nclient_connections_max = 0\n").find("client_connections_max"),
      std::string::npos);
}

TEST(ConnectionLimits, ThePeerPortLeavesRoomForEveryPeer) {
  // 5 nodes: 4 peers, each with one connection and one while it reconnects.
  EXPECT_NE(error_of(nodes(5) + "[tuning]\npeer_connections_max = 7\n").find("at least 8"),
            std::string::npos);
  EXPECT_EQ(error_of(nodes(5) + "[tuning]\npeer_connections_max = 8\n"), "");
}

TEST(ConnectionLimits, OutputBudgetsFitOneReplyAndEachOther) {
  EXPECT_NE(error_of(nodes(3) + "[tuning]\nclient_output_bytes_max = 1048576\n")
                .find("at least max_frame_bytes"),
            std::string::npos);
  EXPECT_EQ(error_of(nodes(3) +
                     "[tuning]\nclient_output_bytes_max = 1048576\nmax_frame_bytes = 1048576\n"),
            "");
  EXPECT_NE(error_of(nodes(3) + "[tuning]\nclient_output_total_bytes_max = 16777216\n")
                .find("client_output_total_bytes_max must be at least"),
            std::string::npos);
}

}  // namespace
}  // namespace paxlock::daemon
