// Lock commands written the short way in the fuzz targets and the seed
// generator: Cmd(Op::kLock).name("a").owner("bob").wait_ms(500).
#pragma once

#include <string>
#include <utility>

#include "lock/command.h"

namespace paxlock::fuzz {

class Cmd {
 public:
  explicit Cmd(lock::Op op) { c_.op = op; }

  Cmd& name(std::string v) { return set(c_.name, std::move(v)); }
  Cmd& owner(std::string v) { return set(c_.owner, std::move(v)); }
  Cmd& session(uint64_t v) { return set(c_.session, v); }
  Cmd& token(uint64_t v) { return set(c_.token, v); }
  Cmd& wait_ms(paxos::TimeMs v) { return set(c_.wait_ms, v); }
  Cmd& will_retry() { return set(c_.will_retry, true); }
  Cmd& ttl_ms(paxos::TimeMs v) { return set(c_.ttl_ms, v); }
  Cmd& limit(uint32_t v) { return set(c_.limit, v); }
  Cmd& first_outstanding(uint64_t v) { return set(c_.first_outstanding, v); }
  Cmd& identity(std::string v) { return set(c_.identity, std::move(v)); }
  Cmd& grant(std::string identity, std::string prefix, lock::Role role) {
    return set(c_.grant, lock::Grant{std::move(identity), std::move(prefix), role});
  }

  operator lock::Command() const { return c_; }  // NOLINT: a builder

 private:
  template <class T, class V>
  Cmd& set(T& field, V&& v) {
    field = std::forward<V>(v);
    return *this;
  }
  lock::Command c_;
};

}  // namespace paxlock::fuzz
