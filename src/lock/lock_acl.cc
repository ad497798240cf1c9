// Identities, the owners bound to them, and the ACL table (docs/LOCKS.md,
// "Identities, owners and ACLs"). Every check here is a function of the
// command and the replicated state, so every replica refuses the same
// commands at the same log position. A command without identity (insecure
// mode, or the replica's own ACL_BOOTSTRAP) is never refused here.
#include <algorithm>

#include "common/check.h"
#include "common/text.h"
#include "lock/lock_machine.h"

namespace paxlock::lock {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void deny(Result& r, std::string reason) {
  r.code = Code::kPermissionDenied;
  r.reason = std::move(reason);
}

void invalid(Result& r, std::string reason) {
  r.code = Code::kInvalid;
  r.reason = std::move(reason);
}

// What an ACL op's grant must be to enter the table, or why not.
std::optional<std::string> grant_problem(const Grant& g) {
  if (g.identity.empty()) return "a grant needs an identity";
  if (g.identity.size() > kIdentityBytesMax) return "the grant's identity is too long";
  if (g.prefix.size() > kNameBytesMax) return "the grant's prefix is too long";
  if (g.role == Role::kNone || g.role > Role::kAdmin) return "a grant needs a role";
  if (g.role == Role::kAdmin && !g.prefix.empty()) return "the admin role is for prefix \"\" only";
  return std::nullopt;
}

}  // namespace

// The highest role of `identity` on `name`: over its grants whose prefix
// starts `name`. An admin grant (prefix "") covers every name.
Role LockMachine::role_on(const std::string& identity, std::string_view name) const {
  Role best = Role::kNone;
  for (auto it = acl_.lower_bound({identity, ""}); it != acl_.end() && it->first.first == identity;
       ++it) {
    if (starts_with(name, it->first.second)) best = std::max(best, it->second);
  }
  return best;
}

bool LockMachine::is_admin(const std::string& identity) const {
  auto it = acl_.find({identity, ""});
  return it != acl_.end() && it->second == Role::kAdmin;
}

// An identity acts as itself and as `identity/<anything>` (several owners per
// identity); an admin as anyone.
bool LockMachine::may_act_as(const std::string& identity, const std::string& owner) const {
  if (identity.empty() || owner == identity) return true;
  if (owner.size() > identity.size() && starts_with(owner, identity) &&
      owner[identity.size()] == '/') {
    return true;
  }
  return is_admin(identity);
}

bool LockMachine::deny_owner(const Command& c, const std::string& owner, Result& r) const {
  if (may_act_as(c.identity, owner)) return false;
  deny(r, "identity " + printable(c.identity) + " may not act as owner " + printable(owner));
  return true;
}

bool LockMachine::deny_name(const Command& c, Role needed, Result& r) const {
  PAXLOCK_CHECK(needed == Role::kRead || needed == Role::kLock);
  if (c.identity.empty() || role_on(c.identity, c.name) >= needed) return false;
  deny(r, "identity " + printable(c.identity) + " has no " + to_string(needed) + " right on " +
              printable(c.name));
  return true;
}

std::function<bool(const std::string&)> LockMachine::reader(const std::string& identity) const {
  if (identity.empty() || role_on(identity, "") >= Role::kRead) {
    return [](const std::string&) { return true; };  // a grant on "" reads everything
  }
  std::vector<std::string> prefixes;
  for (auto it = acl_.lower_bound({identity, ""}); it != acl_.end() && it->first.first == identity;
       ++it) {
    if (it->second >= Role::kRead) prefixes.push_back(it->first.second);
  }
  return [prefixes = std::move(prefixes)](const std::string& name) {
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [&](const std::string& p) { return starts_with(name, p); });
  };
}

bool LockMachine::last_admin(const std::pair<std::string, std::string>& key) const {
  auto it = acl_.find(key);
  return it != acl_.end() && it->second == Role::kAdmin && admins_ == 1;
}

void LockMachine::do_acl_grant(const Command& c, Result& r) {
  if (!c.identity.empty() && !is_admin(c.identity)) {
    return deny(r, "identity " + printable(c.identity) + " is not an admin");
  }
  if (auto why = grant_problem(c.grant)) return invalid(r, *why);
  if (auto why = grant_text_problem(c)) return invalid(r, *why);
  const std::pair<std::string, std::string> key{c.grant.identity, c.grant.prefix};
  auto it = acl_.find(key);
  if (it == acl_.end() && acl_.size() >= kAclGrantsMax) {
    return invalid(r, "the ACL table is full (" + std::to_string(kAclGrantsMax) + " grants)");
  }
  if (c.grant.role != Role::kAdmin && last_admin(key)) {
    return invalid(r, "that would leave no admin");
  }
  if (it == acl_.end()) it = acl_.emplace(key, Role::kNone).first;
  if (it->second == Role::kAdmin) --admins_;
  it->second = c.grant.role;
  if (it->second == Role::kAdmin) ++admins_;
}

void LockMachine::do_acl_revoke(const Command& c, Result& r) {
  if (!c.identity.empty() && !is_admin(c.identity)) {
    return deny(r, "identity " + printable(c.identity) + " is not an admin");
  }
  const std::pair<std::string, std::string> key{c.grant.identity, c.grant.prefix};
  auto it = acl_.find(key);
  if (it == acl_.end()) {
    r.code = Code::kNotHeld;
    r.reason = "no grant to " + printable(c.grant.identity) + " on prefix \"" +
               printable(c.grant.prefix) + "\"";
    return;
  }
  if (last_admin(key)) return invalid(r, "that would leave no admin");
  if (it->second == Role::kAdmin) --admins_;
  acl_.erase(it);
}

// The replicas propose it (from their configuration) at first start; the
// first one applied wins, every later one changes nothing. A client never
// bootstraps: with an identity it is refused, so a client cannot race the
// replicas to become the first admin.
void LockMachine::do_acl_bootstrap(const Command& c, Result& r) {
  if (!c.identity.empty()) {
    return deny(r, "acl_bootstrap comes from the replicas' configuration, not from a client");
  }
  Grant admin{c.grant.identity, "", Role::kAdmin};
  if (auto why = grant_problem(admin)) return invalid(r, *why);
  if (auto why = text_problem(admin.identity)) return invalid(r, "the grant's identity " + *why);
  if (admins_ > 0) {
    r.current = false;  // OK, and nothing changed
    r.reason = "an admin exists already";
    return;
  }
  if (acl_.size() >= kAclGrantsMax && !acl_.count({admin.identity, ""})) {
    return invalid(r, "the ACL table is full (" + std::to_string(kAclGrantsMax) + " grants)");
  }
  acl_[{admin.identity, ""}] = Role::kAdmin;
  ++admins_;
  r.current = true;
}

// A page of grants after (grant.identity, grant.prefix), in that order; a
// full page may have more after its last grant.
void LockMachine::do_acl_list(const Command& c, Result& r) const {
  if (!c.identity.empty() && !is_admin(c.identity)) {
    return deny(r, "identity " + printable(c.identity) + " is not an admin");
  }
  const uint32_t limit = std::clamp<uint32_t>(c.limit, 1, kAclListLimitMax);
  for (auto it = acl_.upper_bound({c.grant.identity, c.grant.prefix});
       it != acl_.end() && r.grants.size() < limit; ++it) {
    pb::AclGrant& g = r.grants.emplace_back();
    g.set_identity(it->first.first);
    g.set_prefix(it->first.second);
    g.set_role(static_cast<pb::Role>(it->second));
  }
}

bool LockMachine::restore_grants(const pb::LockSnapshot& s) {
  PAXLOCK_CHECK(acl_.empty());
  if (s.grants_size() > static_cast<int>(kAclGrantsMax)) return false;
  for (const pb::AclGrant& pg : s.grants()) {
    if (pg.role() < pb::ROLE_UNSPECIFIED || pg.role() > pb::ROLE_ADMIN) return false;
    Command c;
    c.op = Op::kAclGrant;
    c.grant = Grant{pg.identity(), pg.prefix(), static_cast<Role>(pg.role())};
    if (grant_problem(c.grant) || grant_text_problem(c)) return false;
    if (!acl_.emplace(std::pair{c.grant.identity, c.grant.prefix}, c.grant.role).second) {
      return false;
    }
    if (c.grant.role == Role::kAdmin) ++admins_;
  }
  return true;
}

}  // namespace paxlock::lock
