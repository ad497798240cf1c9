// net::Admission and net::expiry: who may hold a connection, and for how
// long (issue 16, observations 5 and 7). Time is scripted.
#include "net/admission.h"

#include <gtest/gtest.h>

namespace paxlock::net {
namespace {

using namespace std::chrono_literals;
using Verdict = Admission::Verdict;

const SteadyTime t0 = SteadyTime{} + 1000s;

TEST(Admission, ConnectionsAreLimitedPerSourceAndPerPort) {
  Admission a(AdmissionLimits{3, 2, 0, 1});
  EXPECT_EQ(a.admit("10.0.0.1", t0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.1", t0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.1", t0), Verdict::kSourceFull);
  EXPECT_EQ(a.admit("10.0.0.2", t0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.3", t0), Verdict::kPortFull);
  EXPECT_EQ(a.connections(), 3u);
  EXPECT_EQ(a.connections_from("10.0.0.1"), 2u);
  // A closed connection frees its place, for any source.
  a.release("10.0.0.1");
  EXPECT_EQ(a.admit("10.0.0.3", t0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.1", t0), Verdict::kPortFull);
}

TEST(Admission, ASlotGivesItsPlaceBackWhenDestroyed) {
  auto a = std::make_shared<Admission>(AdmissionLimits{1, 1, 0, 1});
  ASSERT_EQ(a->admit("h", t0), Verdict::kAdmit);
  {
    AdmissionSlot slot(a, "h");
    AdmissionSlot moved(std::move(slot));  // released once, by the one that holds it
    EXPECT_EQ(a->connections(), 1u);
  }
  EXPECT_EQ(a->connections(), 0u);
  EXPECT_EQ(a->sources(), 0u);  // nothing left of a source with no connection
}

TEST(Admission, HellosPerSourceFollowATokenBucket) {
  Admission a(AdmissionLimits{100, 100, 10, 10});
  ASSERT_EQ(a.admit("x", t0), Verdict::kAdmit);
  ASSERT_EQ(a.admit("y", t0), Verdict::kAdmit);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(a.allow_hello("x", t0)) << i;  // the burst
  EXPECT_FALSE(a.allow_hello("x", t0));
  EXPECT_FALSE(a.allow_hello("x", t0 + 50ms));
  EXPECT_TRUE(a.allow_hello("x", t0 + 100ms));  // one token per 100 ms
  EXPECT_FALSE(a.allow_hello("x", t0 + 150ms));
  EXPECT_TRUE(a.allow_hello("y", t0));  // another source has its own bucket
}

TEST(Admission, ClosingEveryConnectionDoesNotRefillTheBucket) {
  Admission a(AdmissionLimits{100, 100, 1, 2});
  ASSERT_EQ(a.admit("x", t0), Verdict::kAdmit);
  EXPECT_TRUE(a.allow_hello("x", t0));
  EXPECT_TRUE(a.allow_hello("x", t0));
  a.release("x");
  ASSERT_EQ(a.admit("x", t0), Verdict::kAdmit);
  EXPECT_FALSE(a.allow_hello("x", t0));
  EXPECT_TRUE(a.allow_hello("x", t0 + 1s));
}

TEST(Admission, WithoutARateEveryHelloIsAllowed) {
  Admission a(AdmissionLimits{10, 10, 0, 1});
  ASSERT_EQ(a.admit("x", t0), Verdict::kAdmit);
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(a.allow_hello("x", t0));
}

TEST(Admission, TheTableOfSourcesIsBounded) {
  Admission a(AdmissionLimits{1 << 30, 1, 1, 1});
  for (size_t i = 0; i < AdmissionLimits::kSourcesMax; ++i) {
    const std::string source = "s" + std::to_string(i);
    ASSERT_EQ(a.admit(source, t0), Verdict::kAdmit);
    ASSERT_TRUE(a.allow_hello(source, t0));  // its bucket is empty now
    a.release(source);
  }
  EXPECT_EQ(a.sources(), AdmissionLimits::kSourcesMax);
  // Full, and every bucket still refilling: a new source is refused.
  EXPECT_EQ(a.admit("new", t0), Verdict::kPortFull);
  // Once they refilled, they are forgotten and there is room.
  EXPECT_EQ(a.admit("new", t0 + 2s), Verdict::kAdmit);
  EXPECT_EQ(a.sources(), 1u);
}

TimeLimits limits() {
  return TimeLimits{1000ms, 2000ms, 5000ms};
}

TEST(Expiry, NoHelloWithinTheHelloTimeout) {
  Activity a;
  a.opened = t0;
  a.last_frame = t0;
  EXPECT_EQ(expiry(a, t0 + 999ms, limits()), Expiry::kNone);
  EXPECT_EQ(expiry(a, t0 + 1000ms, limits()), Expiry::kHello);
  a.greeted = true;
  EXPECT_EQ(expiry(a, t0 + 1000ms, limits()), Expiry::kNone);
}

TEST(Expiry, AStartedFrameMustFinishInTimeWhateverTrickles) {
  Activity a;
  a.opened = t0;
  a.greeted = true;
  a.last_frame = t0;
  a.partial_since = t0 + 100ms;  // bytes may keep coming: no progress until it completes
  a.busy = true;                 // requests in flight do not excuse it
  EXPECT_EQ(expiry(a, t0 + 2099ms, limits()), Expiry::kNone);
  EXPECT_EQ(expiry(a, t0 + 2100ms, limits()), Expiry::kFrame);
}

TEST(Expiry, IdleAfterTheHelloOnlyWithNothingInFlight) {
  Activity a;
  a.opened = t0;
  a.greeted = true;
  a.last_frame = t0 + 10ms;
  EXPECT_EQ(expiry(a, t0 + 5009ms, limits()), Expiry::kNone);
  EXPECT_EQ(expiry(a, t0 + 5010ms, limits()), Expiry::kIdle);
  a.busy = true;  // a blocking lock waits: not idle
  EXPECT_EQ(expiry(a, t0 + 60s, limits()), Expiry::kNone);
}

TEST(Expiry, TheSweepLooksOftenEnoughForTheShortestTimeout) {
  EXPECT_EQ(sweep_period(limits()), 250ms);
  EXPECT_EQ(sweep_period(TimeLimits{100ms, 100ms, 100ms}), 25ms);
  EXPECT_EQ(sweep_period(TimeLimits{10ms, 10ms, 10ms}), 20ms);
  EXPECT_EQ(sweep_period(TimeLimits{60s, 60s, 60s}), 1000ms);
}

}  // namespace
}  // namespace paxlock::net
