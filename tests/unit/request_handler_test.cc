// Serving client requests (src/service/request_handler): what a request that
// cannot be a command gets (a refusal naming why, nothing submitted), and a
// valid one's answer from the log. One replica of a single-node cluster on a
// simulated disk, the real lock machine.
#include "service/request_handler.h"

#include <gtest/gtest.h>

#include <deque>

#include "lock/command.h"
#include "lock/lock_machine.h"
#include "sim/sim_log_store.h"

namespace paxlock::service {
namespace {

class RequestHandlerTest : public ::testing::Test, public paxos::Transport {
 protected:
  void SetUp() override {
    paxos::Config c;
    c.self = 1;
    c.members = {1};
    c.rng_seed = 7;
    store_ = std::make_unique<sim::SimLogStore>(
        fs_, "/data", 1, storage::WalOptions{1 << 16, false},
        [this](std::function<void()> fn) { disk_.push_back(std::move(fn)); });
    replica_ =
        std::make_unique<driver::Replica>(c, driver::ReplicaOptions{}, *store_, *this, machine_);
    ASSERT_TRUE(replica_->start(now_).ok());
    RequestHandlerOptions o;
    o.pending_max = 2;
    o.counts = &counts_;
    handler_ = std::make_unique<RequestHandler>(
        *replica_, o, [](pb::ClusterInfo* info) { info->set_cluster_id("t"); },
        [this](pb::ClientResponse& r, bool from_log) {
          answers_.push_back(r);
          from_log_.push_back(from_log);
        });
    run();
  }

  void send(const paxos::Message&) override {}

  // Runs the single node until nothing is left to do.
  void run() {
    for (int k = 0; k < 200; ++k) {
      now_ += 10;
      replica_->tick(now_, now_);
      while (!disk_.empty()) {
        auto fn = std::move(disk_.front());
        disk_.pop_front();
        fn();
      }
    }
  }

  pb::ClientRequest lock_request(uint64_t rid, uint64_t seq, const std::string& name) {
    pb::ClientRequest r;
    r.set_request_id(rid);
    r.set_client_id(42);
    r.set_seq(seq);
    r.mutable_command()->set_op(pb::LOCK);
    r.mutable_command()->set_name(name);
    r.mutable_command()->set_owner("alice");
    return r;
  }

  // The one answer given since the last call, which must be a refusal.
  void expect_refused(pb::Code code, const std::string& why) {
    ASSERT_EQ(answers_.size(), 1u);
    EXPECT_EQ(answers_[0].result().code(), code);
    EXPECT_NE(answers_[0].error().find(why), std::string::npos) << answers_[0].error();
    EXPECT_FALSE(from_log_[0]);
    answers_.clear();
    from_log_.clear();
  }

  sim::SimFs fs_{3};
  std::deque<std::function<void()>> disk_;
  std::unique_ptr<sim::SimLogStore> store_;
  lock::LockMachine machine_;
  std::unique_ptr<driver::Replica> replica_;
  RequestCounts counts_;
  std::unique_ptr<RequestHandler> handler_;
  std::vector<pb::ClientResponse> answers_;
  std::vector<bool> from_log_;
  paxos::TimeMs now_ = 1000;
};

TEST_F(RequestHandlerTest, WhatCannotBeACommandIsRefusedWithTheReasonAndNeverSubmitted) {
  pb::ClientRequest empty;
  empty.set_request_id(1);
  handler_->handle(empty);
  expect_refused(pb::BAD_REQUEST, "no command");

  auto no_ids = lock_request(2, 0, "x");
  handler_->handle(no_ids);
  expect_refused(pb::BAD_REQUEST, "client_id and seq must be nonzero");

  auto bad_op = lock_request(3, 1, "x");
  bad_op.mutable_command()->set_op(static_cast<pb::Op>(77));
  handler_->handle(bad_op);
  expect_refused(pb::BAD_REQUEST, "unknown op 77");

  auto long_name = lock_request(4, 2, std::string(lock::kNameBytesMax + 1, 'n'));
  handler_->handle(long_name);
  expect_refused(pb::BAD_REQUEST, "name longer than 512 bytes");

  auto long_owner = lock_request(5, 3, "x");
  long_owner.mutable_command()->set_owner(std::string(lock::kOwnerBytesMax + 1, 'o'));
  handler_->handle(long_owner);
  expect_refused(pb::BAD_REQUEST, "owner longer than 256 bytes");

  EXPECT_EQ(handler_->pending(), 0u);
  run();
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(machine_.locks_held(), 0u);  // nothing reached the log
}

TEST_F(RequestHandlerTest, ANameOrOwnerWithControlsOrInvalidUtf8IsInvalidWithTheReason) {
  handler_->handle(lock_request(1, 1, "a\nb"));
  expect_refused(pb::INVALID, "the lock name cannot contain control characters (byte 0x0a");
  handler_->handle(lock_request(2, 2, std::string("nul\0", 4)));
  expect_refused(pb::INVALID, "(byte 0x00 at offset 3)");
  handler_->handle(lock_request(3, 3, "\x1b]0;pwned\x07"));
  expect_refused(pb::INVALID, "(byte 0x1b at offset 0)");
  handler_->handle(lock_request(4, 4, "\xff\xfe"));
  expect_refused(pb::INVALID, "the lock name must be valid UTF-8");
  auto owner = lock_request(5, 5, "fine");
  owner.mutable_command()->set_owner("mal\xc2\x9b");
  handler_->handle(owner);
  expect_refused(pb::INVALID, "the owner cannot contain control characters");
  auto session = lock_request(6, 6, "");
  session.mutable_command()->set_op(pb::OPEN_SESSION);
  session.mutable_command()->set_owner("o\r");
  session.mutable_command()->set_ttl_ms(1000);
  handler_->handle(session);
  expect_refused(pb::INVALID, "the owner cannot contain control characters");
  EXPECT_EQ(counts_.count(1, 8), 5u);  // lock, invalid
  EXPECT_EQ(handler_->pending(), 0u);
  run();
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(machine_.locks_held(), 0u);  // nothing reached the log
  EXPECT_EQ(machine_.sessions(), 0u);
}

// The identity is the replica's to stamp: what a client writes there is
// replaced by the connection's (none in insecure mode: with bob's, it could
// not take alice's lock; as "admin" it could be anyone once a table exists),
// and the ACL operations are refused while the client is not authenticated.
TEST_F(RequestHandlerTest, InsecureAClientsIdentityIsDroppedAndAclOperationsAreRefused) {
  auto claimed = lock_request(1, 1, "x");
  claimed.mutable_command()->set_identity("bob");  // owner alice: bob may not act as her
  handler_->handle(claimed);
  run();
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].result().code(), pb::OK) << "ran as bob: " << answers_[0].result().code();
  answers_.clear();
  from_log_.clear();
  uint64_t seq = 2;
  for (pb::Op op : {pb::ACL_GRANT, pb::ACL_REVOKE, pb::ACL_LIST, pb::ACL_BOOTSTRAP}) {
    pb::ClientRequest r = lock_request(10 + seq, seq, "");
    ++seq;
    r.mutable_command()->set_op(op);
    r.mutable_command()->mutable_grant()->set_identity("mallory");
    r.mutable_command()->mutable_grant()->set_role(pb::ROLE_ADMIN);
    handler_->handle(r);
    expect_refused(pb::BAD_REQUEST, "ACL operations need an authenticated admin");
  }
  run();
  EXPECT_TRUE(answers_.empty());
}

// An authenticated connection's identity is stamped on every command, over
// what the client wrote: bob claiming to be alice is still bob, and the
// lock machine refuses bob acting as alice and bob granting rights.
TEST_F(RequestHandlerTest, TheConnectionsIdentityIsStampedAndTheMachineJudgesAclOperations) {
  handler_->set_identity("bob");
  auto claimed = lock_request(1, 1, "x");
  claimed.mutable_command()->set_identity("alice");
  handler_->handle(claimed);
  run();
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].result().code(), pb::PERMISSION_DENIED);
  EXPECT_NE(answers_[0].result().reason().find("identity bob may not act as owner alice"),
            std::string::npos)
      << answers_[0].result().reason();
  EXPECT_EQ(machine_.locks_held(), 0u);
  answers_.clear();
  from_log_.clear();
  pb::ClientRequest grant = lock_request(2, 2, "");
  grant.mutable_command()->set_op(pb::ACL_GRANT);
  grant.mutable_command()->mutable_grant()->set_identity("bob");
  grant.mutable_command()->mutable_grant()->set_role(pb::ROLE_ADMIN);
  handler_->handle(grant);
  run();
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_TRUE(from_log_[0]);  // through the log, not refused by the replica
  EXPECT_EQ(answers_[0].result().code(), pb::PERMISSION_DENIED);
}

// Two identities that chose the same client id and sequence number are two
// commands, each executed once, each answered with its own result (the core
// and the replica key commands by (client id, seq) alone).
TEST_F(RequestHandlerTest, TwoIdentitiesWithOneClientIdAreTwoCommands) {
  handler_->set_identity("bob");
  std::vector<pb::ClientResponse> carols;
  RequestHandlerOptions o;
  RequestHandler carol(*replica_, o, nullptr,
                       [&carols](pb::ClientResponse& r, bool) { carols.push_back(r); });
  carol.set_identity("carol");
  for (auto [h, owner] : {std::pair{handler_.get(), "bob"}, std::pair{&carol, "carol"}}) {
    pb::ClientRequest r = lock_request(1, 1, "");
    r.mutable_command()->set_op(pb::OPEN_SESSION);
    r.mutable_command()->set_owner(owner);
    r.mutable_command()->set_ttl_ms(10000);
    h->handle(r);
  }
  run();
  ASSERT_EQ(answers_.size(), 1u);
  ASSERT_EQ(carols.size(), 1u);
  EXPECT_EQ(answers_[0].result().code(), pb::OK);
  EXPECT_EQ(carols[0].result().code(), pb::OK);
  EXPECT_NE(answers_[0].result().session(), carols[0].result().session());
  EXPECT_EQ(machine_.sessions(), 2u);
}

TEST(WireClientId, IsTheClientsOwnWithoutIdentityAndAHashOfBothWithOne) {
  EXPECT_EQ(wire_client_id("", 42), 42u);  // insecure: as before identities
  // First 8 bytes, little-endian, of SHA-256("alice" 0x00 42 as u64 LE)
  // (python3: hashlib.sha256(b"alice\0" + struct.pack("<Q", 42))).
  EXPECT_EQ(wire_client_id("alice", 42), 0x50b103baa6791bffULL);
  EXPECT_NE(wire_client_id("alice", 42), wire_client_id("bob", 42));
  EXPECT_NE(wire_client_id("alice", 42), wire_client_id("alice", 43));
  // 0 is no client id: it is never the result (checked over a sample).
  for (uint64_t id = 0; id < 1000; ++id)
    EXPECT_NE(wire_client_id("x", id), 0u);
}

TEST_F(RequestHandlerTest, AValidCommandIsAnsweredFromTheLogAndAnIdInUseIsBusy) {
  handler_->handle(lock_request(10, 1, "x"));
  handler_->handle(lock_request(10, 2, "y"));  // same request id, still in flight
  expect_refused(pb::BUSY, "request id in use");
  EXPECT_TRUE(handler_->waiting_for(10));
  run();
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_TRUE(from_log_[0]);
  EXPECT_EQ(answers_[0].request_id(), 10u);
  EXPECT_EQ(answers_[0].result().code(), pb::OK);
  EXPECT_GT(answers_[0].result().token(), 0u);
  EXPECT_FALSE(handler_->waiting_for(10));
}

TEST_F(RequestHandlerTest, ClusterInfoIsAnsweredAtOnce) {
  pb::ClientRequest r;
  r.set_request_id(9);
  r.set_cluster_info(true);
  handler_->handle(r);
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].cluster().cluster_id(), "t");
  EXPECT_FALSE(from_log_[0]);
}

size_t op_index(std::string_view name) {
  for (size_t i = 0; i < RequestCounts::kOps.size(); ++i)
    if (RequestCounts::kOps[i] == name) return i;
  ADD_FAILURE() << "no op " << name;
  return 0;
}

size_t result_index(std::string_view name) {
  for (size_t i = 0; i < RequestCounts::kResults.size(); ++i)
    if (RequestCounts::kResults[i] == name) return i;
  ADD_FAILURE() << "no result " << name;
  return 0;
}

uint64_t total(const RequestCounts& c) {
  uint64_t n = 0;
  for (size_t op = 0; op < RequestCounts::kOps.size(); ++op)
    for (size_t res = 0; res < RequestCounts::kResults.size(); ++res)
      n += c.count(op, res);
  return n;
}

// The ACL ops and PERMISSION_DENIED have their own series: they were
// counted as op "unknown" and result "other", so a denial could not be told
// from a garbage code on a dashboard.
TEST(RequestCounts, AclOpsAndPermissionDeniedHaveTheirOwnLabels) {
  pb::ClientRequest r;
  const std::pair<pb::Op, std::string_view> ops[] = {{pb::LOCK, "lock"},
                                                     {pb::CLOSE_SESSION, "close_session"},
                                                     {pb::ACL_GRANT, "acl_grant"},
                                                     {pb::ACL_REVOKE, "acl_revoke"},
                                                     {pb::ACL_LIST, "acl_list"},
                                                     {pb::ACL_BOOTSTRAP, "acl_bootstrap"},
                                                     {static_cast<pb::Op>(9), "unknown"},
                                                     {static_cast<pb::Op>(14), "unknown"}};
  for (const auto& [op, name] : ops) {
    r.mutable_command()->set_op(op);
    EXPECT_EQ(RequestCounts::kOps[RequestCounts::op_of(r)], name) << op;
  }
  const std::pair<int, std::string_view> results[] = {{pb::DUPLICATE_IGNORED, "duplicate_ignored"},
                                                      {pb::PERMISSION_DENIED, "permission_denied"},
                                                      {pb::BUSY, "busy"},
                                                      {pb::SHUTTING_DOWN, "shutting_down"},
                                                      {12, "other"},
                                                      {19, "other"},
                                                      {23, "other"},
                                                      {-1, "other"}};
  for (const auto& [code, name] : results)
    EXPECT_EQ(RequestCounts::kResults[RequestCounts::result_of(code)], name) << code;
}

TEST_F(RequestHandlerTest, EveryAnswerIsCountedByOpAndResult) {
  auto held_by_bob = lock_request(20, 1, "x");
  handler_->handle(held_by_bob);
  run();
  auto second = lock_request(21, 2, "x");
  second.mutable_command()->set_owner("bob");
  handler_->handle(second);  // held by alice
  run();
  auto unlock = lock_request(22, 3, "nobody-holds-this");
  unlock.mutable_command()->set_op(pb::UNLOCK);
  handler_->handle(unlock);
  run();
  auto bad_op = lock_request(23, 4, "x");
  bad_op.mutable_command()->set_op(static_cast<pb::Op>(77));  // a client's garbage
  handler_->handle(bad_op);
  pb::ClientRequest info;
  info.set_request_id(24);
  info.set_cluster_info(true);
  handler_->handle(info);
  ASSERT_EQ(answers_.size(), 5u);

  EXPECT_EQ(counts_.count(op_index("lock"), result_index("ok")), 1u);
  EXPECT_EQ(counts_.count(op_index("lock"), result_index("held")), 1u);
  EXPECT_EQ(counts_.count(op_index("unlock"), result_index("not_held")), 1u);
  EXPECT_EQ(counts_.count(op_index("unknown"), result_index("bad_request")), 1u);
  EXPECT_EQ(counts_.count(op_index("cluster_info"), result_index("ok")), 1u);
  EXPECT_EQ(total(counts_), 5u);

  // What is pending when the handler shuts down is answered and counted too.
  handler_->handle(lock_request(25, 5, "y"));
  handler_->shut_down();
  EXPECT_EQ(counts_.count(op_index("lock"), result_index("shutting_down")), 1u);
  EXPECT_EQ(total(counts_), 6u);
}

TEST(RequestCounts, CodesAndOpsOutsideTheSchemaMapToFixedLabels) {
  EXPECT_EQ(RequestCounts::result_of(pb::OK), result_index("ok"));
  EXPECT_EQ(RequestCounts::result_of(pb::DUPLICATE_IGNORED), result_index("duplicate_ignored"));
  EXPECT_EQ(RequestCounts::result_of(pb::BUSY), result_index("busy"));
  EXPECT_EQ(RequestCounts::result_of(pb::SHUTTING_DOWN), result_index("shutting_down"));
  EXPECT_EQ(RequestCounts::result_of(12), result_index("other"));
  EXPECT_EQ(RequestCounts::result_of(-3), result_index("other"));
  EXPECT_EQ(RequestCounts::result_of(1 << 30), result_index("other"));
  pb::ClientRequest r;
  EXPECT_EQ(RequestCounts::op_of(r), op_index("unknown"));
  r.mutable_command()->set_op(pb::CLOSE_SESSION);
  EXPECT_EQ(RequestCounts::op_of(r), op_index("close_session"));
  r.mutable_command()->set_op(static_cast<pb::Op>(-5));
  EXPECT_EQ(RequestCounts::op_of(r), op_index("unknown"));
  r.set_cluster_info(true);
  EXPECT_EQ(RequestCounts::op_of(r), op_index("cluster_info"));
}

}  // namespace
}  // namespace paxlock::service
