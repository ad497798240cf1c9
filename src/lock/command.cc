#include "lock/command.h"

#include <cerrno>

#include "common/text.h"
#include "lock/legacy_codec.h"

namespace paxlock::lock {

// The lock machine's enums are the schema's, value for value.
#define PAXLOCK_SAME(ours, theirs) \
  static_assert(static_cast<int>(ours) == static_cast<int>(theirs), #ours " != " #theirs)
PAXLOCK_SAME(Op::kLock, pb::LOCK);
PAXLOCK_SAME(Op::kUnlock, pb::UNLOCK);
PAXLOCK_SAME(Op::kCheck, pb::CHECK);
PAXLOCK_SAME(Op::kStatus, pb::STATUS);
PAXLOCK_SAME(Op::kList, pb::LIST);
PAXLOCK_SAME(Op::kOpenSession, pb::OPEN_SESSION);
PAXLOCK_SAME(Op::kKeepAlive, pb::KEEP_ALIVE);
PAXLOCK_SAME(Op::kCloseSession, pb::CLOSE_SESSION);
PAXLOCK_SAME(Op::kAclGrant, pb::ACL_GRANT);
PAXLOCK_SAME(Op::kAclRevoke, pb::ACL_REVOKE);
PAXLOCK_SAME(Op::kAclList, pb::ACL_LIST);
PAXLOCK_SAME(Op::kAclBootstrap, pb::ACL_BOOTSTRAP);
static_assert(pb::Op_MAX == static_cast<int>(Op::kAclBootstrap), "an Op without a twin");
PAXLOCK_SAME(Code::kOk, pb::OK);
PAXLOCK_SAME(Code::kHeld, pb::HELD);
PAXLOCK_SAME(Code::kNotOwner, pb::NOT_OWNER);
PAXLOCK_SAME(Code::kNotHeld, pb::NOT_HELD);
PAXLOCK_SAME(Code::kStaleToken, pb::STALE_TOKEN);
PAXLOCK_SAME(Code::kTimeout, pb::TIMEOUT);
PAXLOCK_SAME(Code::kDeadlock, pb::DEADLOCK);
PAXLOCK_SAME(Code::kSessionExpired, pb::SESSION_EXPIRED);
PAXLOCK_SAME(Code::kInvalid, pb::INVALID);
PAXLOCK_SAME(Code::kTooManyWaiters, pb::TOO_MANY_WAITERS);
PAXLOCK_SAME(Code::kDuplicateIgnored, pb::DUPLICATE_IGNORED);
PAXLOCK_SAME(Code::kPermissionDenied, pb::PERMISSION_DENIED);
PAXLOCK_SAME(Role::kNone, pb::ROLE_UNSPECIFIED);
PAXLOCK_SAME(Role::kRead, pb::ROLE_READ);
PAXLOCK_SAME(Role::kLock, pb::ROLE_LOCK);
PAXLOCK_SAME(Role::kAdmin, pb::ROLE_ADMIN);
static_assert(pb::Role_MAX == static_cast<int>(Role::kAdmin), "a Role without a twin");
#undef PAXLOCK_SAME

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
    case Op::kAclGrant:
      return "acl_grant";
    case Op::kAclRevoke:
      return "acl_revoke";
    case Op::kAclList:
      return "acl_list";
    case Op::kAclBootstrap:
      return "acl_bootstrap";
  }
  return "unknown";
}

bool is_read_only(Op op) {
  return op == Op::kCheck || op == Op::kStatus || op == Op::kList || op == Op::kAclList;
}

const char* to_string(Role role) {
  switch (role) {
    case Role::kNone:
      return "none";
    case Role::kRead:
      return "read";
    case Role::kLock:
      return "lock";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

const char* to_string(Code code) {
  const int v = static_cast<int>(code);
  return pb::Code_IsValid(v) ? pb::Code_Name(static_cast<pb::Code>(v)).c_str() : "UNKNOWN";
}

void to_proto(const Command& in, pb::LockCommand* out) {
  out->set_op(static_cast<pb::Op>(in.op));
  out->set_name(in.name);
  out->set_owner(in.owner);
  out->set_session(in.session);
  out->set_token(in.token);
  out->set_wait_ms(in.wait_ms);
  out->set_will_retry(in.will_retry);
  out->set_ttl_ms(in.ttl_ms);
  out->set_limit(in.limit);
  out->set_first_outstanding(in.first_outstanding);
  out->set_identity(in.identity);
  // Only when it says something: every other op encodes as it did before
  // the field existed.
  if (in.grant != Grant{}) {
    pb::AclGrant* g = out->mutable_grant();
    g->set_identity(in.grant.identity);
    g->set_prefix(in.grant.prefix);
    g->set_role(static_cast<pb::Role>(in.grant.role));
  }
}

paxlock::Result<Command> from_proto(const pb::LockCommand& in) {
  const bool acl_op = in.op() >= pb::ACL_GRANT && in.op() <= pb::ACL_BOOTSTRAP;
  if ((in.op() < pb::LOCK || in.op() > pb::CLOSE_SESSION) && !acl_op) {
    return Status::error(EINVAL, "unknown op " + std::to_string(in.op()));
  }
  if (in.identity().size() > kIdentityBytesMax) {
    return Status::error(EINVAL,
                         "identity longer than " + std::to_string(kIdentityBytesMax) + " bytes");
  }
  const pb::AclGrant& g = in.grant();
  if (g.identity().size() > kIdentityBytesMax || g.prefix().size() > kNameBytesMax) {
    return Status::error(EINVAL, "grant identity or prefix over its limit");
  }
  if (g.role() < pb::ROLE_UNSPECIFIED || g.role() > pb::ROLE_ADMIN) {
    return Status::error(EINVAL, "unknown role " + std::to_string(g.role()));
  }
  if (in.name().size() > kNameBytesMax) {
    return Status::error(EINVAL, "name longer than " + std::to_string(kNameBytesMax) + " bytes");
  }
  if (in.owner().size() > kOwnerBytesMax) {
    return Status::error(EINVAL, "owner longer than " + std::to_string(kOwnerBytesMax) + " bytes");
  }
  Command c;
  c.op = static_cast<Op>(in.op());
  c.name = in.name();
  c.owner = in.owner();
  c.session = in.session();
  c.token = in.token();
  c.wait_ms = in.wait_ms();
  c.will_retry = in.will_retry();
  c.ttl_ms = in.ttl_ms();
  c.limit = in.limit();
  c.first_outstanding = in.first_outstanding();
  c.identity = in.identity();
  c.grant.identity = g.identity();
  c.grant.prefix = g.prefix();
  c.grant.role = static_cast<Role>(g.role());
  return c;
}

paxlock::Status check_names(const Command& c) {
  const bool takes_name = c.op == Op::kLock;
  const bool takes_owner = c.op == Op::kLock || c.op == Op::kOpenSession;
  if (takes_name) {
    if (auto why = text_problem(c.name)) return Status::error(EINVAL, "the lock name " + *why);
  }
  if (takes_owner) {
    if (auto why = text_problem(c.owner)) return Status::error(EINVAL, "the owner " + *why);
  }
  if (auto why = text_problem(c.identity)) return Status::error(EINVAL, "the identity " + *why);
  if (auto why = grant_text_problem(c)) return Status::error(EINVAL, *why);
  return Status();
}

std::optional<std::string> grant_text_problem(const Command& c) {
  const bool takes_grant =
      c.op == Op::kAclGrant || c.op == Op::kAclRevoke || c.op == Op::kAclBootstrap;
  if (!takes_grant) return std::nullopt;
  if (auto why = text_problem(c.grant.identity)) return "the grant's identity " + *why;
  if (auto why = text_problem(c.grant.prefix)) return "the grant's prefix " + *why;
  return std::nullopt;
}

// The codec runs once per command on every replica: its messages are reused
// per thread so that their strings keep their buffers between calls.
std::string encode(const Command& c) {
  thread_local pb::LockCommand m;
  m.Clear();
  to_proto(c, &m);
  return m.SerializeAsString();
}

paxlock::Result<Command> decode_command(std::string_view bytes) {
  if (legacy::is_legacy(bytes)) {
    Command c;
    if (!legacy::decode(bytes, c)) return Status::error(EINVAL, "malformed legacy command");
    return c;
  }
  thread_local pb::LockCommand m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::error(EINVAL, "malformed command");
  }
  return from_proto(m);
}

void to_proto(const Result& in, pb::LockResult* out) {
  out->set_code(static_cast<pb::Code>(in.code));
  out->set_token(in.token);
  out->set_holder(in.holder);
  out->set_session(in.session);
  out->set_ttl_ms(in.ttl_ms);
  out->set_applied_at(in.applied_at);
  out->set_current(in.current);
  out->mutable_locks()->Add(in.locks.begin(), in.locks.end());
  out->set_next(in.next);
  out->mutable_cycle()->Add(in.cycle.begin(), in.cycle.end());
  out->set_reason(in.reason);
  out->mutable_grants()->Add(in.grants.begin(), in.grants.end());
}

Result from_proto(const pb::LockResult& in) {
  Result r;
  r.code = static_cast<Code>(in.code());
  r.token = in.token();
  r.holder = in.holder();
  r.session = in.session();
  r.ttl_ms = in.ttl_ms();
  r.applied_at = in.applied_at();
  r.current = in.current();
  r.locks.assign(in.locks().begin(), in.locks().end());
  r.next = in.next();
  r.cycle.assign(in.cycle().begin(), in.cycle().end());
  r.reason = in.reason();
  r.grants.assign(in.grants().begin(), in.grants().end());
  return r;
}

std::string encode(const Result& r) {
  thread_local pb::LockResult m;
  m.Clear();
  to_proto(r, &m);
  return m.SerializeAsString();
}

paxlock::Result<Result> decode_result(std::string_view bytes) {
  if (legacy::is_legacy(bytes)) {
    Result r;
    if (!legacy::decode(bytes, r)) return Status::error(EINVAL, "malformed legacy result");
    return r;
  }
  pb::LockResult m;
  Status s = decode_result(bytes, &m);
  if (!s.ok()) return s;
  return from_proto(m);
}

paxlock::Status decode_result(std::string_view bytes, pb::LockResult* out) {
  if (legacy::is_legacy(bytes)) {
    Result r;
    if (!legacy::decode(bytes, r)) return Status::error(EINVAL, "malformed legacy result");
    out->Clear();
    to_proto(r, out);
    return Status();
  }
  // An open enum: the parser keeps any number, negative ones too (found by
  // the command codec fuzzer: -1 decoded, and re-encoded as 255).
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || out->code() < pb::OK ||
      out->code() > pb::PERMISSION_DENIED) {
    return Status::error(EINVAL, "malformed result");
  }
  return Status();
}

}  // namespace paxlock::lock
