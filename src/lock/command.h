// Lock-service commands and results as they travel through the log.
//
// The client API speaks protobuf (proto/lock.proto); the replica that takes a
// request converts it once into this compact varint encoding, which is what
// the log stores and every replica's state machine decodes. Results are
// encoded the same way, cached for exactly-once retries, and converted back
// to protobuf by the replica that answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
  kCloseSession = 8,  // releases the session's locks
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
};

const char* to_string(Code code);

// Limits on what one request may ask for.
constexpr size_t kNameBytesMax = 512;
constexpr size_t kOwnerBytesMax = 256;
constexpr uint32_t kListLimitMax = 1000;
constexpr size_t kWaitersPerLockMax = 1024;
constexpr paxos::TimeMs kSessionTtlMinMs = 100;
constexpr paxos::TimeMs kSessionTtlMaxMs = 24LL * 3600 * 1000;
constexpr paxos::TimeMs kWaitMaxMs = 3600LL * 1000;

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
};

std::string encode(const Command& c);
bool decode(std::string_view bytes, Command& out);

struct Waiter {
  std::string owner;
  uint64_t session = 0;
  paxos::TimeMs deadline_ms = 0;
};

struct LockInfo {
  std::string name;
  std::string holder;
  uint64_t token = 0;
  uint64_t session = 0;
  paxos::TimeMs since_ms = 0;
  std::vector<Waiter> waiters;
};

// One step of a wait-for cycle: `owner` waits for `lock`, held by `holder`.
struct WaitEdge {
  std::string owner;
  std::string lock;
  std::string holder;
};

struct Result {
  Code code = Code::kOk;
  uint64_t token = 0;              // lock: the fencing token; check: the current one
  std::string holder;              // lock (kHeld), status
  uint64_t session = 0;            // open_session: the new id; status: the holder's
  paxos::TimeMs ttl_ms = 0;        // open_session, keep_alive: the lease length
  paxos::Instance applied_at = 0;  // the instance whose apply produced this result
  bool current = false;            // check
  std::vector<LockInfo> locks;     // status (one), list (a page)
  std::string next;                // list: the name to continue after ("" at the end)
  std::vector<WaitEdge> cycle;     // deadlock
};

std::string encode(const Result& r);
bool decode(std::string_view bytes, Result& out);

}  // namespace paxlock::lock
