// Identities, owners bound to them and the ACL table, at the lock machine
// (docs/LOCKS.md, "Identities, owners and ACLs"): each attack of issue 17 is
// refused with PERMISSION_DENIED and changes nothing but the attacker's own
// exactly-once record; a command without identity is answered as before.
#include <gtest/gtest.h>

#include "lock.pb.h"
#include "lock/lock_machine.h"
#include "lock_harness.h"

namespace paxlock::lock {

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
constexpr paxos::TimeMs kTtl = 10'000;

Command as(std::string identity, Command c) {
  c.identity = std::move(identity);
  return c;
}

Command acl_cmd(Op op, std::string identity, std::string prefix = "", Role role = Role::kNone) {
  Command c;
  c.op = op;
  c.grant = Grant{std::move(identity), std::move(prefix), role};
  return c;
}

Command status_cmd(std::string name) {
  Command c;
  c.op = Op::kStatus;
  c.name = std::move(name);
  return c;
}

Command list_cmd(std::string after = "", uint32_t limit = 1000) {
  Command c;
  c.op = Op::kList;
  c.name = std::move(after);
  c.limit = limit;
  return c;
}

// Client ids, one per party, so that records never meet by accident.
constexpr uint64_t kRoot = 1, kAlice = 2, kBob = 3, kReader = 4, kCarol = 5, kOps = 6;

// root is admin (bootstrapped), alice and bob may lock under "jobs/",
// reader may read it, carol has no grant.
LockHarness secured() {
  LockHarness h;
  EXPECT_EQ(h.run(kOps, acl_cmd(Op::kAclBootstrap, "root"), T0)->code, Code::kOk);
  for (const Grant& g : {Grant{"alice", "jobs/", Role::kLock}, Grant{"bob", "jobs/", Role::kLock},
                         Grant{"reader", "jobs/", Role::kRead}}) {
    Command c = as("root", acl_cmd(Op::kAclGrant, g.identity, g.prefix, g.role));
    EXPECT_EQ(h.run(kRoot, c, T0)->code, Code::kOk);
  }
  return h;
}

// The state without the exactly-once records and the clock: what a refused
// command must leave as it was (it only lands in its sender's record).
std::string state_but_records(const LockMachine& m) {
  pb::LockSnapshot s;
  EXPECT_TRUE(s.ParseFromString(m.snapshot()));
  s.clear_clients();
  s.clear_now_ms();
  s.clear_applied_instance();
  return s.SerializeAsString();
}

void expect_denied(const std::optional<Result>& r, const std::string& reason) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kPermissionDenied);
  EXPECT_EQ(r->reason, reason);
  EXPECT_EQ(r->holder, "") << "a refusal tells nothing about the lock";
  EXPECT_EQ(r->token, 0u);
}

// ------------------------------------------------------ owners and identities

TEST(Owner, UnlockOfAnotherIdentitysLockIsDeniedAndChangesNothing) {
  LockHarness h = secured();
  const uint64_t token = h.run(kAlice, as("alice", lock_cmd("jobs/payroll", "alice")), T0)->token;
  const std::string before = state_but_records(h.machine);
  expect_denied(h.run(kBob, as("bob", unlock_cmd("jobs/payroll", "alice")), T0 + 1),
                "identity bob may not act as owner alice");
  expect_denied(h.run(kBob, as("bob", unlock_cmd("jobs/payroll", "alice", token)), T0 + 2),
                "identity bob may not act as owner alice");
  EXPECT_EQ(state_but_records(h.machine), before);
  EXPECT_EQ(h.run(kAlice, as("alice", check_cmd("jobs/payroll", token)), T0 + 3)->code, Code::kOk);
  // As itself bob is simply not the holder.
  EXPECT_EQ(h.run(kBob, as("bob", unlock_cmd("jobs/payroll", "bob")), T0 + 4)->code,
            Code::kNotOwner);
}

TEST(Owner, LockAsAnotherIdentitysOwnerIsDeniedWaitsToo) {
  LockHarness h = secured();
  h.run(kAlice, as("alice", lock_cmd("jobs/a", "alice")), T0);
  const std::string before = state_but_records(h.machine);
  expect_denied(h.run(kBob, as("bob", lock_cmd("jobs/b", "alice")), T0),
                "identity bob may not act as owner alice");
  expect_denied(h.run(kBob, as("bob", lock_cmd("jobs/a", "alice/x", 0, 5000)), T0),
                "identity bob may not act as owner alice/x");
  EXPECT_EQ(state_but_records(h.machine), before);
  EXPECT_EQ(h.machine.waiters(), 0u);
}

TEST(Owner, AnIdentityActsAsItselfAndAsIdentitySlashAnything) {
  LockHarness h = secured();
  EXPECT_EQ(h.run(kAlice, as("alice", lock_cmd("jobs/1", "alice")), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(kAlice, as("alice", lock_cmd("jobs/2", "alice/worker-1")), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(kAlice, as("alice", lock_cmd("jobs/3", "alice/a/b")), T0)->code, Code::kOk);
  // A name that merely starts with the identity is another identity's.
  expect_denied(h.run(kAlice, as("alice", lock_cmd("jobs/4", "alicex")), T0),
                "identity alice may not act as owner alicex");
  expect_denied(h.run(kAlice, as("alice", lock_cmd("jobs/4", "alic")), T0),
                "identity alice may not act as owner alic");
  EXPECT_EQ(h.machine.locks_held(), 3u);
}

TEST(Owner, CloseAndKeepAliveOfAnotherIdentitysSessionAreDenied) {
  LockHarness h = secured();
  const uint64_t s =
      h.run(kAlice, as("alice", session_cmd(Op::kOpenSession, "alice/w", 0, kTtl)), T0)->session;
  ASSERT_NE(s, 0u);
  h.run(kAlice, as("alice", lock_cmd("jobs/x", "alice/w", s)), T0);
  const std::string before = state_but_records(h.machine);
  // The session's recorded owner counts, not the owner the command names.
  expect_denied(h.run(kBob, as("bob", session_cmd(Op::kCloseSession, "bob", s)), T0 + 1),
                "identity bob may not act as owner alice/w");
  expect_denied(h.run(kBob, as("bob", session_cmd(Op::kCloseSession, "alice/w", s)), T0 + 1),
                "identity bob may not act as owner alice/w");
  expect_denied(h.run(kBob, as("bob", session_cmd(Op::kKeepAlive, "bob", s)), T0 + 2),
                "identity bob may not act as owner alice/w");
  EXPECT_EQ(state_but_records(h.machine), before) << "no lease renewed, no lock released";
  EXPECT_EQ(h.machine.sessions(), 1u);
  EXPECT_EQ(h.machine.locks_held(), 1u);
  // Opening a session for another identity's owner is denied too.
  expect_denied(h.run(kBob, as("bob", session_cmd(Op::kOpenSession, "alice", 0, kTtl)), T0 + 3),
                "identity bob may not act as owner alice");
  EXPECT_EQ(h.machine.sessions(), 1u);
  // The owner's identity renews and closes it.
  EXPECT_EQ(h.run(kAlice, as("alice", session_cmd(Op::kKeepAlive, "", s)), T0 + 4)->code,
            Code::kOk);
  EXPECT_EQ(h.run(kAlice, as("alice", session_cmd(Op::kCloseSession, "", s)), T0 + 5)->code,
            Code::kOk);
  EXPECT_EQ(h.machine.locks_held(), 0u);
}

TEST(Owner, AnIdentityWithoutGrantsStillHasSessionsOfItsOwn) {
  LockHarness h = secured();
  auto open = h.run(kCarol, as("carol", session_cmd(Op::kOpenSession, "carol", 0, kTtl)), T0);
  ASSERT_EQ(open->code, Code::kOk);
  EXPECT_EQ(h.run(kCarol, as("carol", session_cmd(Op::kKeepAlive, "", open->session)), T0)->code,
            Code::kOk);
  // ...and nothing else.
  expect_denied(h.run(kCarol, as("carol", lock_cmd("jobs/x", "carol", open->session)), T0),
                "identity carol has no lock right on jobs/x");
  expect_denied(h.run(kCarol, as("carol", status_cmd("jobs/x")), T0),
                "identity carol has no read right on jobs/x");
  EXPECT_EQ(h.run(kCarol, as("carol", list_cmd()), T0)->locks.size(), 0u);
}

TEST(Owner, UnknownSessionIsExpiredWhoeverAsks) {
  LockHarness h = secured();
  EXPECT_EQ(h.run(kBob, as("bob", session_cmd(Op::kCloseSession, "bob", 99)), T0)->code,
            Code::kSessionExpired);
}

TEST(Owner, AdminActsAsAnyOwner) {
  LockHarness h = secured();
  const uint64_t s =
      h.run(kAlice, as("alice", session_cmd(Op::kOpenSession, "alice", 0, kTtl)), T0)->session;
  h.run(kAlice, as("alice", lock_cmd("jobs/x", "alice", s)), T0);
  h.run(kAlice, as("alice", lock_cmd("jobs/y", "alice")), T0);
  EXPECT_EQ(h.run(kRoot, as("root", unlock_cmd("jobs/y", "alice")), T0)->code, Code::kOk);
  EXPECT_EQ(h.run(kRoot, as("root", session_cmd(Op::kCloseSession, "", s)), T0)->code, Code::kOk);
  EXPECT_EQ(h.machine.locks_held(), 0u);
  // Any name, any owner: the admin grant's prefix is "".
  EXPECT_EQ(h.run(kRoot, as("root", lock_cmd("elsewhere", "bob")), T0)->holder, "bob");
}

// ------------------------------------------------------------ rights on names

TEST(Rights, LockNeedsTheLockRightOnAPrefixOfTheName) {
  LockHarness h = secured();
  expect_denied(h.run(kCarol, as("carol", lock_cmd("jobs/x", "carol")), T0),
                "identity carol has no lock right on jobs/x");
  expect_denied(h.run(kAlice, as("alice", lock_cmd("payroll", "alice")), T0),
                "identity alice has no lock right on payroll");
  // Byte prefix: "jobs" is not under "jobs/".
  expect_denied(h.run(kAlice, as("alice", lock_cmd("jobs", "alice")), T0),
                "identity alice has no lock right on jobs");
  expect_denied(h.run(kAlice, as("alice", unlock_cmd("payroll", "alice")), T0),
                "identity alice has no lock right on payroll");
  EXPECT_EQ(h.machine.locks_held(), 0u);
}

TEST(Rights, AReadIdentityMayNotLockButMayRead) {
  LockHarness h = secured();
  const uint64_t token = h.run(kAlice, as("alice", lock_cmd("jobs/x", "alice")), T0)->token;
  expect_denied(h.run(kReader, as("reader", lock_cmd("jobs/y", "reader")), T0),
                "identity reader has no lock right on jobs/y");
  expect_denied(h.run(kReader, as("reader", unlock_cmd("jobs/x", "reader")), T0),
                "identity reader has no lock right on jobs/x");
  auto status = h.run(kReader, as("reader", status_cmd("jobs/x")), T0);
  EXPECT_EQ(status->code, Code::kOk);
  EXPECT_EQ(status->holder, "alice");
  EXPECT_EQ(h.run(kReader, as("reader", check_cmd("jobs/x", token)), T0)->code, Code::kOk);
  expect_denied(h.run(kReader, as("reader", check_cmd("other", token)), T0),
                "identity reader has no read right on other");
  EXPECT_EQ(h.machine.locks_held(), 1u);
}

TEST(Rights, ListShowsOnlyTheLocksTheIdentityMayRead) {
  LockHarness h = secured();
  for (const char* name : {"a", "jobs/1", "jobs/2", "jobs/3", "z"})
    h.run(kRoot, as("root", lock_cmd(name, "root")), T0);
  auto names = [](const Result& r) {
    std::vector<std::string> out;
    for (const LockInfo& l : r.locks)
      out.push_back(l.name());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(*h.run(kReader, as("reader", list_cmd()), T0)),
            (V{"jobs/1", "jobs/2", "jobs/3"}));
  EXPECT_EQ(names(*h.run(kRoot, as("root", list_cmd()), T0)).size(), 5u);
  EXPECT_EQ(names(*h.run(kOps, list_cmd(), T0)).size(), 5u) << "no identity: no filter";
  // Pages skip what is hidden; a full page says where to go on.
  auto page = h.run(kReader, as("reader", list_cmd("", 2)), T0);
  EXPECT_EQ(names(*page), (V{"jobs/1", "jobs/2"}));
  EXPECT_EQ(page->next, "jobs/2");
  page = h.run(kReader, as("reader", list_cmd(page->next, 2)), T0);
  EXPECT_EQ(names(*page), (V{"jobs/3"}));
  EXPECT_EQ(page->next, "");
}

TEST(Rights, TheHighestRoleOfAllMatchingPrefixesCounts) {
  LockHarness h = secured();
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "reader", "jobs/reader/", Role::kLock)), T0);
  EXPECT_EQ(h.run(kReader, as("reader", lock_cmd("jobs/reader/1", "reader")), T0)->code, Code::kOk);
  expect_denied(h.run(kReader, as("reader", lock_cmd("jobs/other", "reader")), T0),
                "identity reader has no lock right on jobs/other");
}

// -------------------------------------------------- exactly-once per identity

TEST(Records, AnotherIdentityReusingAClientIdGetsNoneOfTheVictimsAnswers) {
  // Issue 17: mallory's answer under alice's client id came back to alice.
  LockHarness h = secured();
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "mallory", "jobs/", Role::kLock)), T0);
  const uint64_t shared = 7;
  auto mal = h.run(shared, as("mallory", lock_cmd("jobs/important", "mallory")), T0, 1);
  EXPECT_EQ(mal->holder, "mallory");
  auto alice = h.run(shared, as("alice", lock_cmd("jobs/mine", "alice")), T0 + 1, 1);
  ASSERT_EQ(alice->code, Code::kOk);
  EXPECT_EQ(alice->holder, "alice") << "the victim's own answer, not a cached one";
  EXPECT_NE(alice->token, mal->token);
  EXPECT_TRUE(h.machine.has_record(shared, "alice"));
  EXPECT_TRUE(h.machine.has_record(shared, "mallory"));
  EXPECT_FALSE(h.machine.has_record(shared));
  // The other way round: alice's retry gets her original answer, whatever
  // mallory did under the same id; mallory cannot make alice's record forget
  // (first_outstanding) or withdraw alice's queued wait.
  h.run(kBob, as("bob", lock_cmd("jobs/busy", "bob")), T0 + 2);
  EXPECT_FALSE(h.run(shared, as("alice", lock_cmd("jobs/busy", "alice", 0, 60'000)), T0 + 3, 2));
  Command forget = as("mallory", lock_cmd("jobs/m2", "mallory"));
  forget.first_outstanding = 100;
  h.run(shared, forget, T0 + 4, 100);
  EXPECT_EQ(h.machine.waiters(), 1u);
  auto retry = h.run(shared, as("alice", lock_cmd("jobs/mine", "alice")), T0 + 5, 1);
  EXPECT_EQ(retry->token, alice->token);
  EXPECT_EQ(retry->applied_at, alice->applied_at);
  // The wait is answered into alice's record, under the command id.
  h.run(kBob, as("bob", unlock_cmd("jobs/busy", "bob")), T0 + 6);
  const paxos::CommandId wait_id{shared, 2};
  ASSERT_TRUE(h.deferred.count(wait_id));
  EXPECT_EQ(h.deferred[wait_id].holder, "alice");
  EXPECT_EQ(h.machine.answers_kept(shared, "alice"), 2u);
  EXPECT_EQ(h.machine.answers_kept(shared, "mallory"), 1u) << "its own first_outstanding";
}

TEST(Records, ARefusalIsRecordedSoARetryGetsTheSameAnswer) {
  // A command can be chosen twice; the second copy, applied after carol got
  // her right, must not take the lock she was told she could not have.
  LockHarness h = secured();
  expect_denied(h.run(kCarol, as("carol", lock_cmd("jobs/x", "carol")), T0, 1),
                "identity carol has no lock right on jobs/x");
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "carol", "jobs/", Role::kLock)), T0);
  expect_denied(h.run(kCarol, as("carol", lock_cmd("jobs/x", "carol")), T0 + 1, 1),
                "identity carol has no lock right on jobs/x");
  EXPECT_EQ(h.machine.locks_held(), 0u);
  EXPECT_EQ(h.run(kCarol, as("carol", lock_cmd("jobs/x", "carol")), T0 + 2, 2)->code, Code::kOk);
}

// ---------------------------------------------------------------- ACL ops

TEST(Acl, GrantRevokeAndListAreForAdminsOnly) {
  LockHarness h = secured();
  const std::string before = state_but_records(h.machine);
  for (const char* who : {"alice", "reader", "carol"}) {
    const std::string reason = std::string("identity ") + who + " is not an admin";
    expect_denied(h.run(kCarol, as(who, acl_cmd(Op::kAclGrant, who, "", Role::kAdmin)), T0),
                  reason);
    expect_denied(h.run(kCarol, as(who, acl_cmd(Op::kAclRevoke, "root", "")), T0), reason);
    expect_denied(h.run(kCarol, as(who, acl_cmd(Op::kAclList, "")), T0), reason);
  }
  EXPECT_EQ(state_but_records(h.machine), before);
}

TEST(Acl, AdminGrantsReplacesRevokesAndLists) {
  LockHarness h = secured();
  Command list = as("root", acl_cmd(Op::kAclList, ""));
  list.limit = kAclListLimitMax;
  auto all = h.run(kRoot, list, T0);
  ASSERT_EQ(all->code, Code::kOk);
  ASSERT_EQ(all->grants.size(), 4u);  // by (identity, prefix)
  EXPECT_EQ(all->grants[0].identity(), "alice");
  EXPECT_EQ(all->grants[2].identity(), "reader");
  EXPECT_EQ(all->grants[2].role(), pb::ROLE_READ);
  EXPECT_EQ(all->grants[3].identity(), "root");
  EXPECT_EQ(all->grants[3].role(), pb::ROLE_ADMIN);
  // The same (identity, prefix) again replaces the role.
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "reader", "jobs/", Role::kLock)), T0);
  EXPECT_EQ(h.run(kReader, as("reader", lock_cmd("jobs/r", "reader")), T0)->code, Code::kOk);
  EXPECT_EQ(h.machine.acl_grants(), 4u);
  // Revoked: the next command is refused (the lock taken stays).
  EXPECT_EQ(h.run(kRoot, as("root", acl_cmd(Op::kAclRevoke, "reader", "jobs/")), T0)->code,
            Code::kOk);
  expect_denied(h.run(kReader, as("reader", unlock_cmd("jobs/r", "reader")), T0),
                "identity reader has no lock right on jobs/r");
  auto missing = h.run(kRoot, as("root", acl_cmd(Op::kAclRevoke, "reader", "jobs/")), T0);
  EXPECT_EQ(missing->code, Code::kNotHeld);
  // Pages: after a grant, at most `limit`.
  Command page = as("root", acl_cmd(Op::kAclList, "alice", "jobs/"));
  page.limit = 1;
  auto one = h.run(kRoot, page, T0);
  ASSERT_EQ(one->grants.size(), 1u);
  EXPECT_EQ(one->grants[0].identity(), "bob");
  // A second admin, and acting as anyone.
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "bob", "", Role::kAdmin)), T0);
  EXPECT_EQ(h.run(kBob, as("bob", unlock_cmd("jobs/r", "reader")), T0)->code, Code::kOk);
}

TEST(Acl, MalformedGrantsAreInvalidWithAReason) {
  LockHarness h = secured();
  struct Case {
    Grant grant;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{"", "jobs/", Role::kLock}, "a grant needs an identity"},
      {{"dave", "jobs/", Role::kNone}, "a grant needs a role"},
      {{"dave", "jobs/", Role::kAdmin}, "the admin role is for prefix \"\" only"},
      {{"da\nve", "jobs/", Role::kLock},
       "the grant's identity cannot contain control characters (byte 0x0a at offset 2)"},
      {{"dave", "jobs/\xff", Role::kLock},
       "the grant's prefix must be valid UTF-8 (bad byte 0xff at offset 5)"},
  };
  for (const Case& c : cases) {
    auto r = h.run(
        kRoot, as("root", acl_cmd(Op::kAclGrant, c.grant.identity, c.grant.prefix, c.grant.role)),
        T0);
    EXPECT_EQ(r->code, Code::kInvalid) << c.reason;
    EXPECT_EQ(r->reason, c.reason);
  }
  EXPECT_EQ(h.machine.acl_grants(), 4u);
  // Before the log, the replica refuses the same text.
  EXPECT_FALSE(check_names(acl_cmd(Op::kAclGrant, "da\nve", "", Role::kLock)).ok());
  EXPECT_FALSE(check_names(as("x\x1b", lock_cmd("n", "x"))).ok());
}

TEST(Acl, TheLastAdminStays) {
  LockHarness h = secured();
  auto r = h.run(kRoot, as("root", acl_cmd(Op::kAclRevoke, "root", "")), T0);
  EXPECT_EQ(r->code, Code::kInvalid);
  EXPECT_EQ(r->reason, "that would leave no admin");
  r = h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "root", "", Role::kRead)), T0);
  EXPECT_EQ(r->code, Code::kInvalid);
  h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "bob", "", Role::kAdmin)), T0);
  EXPECT_EQ(h.run(kRoot, as("root", acl_cmd(Op::kAclRevoke, "root", "")), T0)->code, Code::kOk);
  expect_denied(h.run(kRoot, as("root", acl_cmd(Op::kAclList, "")), T0),
                "identity root is not an admin");
}

TEST(Acl, TheTableIsBounded) {
  LockHarness h = secured();
  for (size_t i = h.machine.acl_grants(); i < kAclGrantsMax; ++i) {
    Command c = as("root", acl_cmd(Op::kAclGrant, "u" + std::to_string(i), "p/", Role::kRead));
    ASSERT_EQ(h.run(kRoot, c, T0)->code, Code::kOk);
  }
  auto full = h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "one-more", "", Role::kRead)), T0);
  EXPECT_EQ(full->code, Code::kInvalid);
  EXPECT_EQ(full->reason, "the ACL table is full (10000 grants)");
  // Replacing a role needs no room.
  EXPECT_EQ(h.run(kRoot, as("root", acl_cmd(Op::kAclGrant, "u9", "p/", Role::kLock)), T0)->code,
            Code::kOk);
}

TEST(Acl, BootstrapMakesTheFirstAdminOnceOnly) {
  LockHarness h;
  auto first = h.run(kOps, acl_cmd(Op::kAclBootstrap, "root"), T0);
  EXPECT_EQ(first->code, Code::kOk);
  EXPECT_TRUE(first->current);
  auto second = h.run(kOps, acl_cmd(Op::kAclBootstrap, "eve"), T0);
  EXPECT_EQ(second->code, Code::kOk);
  EXPECT_FALSE(second->current) << "nothing changed";
  EXPECT_EQ(second->reason, "an admin exists already");
  EXPECT_EQ(h.machine.acl_grants(), 1u);
  expect_denied(h.run(kCarol, as("eve", acl_cmd(Op::kAclList, "")), T0),
                "identity eve is not an admin");
  auto list = h.run(kCarol, as("root", acl_cmd(Op::kAclList, "")), T0);
  ASSERT_EQ(list->grants.size(), 1u);
  EXPECT_EQ(list->grants[0].identity(), "root");
}

TEST(Acl, AClientNeverBootstraps) {
  // Not even on an empty table: it would race the replicas' own bootstrap.
  LockHarness h;
  expect_denied(h.run(kCarol, as("mallory", acl_cmd(Op::kAclBootstrap, "mallory")), T0),
                "acl_bootstrap comes from the replicas' configuration, not from a client");
  EXPECT_EQ(h.machine.acl_grants(), 0u);
  EXPECT_EQ(h.run(kOps, acl_cmd(Op::kAclBootstrap, ""), T0)->code, Code::kInvalid);
}

// --------------------------------------------------------------- no identity

// Commands without identity are answered exactly as before identities
// existed, whatever the ACL table holds: the same script on a machine with
// grants and on one without gives the same answers.
TEST(NoIdentity, AnswersAreTodaysWhateverTheTable) {
  LockHarness plain;
  LockHarness guarded = secured();
  std::vector<std::pair<uint64_t, Command>> script = {
      {11, session_cmd(Op::kOpenSession, "alice", 0, kTtl)},
      {11, lock_cmd("jobs/x", "alice", 1)},
      {12, lock_cmd("jobs/x", "bob", 0, 0, true)},
      {12, lock_cmd("payroll", "bob")},
      {12, unlock_cmd("jobs/x", "bob")},
      {13, check_cmd("jobs/x", 1)},
      {13, status_cmd("jobs/x")},
      {13, list_cmd()},
      {14, session_cmd(Op::kCloseSession, "mallory", 1)},
      {12, unlock_cmd("payroll", "bob")},
  };
  for (auto& [client, c] : script) {
    auto a = plain.run(client, c, T0);
    auto b = guarded.run(client, c, T0);
    ASSERT_TRUE(a && b);
    Result x = *a, y = *b;
    x.applied_at = y.applied_at = 0;  // the guarded one applied the grants first
    EXPECT_EQ(encode(x), encode(y)) << to_string(c.op);
  }
}

// ---------------------------------------------------------------- snapshots

TEST(Snapshot, GrantsAndIdentityRecordsRoundTrip) {
  LockHarness h = secured();
  h.run(kBob, as("bob", lock_cmd("jobs/busy", "bob")), T0);
  EXPECT_FALSE(h.run(kAlice, as("alice", lock_cmd("jobs/busy", "alice", 0, 60'000)), T0 + 1));
  const std::string bytes = h.machine.snapshot();
  pb::LockSnapshot s;
  ASSERT_TRUE(s.ParseFromString(bytes));
  EXPECT_EQ(s.version(), 2u);
  EXPECT_EQ(s.grants_size(), 4);
  LockMachine copy;
  ASSERT_TRUE(copy.validate(bytes, UINT64_MAX));
  ASSERT_TRUE(copy.restore(bytes));
  EXPECT_EQ(copy.snapshot(), bytes) << "canonical";
  EXPECT_EQ(copy.acl_grants(), 4u);
  EXPECT_TRUE(copy.has_record(kAlice, "alice"));
  // The copy enforces the same rules, and answers the queued wait into the
  // same identity's record.
  paxos::Instance next = s.applied_instance();
  auto apply = [&](uint64_t client, uint64_t seq, const Command& c) {
    paxos::Batch b;
    b.timestamp_ms = T0 + 2;
    b.commands.push_back(paxos::Command{paxos::CommandId{client, seq}, encode(c)});
    std::vector<paxos::Reply> replies;
    copy.apply(++next, b, replies);
    std::vector<Result> out;
    for (const paxos::Reply& r : replies)
      out.push_back(*decode_result(r.payload));
    return out;
  };
  auto denied = apply(kCarol, 1, as("carol", lock_cmd("jobs/y", "carol")));
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].code, Code::kPermissionDenied);
  auto released = apply(kBob, 9, as("bob", unlock_cmd("jobs/busy", "bob")));
  ASSERT_EQ(released.size(), 2u);  // the wait's answer first, then the unlock's
  EXPECT_EQ(released[0].holder, "alice");
  EXPECT_EQ(released[1].code, Code::kOk);
  EXPECT_EQ(copy.answers_kept(kAlice, "alice"), 1u);
}

TEST(Snapshot, AStateWithoutIdentitiesKeepsVersionOne) {
  LockHarness h;
  h.run(1, lock_cmd("a", "alice"), T0);
  h.run(2, lock_cmd("a", "bob", 0, 5000), T0);
  pb::LockSnapshot s;
  ASSERT_TRUE(s.ParseFromString(h.machine.snapshot()));
  EXPECT_EQ(s.version(), 1u);
  EXPECT_EQ(s.grants_size(), 0);
  for (const pb::SnapClient& c : s.clients())
    EXPECT_EQ(c.identity(), "");
}

TEST(Snapshot, AnOldSnapshotRestoresAsBefore) {
  // A version-1 state as releases before identities wrote it.
  pb::LockSnapshot old;
  old.set_version(1);
  old.set_now_ms(T0);
  old.set_next_token(5);
  old.set_applied_instance(9);
  pb::LockInfo* l = old.add_locks();
  l->set_name("a");
  l->set_holder("alice");
  l->set_token(5);
  pb::SnapClient* c = old.add_clients();
  c->set_id(1);
  c->set_expires_ms(T0 + 300'000);
  Result answer;
  answer.token = 5;
  answer.holder = "alice";
  answer.applied_at = 9;
  pb::SnapReply* r = c->add_replies();
  r->set_seq(1);
  r->set_reply(encode(answer));
  const std::string bytes = old.SerializeAsString();
  LockHarness h;
  for (paxos::TimeMs t = 1; t <= 9; ++t)
    h.tick(t);  // the harness numbers instances on from 10
  ASSERT_TRUE(h.machine.validate(bytes, 10));
  ASSERT_TRUE(h.machine.restore(bytes));
  EXPECT_EQ(h.machine.snapshot(), bytes);
  EXPECT_EQ(h.machine.acl_grants(), 0u);
  EXPECT_TRUE(h.machine.has_record(1));
  auto retry = h.run(1, lock_cmd("a", "alice"), T0, 1);
  EXPECT_EQ(retry->token, 5u);
  EXPECT_EQ(retry->applied_at, 9u);
}

TEST(Snapshot, MalformedGrantsAndVersionsAreRefused) {
  LockHarness h = secured();
  pb::LockSnapshot good;
  ASSERT_TRUE(good.ParseFromString(h.machine.snapshot()));
  auto refused = [&](auto&& mutate) {
    pb::LockSnapshot s = good;
    mutate(s);
    LockMachine m;
    return !m.validate(s.SerializeAsString(), UINT64_MAX) && !m.restore(s.SerializeAsString());
  };
  auto add = [](pb::LockSnapshot& s, std::string id, std::string prefix, int role) {
    pb::AclGrant* g = s.add_grants();
    g->set_identity(std::move(id));
    g->set_prefix(std::move(prefix));
    g->set_role(static_cast<pb::Role>(role));
  };
  EXPECT_TRUE(refused([&](auto& s) { add(s, "dave", "x/", 7); })) << "unknown role";
  EXPECT_TRUE(refused([&](auto& s) { add(s, "dave", "x/", 0); })) << "no role";
  EXPECT_TRUE(refused([&](auto& s) { add(s, "dave", "x/", 3); })) << "admin on a prefix";
  EXPECT_TRUE(refused([&](auto& s) { add(s, "", "x/", 1); })) << "no identity";
  EXPECT_TRUE(refused([&](auto& s) { add(s, "da\x1bve", "x/", 1); })) << "text rule";
  EXPECT_TRUE(refused([&](auto& s) { add(s, "dave", "\xc2\x9b", 1); })) << "text rule";
  EXPECT_TRUE(refused([&](auto& s) { add(s, std::string(kIdentityBytesMax + 1, 'd'), "", 1); }));
  EXPECT_TRUE(refused([&](auto& s) { add(s, "dave", std::string(kNameBytesMax + 1, 'p'), 1); }));
  EXPECT_TRUE(refused([&](auto& s) { add(s, "alice", "jobs/", 1); })) << "a duplicate";
  EXPECT_TRUE(refused([&](auto& s) {
    for (size_t i = 0; i <= kAclGrantsMax; ++i)
      add(s, "u" + std::to_string(i), "", 1);
  })) << "over the limit";
  EXPECT_TRUE(refused([](auto& s) { s.set_version(1); })) << "grants need version 2";
  EXPECT_TRUE(refused([](auto& s) { s.set_version(3); }));
  EXPECT_TRUE(refused([](auto& s) {
    s.clear_grants();
    s.clear_clients();
  })) << "version 2 without identities is not what snapshot() writes";
  // The same state, well formed, is accepted.
  EXPECT_FALSE(refused([](auto&) {}));
}

}  // namespace
}  // namespace paxlock::lock
