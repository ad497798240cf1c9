#include "lock/command.h"

#include "storage/encoding.h"

namespace paxlock::lock {

using storage::Reader;
using storage::Writer;

const char* to_string(Op op) {
  switch (op) {
    case Op::kLock:
      return "lock";
    case Op::kUnlock:
      return "unlock";
    case Op::kCheck:
      return "check";
    case Op::kStatus:
      return "status";
    case Op::kList:
      return "list";
    case Op::kOpenSession:
      return "open_session";
    case Op::kKeepAlive:
      return "keep_alive";
    case Op::kCloseSession:
      return "close_session";
  }
  return "unknown";
}

bool is_read_only(Op op) {
  return op == Op::kCheck || op == Op::kStatus || op == Op::kList;
}

const char* to_string(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kHeld:
      return "HELD";
    case Code::kNotOwner:
      return "NOT_OWNER";
    case Code::kNotHeld:
      return "NOT_HELD";
    case Code::kStaleToken:
      return "STALE_TOKEN";
    case Code::kTimeout:
      return "TIMEOUT";
    case Code::kDeadlock:
      return "DEADLOCK";
    case Code::kSessionExpired:
      return "SESSION_EXPIRED";
    case Code::kInvalid:
      return "INVALID";
    case Code::kTooManyWaiters:
      return "TOO_MANY_WAITERS";
    case Code::kDuplicateIgnored:
      return "DUPLICATE_IGNORED";
  }
  return "UNKNOWN";
}

// Command: u8 op, bytes name, bytes owner, then varints session, token,
// wait_ms, will_retry, ttl_ms, limit, first_outstanding.
std::string encode(const Command& c) {
  std::string out;
  out.reserve(16 + c.name.size() + c.owner.size());
  Writer w(out);
  w.u8(static_cast<uint8_t>(c.op));
  w.bytes(c.name);
  w.bytes(c.owner);
  w.varint(c.session);
  w.varint(c.token);
  w.svarint(c.wait_ms);
  w.u8(c.will_retry ? 1 : 0);
  w.svarint(c.ttl_ms);
  w.varint(c.limit);
  w.varint(c.first_outstanding);
  return out;
}

bool decode(std::string_view bytes, Command& out) {
  Reader r(bytes);
  uint8_t op = 0, retry = 0;
  std::string_view name, owner;
  uint64_t limit = 0;
  if (!r.u8(op) || op < 1 || op > 8) return false;
  if (!r.bytes(name, kNameBytesMax) || !r.bytes(owner, kOwnerBytesMax)) return false;
  if (!r.varint(out.session) || !r.varint(out.token) || !r.svarint(out.wait_ms) || !r.u8(retry) ||
      !r.svarint(out.ttl_ms) || !r.varint(limit) || !r.varint(out.first_outstanding) || !r.done()) {
    return false;
  }
  out.op = static_cast<Op>(op);
  out.name.assign(name);
  out.owner.assign(owner);
  out.will_retry = retry != 0;
  out.limit = static_cast<uint32_t>(std::min<uint64_t>(limit, UINT32_MAX));
  return true;
}

namespace {

void put_info(Writer& w, const LockInfo& l) {
  w.bytes(l.name);
  w.bytes(l.holder);
  w.varint(l.token);
  w.varint(l.session);
  w.svarint(l.since_ms);
  w.varint(l.waiters.size());
  for (const Waiter& wt : l.waiters) {
    w.bytes(wt.owner);
    w.varint(wt.session);
    w.svarint(wt.deadline_ms);
  }
}

bool get_info(Reader& r, LockInfo& l) {
  std::string_view name, holder;
  uint64_t n = 0;
  if (!r.bytes(name) || !r.bytes(holder) || !r.varint(l.token) || !r.varint(l.session) ||
      !r.svarint(l.since_ms) || !r.varint(n) || n > r.remaining()) {
    return false;
  }
  l.name.assign(name);
  l.holder.assign(holder);
  l.waiters.resize(n);
  for (Waiter& wt : l.waiters) {
    std::string_view owner;
    if (!r.bytes(owner) || !r.varint(wt.session) || !r.svarint(wt.deadline_ms)) return false;
    wt.owner.assign(owner);
  }
  return true;
}

}  // namespace

// Result: u8 code, varint token, bytes holder, varint session, ttl, applied_at,
// u8 current, then the lock infos, bytes next, and the cycle edges. The common
// case (a lock or unlock answer) is a dozen bytes.
std::string encode(const Result& r) {
  std::string out;
  Writer w(out);
  w.u8(static_cast<uint8_t>(r.code));
  w.varint(r.token);
  w.bytes(r.holder);
  w.varint(r.session);
  w.svarint(r.ttl_ms);
  w.varint(r.applied_at);
  w.u8(r.current ? 1 : 0);
  w.varint(r.locks.size());
  for (const LockInfo& l : r.locks)
    put_info(w, l);
  w.bytes(r.next);
  w.varint(r.cycle.size());
  for (const WaitEdge& e : r.cycle) {
    w.bytes(e.owner);
    w.bytes(e.lock);
    w.bytes(e.holder);
  }
  return out;
}

bool decode(std::string_view bytes, Result& out) {
  Reader r(bytes);
  uint8_t code = 0, current = 0;
  std::string_view holder, next;
  uint64_t n = 0;
  if (!r.u8(code) || code > static_cast<uint8_t>(Code::kDuplicateIgnored)) return false;
  if (!r.varint(out.token) || !r.bytes(holder) || !r.varint(out.session) ||
      !r.svarint(out.ttl_ms) || !r.varint(out.applied_at) || !r.u8(current) || !r.varint(n) ||
      n > r.remaining()) {
    return false;
  }
  out.code = static_cast<Code>(code);
  out.holder.assign(holder);
  out.current = current != 0;
  out.locks.resize(n);
  for (LockInfo& l : out.locks) {
    if (!get_info(r, l)) return false;
  }
  if (!r.bytes(next) || !r.varint(n) || n > r.remaining()) return false;
  out.next.assign(next);
  out.cycle.resize(n);
  for (WaitEdge& e : out.cycle) {
    std::string_view owner, lock, h;
    if (!r.bytes(owner) || !r.bytes(lock) || !r.bytes(h)) return false;
    e.owner.assign(owner);
    e.lock.assign(lock);
    e.holder.assign(h);
  }
  return r.done();
}

}  // namespace paxlock::lock
