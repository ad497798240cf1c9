#include "lock/legacy_codec.h"

#include <algorithm>

#include "common/encoding.h"

namespace paxlock::lock::legacy {

using paxlock::Reader;

namespace {

// A length-prefixed string that must be valid UTF-8. paxlock 0.1 took names
// and owners from proto3 `string` fields, so no log it wrote holds anything
// else; anything else (say, a command a peer forwarded in this encoding)
// would make the lock machine's state unserialisable: its snapshot keeps
// names in `string` fields, and a parser refuses invalid UTF-8 there (found
// by the command codec fuzzer, whose round trip also checks that this
// agrees with the parser's rule).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // RFC 3629: the number of continuation bytes, and the range of the first
    // one (no overlong forms, no surrogates, nothing above U+10FFFF).
    size_t n = 0;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return false;
    }
    i += n + 1;
  }
  return true;
}

bool text(Reader& r, std::string_view& s, size_t max = SIZE_MAX) {
  return r.bytes(s, max) && valid_utf8(s);
}

}  // namespace

// Command: u8 op, bytes name, bytes owner, then varints session, token,
// wait_ms, will_retry, ttl_ms, limit, first_outstanding.
bool decode(std::string_view bytes, Command& out) {
  Reader r(bytes);
  uint8_t op = 0, retry = 0;
  std::string_view name, owner;
  uint64_t limit = 0;
  if (!r.u8(op) || op < 1 || op > 8) return false;
  if (!text(r, name, kNameBytesMax) || !text(r, owner, kOwnerBytesMax)) return false;
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
  if (!text(r, name) || !text(r, holder) || !r.varint(token) || !r.varint(session) ||
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
    if (!text(r, owner) || !r.varint(ws) || !r.svarint(deadline)) return false;
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
  if (!r.varint(out.token) || !text(r, holder) || !r.varint(out.session) ||
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
  if (!text(r, next) || !r.varint(n) || n > r.remaining()) return false;
  out.next.assign(next);
  out.cycle.resize(n);
  for (WaitEdge& e : out.cycle) {
    std::string_view owner, lock, h;
    if (!text(r, owner) || !text(r, lock) || !text(r, h)) return false;
    e.set_owner(std::string(owner));
    e.set_lock(std::string(lock));
    e.set_holder(std::string(h));
  }
  return r.done();
}

}  // namespace paxlock::lock::legacy
