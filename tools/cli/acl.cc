// `paxlock acl grant|revoke|list`: the ACL table of the replicated state
// (docs/LOCKS.md, "Identities, owners and ACLs"), changed through the log by
// an admin identity. Every replica enforces the same table at the same log
// position; these commands are how an operator reads and changes it.
#include <fmt/format.h>

#include <iostream>

#include "cli/cli.h"

namespace paxlock::cli {
namespace {

Json grant_json(const AclGrant& g) {
  return {{"identity", g.identity}, {"prefix", g.prefix}, {"role", to_string(g.role)}};
}

using Clock = std::chrono::steady_clock;

// One schema for the three actions (docs/CLI.md, "acl"): what was asked,
// the answer, and for list the grants.
Json acl_json(const AclOptions& a, const Reply& r, const std::vector<AclGrant>& all,
              Clock::time_point start) {
  Json j = json_head("acl", r.code, exit_code(r.code));
  j["action"] = a.action;
  j["identity"] = a.identity;
  j["prefix"] = a.prefix;
  j["role"] = a.role;
  Json grants = Json::array();
  for (const AclGrant& x : all)
    grants.push_back(grant_json(x));
  j["grants"] = std::move(grants);
  j["served_by"] = r.served_by;
  j["attempts"] = r.attempts;
  j["elapsed_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  j["error"] = r.error;
  return j;
}

std::string acl_refusal(const std::string& what, const Reply& r) {
  switch (r.code) {
    case Code::kPermissionDenied:
      return fmt::format("acl {}: PERMISSION_DENIED: {}", what,
                         r.error.empty() ? "not an admin identity" : printable(r.error));
    case Code::kNotHeld:
      return fmt::format("acl {}: NOT_HELD (no such grant): {}", what, printable(r.error));
    case Code::kInvalid:
      return fmt::format("acl {}: INVALID: {}", what, printable(r.error));
    default:
      return refusal_text("acl " + what, "", r);
  }
}

int usage(const Global& g, const std::string& message) {
  if (g.json) {
    Json j = json_head("acl", Code::kInvalid, kExitUsage);
    j["result"] = "USAGE";
    j["error"] = message;
    print_json(j);
  }
  fail(message);
  return kExitUsage;
}

// grant and revoke answer alike: OK, or why not.
int change(const Global& g, const AclOptions& a, Client& c) {
  const auto start = Clock::now();
  Reply r;
  if (a.action == "grant") {
    const auto role = acl_role_from_string(a.role);
    if (!role)
      return usage(g,
                   "acl grant: the role is read, lock or admin, not '" + printable(a.role) + "'");
    r = c.acl_grant(AclGrant{a.identity, a.prefix, *role}).get();
  } else {
    r = c.acl_revoke(a.identity, a.prefix).get();
  }
  const int exit = exit_code(r.code);
  const std::string what =
      fmt::format("{} {} on \"{}\"", a.action, printable(a.identity), printable(a.prefix));
  if (g.json) {
    print_json(acl_json(a, r, {}, start));
  } else if (r.code == Code::kOk) {
    note(g, fmt::format("acl {}: done (log instance {})", what, r.applied_at));
  } else {
    fail(acl_refusal(what, r));
  }
  return exit;
}

// Every grant, a page at a time (1,000 per request, the service's limit).
int list(const Global& g, const AclOptions& a, Client& c) {
  const auto start = Clock::now();
  std::vector<AclGrant> all;
  Reply r;
  std::string after_identity, after_prefix;
  for (;;) {
    r = c.acl_list(after_identity, after_prefix, 1000).get();
    if (r.code != Code::kOk) break;
    all.insert(all.end(), r.grants.begin(), r.grants.end());
    if (r.grants.size() < 1000) break;
    after_identity = r.grants.back().identity;
    after_prefix = r.grants.back().prefix;
  }
  const int exit = exit_code(r.code);
  if (g.json) {
    print_json(acl_json(a, r, all, start));
  } else if (r.code == Code::kOk) {
    std::cout << "identity\tprefix\trole" << std::endl;
    for (const AclGrant& x : all) {
      std::cout << fmt::format("{}\t\"{}\"\t{}", printable(x.identity), printable(x.prefix),
                               to_string(x.role))
                << std::endl;
    }
  } else {
    fail(acl_refusal("list", r));
  }
  return exit;
}

}  // namespace

int cmd_acl(const Global& g, const AclOptions& a) {
  ClientOptions o;
  if (!client_options(g, o)) {
    return usage(g, "acl " + a.action + ": no usable cluster file (see the error above)");
  }
  if (!o.tls) {
    return usage(g, "acl " + a.action +
                        ": the cluster file has no [tls]: without identities there is no ACL");
  }
  if (a.action != "list" && a.identity.empty()) {
    return usage(g, "acl " + a.action + ": the identity is empty");
  }
  Client c(o);
  return a.action == "list" ? list(g, a, c) : change(g, a, c);
}

}  // namespace paxlock::cli
