// Lock-service commands and results: the lock machine's value types, and
// their one conversion to and from the schema (proto/lock.proto), which is
// what the log stores, clients send and the reply cache holds. The enums
// mirror the schema's value for value (static_asserts in command.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lock.pb.h"
#include "paxos/types.h"

namespace paxlock::lock {

enum class Op : uint8_t {
  kLock = 1,  // try-lock, or a blocking wait when wait_ms > 0
  kUnlock = 2,
  kCheck = 3,        // is `token` still the current token of `name`?
  kStatus = 4,       // holder, token, session, waiters of `name`
  kList = 5,         // held locks with names after `name`, up to `limit`
  kOpenSession = 6,  // a lease of ttl_ms for `owner`
  kKeepAlive = 7,
  kCloseSession = 8,   // releases the session's locks
  kAclGrant = 10,      // grant `grant` (replacing the role of the same identity and prefix)
  kAclRevoke = 11,     // remove the grant of (grant.identity, grant.prefix)
  kAclList = 12,       // the grants after `grant`, up to `limit`
  kAclBootstrap = 13,  // grant.identity becomes admin if the table holds no admin yet
};

const char* to_string(Op op);
bool is_read_only(Op op);

enum class Code : uint8_t {
  kOk = 0,
  kHeld = 1,               // held by another owner (holder names it)
  kNotOwner = 2,           // unlock by someone who does not hold it
  kNotHeld = 3,            // unlock of a free lock
  kStaleToken = 4,         // unlock or check with a token that is not current
  kTimeout = 5,            // a blocking wait ended without the lock
  kDeadlock = 6,           // waiting would close a cycle (cycle names it)
  kSessionExpired = 7,     // the session is unknown or expired
  kInvalid = 8,            // malformed request (empty name, over a limit, ...)
  kTooManyWaiters = 9,     // the lock's wait queue is full
  kDuplicateIgnored = 10,  // an older duplicate of a command already answered
  kPermissionDenied = 11,  // the identity may not do this (reason says what is missing)
};

// What a grant allows on the names under its prefix (docs/LOCKS.md,
// "Identities, owners and ACLs"). Ordered: each allows what those below do.
enum class Role : uint8_t {
  kNone = 0,
  kRead = 1,   // check, status, list
  kLock = 2,   // lock, unlock, and what kRead allows
  kAdmin = 3,  // everything, any owner, ACL changes; prefix "" only
};

const char* to_string(Role role);

const char* to_string(Code code);

// Limits on what one request may ask for.
constexpr size_t kNameBytesMax = 512;
constexpr size_t kOwnerBytesMax = 256;
constexpr uint32_t kListLimitMax = 1000;
constexpr size_t kWaitersPerLockMax = 1024;
constexpr paxos::TimeMs kSessionTtlMinMs = 100;
constexpr paxos::TimeMs kSessionTtlMaxMs = 24LL * 3600 * 1000;
constexpr paxos::TimeMs kWaitMaxMs = 3600LL * 1000;
// An identity is at most an owner's length: an identity acts as the owner
// of its own name.
constexpr size_t kIdentityBytesMax = kOwnerBytesMax;
constexpr size_t kAclGrantsMax = 10000;  // grants in the table
constexpr uint32_t kAclListLimitMax = 1000;

// One entry of the ACL table: `identity` has `role` on every lock name that
// starts with `prefix` (bytes; "" is every name).
struct Grant {
  std::string identity;
  std::string prefix;
  Role role = Role::kNone;

  friend bool operator==(const Grant&, const Grant&) = default;
};

struct Command {
  Op op = Op::kLock;
  std::string name;
  std::string owner;
  uint64_t session = 0;       // 0: none
  uint64_t token = 0;         // unlock/check: expected token (0: any, for unlock)
  paxos::TimeMs wait_ms = 0;  // lock: > 0 queues the owner for this long
  bool will_retry = false;    // lock: a failed try-lock counts as waiting (deadlock detection)
  paxos::TimeMs ttl_ms = 0;   // open_session
  uint32_t limit = 0;         // list
  // The lowest sequence number this client still waits for: the state
  // machine may forget cached replies below it.
  uint64_t first_outstanding = 0;
  // The authenticated requester, stamped by the replica that takes the
  // request (never the client's word); empty: unauthenticated, nothing is
  // checked (proto/lock.proto).
  // (Initialised here so that aggregate initialisations written before
  // these fields, which name the first ten, stay warning-free.)
  std::string identity = {};
  Grant grant = {};  // the ACL ops' argument
};

// The schema's form. from_proto checks what the schema cannot: a known op,
// names, owners and identities within their limits, a known role.
void to_proto(const Command& in, pb::LockCommand* out);
paxlock::Result<Command> from_proto(const pb::LockCommand& in);

// The text rule (common/text.h: valid UTF-8 without control characters) for
// what a command would put into the state: a lock's name and owner, a
// session's owner, a grant's identity and prefix; and for the requester's
// identity (which the replica stamps, from a certificate or token). Not ok, with the reason as the
// client should read it, if one breaks it. Checked where a command enters the log (the replica that
// takes it from a client answers INVALID itself), never when the log is
// applied: commands logged before the rule existed replay as they were
// applied then (docs/LOCKS.md). unlock, check, status and list are not
// checked: they only find what is there, and a lock taken under the
// earlier rules must stay releasable.
paxlock::Status check_names(const Command& c);
// The part of the rule for an ACL op's grant (identity and prefix), which the
// lock machine also checks when it applies one: no log of a release before
// ACLs holds such an op, so checking them cannot change an earlier replay.
std::optional<std::string> grant_text_problem(const Command& c);

// The log's form: an encoded LockCommand (or a command of paxlock 0.1, see
// legacy_codec.h). Not ok if the bytes are no command.
std::string encode(const Command& c);
paxlock::Result<Command> decode_command(std::string_view bytes);

using LockInfo = pb::LockInfo;
using WaitEdge = pb::CycleEdge;

struct Result {
  Code code = Code::kOk;
  uint64_t token = 0;                // lock: the fencing token; check: the current one
  std::string holder;                // lock (kHeld), status
  uint64_t session = 0;              // open_session: the new id; status: the holder's
  paxos::TimeMs ttl_ms = 0;          // open_session, keep_alive: the lease length
  paxos::Instance applied_at = 0;    // the instance whose apply produced this result
  bool current = false;              // check; acl_bootstrap: it made the admin
  std::vector<LockInfo> locks;       // status (one), list (a page)
  std::string next;                  // list: the name to continue after ("" at the end)
  std::vector<WaitEdge> cycle;       // deadlock
  std::string reason;                // PERMISSION_DENIED (and some INVALID): what was missing
  std::vector<pb::AclGrant> grants;  // acl_list: a page
};

void to_proto(const Result& in, pb::LockResult* out);
Result from_proto(const pb::LockResult& in);

// The reply cache's form: an encoded pb::LockResult (or a legacy result).
std::string encode(const Result& r);
paxlock::Result<Result> decode_result(std::string_view bytes);
// The same, straight into the wire's message (the answer path).
paxlock::Status decode_result(std::string_view bytes, pb::LockResult* out);

}  // namespace paxlock::lock
