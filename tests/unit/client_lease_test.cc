// The client's session lease (src/client/lease.h) on a simulated clock: the
// Session runs exactly this step function from its timer, so these tests
// check when a real Session renews and when it reports the lease lost.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "client/lease.h"

namespace paxlock::client {
namespace {

using namespace std::chrono_literals;
using Time = Lease::Time;
using Ms = Lease::Ms;

const Time kT0 = Time{} + 1000s;

// A session on simulated time: the lease's timer, and keep-alive answers
// that arrive at chosen times (or never).
struct SimSession {
  explicit SimSession(Ms ttl) : lease(kT0, ttl) {}

  Lease lease;
  // sent keep-alive number k (0-based) -> its answer's delay; absent: lost.
  std::map<int, Ms> answer_after;
  std::vector<Time> sent;
  std::optional<Time> lost_at;
  int lost_reports = 0;
  int steps = 0;

  // Runs the session's events in time order until `until` (or the session
  // needs no timer any more).
  void run(Time until) {
    std::optional<Time> wake = kT0;
    std::multimap<Time, Time> answers;  // arrival -> send time of the keep-alive
    while (steps < 100000) {
      const bool timer_first = wake && (answers.empty() || *wake <= answers.begin()->first);
      const std::optional<Time> next =
          timer_first ? wake
                      : (answers.empty() ? std::nullopt : std::optional(answers.begin()->first));
      if (!next || *next > until) return;
      if (timer_first) {
        const Time now = *wake;
        ++steps;
        const Lease::Step s = lease.step(now);
        if (s.lost) {
          ++lost_reports;
          lost_at = now;
        }
        if (s.send_keep_alive) {
          const int k = static_cast<int>(sent.size());
          sent.push_back(now);
          auto it = answer_after.find(k);
          if (it != answer_after.end()) answers.emplace(now + it->second, now);
        }
        if (s.done) {
          wake.reset();
        } else {
          EXPECT_GT(s.wake_at, now) << "the timer must move forward";
          wake = s.wake_at;
        }
      } else {
        const Time sent_at = answers.begin()->second;
        answers.erase(answers.begin());
        lease.acknowledged(sent_at);
      }
    }
    ADD_FAILURE() << "too many steps";
  }
};

Ms since_t0(Time t) {
  return std::chrono::duration_cast<Ms>(t - kT0);
}

// Bug F: `paxlock hold`'s default session (TTL 10 s, margin 700 ms) whose
// keep-alives all go unanswered must count as lost at 10 s - 700 ms = 9.3 s
// after the open request was sent: at that point the service may be about to
// expire it and hand the lock to someone else. Checking the deadline only at
// the renewal ticks (every TTL/3) noticed it at 9.999 s, after the server
// could already have granted the lock to another owner.
TEST(ClientLease, BugF_UnrenewedLeaseIsLostAtTtlMinusMarginNotAtTheNextRenewalTick) {
  SimSession s(10000ms);
  s.run(kT0 + 60s);
  ASSERT_TRUE(s.lost_at.has_value());
  EXPECT_EQ(since_t0(*s.lost_at), 9300ms) << "lost noticed late: past TTL - margin";
  EXPECT_EQ(s.lost_reports, 1);
}

// The same after a renewal: the deadline moves to the renewal's send time
// + TTL - margin, and the loss is noticed exactly there.
TEST(ClientLease, BugF_AfterARenewalTheLossIsNoticedAtTheNewDeadline) {
  SimSession s(10000ms);
  s.answer_after[1] = 40ms;  // the keep-alive sent at 3.333 s is acknowledged
  s.run(kT0 + 60s);
  ASSERT_EQ(s.sent.size() >= 2, true);
  EXPECT_EQ(since_t0(s.sent[1]), 3333ms);
  ASSERT_TRUE(s.lost_at.has_value());
  EXPECT_EQ(since_t0(*s.lost_at), 3333ms + 9300ms);
  EXPECT_EQ(s.lost_reports, 1);
}

// Short TTLs: the margin is capped at half the TTL.
TEST(ClientLease, BugF_ShortTtlLeaseIsLostAtHalfItsTtl) {
  SimSession s(100ms);
  s.run(kT0 + 10s);
  ASSERT_TRUE(s.lost_at.has_value());
  EXPECT_EQ(since_t0(*s.lost_at), 50ms);
}

TEST(ClientLease, AnsweredKeepAlivesKeepTheLeaseForeverAtOnePerThirdOfTheTtl) {
  SimSession s(9000ms);
  for (int k = 0; k < 100; ++k)
    s.answer_after[k] = 25ms;
  s.run(kT0 + 60s);
  EXPECT_FALSE(s.lost_at.has_value());
  ASSERT_EQ(s.sent.size(), 21u);  // at 0, 3, 6, ..., 60 s
  for (size_t k = 1; k < s.sent.size(); ++k)
    EXPECT_EQ(s.sent[k] - s.sent[k - 1], 3000ms);
  EXPECT_LE(s.steps, 40) << "the lease's timer should not spin";
}

TEST(ClientLease, ExpiredAnswerLosesTheLeaseOnceAndStopsTheTimer) {
  Lease lease(kT0, 10000ms);
  EXPECT_TRUE(lease.step(kT0).send_keep_alive);
  EXPECT_TRUE(lease.expired());
  EXPECT_FALSE(lease.expired());
  const Lease::Step s = lease.step(kT0 + 1s);
  EXPECT_TRUE(s.done);
  EXPECT_FALSE(s.lost);
  EXPECT_FALSE(s.send_keep_alive);
}

TEST(ClientLease, ClosedLeaseIsNeverReportedLost) {
  Lease lease(kT0, 10000ms);
  lease.close();
  EXPECT_FALSE(lease.expired());
  const Lease::Step s = lease.step(kT0 + 20s);
  EXPECT_TRUE(s.done);
  EXPECT_FALSE(s.lost);
}

}  // namespace
}  // namespace paxlock::client
