// The lock machine's rules, one scenario each (docs/LOCKS.md states them).
#include "lock/lock_machine.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "lock.pb.h"
#include "lock/legacy_codec.h"
#include "lock_harness.h"

namespace paxlock::lock {

// Reply codes by name in failure messages.
void PrintTo(Code code, std::ostream* os) {
  *os << to_string(code);
}

namespace {

using testing::check_cmd;
using testing::lock_cmd;
using testing::LockHarness;
using testing::session_cmd;
using testing::unlock_cmd;

constexpr paxos::TimeMs T0 = 1'000'000;

// ------------------------------------------------------------ try-lock

TEST(Lock, FreeLockIsGrantedWithAToken) {
  LockHarness h;
  auto r = h.run(1, lock_cmd("a", "alice"), T0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kOk);
  EXPECT_GT(r->token, 0u);
  EXPECT_EQ(r->holder, "alice");
  EXPECT_EQ(h.machine.locks_held(), 1u);
}

TEST(Lock, HeldLockAnswersHeldAtOnceNamingTheHolder) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  auto r = h.run(2, lock_cmd("a", "bob"), T0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kHeld);
  EXPECT_EQ(r->holder, "alice");
  EXPECT_EQ(r->token, 0u);
}

TEST(Lock, SameOwnerAgainGetsTheSameTokenNotACounter) {
  LockHarness h;
  auto first = h.run(1, lock_cmd("a", "alice"), T0);
  auto again = h.run(1, lock_cmd("a", "alice"), T0 + 1);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(again->code, Code::kOk);
  EXPECT_EQ(again->token, first->token);
  // One unlock frees it.
  EXPECT_EQ(h.run(1, unlock_cmd("a", "alice"), T0 + 2)->code, Code::kOk);
  EXPECT_EQ(h.machine.locks_held(), 0u);
}

TEST(Lock, MalformedRequestsAreInvalidAndChangeNothing) {
  LockHarness h;
  EXPECT_EQ(h.run(1, lock_cmd("", "alice"), T0)->code, Code::kInvalid);
  EXPECT_EQ(h.run(1, lock_cmd("a", ""), T0)->code, Code::kInvalid);
  EXPECT_EQ(h.run(1, lock_cmd(std::string(kNameBytesMax + 1, 'n'), "o"), T0)->code, Code::kInvalid);
  EXPECT_EQ(h.run(1, lock_cmd("a", "o", 0, -5), T0)->code, Code::kInvalid);
  EXPECT_EQ(h.machine.locks_held(), 0u);
  // Bytes that are not a command at all.
  paxos::Batch b;
  b.timestamp_ms = T0;
  b.commands.push_back(paxos::Command{paxos::CommandId{9, 1}, "\xff garbage"});
  std::vector<paxos::Reply> replies;
  h.machine.apply(100, b, replies);
  ASSERT_EQ(replies.size(), 1u);
  auto r = decode_result(replies[0].payload);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, Code::kInvalid);
}

TEST(Lock, NamesInTheLogAreAppliedAsWrittenWhateverTheirText) {
  // The text rule is checked before the log (lock::check_names), never on
  // apply: a log of an earlier release may hold such names, and replaying it
  // must give the state it gave then, on every replica. So the machine takes
  // them, snapshots them and restores them byte for byte.
  LockHarness h;
  const std::string odd = std::string("a\nb\0\x1b[2J", 8);
  const std::string bad = "\xff\xc2\x9b";
  auto r = h.run(1, lock_cmd(odd, bad), T0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kOk);
  EXPECT_EQ(r->holder, bad);
  EXPECT_EQ(h.run(2, lock_cmd(odd, "x"), T0)->holder, bad);
  EXPECT_EQ(h.run(1, unlock_cmd(odd, bad), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(1, lock_cmd(bad, odd), T0)->code, Code::kOk);
  LockMachine copy;
  ASSERT_TRUE(copy.restore(h.machine.snapshot()));
  EXPECT_EQ(copy.snapshot(), h.machine.snapshot());
  EXPECT_EQ(copy.locks_held(), 1u);
}

// -------------------------------------------------------------- unlock

TEST(Unlock, ByTheHolderFreesTheLock) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  EXPECT_EQ(h.run(1, unlock_cmd("a", "alice"), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(2, lock_cmd("a", "bob"), T0)->code, Code::kOk);
}

TEST(Unlock, ByAnotherOwnerIsNotOwnerAndChangesNothing) {
  LockHarness h;
  auto t = h.run(1, lock_cmd("a", "alice"), T0)->token;
  auto r = h.run(2, unlock_cmd("a", "bob"), T0);
  EXPECT_EQ(r->code, Code::kNotOwner);
  EXPECT_EQ(r->holder, "alice");
  EXPECT_EQ(h.run(3, check_cmd("a", t), T0)->code, Code::kOk);
}

TEST(Unlock, OfAFreeLockIsNotHeld) {
  LockHarness h;
  EXPECT_EQ(h.run(1, unlock_cmd("a", "alice"), T0)->code, Code::kNotHeld);
}

TEST(Unlock, WithAStaleTokenIsRefused) {
  LockHarness h;
  auto t1 = h.run(1, lock_cmd("a", "alice"), T0)->token;
  h.run(1, unlock_cmd("a", "alice"), T0);
  auto t2 = h.run(1, lock_cmd("a", "alice"), T0)->token;
  EXPECT_EQ(h.run(1, unlock_cmd("a", "alice", t1), T0)->code, Code::kStaleToken);
  EXPECT_EQ(h.run(1, unlock_cmd("a", "alice", t2), T0)->code, Code::kOk);
}

// ------------------------------------------------------ fencing tokens

TEST(Token, StrictlyIncreasesAcrossAllGrantsOfAllLocks) {
  LockHarness h;
  uint64_t last = 0;
  for (int round = 0; round < 5; ++round) {
    for (const char* name : {"a", "b", "c"}) {
      auto r = h.run(1, lock_cmd(name, "alice"), T0);
      EXPECT_GT(r->token, last);
      last = r->token;
    }
    for (const char* name : {"a", "b", "c"})
      h.run(1, unlock_cmd(name, "alice"), T0);
  }
}

TEST(Check, OnlyTheCurrentTokenIsCurrent) {
  LockHarness h;
  auto t1 = h.run(1, lock_cmd("a", "alice"), T0)->token;
  auto c = h.run(2, check_cmd("a", t1), T0);
  EXPECT_EQ(c->code, Code::kOk);
  EXPECT_TRUE(c->current);
  h.run(1, unlock_cmd("a", "alice"), T0);
  auto t2 = h.run(3, lock_cmd("a", "bob"), T0)->token;
  c = h.run(2, check_cmd("a", t1), T0);
  EXPECT_EQ(c->code, Code::kStaleToken);
  EXPECT_FALSE(c->current);
  EXPECT_EQ(c->token, t2);
  EXPECT_EQ(h.run(2, check_cmd("free", 7), T0)->code, Code::kStaleToken);
}

// ------------------------------------------------------- exactly once

TEST(ExactlyOnce, RetryGetsTheOriginalReplyAndChangesNothing) {
  LockHarness h;
  auto first = h.run(1, lock_cmd("a", "alice"), T0);  // seq 1
  h.run(1, unlock_cmd("a", "alice"), T0);             // seq 2
  // The answer to seq 1 was lost; the client resends it (to another replica).
  auto retry = h.run(1, lock_cmd("a", "alice"), T0, /*seq=*/1);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->code, Code::kOk);
  EXPECT_EQ(retry->token, first->token);
  EXPECT_EQ(retry->applied_at, first->applied_at);
  EXPECT_EQ(h.machine.locks_held(), 0u) << "the retry must not take the lock again";
}

TEST(ExactlyOnce, OlderDuplicateBelowTheClientsWindowIsIgnored) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);  // seq 1
  Command c = unlock_cmd("a", "alice");
  c.first_outstanding = 3;  // the client no longer waits for anything below 3
  h.run(1, c, T0, /*seq=*/3);
  auto stale = h.run(1, lock_cmd("b", "alice"), T0, /*seq=*/2);
  EXPECT_EQ(stale->code, Code::kDuplicateIgnored);
  EXPECT_EQ(h.machine.locks_held(), 0u);
}

TEST(ExactlyOnce, ClientRecordExpiresInLogTime) {
  MachineOptions o;
  o.client_ttl_ms = 1000;
  LockHarness h(o);
  h.run(1, lock_cmd("a", "alice"), T0);
  h.tick(T0 + 500);
  EXPECT_EQ(h.machine.clients(), 1u);
  h.tick(T0 + 1500);
  EXPECT_EQ(h.machine.clients(), 0u);
}

// ------------------------------------------------------------ sessions

TEST(Session, LocksUnderASessionAreReleasedWhenItExpires) {
  LockHarness h;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 5000), T0);
  ASSERT_EQ(s->code, Code::kOk);
  ASSERT_GT(s->session, 0u);
  EXPECT_EQ(h.run(1, lock_cmd("a", "alice", s->session), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(1, lock_cmd("plain", "alice"), T0)->code, Code::kOk);
  h.tick(T0 + 4999);
  EXPECT_EQ(h.run(2, lock_cmd("a", "bob"), T0 + 4999)->code, Code::kHeld);
  h.tick(T0 + 5000);
  EXPECT_EQ(h.machine.sessions(), 0u);
  EXPECT_EQ(h.run(2, lock_cmd("a", "bob"), T0 + 5000)->code, Code::kOk);
  // A lock taken without a session stays until unlocked.
  EXPECT_EQ(h.run(2, lock_cmd("plain", "bob"), T0 + 5000)->code, Code::kHeld);
}

TEST(Session, KeepAliveExtendsTheLease) {
  LockHarness h;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 1000), T0)->session;
  h.run(1, lock_cmd("a", "alice", s), T0);
  for (int k = 1; k <= 5; ++k) {
    EXPECT_EQ(h.run(1, session_cmd(Op::kKeepAlive, "alice", s), T0 + 800 * k)->code, Code::kOk);
  }
  h.tick(T0 + 800 * 5 + 999);
  EXPECT_EQ(h.run(2, lock_cmd("a", "bob"), T0 + 800 * 5 + 999)->code, Code::kHeld);
  h.tick(T0 + 800 * 5 + 1000);
  EXPECT_EQ(h.run(1, session_cmd(Op::kKeepAlive, "alice", s), T0 + 5000)->code,
            Code::kSessionExpired);
}

TEST(Session, CloseReleasesItsLocksAtOnce) {
  LockHarness h;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 60000), T0)->session;
  h.run(1, lock_cmd("a", "alice", s), T0);
  EXPECT_EQ(h.run(1, session_cmd(Op::kCloseSession, "alice", s), T0)->code, Code::kOk);
  EXPECT_EQ(h.machine.locks_held(), 0u);
}

TEST(Session, LockUnderAnUnknownSessionIsRefused) {
  LockHarness h;
  EXPECT_EQ(h.run(1, lock_cmd("a", "alice", 42), T0)->code, Code::kSessionExpired);
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 1000), T0)->session;
  EXPECT_EQ(h.run(2, lock_cmd("a", "bob", s), T0)->code, Code::kInvalid)
      << "a session belongs to its owner";
  EXPECT_EQ(h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 1), T0)->code, Code::kInvalid);
}

// ---------------------------------------------------- blocking waits

TEST(Wait, WaitersAreGrantedInFifoOrderOnRelease) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("a", "bob", 0, 10000), T0)) << "queued: no answer yet";
  const auto bob = h.last_id;
  EXPECT_FALSE(h.run(3, lock_cmd("a", "carol", 0, 10000), T0));
  const auto carol = h.last_id;
  EXPECT_EQ(h.machine.waiters(), 2u);
  h.run(1, unlock_cmd("a", "alice"), T0 + 10);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kOk);
  EXPECT_FALSE(h.deferred.count(carol));
  h.run(2, unlock_cmd("a", "bob"), T0 + 20);
  ASSERT_TRUE(h.deferred.count(carol));
  EXPECT_GT(h.deferred[carol].token, h.deferred[bob].token);
}

TEST(Wait, EndsWithTimeoutAndLeavesNoOrphan) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("a", "bob", 0, 1000), T0));
  const auto bob = h.last_id;
  h.tick(T0 + 999);
  EXPECT_FALSE(h.deferred.count(bob));
  h.tick(T0 + 1000);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kTimeout);
  EXPECT_EQ(h.machine.waiters(), 0u);
  h.run(1, unlock_cmd("a", "alice"), T0 + 2000);
  EXPECT_EQ(h.machine.locks_held(), 0u) << "nobody was left in the queue";
}

TEST(Wait, RetryOfAQueuedCommandDoesNotQueueTwiceAndGetsTheGrant) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("a", "bob", 0, 10000), T0));
  const auto bob = h.last_id;
  EXPECT_FALSE(h.run(2, lock_cmd("a", "bob", 0, 10000), T0, bob.seq));
  EXPECT_EQ(h.machine.waiters(), 1u);
  h.run(1, unlock_cmd("a", "alice"), T0);
  ASSERT_TRUE(h.deferred.count(bob));
  auto again = h.run(2, lock_cmd("a", "bob", 0, 10000), T0, bob.seq);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->token, h.deferred[bob].token);
}

TEST(Wait, WaiterWhoseSessionExpiresIsRemoved) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  auto s = h.run(2, session_cmd(Op::kOpenSession, "bob", 0, 500), T0)->session;
  EXPECT_FALSE(h.run(2, lock_cmd("a", "bob", s, 10000), T0));
  const auto bob = h.last_id;
  h.tick(T0 + 500);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kSessionExpired);
  EXPECT_EQ(h.machine.waiters(), 0u);
}

// ---------------------------------------------------------- deadlock

TEST(Deadlock, TwoOwnersCrossingLocksWhileBlocking) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  h.run(2, lock_cmd("y", "bob"), T0);
  EXPECT_FALSE(h.run(1, lock_cmd("y", "alice", 0, 10000), T0));  // alice waits for bob
  auto r = h.run(2, lock_cmd("x", "bob", 0, 10000), T0);         // would close the cycle
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kDeadlock);
  ASSERT_EQ(r->cycle.size(), 2u);
  EXPECT_EQ(r->cycle[0].owner(), "bob");
  EXPECT_EQ(r->cycle[0].lock(), "x");
  EXPECT_EQ(r->cycle[0].holder(), "alice");
  EXPECT_EQ(r->cycle[1].owner(), "alice");
  EXPECT_EQ(r->cycle[1].lock(), "y");
  EXPECT_EQ(r->cycle[1].holder(), "bob");
  EXPECT_EQ(h.machine.waiters(), 1u) << "the refused request is not queued";
}

TEST(Deadlock, ThreeOwnersInACycle) {
  LockHarness h;
  h.run(1, lock_cmd("x", "a"), T0);
  h.run(2, lock_cmd("y", "b"), T0);
  h.run(3, lock_cmd("z", "c"), T0);
  EXPECT_FALSE(h.run(1, lock_cmd("y", "a", 0, 10000), T0));
  EXPECT_FALSE(h.run(2, lock_cmd("z", "b", 0, 10000), T0));
  auto r = h.run(3, lock_cmd("x", "c", 0, 10000), T0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kDeadlock);
  EXPECT_EQ(r->cycle.size(), 3u);
}

TEST(Deadlock, TryLocksThatWillRetryAreDetectedToo) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  h.run(2, lock_cmd("y", "bob"), T0);
  EXPECT_EQ(h.run(1, lock_cmd("y", "alice", 0, 0, /*will_retry=*/true), T0)->code, Code::kHeld);
  auto r = h.run(2, lock_cmd("x", "bob", 0, 0, /*will_retry=*/true), T0);
  EXPECT_EQ(r->code, Code::kDeadlock);
  EXPECT_EQ(r->cycle.size(), 2u);
  // The retry intent fades: after it expires, no cycle is reported.
  h.tick(T0 + 5000);
  EXPECT_EQ(h.run(2, lock_cmd("x", "bob", 0, 0, true), T0 + 5000)->code, Code::kHeld);
}

TEST(Deadlock, NoFalsePositiveWhenTheCycleWasBrokenFirst) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  h.run(2, lock_cmd("y", "bob"), T0);
  EXPECT_FALSE(h.run(1, lock_cmd("y", "alice", 0, 300), T0));
  h.tick(T0 + 300);  // alice's wait timed out: no edge alice -> bob any more
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 10000), T0 + 300)) << "queued, not a deadlock";
  // Try-locks without a retry intent never wait, so never deadlock.
  EXPECT_EQ(h.run(3, lock_cmd("y", "carol"), T0 + 300)->code, Code::kHeld);
}

// ------------------------------------------------------------- reads

TEST(Read, StatusNamesHolderTokenAndWaiters) {
  LockHarness h;
  auto t = h.run(1, lock_cmd("a", "alice"), T0)->token;
  h.run(2, lock_cmd("a", "bob", 0, 1000), T0);
  Command st;
  st.op = Op::kStatus;
  st.name = "a";
  auto r = h.run(3, st, T0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->holder, "alice");
  EXPECT_EQ(r->token, t);
  ASSERT_EQ(r->locks.size(), 1u);
  ASSERT_EQ(r->locks[0].waiters_size(), 1);
  EXPECT_EQ(r->locks[0].waiters(0).owner(), "bob");
}

TEST(Read, ListPagesThroughHeldLocksInNameOrder) {
  LockHarness h;
  for (int i = 0; i < 25; ++i)
    h.run(1, lock_cmd("lock" + std::to_string(100 + i), "o"), T0);
  Command ls;
  ls.op = Op::kList;
  ls.limit = 10;
  std::vector<std::string> names;
  for (int page = 0; page < 5; ++page) {
    auto r = h.run(2, ls, T0);
    for (const LockInfo& l : r->locks)
      names.push_back(l.name());
    if (r->next.empty()) break;
    ls.name = r->next;
  }
  ASSERT_EQ(names.size(), 25u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "lock100");
}

// ------------------------------------ issue 13: sequences from the review

// D: bob's wait times out in the same apply in which his record would have
// expired (it was kept alive only every 5 minutes while he waited). A retry
// of his command 50 ms later must get the recorded TIMEOUT, not run again.
TEST(Issue13, BugD_RetryAfterADeferredTimeoutGetsTheRecordedAnswer) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 600000), T0));  // (2, 1)
  const auto bob = h.last_id;
  for (paxos::TimeMs t = T0 + 200; t <= T0 + 600000; t += 200)
    h.tick(t);  // an idle leader's empty batches
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kTimeout);
  EXPECT_TRUE(h.machine.has_record(2)) << "the record outlives the answer it holds";
  auto retry = h.run(2, lock_cmd("x", "bob", 0, 600000), T0 + 600050, bob.seq);
  ASSERT_TRUE(retry) << "the retry must be answered at once from the record, not queued again";
  EXPECT_EQ(retry->code, Code::kTimeout);
  EXPECT_EQ(retry->applied_at, h.deferred[bob].applied_at);
  EXPECT_EQ(h.machine.waiters(), 0u);
}

// E: expiries are processed in time order. bob's wait ends at T0+500, alice's
// lease at T0+1000; both have passed when the next batch comes (T0+1100).
TEST(Issue13, BugE_AWaitThatEndsBeforeTheLeaseTimesOut) {
  LockHarness h;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 1000), T0)->session;
  ASSERT_EQ(h.run(1, lock_cmd("x", "alice", s), T0)->code, Code::kOk);
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 500), T0));
  const auto bob = h.last_id;
  h.tick(T0 + 1100);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kTimeout) << "bob's wait ended before alice's lease";
  EXPECT_EQ(h.deferred[bob].holder, "alice") << "the holder when his wait ended";
  EXPECT_EQ(h.machine.locks_held(), 0u) << "then the lease ended and nobody was queued";
}

// E, the same order for a waiter's own lease: his wait ends (T0+300) before
// his session does (T0+400), so his answer is TIMEOUT, not SESSION_EXPIRED.
TEST(Issue13, BugE_AWaitThatEndsBeforeItsOwnLeaseTimesOut) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  auto s = h.run(2, session_cmd(Op::kOpenSession, "bob", 0, 400), T0)->session;
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", s, 300), T0));
  const auto bob = h.last_id;
  h.tick(T0 + 450);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kTimeout);
  EXPECT_EQ(h.machine.sessions(), 0u);
}

// At equal times a lease ends before a wait does (docs/LOCKS.md): the lock
// freed at the instant the wait ends goes to the waiter.
TEST(Issue13, ALeaseEndingWhenAWaitEndsFreesTheLockForTheWaiter) {
  LockHarness h;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 1000), T0)->session;
  h.run(1, lock_cmd("x", "alice", s), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 1000), T0));
  const auto bob = h.last_id;
  h.tick(T0 + 1200);
  ASSERT_TRUE(h.deferred.count(bob));
  EXPECT_EQ(h.deferred[bob].code, Code::kOk);
  EXPECT_EQ(h.deferred[bob].holder, "bob");
}

// Also settle (a): the library gives up on a blocking lock ("unavailable")
// and moves first_outstanding past it. The wait must leave the queue: the
// lock must never go to a client that no longer waits (an orphan holder).
TEST(Issue13, GivingUpOnAQueuedWaitWithdrawsIt) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 60000), T0));  // (2, 1)
  const auto bob = h.last_id;
  Command next = lock_cmd("y", "bob");
  next.first_outstanding = 2;  // bob's client no longer waits for (2, 1)
  EXPECT_EQ(h.run(2, next, T0 + 11000)->code, Code::kOk);
  EXPECT_EQ(h.machine.waiters(), 0u) << "bob is no longer queued for x";
  EXPECT_EQ(h.run(1, unlock_cmd("x", "alice"), T0 + 12000)->code, Code::kOk);
  EXPECT_FALSE(h.deferred.count(bob)) << "nobody waits for that answer";
  EXPECT_EQ(h.machine.locks_held(), 1u) << "x is free; only bob's y is held";
  EXPECT_EQ(h.run(2, lock_cmd("x", "bob", 0, 60000), T0 + 13000, bob.seq)->code,
            Code::kDuplicateIgnored);
  EXPECT_EQ(h.machine.waiters(), 0u);
}

// Also settle (b): a blocking lock's attempt timeout is 1 s plus its wait,
// so the library may resend it up to an hour after the machine answered.
// bob's process is paused for that hour: his lease ends and carol takes x.
// His resend must get the original grant, not run again.
TEST(Issue13, TheRecordOutlivesEveryRetryOfALongWait) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  auto s = h.run(2, session_cmd(Op::kOpenSession, "bob", 0, 10000), T0)->session;
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", s, 3600000), T0));  // (2, 2), waits up to 1 h
  const auto bob = h.last_id;
  h.run(1, unlock_cmd("x", "alice"), T0 + 1000);
  ASSERT_TRUE(h.deferred.count(bob));
  const Result granted = h.deferred[bob];
  EXPECT_EQ(granted.code, Code::kOk);
  h.tick(T0 + 11000);  // bob's lease ends
  EXPECT_EQ(h.run(3, lock_cmd("x", "carol"), T0 + 12000)->code, Code::kOk);
  for (paxos::TimeMs t = T0 + 60000; t <= T0 + 3600000; t += 60000)
    h.tick(t);
  auto retry = h.run(2, lock_cmd("x", "bob", s, 3600000), T0 + 3601000, bob.seq);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->code, granted.code);
  EXPECT_EQ(retry->token, granted.token);
  EXPECT_EQ(retry->applied_at, granted.applied_at);
  EXPECT_EQ(h.machine.waiters(), 0u);
  // The record is not kept for ever: 5 minutes past the last retry's wait.
  h.tick(T0 + 3601000 + 3600000 + 5 * 60000 + 1);
  EXPECT_FALSE(h.machine.has_record(2));
}

// Also settle (c): a wait still queued at the front of a client's record
// must not stop the 1,024-answer limit from forgetting old answers.
TEST(Issue13, AQueuedWaitDoesNotStopTheAnswerLimit) {
  LockHarness h;
  h.run(1, lock_cmd("x", "alice"), T0);
  EXPECT_FALSE(h.run(2, lock_cmd("x", "bob", 0, 3600000), T0));  // (2, 1), still waiting
  const auto wait = h.last_id;
  constexpr int kMore = 1500;
  for (int i = 0; i < kMore; ++i) {
    Command c = lock_cmd("y" + std::to_string(i), "bob");
    c.first_outstanding = 1;  // the library still waits for (2, 1)
    EXPECT_EQ(h.run(2, c, T0 + i)->code, Code::kOk);
  }
  EXPECT_LE(h.machine.answers_kept(2), 1024u) << "bounded memory";
  // The newest answer is still answered from the record.
  auto newest = h.run(2, lock_cmd("y1499", "bob"), T0 + kMore, 1 + kMore);
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->applied_at, 2u + kMore);
  // A forgotten one is refused, never executed again.
  EXPECT_EQ(h.run(2, lock_cmd("y0", "bob"), T0 + kMore, 2)->code, Code::kDuplicateIgnored);
  // The wait is still queued, and its answer, when it comes, is kept.
  EXPECT_EQ(h.machine.waiters(), 1u);
  h.run(1, unlock_cmd("x", "alice"), T0 + kMore + 1);
  ASSERT_TRUE(h.deferred.count(wait));
  EXPECT_EQ(h.deferred[wait].code, Code::kOk);
  for (int i = 0; i < 10; ++i) {
    Command c = lock_cmd("z" + std::to_string(i), "bob");
    c.first_outstanding = 1;
    h.run(2, c, T0 + kMore + 2);
  }
  EXPECT_LE(h.machine.answers_kept(2), 1024u);
  auto retry = h.run(2, lock_cmd("x", "bob", 0, 3600000), T0 + kMore + 3, wait.seq);
  ASSERT_TRUE(retry) << "the grant is still answered from the record";
  EXPECT_EQ(retry->code, Code::kOk);
  EXPECT_EQ(retry->token, h.deferred[wait].token);
}

// Found by the snapshot fuzzer (tests/fuzz/corpus/snapshot/regress-time-
// overflows): deadlines were now + duration in signed arithmetic, which
// overflows for a clock near its end (a batch stamp or a snapshot from a
// peer can carry any time): undefined behaviour, in practice a deadline far
// in the past, so a lease ended the moment it began. They saturate.
TEST(Time, DeadlinesNearTheEndOfTimeSaturateInsteadOfOverflowing) {
  LockHarness h;
  const paxos::TimeMs end = INT64_MAX - 10;
  auto s = h.run(1, session_cmd(Op::kOpenSession, "alice", 0, 60000), end)->session;
  ASSERT_NE(s, 0u);
  ASSERT_EQ(h.run(1, lock_cmd("x", "alice", s), end)->code, Code::kOk);
  EXPECT_EQ(h.run(2, lock_cmd("x", "bob", 0, 5000), end), std::nullopt) << "queued";
  EXPECT_EQ(h.run(3, lock_cmd("x", "carol", 0, 0, true), end)->code, Code::kHeld);
  EXPECT_EQ(h.run(1, session_cmd(Op::kKeepAlive, "alice", s), end + 1)->code, Code::kOk);
  EXPECT_EQ(h.machine.sessions(), 1u) << "the lease did not end at once";
  EXPECT_EQ(h.machine.waiters(), 1u) << "nor the wait";
  EXPECT_EQ(h.machine.locks_held(), 1u);
}

// ---------------------------------------------------------- snapshots

TEST(Snapshot, RestoredMachineAnswersLikeTheOriginal) {
  LockHarness a;
  a.run(1, lock_cmd("x", "alice"), T0);
  auto s = a.run(2, session_cmd(Op::kOpenSession, "bob", 0, 3000), T0)->session;
  a.run(2, lock_cmd("y", "bob", s), T0);
  a.run(3, lock_cmd("x", "carol", 0, 5000), T0);
  a.run(2, lock_cmd("x", "bob", 0, 0, true), T0);
  LockHarness b;
  ASSERT_TRUE(b.machine.restore(a.machine.snapshot()));
  EXPECT_EQ(b.machine.snapshot(), a.machine.snapshot());
  EXPECT_FALSE(b.machine.restore("not a snapshot"));
  EXPECT_EQ(b.machine.snapshot(), a.machine.snapshot()) << "a failed restore changes nothing";
}

// Found by the snapshot fuzzer (tests/fuzz/corpus/snapshot/regress-waiter-of-
// unknown-session): a snapshot (a peer's, say) whose waiter names a session
// that does not exist was restored, and releasing the lock threw out of
// grant(). Such a state is refused, like a holder of an unknown session.
TEST(Snapshot, WaiterOfAnUnknownSessionIsRefused) {
  LockHarness a;
  a.run(1, lock_cmd("x", "alice"), T0);
  auto s = a.run(2, session_cmd(Op::kOpenSession, "bob", 0, 60000), T0)->session;
  a.run(2, lock_cmd("x", "bob", s, 5000), T0);
  pb::LockSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(a.machine.snapshot()));
  ASSERT_EQ(snap.locks(0).waiters(0).session(), s);
  LockHarness b;
  ASSERT_TRUE(b.machine.restore(snap.SerializeAsString()));
  snap.mutable_locks(0)->mutable_waiters(0)->set_session(s + 1);
  EXPECT_FALSE(b.machine.validate(snap.SerializeAsString(), UINT64_MAX));
  EXPECT_FALSE(b.machine.restore(snap.SerializeAsString()));
}

// Found by the snapshot fuzzer (corpus/snapshot/regress-applied-instance-
// past-next): a state claiming instance 2^64-1 applied, in a snapshot whose
// next instance is 7, validated; installed from a peer, the first instance
// applied after it failed apply's check `instance > instance_` (fatal).
TEST(Snapshot, AStateThatAppliedItsNextInstanceOrLaterDoesNotValidate) {
  LockHarness a;
  a.run(1, lock_cmd("x", "alice"), T0);
  pb::LockSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(a.machine.snapshot()));
  LockMachine b;
  for (paxos::Instance applied :
       {paxos::Instance{6}, paxos::Instance{7}, paxos::Instance{8}, paxos::Instance{UINT64_MAX}}) {
    snap.set_applied_instance(applied);
    EXPECT_EQ(b.validate(snap.SerializeAsString(), 7), applied < 7) << applied;
  }
}

// ...and one of a session of another owner: closing that session left the
// wait queued (it ends the waits of its own owner), and releasing the lock
// granted it under the session that was gone (snapshot fuzzer, corpus
// regress-waiter-of-another-owners-session). A holder's session is checked
// the same way.
TEST(Snapshot, LockOrWaitUnderASessionOfAnotherOwnerIsRefused) {
  LockHarness a;
  auto s = a.run(1, session_cmd(Op::kOpenSession, "alice", 0, 60000), T0)->session;
  a.run(1, lock_cmd("x", "alice", s), T0);
  a.run(2, lock_cmd("x", "bob", 0, 5000), T0);
  pb::LockSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(a.machine.snapshot()));
  LockHarness b;
  ASSERT_TRUE(b.machine.restore(snap.SerializeAsString()));
  pb::LockSnapshot waiter = snap;
  waiter.mutable_locks(0)->mutable_waiters(0)->set_session(s);  // alice's, for bob
  EXPECT_FALSE(b.machine.restore(waiter.SerializeAsString()));
  pb::LockSnapshot holder = snap;
  holder.mutable_locks(0)->set_holder("carol");  // under alice's session
  EXPECT_FALSE(b.machine.restore(holder.SerializeAsString()));
}

// Found by the snapshot fuzzer (tests/fuzz/corpus/snapshot/regress-token-
// counter-wraps): a snapshot whose token counter was near 2^64 (only a forged
// one can be: it counts grants) was installed, the counter wrapped to token
// 0, and every snapshot taken after was refused, at restarts and by peers.
// Tokens never wrap: at 2^64-1 a request that needs a grant is INVALID.
TEST(Snapshot, TheTokenCounterNeverWrapsWhatNeedsAGrantIsInvalidOnceItsAtTheTop) {
  LockHarness a;
  a.run(1, lock_cmd("x", "alice"), T0);
  a.run(2, lock_cmd("x", "bob", 0, 5000), T0);
  a.run(3, lock_cmd("x", "carol", 0, 5000), T0);
  pb::LockSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(a.machine.snapshot()));
  snap.set_next_token(UINT64_MAX - 1);
  snap.set_applied_instance(0);  // for the harness's instance numbers
  LockHarness b;
  ASSERT_TRUE(b.machine.restore(snap.SerializeAsString()));

  // (Seqs given: b's harness does not know what a's clients sent.)
  ASSERT_EQ(b.run(1, unlock_cmd("x", "alice"), T0 + 1, 2)->code, Code::kOk);
  const paxos::CommandId bob{2, 1};
  ASSERT_TRUE(b.deferred.count(bob));
  EXPECT_EQ(b.deferred[bob].code, Code::kOk);
  EXPECT_EQ(b.deferred[bob].token, UINT64_MAX);  // the last token there is

  EXPECT_EQ(b.run(4, lock_cmd("y", "dave"), T0 + 2)->code, Code::kInvalid);
  EXPECT_EQ(b.run(2, lock_cmd("x", "bob"), T0 + 3, 2)->token, UINT64_MAX) << "held: no new token";
  ASSERT_EQ(b.run(2, unlock_cmd("x", "bob"), T0 + 4, 3)->code, Code::kOk);
  const paxos::CommandId carol{3, 1};
  ASSERT_TRUE(b.deferred.count(carol));
  EXPECT_EQ(b.deferred[carol].code, Code::kInvalid);  // its wait ends, unanswerable
  EXPECT_EQ(b.machine.locks_held(), 0u);
  EXPECT_EQ(b.machine.waiters(), 0u);
  LockHarness c;
  EXPECT_TRUE(c.machine.restore(b.machine.snapshot()));
}

}  // namespace
}  // namespace paxlock::lock

namespace paxlock::lock {
namespace {

// paxlock 0.1's encoding of a result without locks or cycle edges (the format
// legacy_codec.cc reads): u8 code, varint token, bytes holder, varint
// session, svarint ttl, varint applied_at, u8 current, varint 0 locks, bytes
// next, varint 0 edges.
std::string legacy_result(const Result& r) {
  std::string out;
  Writer w(out);
  w.u8(static_cast<uint8_t>(r.code));
  w.varint(r.token);
  w.bytes(r.holder);
  w.varint(r.session);
  w.svarint(r.ttl_ms);
  w.varint(r.applied_at);
  w.u8(r.current ? 1 : 0);
  w.varint(0);
  w.bytes(r.next);
  w.varint(0);
  return out;
}

TEST(Snapshot, AnswersCachedByTheOldReleaseRestoreToTheNewBytes) {
  // Replica A applied its commands with this release; replica B restored a
  // snapshot of the same state written by paxlock 0.1 (its cached answers in
  // the legacy encoding). Their states must be the same bytes, or state
  // hashes and snapshot digests disagree between replicas after an upgrade.
  testing::LockHarness a;
  ASSERT_EQ(a.run(42, testing::lock_cmd("x", "alice"), 1000)->code, Code::kOk);
  ASSERT_EQ(a.run(42, testing::lock_cmd("x", "bob"), 1001)->code, Code::kHeld);
  const std::string fresh = a.machine.snapshot();

  pb::LockSnapshot old;
  ASSERT_TRUE(old.ParseFromString(fresh));
  int replaced = 0;
  for (pb::SnapClient& c : *old.mutable_clients()) {
    for (pb::SnapReply& r : *c.mutable_replies()) {
      auto answer = decode_result(r.reply());
      ASSERT_TRUE(answer.ok());
      r.set_reply(legacy_result(*answer));
      ASSERT_TRUE(legacy::is_legacy(r.reply()));
      ++replaced;
    }
  }
  ASSERT_EQ(replaced, 2);
  const std::string written_by_old = old.SerializeAsString();
  ASSERT_NE(written_by_old, fresh);

  testing::LockHarness b;
  ASSERT_TRUE(b.machine.restore(written_by_old));
  EXPECT_EQ(b.machine.snapshot(), fresh);
}

}  // namespace
}  // namespace paxlock::lock
