#include "lock/legacy_codec.h"

#include <algorithm>

#include "common/encoding.h"

namespace paxlock::lock::legacy {

using paxlock::Reader;

// Command: u8 op, bytes name, bytes owner, then varints session, token,
// wait_ms, will_retry, ttl_ms, limit, first_outstanding.
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

bool get_info(Reader& r, LockInfo& l) {
  std::string_view name, holder;
  uint64_t token = 0, session = 0, n = 0;
  int64_t since = 0;
  if (!r.bytes(name) || !r.bytes(holder) || !r.varint(token) || !r.varint(session) ||
      !r.svarint(since) || !r.varint(n) || n > r.remaining()) {
    return false;
  }
  l.set_name(std::string(name));
  l.set_holder(std::string(holder));
  l.set_token(token);
  l.set_session(session);
  l.set_since_ms(since);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view owner;
    uint64_t ws = 0;
    int64_t deadline = 0;
    if (!r.bytes(owner) || !r.varint(ws) || !r.svarint(deadline)) return false;
    pb::WaiterInfo* w = l.add_waiters();
    w->set_owner(std::string(owner));
    w->set_session(ws);
    w->set_deadline_ms(deadline);
  }
  return true;
}

}  // namespace

// Result: u8 code, varint token, bytes holder, varint session, ttl, applied_at,
// u8 current, then the lock infos, bytes next, and the cycle edges. The common
// case (a lock or unlock answer) is a dozen bytes.
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
    e.set_owner(std::string(owner));
    e.set_lock(std::string(lock));
    e.set_holder(std::string(h));
  }
  return r.done();
}

}  // namespace paxlock::lock::legacy
