// The pure client core (src/client/client_core.h) on simulated time: what it
// sends where, when it retries, what it completes with.
#include "client/client_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace paxlock::client {
namespace {

using namespace std::chrono_literals;

const Time kT0 = Time{} + 1h;

ClientOptions three(ReplicaChoice choice = ReplicaChoice::kRandom) {
  ClientOptions o;
  o.cluster_id = "test";
  for (uint32_t id = 1; id <= 3; ++id)
    o.replicas.push_back({id, "127.0.0.1:" + std::to_string(7000 + id), "", ""});
  o.choice = choice;
  o.attempt_timeout = 100ms;
  o.request_timeout = 1000ms;
  o.client_id = 42;
  o.seed = 7;
  return o;
}

pb::ClientRequest lock_req(const std::string& name, const std::string& owner = "me") {
  pb::ClientRequest r;
  r.mutable_command()->set_op(pb::LOCK);
  r.mutable_command()->set_name(name);
  r.mutable_command()->set_owner(owner);
  return r;
}

pb::ClientResponse answer(const pb::ClientRequest& req, pb::Code code, uint64_t token = 0) {
  pb::ClientResponse r;
  r.set_request_id(req.request_id());
  r.mutable_result()->set_code(code);
  r.mutable_result()->set_token(token);
  return r;
}

ClientCore::Send only_send(ClientCore& core) {
  auto sends = core.take_sends();
  EXPECT_EQ(sends.size(), 1u);
  return sends.empty() ? ClientCore::Send{} : sends[0];
}

TEST(ClientCore, ARetryAfterTimeoutIsTheSameCommandOnAnotherReplica) {
  ClientCore core(three());
  const auto h = core.submit(lock_req("a"), kT0);
  const auto first = only_send(core);
  EXPECT_EQ(first.request.client_id(), 42u);
  EXPECT_EQ(first.request.seq(), 1u);
  ASSERT_EQ(core.next_tick(), kT0 + 100ms);

  core.tick(kT0 + 99ms);  // not yet
  EXPECT_TRUE(core.take_sends().empty());
  core.tick(kT0 + 100ms);
  const auto second = only_send(core);
  EXPECT_NE(second.replica, first.replica);
  EXPECT_EQ(first.handle, h);
  EXPECT_EQ(second.handle, h);
  EXPECT_EQ(second.request.client_id(), 42u);
  EXPECT_EQ(second.request.seq(), 1u);                                 // the same command...
  EXPECT_NE(second.request.request_id(), first.request.request_id());  // ...a new attempt
  EXPECT_EQ(second.request.command().name(), "a");

  // The late answer to the first attempt is ignored; the second's counts.
  core.on_response(first.replica, answer(first.request, pb::OK, 5), kT0 + 101ms);
  EXPECT_TRUE(core.take_completions().empty());
  core.on_response(second.replica, answer(second.request, pb::OK, 9), kT0 + 102ms);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].handle, h);
  EXPECT_EQ(done[0].reply.code, Code::kOk);
  EXPECT_EQ(done[0].reply.token, 9u);
  EXPECT_EQ(done[0].reply.seq, 1u);
  EXPECT_EQ(done[0].reply.client_id, 42u);
  EXPECT_EQ(done[0].reply.attempts, 2);
  EXPECT_EQ(done[0].reply.served_by, core.options().replicas[second.replica].id);
  EXPECT_EQ(core.pending(), 0u);
  EXPECT_FALSE(core.next_tick().has_value());
}

TEST(ClientCore, FirstOutstandingIsTheLowestSeqStillWaitedFor) {
  ClientCore core(three());
  core.submit(lock_req("a"), kT0);
  const auto a = only_send(core);
  core.submit(lock_req("b"), kT0);
  const auto b = only_send(core);
  EXPECT_EQ(a.request.command().first_outstanding(), 1u);
  EXPECT_EQ(b.request.command().first_outstanding(), 1u);  // a still waits

  core.on_response(a.replica, answer(a.request, pb::OK), kT0 + 1ms);
  core.submit(lock_req("c"), kT0 + 2ms);
  const auto c = only_send(core);
  EXPECT_EQ(c.request.seq(), 3u);
  EXPECT_EQ(c.request.command().first_outstanding(), 2u);  // b still waits

  // b's retry carries the new first_outstanding, and its own seq.
  core.tick(kT0 + 100ms);
  auto retries = core.take_sends();
  ASSERT_EQ(retries.size(), 1u);  // b (c's attempt runs until 102 ms)
  EXPECT_EQ(retries[0].request.seq(), 2u);
  EXPECT_EQ(retries[0].request.command().first_outstanding(), 2u);

  core.on_response(retries[0].replica, answer(retries[0].request, pb::OK), kT0 + 101ms);
  core.on_response(c.replica, answer(c.request, pb::OK), kT0 + 101ms);
  EXPECT_EQ(core.first_outstanding(), 4u);
  core.submit(lock_req("d"), kT0 + 103ms);
  EXPECT_EQ(only_send(core).request.command().first_outstanding(), 4u);
}

TEST(ClientCore, HashChoiceIsAFunctionOfTheRequest) {
  ClientCore one(three(ReplicaChoice::kHash));
  ClientCore two(three(ReplicaChoice::kHash));
  std::set<size_t> used;
  for (int k = 0; k < 20; ++k) {
    const std::string name = "lock" + std::to_string(k);
    one.submit(lock_req(name), kT0);
    two.submit(lock_req(name), kT0);
    two.submit(lock_req(name), kT0);
    const size_t r = only_send(one).replica;
    auto sends = two.take_sends();
    ASSERT_EQ(sends.size(), 2u);
    EXPECT_EQ(sends[0].replica, r);
    EXPECT_EQ(sends[1].replica, r);
    used.insert(r);
  }
  EXPECT_GT(used.size(), 1u);
}

TEST(ClientCore, FixedChoiceUsesTheFixedReplicaUntilItFails) {
  ClientOptions o = three(ReplicaChoice::kFixed);
  o.fixed_replica = 2;
  ClientCore core(o);
  for (int k = 0; k < 5; ++k) {
    core.submit(lock_req("a"), kT0);
    EXPECT_EQ(only_send(core).replica, 1u);  // member id 2
  }
  core.on_connection_lost(1, kT0);  // every attempt moves elsewhere
  auto moved = core.take_sends();
  ASSERT_EQ(moved.size(), 5u);
  for (const auto& s : moved)
    EXPECT_NE(s.replica, 1u);
  // While it is down, new requests avoid it; after down_for, back to it.
  core.submit(lock_req("b"), kT0 + 10ms);
  EXPECT_NE(only_send(core).replica, 1u);
  core.submit(lock_req("c"), kT0 + 300ms);
  EXPECT_EQ(only_send(core).replica, 1u);
}

TEST(ClientCore, RandomChoiceSpreadsAndIsReproducibleFromTheSeed) {
  ClientCore one(three());
  ClientCore two(three());
  std::map<size_t, int> count;
  for (int k = 0; k < 300; ++k) {
    one.submit(lock_req("a"), kT0);
    two.submit(lock_req("a"), kT0);
    const size_t r = only_send(one).replica;
    EXPECT_EQ(only_send(two).replica, r);
    ++count[r];
  }
  ASSERT_EQ(count.size(), 3u);
  for (const auto& [r, n] : count)
    EXPECT_GT(n, 50) << "replica " << r;
}

TEST(ClientCore, NoAnswerBeforeTheDeadlineIsUnavailable) {
  ClientCore core(three());
  const auto h = core.submit(lock_req("a"), kT0);
  int sends = static_cast<int>(core.take_sends().size());
  Time now = kT0;
  std::vector<ClientCore::Completion> done;
  while (done.empty()) {
    ASSERT_TRUE(core.next_tick().has_value());
    now = *core.next_tick();
    ASSERT_LE(now, kT0 + 1000ms);
    core.tick(now);
    sends += static_cast<int>(core.take_sends().size());
    done = core.take_completions();
  }
  EXPECT_EQ(now, kT0 + 1000ms);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].handle, h);
  EXPECT_EQ(done[0].reply.code, Code::kUnavailable);
  EXPECT_EQ(done[0].reply.attempts, 10);  // one every 100 ms
  EXPECT_EQ(sends, 10);
  EXPECT_EQ(core.pending(), 0u);
  EXPECT_EQ(core.first_outstanding(), 2u);  // it no longer waits for seq 1
}

TEST(ClientCore, ABlockingLockWaitsItsWaitTimeOnTop) {
  ClientCore core(three());
  auto req = lock_req("a");
  req.mutable_command()->set_wait_ms(500);
  core.submit(req, kT0, 500ms);
  core.take_sends();
  EXPECT_EQ(core.next_tick(), kT0 + 600ms);
}

TEST(ClientCore, BusyOrShuttingDownGoesToAnotherReplicaAtOnce) {
  for (pb::Code refusal : {pb::BUSY, pb::SHUTTING_DOWN}) {
    ClientCore core(three());
    core.submit(lock_req("a"), kT0);
    const auto first = only_send(core);
    core.on_response(first.replica, answer(first.request, refusal), kT0 + 5ms);
    EXPECT_TRUE(core.take_completions().empty());
    const auto second = only_send(core);
    EXPECT_NE(second.replica, first.replica);
    EXPECT_EQ(second.request.seq(), first.request.seq());
    // The busy replica is avoided for a while by new requests.
    for (int k = 0; k < 10; ++k) {
      core.submit(lock_req("b"), kT0 + 6ms);
      EXPECT_NE(only_send(core).replica, first.replica);
    }
  }
}

TEST(ClientCore, ARefusedHelloFailsItsRequestsWithTheReason) {
  ClientOptions o = three(ReplicaChoice::kFixed);
  o.fixed_replica = 1;
  ClientCore core(o);
  core.submit(lock_req("a"), kT0);
  core.take_sends();
  core.on_refused(0, "wrong cluster", kT0 + 1ms);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reply.code, Code::kUnavailable);
  EXPECT_EQ(done[0].reply.error, "wrong cluster");
}

TEST(ClientCore, CloseCompletesEverythingPending) {
  ClientCore core(three());
  core.submit(lock_req("a"), kT0);
  core.submit(lock_req("b"), kT0);
  core.close();
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 2u);
  for (const auto& c : done)
    EXPECT_EQ(c.reply.code, Code::kUnavailable);
  EXPECT_FALSE(core.next_tick().has_value());
}

TEST(ClientCore, NoReplicasCompletesAtOnce) {
  ClientOptions o;
  ClientCore core(o);
  core.submit(lock_req("a"), kT0);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reply.code, Code::kUnavailable);
  EXPECT_TRUE(core.take_sends().empty());
}

TEST(ClientCore, ClusterInfoOfOneReplicaAsksThatReplica) {
  ClientCore core(three());
  pb::ClientRequest req;
  req.set_cluster_info(true);
  for (int k = 0; k < 10; ++k) {
    core.submit(req, kT0, 0ms, /*only_member=*/3);
    EXPECT_EQ(only_send(core).replica, 2u);
  }
}

// Keep-alives: one at once, then every TTL/3; acknowledged ones move the
// deadline (send time + TTL - margin); without them the session is lost at
// the deadline, reported once.
TEST(ClientCore, SessionKeepAlivesEveryThirdOfTheTtlAndLossAtTheDeadline) {
  ClientCore core(three());
  core.start_session(77, 3000ms, kT0, kT0);
  auto ka = only_send(core);
  EXPECT_EQ(ka.request.command().op(), pb::KEEP_ALIVE);
  EXPECT_EQ(ka.request.command().session(), 77u);
  // Acknowledge it: the deadline becomes kT0 + 3000 - 700.
  core.on_response(ka.replica, answer(ka.request, pb::OK), kT0 + 10ms);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].keep_alive_of, 77u);
  EXPECT_EQ(core.next_tick(), kT0 + 1000ms);

  core.tick(kT0 + 1000ms);
  auto second = only_send(core);
  EXPECT_EQ(second.request.command().op(), pb::KEEP_ALIVE);
  core.on_response(second.replica, answer(second.request, pb::OK), kT0 + 1020ms);
  core.take_completions();
  // From now on nothing is answered: renewals go out every second (and their
  // attempts retry), until the deadline kT0 + 1000 + 3000 - 700.
  Time now = kT0 + 1020ms;
  std::set<uint64_t> keep_alives;  // fresh ones (by seq), not retries
  while (core.take_lost_sessions().empty()) {
    ASSERT_TRUE(core.next_tick().has_value());
    now = *core.next_tick();
    ASSERT_LE(now, kT0 + 3300ms);
    core.tick(now);
    for (const auto& s : core.take_sends()) {
      if (s.request.seq() > second.request.seq()) keep_alives.insert(s.request.seq());
    }
  }
  EXPECT_EQ(now, kT0 + 3300ms);
  EXPECT_EQ(keep_alives.size(), 2u);  // at 2000 and 3000 ms
  EXPECT_TRUE(core.session_lost(77));
  core.tick(now + 10s);
  EXPECT_TRUE(core.take_lost_sessions().empty());  // reported once
}

TEST(ClientCore, SessionExpiredAnswerLosesTheSession) {
  ClientCore core(three());
  core.start_session(5, 3000ms, kT0, kT0);
  auto ka = only_send(core);
  core.on_response(ka.replica, answer(ka.request, pb::SESSION_EXPIRED), kT0 + 1ms);
  EXPECT_EQ(core.take_lost_sessions(), std::vector<uint64_t>{5});
  EXPECT_TRUE(core.session_lost(5));
}

// docs/LOCKS.md: a grant whose lease the client cannot vouch for must not be
// taken for a valid one. An answer that arrives after the lease's deadline,
// before the tick at the deadline ran (the answer was read first, or the
// process did not run for a while), comes with the loss; a keep-alive's
// acknowledgement, though, first moves the deadline.
TEST(ClientCore, AnAnswerAfterTheLeaseDeadlineComesWithItsLossBeforeAnyTick) {
  ClientCore core(three());
  core.start_session(5, 3000ms, kT0, kT0);
  auto ka = only_send(core);
  core.on_response(ka.replica, answer(ka.request, pb::OK), kT0 + 10ms);
  core.take_completions();  // deadline: kT0 + 3000 - 700

  pb::ClientRequest req = lock_req("L");
  req.mutable_command()->set_session(5);
  req.mutable_command()->set_wait_ms(1000);
  core.submit(req, kT0 + 2000ms, 1000ms);
  auto lock = only_send(core);
  // No tick at kT0 + 2300: the grant is read first, at kT0 + 2400.
  core.on_response(lock.replica, answer(lock.request, pb::OK, 9), kT0 + 2400ms);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reply.token, 9u);
  EXPECT_EQ(core.take_lost_sessions(), std::vector<uint64_t>{5});
  EXPECT_TRUE(core.session_lost(5));
  core.tick(kT0 + 2500ms);
  EXPECT_TRUE(core.take_lost_sessions().empty());  // reported once

  // A renewal sent at kT0 + 1000 and acknowledged after the old deadline
  // moves it to kT0 + 3300 first: not lost.
  ClientCore renewed(three());
  renewed.start_session(6, 3000ms, kT0, kT0);
  ka = only_send(renewed);
  renewed.on_response(ka.replica, answer(ka.request, pb::OK), kT0 + 10ms);
  renewed.tick(kT0 + 1000ms);
  auto ka2 = only_send(renewed);
  renewed.on_response(ka2.replica, answer(ka2.request, pb::OK), kT0 + 2400ms);
  EXPECT_TRUE(renewed.take_lost_sessions().empty());
  EXPECT_FALSE(renewed.session_lost(6));
}

TEST(ClientCore, AClosedSessionSendsNothingMore) {
  ClientCore core(three());
  core.start_session(5, 3000ms, kT0, kT0);
  const uint64_t first = only_send(core).request.seq();
  core.close_session(5);
  for (Time now = kT0; now < kT0 + 10s; now += 50ms) {
    core.tick(now);
    for (const auto& s : core.take_sends())
      EXPECT_EQ(s.request.seq(), first);  // only retries of the one already sent
  }
  EXPECT_TRUE(core.take_lost_sessions().empty());
}

TEST(ClientCore, ResponseConversion) {
  pb::ClientResponse r;
  r.mutable_result()->set_code(pb::HELD);
  r.mutable_result()->set_holder("other");
  r.mutable_result()->set_token(3);
  auto* l = r.mutable_result()->add_locks();
  l->set_name("x");
  l->add_waiters()->set_owner("w");
  Reply out = to_reply(r);
  EXPECT_EQ(out.code, Code::kHeld);
  EXPECT_EQ(out.holder, "other");
  EXPECT_EQ(out.token, 3u);
  ASSERT_EQ(out.locks.size(), 1u);
  EXPECT_EQ(out.locks[0].waiters.at(0).owner, "w");
  r.mutable_result()->set_code(pb::BUSY);  // never a final answer
  EXPECT_EQ(to_reply(r).code, Code::kBadRequest);
}

// A dead cluster: every connection is refused at once. The core must back
// off (exponential, jittered, at least retry_floor apart once every replica
// has failed) instead of trying again in a busy loop. Before the back-off,
// a 2 s request made tens of thousands of attempts (issue 15, item 4).
TEST(ClientCore, ADeadClusterCostsAFewAttemptsNotABusyLoop) {
  ClientOptions o = three();
  o.attempt_timeout = 1000ms;
  o.request_timeout = 2000ms;
  ClientCore core(o);
  const auto h = core.submit(lock_req("x"), kT0);
  std::vector<Time> sent;
  Time now = kT0;
  bool done = false;
  for (int steps = 0; steps < 100000 && !done; ++steps) {
    // Each send is refused the moment it is made (as a refused connect is).
    auto sends = core.take_sends();
    for (const auto& s : sends) {
      sent.push_back(now);
      core.on_connection_lost(s.replica, now);
    }
    for (const auto& c : core.take_completions()) {
      EXPECT_EQ(c.handle, h);
      EXPECT_EQ(c.reply.code, Code::kUnavailable);
      EXPECT_EQ(c.reply.attempts, static_cast<int>(sent.size()));
      done = true;
    }
    if (!done && sends.empty()) {
      const auto next = core.next_tick();
      ASSERT_TRUE(next.has_value());
      ASSERT_GT(*next, now);  // time moves: never a tick due "now" again and again
      now = *next;
      core.tick(now);
    }
  }
  ASSERT_TRUE(done);
  EXPECT_GE(now, kT0 + 2000ms);
  EXPECT_LE(now, kT0 + 2001ms);
  // A round tries each replica not marked down at once (at most 3 here);
  // between rounds the core waits at least half the floor, and the waits
  // grow toward the ceiling.
  ASSERT_GE(sent.size(), 4u);
  EXPECT_LE(sent.size(), 30u) << "attempts in 2 s against a dead cluster";
  std::vector<Time> rounds = {sent[0]};
  for (size_t i = 1; i < sent.size(); ++i) {
    if (sent[i] != rounds.back()) rounds.push_back(sent[i]);
  }
  for (size_t i = 0; i < sent.size(); ++i)
    EXPECT_LE(std::count(sent.begin(), sent.end(), sent[i]), 3) << "attempt " << i;
  for (size_t i = 1; i < rounds.size(); ++i)
    EXPECT_GE(rounds[i] - rounds[i - 1], 5ms) << "round " << i;
  ASSERT_GE(rounds.size(), 4u);
  EXPECT_GE(rounds.back() - rounds[rounds.size() - 2], 250ms);  // grown toward the ceiling
}

// BUSY from every replica is the same: back off, then try again, and a
// replica that recovers gets the request.
TEST(ClientCore, BusyEverywhereBacksOffThenSucceeds) {
  ClientCore core(three());
  const auto h = core.submit(lock_req("x"), kT0);
  Time now = kT0;
  std::vector<Time> sent;
  while (sent.size() < 8) {
    auto sends = core.take_sends();
    if (sends.empty()) {
      const auto next = core.next_tick();
      ASSERT_TRUE(next.has_value());
      ASSERT_GT(*next, now);
      now = *next;
      core.tick(now);
      continue;
    }
    ASSERT_EQ(sends.size(), 1u);
    sent.push_back(now);
    core.on_response(sends[0].replica, answer(sends[0].request, pb::BUSY), now);
  }
  // Three at once (one per replica), then waits of at least half the floor.
  EXPECT_EQ(sent[2], kT0);
  for (size_t i = 3; i < sent.size(); ++i)
    EXPECT_GE(sent[i] - sent[i - 1], 5ms) << "attempt " << i;
  auto next = core.next_tick();
  ASSERT_TRUE(next.has_value());
  now = *next;
  core.tick(now);
  auto s = only_send(core);
  core.on_response(s.replica, answer(s.request, pb::OK, 77), now + 1ms);
  auto done = core.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].handle, h);
  EXPECT_EQ(done[0].reply.code, Code::kOk);
  EXPECT_EQ(done[0].reply.attempts, 9);
  EXPECT_EQ(done[0].reply.seq, 1u);  // one command throughout
}

}  // namespace
}  // namespace paxlock::client
