// The driver's log of refused peer messages (issue 16): a hostile peer that
// sends refused messages without pause gets at most one warning line per
// 5 s window, and each line says how many were refused since the last one,
// so that nothing goes uncounted. One replica over the simulated disk, a
// scripted clock, and a test sink in place of spdlog's default logger.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "driver/replica.h"
#include "lock/lock_machine.h"
#include "sim/sim_fs.h"
#include "sim/sim_log_store.h"

namespace paxlock::driver {
namespace {

constexpr paxos::TimeMs kWindowMs = 5000;  // Replica's kRefusalLogIntervalMs

struct Line {
  paxos::TimeMs at;  // simulated time when it was logged
  std::string text;
};

// Records each line with the simulated time it was logged at.
class RecordingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RecordingSink(const paxos::TimeMs& now) : now_(now) {}
  std::vector<Line> lines;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines.push_back(Line{now_, std::string(msg.payload.data(), msg.payload.size())});
  }
  void flush_() override {}

 private:
  const paxos::TimeMs& now_;
};

// Puts a logger with `sink` in place of the default one, and restores the
// default logger when it goes out of scope.
class CaptureLog {
 public:
  explicit CaptureLog(std::shared_ptr<spdlog::sinks::sink> sink)
      : saved_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("refusal_log_test", std::move(sink));
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~CaptureLog() { spdlog::set_default_logger(saved_); }
  CaptureLog(const CaptureLog&) = delete;
  CaptureLog& operator=(const CaptureLog&) = delete;

 private:
  std::shared_ptr<spdlog::logger> saved_;
};

struct NullTransport : paxos::Transport {
  void send(const paxos::Message&) override {}
};

TEST(RefusalLog, AFloodOfRefusedMessagesLogsAtMostOneLinePerWindowWithTheCount) {
  paxos::TimeMs now = 1000;
  auto sink = std::make_shared<RecordingSink>(now);
  CaptureLog capture(sink);

  sim::SimFs fs(1);
  std::deque<std::function<void()>> disk;  // never run: nothing here needs the disk
  sim::SimLogStore store(fs, "/data", 1, storage::WalOptions{1 << 16, false},
                         [&](std::function<void()> fn) { disk.push_back(std::move(fn)); });
  lock::LockMachine machine;
  NullTransport transport;
  paxos::Config c;
  c.self = 1;
  c.members = {1, 2, 3};
  ReplicaOptions o;
  o.clock = [&] { return std::make_pair(now, now); };
  Replica replica(c, o, store, transport, machine);
  ASSERT_TRUE(replica.start(now).ok());

  // 60 s of a message every 10 ms from node 9, which is not a member; every
  // 5 ms the replica ticks, as paxlockd's loop does.
  paxos::Message m;
  m.type = paxos::MessageType::kAccept;
  m.from = 9;
  m.to = 1;
  m.ballot = paxos::Ballot{1, 9};
  const paxos::TimeMs start = now;
  uint64_t sent = 0;
  for (; now < start + 60000; now += 5) {
    if (now % 10 == 0) {
      replica.receive(m);
      ++sent;
    }
    replica.tick(now, now);
  }
  ASSERT_EQ(replica.node().stats().messages_refused, sent);

  // "refused N peer message(s) since ...": N, or nullopt if the line is not
  // exactly such a report (std::regex is avoided: GCC 12's ASan build warns
  // inside libstdc++'s regex, and warnings are errors).
  const auto reported_count = [](const std::string& text) -> std::optional<uint64_t> {
    const std::string head = "refused ";
    const std::string tail =
        " peer message(s) since the last report; the last: Accept from node 9: sender is not "
        "a member";
    if (text.size() <= head.size() + tail.size() || text.rfind(head, 0) != 0 ||
        text.compare(text.size() - tail.size(), tail.size(), tail) != 0) {
      return std::nullopt;
    }
    const std::string digits = text.substr(head.size(), text.size() - head.size() - tail.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::strtoull(digits.c_str(), nullptr, 10);
  };
  std::vector<Line> reports;
  for (const Line& l : sink->lines) {
    if (l.text.find("refused") != std::string::npos) reports.push_back(l);
  }
  // One line at the first refusal, then one per window: 13 in 60 s. Without
  // the limit there would be one per message (6000).
  ASSERT_GE(reports.size(), 2u);
  EXPECT_LE(reports.size(), static_cast<size_t>(60000 / kWindowMs + 1));
  uint64_t reported = 0;
  for (size_t k = 0; k < reports.size(); ++k) {
    const std::optional<uint64_t> n = reported_count(reports[k].text);
    ASSERT_TRUE(n.has_value()) << reports[k].text;
    reported += *n;
    if (k > 0) {
      ASSERT_GE(reports[k].at - reports[k - 1].at, kWindowMs)
          << "lines " << k - 1 << " and " << k << " in one window";
    }
  }
  EXPECT_EQ(reports.front().text.rfind("refused 1 peer message(s)", 0), 0u)
      << "the first refusal is reported at once";
  // Each line counts what the lines before it suppressed: after the last
  // window, the count says how many were refused in all.
  EXPECT_GT(reported, reports.size());
  now += kWindowMs;
  replica.tick(now, now);
  ASSERT_EQ(sink->lines.size(), reports.size() + 1);  // nothing else was logged
  const std::optional<uint64_t> last = reported_count(sink->lines.back().text);
  ASSERT_TRUE(last.has_value()) << sink->lines.back().text;
  reported += *last;
  EXPECT_EQ(reported, sent);
}

}  // namespace
}  // namespace paxlock::driver
