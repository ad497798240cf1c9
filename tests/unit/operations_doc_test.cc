// docs/OPERATIONS.md, "Limits", against the code (issue 16: every limit with
// its default and the metric that counts it). Fails if a [tuning] key is
// added without a row there, if a default changes on one side only, if a row
// names a key the daemon does not know, or if a refusal reason the daemon
// exports is not named. The cluster file example ("these are the defaults")
// is held to the same defaults.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/http_server.h"
#include "lock/command.h"
#include "net/admission.h"
#include "net/listener.h"
#include "net/stats.h"
#include "paxos/ballot.h"
#include "paxos/config.h"

namespace paxlock::daemon {
namespace {

std::string read_doc() {
  std::ifstream in(std::string(PAXLOCK_SOURCE_DIR) + "/docs/OPERATIONS.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(' ');
  const size_t b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The "## Limits" section: from its heading to the next "## " heading.
std::string limits_section(const std::string& doc) {
  std::string out;
  bool in = false;
  for (const std::string& line : lines_of(doc)) {
    if (line.rfind("## ", 0) == 0) in = line == "## Limits";
    if (in) out += line + "\n";
  }
  return out;
}

// The cells of each table row ("| a | b |" -> {"a", "b"}), separator rows
// left out.
std::vector<std::vector<std::string>> table_rows(const std::string& section) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : lines_of(section)) {
    if (line.rfind("|", 0) != 0 || line.rfind("|---", 0) == 0) continue;
    std::vector<std::string> cells;
    size_t at = 1;
    for (size_t bar; (bar = line.find('|', at)) != std::string::npos; at = bar + 1)
      cells.push_back(trim(line.substr(at, bar - at)));
    rows.push_back(cells);
  }
  return rows;
}

// The number a "default" cell starts with ("10 (a burst of as many)" -> "10").
std::string leading_number(const std::string& cell) {
  size_t n = 0;
  while (n < cell.size() && std::isdigit(static_cast<unsigned char>(cell[n])))
    ++n;
  return cell.substr(0, n);
}

// Rows whose first cell is one `name` (a [tuning] key's row), by name.
std::multimap<std::string, std::string> key_rows(const std::string& section) {
  std::multimap<std::string, std::string> out;
  for (const auto& cells : table_rows(section)) {
    if (cells.size() < 2) continue;
    const std::string& first = cells[0];
    if (first.size() < 3 || first.front() != '`' || first.back() != '`') continue;
    const std::string name = first.substr(1, first.size() - 2);
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") != std::string::npos) {
      continue;
    }
    out.emplace(name, leading_number(cells[1]));
  }
  return out;
}

// The default cell of the one row whose first cell contains `marker`.
std::string fixed_value(const std::string& section, const std::string& marker) {
  std::string found;
  int count = 0;
  for (const auto& cells : table_rows(section)) {
    if (cells.size() >= 2 && cells[0].find(marker) != std::string::npos) {
      found = leading_number(cells[1]);
      ++count;
    }
  }
  return count == 1 ? found : "(" + std::to_string(count) + " rows)";
}

TEST(OperationsDoc, OneLimitsSection) {
  const std::string doc = read_doc();
  ASSERT_FALSE(doc.empty()) << "cannot read docs/OPERATIONS.md";
  int limits = 0;
  for (const std::string& line : lines_of(doc)) {
    if (line == "## Limits") ++limits;
    EXPECT_FALSE(line.rfind("## Limits", 0) == 0 && line != "## Limits")
        << "a second limits section: " << line;
  }
  EXPECT_EQ(limits, 1);
}

TEST(OperationsDoc, EveryTuningKeyIsInLimitsWithTheCodesDefault) {
  const auto rows = key_rows(limits_section(read_doc()));
  const std::vector<TuningKeyInfo> keys = tuning_keys();
  ASSERT_GE(keys.size(), 30u);  // the table was read
  for (const TuningKeyInfo& k : keys) {
    const std::string name(k.name);
    EXPECT_EQ(rows.count(name), 1u) << "OPERATIONS.md, Limits: `" << name << "` needs one row";
    auto it = rows.find(name);
    if (it != rows.end()) {
      EXPECT_EQ(it->second, std::to_string(k.default_value))
          << "OPERATIONS.md, Limits: the default of `" << name << "`";
    }
  }
  // And no row names a key the daemon does not know.
  for (const auto& [name, value] : rows) {
    bool known = false;
    for (const TuningKeyInfo& k : keys)
      known = known || k.name == name;
    EXPECT_TRUE(known) << "OPERATIONS.md, Limits: `" << name << "` is no [tuning] key";
  }
}

TEST(OperationsDoc, TheClusterFileExampleShowsTheDefaults) {
  // The [tuning] table of the example in "The cluster file": "key = value".
  std::map<std::string, std::string> example;
  bool in = false;
  for (const std::string& line : lines_of(read_doc())) {
    if (line.rfind("[tuning]", 0) == 0)
      in = true;
    else if (in && line.rfind("```", 0) == 0)
      break;
    else if (in && !line.empty() && line[0] != '#') {
      const size_t eq = line.find(" = ");
      ASSERT_NE(eq, std::string::npos) << line;
      example[line.substr(0, eq)] = leading_number(line.substr(eq + 3));
    }
  }
  const std::vector<TuningKeyInfo> keys = tuning_keys();
  EXPECT_EQ(example.size(), keys.size());
  for (const TuningKeyInfo& k : keys) {
    const std::string name(k.name);
    EXPECT_EQ(example[name], std::to_string(k.default_value))
        << "OPERATIONS.md, The cluster file: `" << name << "`";
  }
}

TEST(OperationsDoc, FixedLimitsHaveTheCodesValues) {
  const std::string section = limits_section(read_doc());
  EXPECT_EQ(fixed_value(section, "`accept_ahead_max`"),
            std::to_string(paxos::Config{}.accept_ahead_max));
  EXPECT_EQ(fixed_value(section, "ballot round"), std::to_string(paxos::Ballot::kRoundMax));
  EXPECT_EQ(fixed_value(section, "instance number"), std::to_string(paxos::kInstanceMax));
  EXPECT_EQ(fixed_value(section, "hello size"), std::to_string(net::kHelloBytesMax));
  EXPECT_EQ(fixed_value(section, "pause after a failed accept"),
            std::to_string(net::Listener::kAcceptErrorPause.count()));
  EXPECT_EQ(fixed_value(section, "lock name"), std::to_string(lock::kNameBytesMax));
  EXPECT_EQ(fixed_value(section, "owner"), std::to_string(lock::kOwnerBytesMax));
}

TEST(OperationsDoc, EveryRefusalReasonAndCounterIsNamedInLimits) {
  const std::string section = limits_section(read_doc());
  for (std::string_view reason : net::kConnectionErrorReasons) {
    EXPECT_NE(section.find("`" + std::string(reason) + "`"), std::string::npos)
        << "OPERATIONS.md, Limits: connection error reason " << reason;
  }
  for (std::string_view reason : kHttpRefusalReasons) {
    EXPECT_NE(section.find("`" + std::string(reason) + "`"), std::string::npos)
        << "OPERATIONS.md, Limits: HTTP refusal reason " << reason;
  }
  for (const char* metric :
       {"paxlock_connection_errors_total", "paxlock_http_refusals_total",
        "paxlock_peer_messages_refused_total", "paxlock_chosen_conflicts_total",
        "paxlock_peer_messages_dropped_total", "paxlock_requests_total"}) {
    EXPECT_NE(section.find(std::string("`") + metric), std::string::npos)
        << "OPERATIONS.md, Limits: " << metric;
  }
}

}  // namespace
}  // namespace paxlock::daemon
