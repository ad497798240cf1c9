// The client's view of a session lease (include/paxlock/client.h, Session),
// as a pure step function of time: no clock, no timer, no I/O. The Session
// calls step() whenever its timer fires and arms the timer again for the
// time step() names; tests drive the same logic on a simulated clock.
//
// The lease counts as lost at
//   renewed_at + TTL - margin
// where renewed_at is the send time of the last acknowledged keep-alive (the
// open_session request at first) and margin = min(700 ms, TTL / 2) covers a
// leader change (2 x 300 ms) and clock drift (100 ms); see docs/LOCKS.md.
// Keep-alives go out every TTL / 3; the deadline is checked at the deadline
// itself, not only when a renewal is due.
#pragma once

#include <algorithm>
#include <chrono>

namespace paxlock::client {

class Lease {
 public:
  using Time = std::chrono::steady_clock::time_point;
  using Ms = std::chrono::milliseconds;

  struct Step {
    bool send_keep_alive = false;  // send one now; report its answer with its send time
    bool lost = false;             // the lease just counted as lost (reported once)
    bool done = false;             // nothing more to do: no timer needed
    Time wake_at{};                // otherwise call step() again at this time
  };

  static Ms margin_for(Ms ttl) { return std::min<Ms>(Ms(700), ttl / 2); }
  static Ms period_for(Ms ttl) { return std::max<Ms>(ttl / 3, Ms(10)); }

  // `opened_at`: send time of the open_session request that was acknowledged.
  Lease(Time opened_at, Ms ttl)
      : ttl_(ttl),
        margin_(margin_for(ttl)),
        period_(period_for(ttl)),
        renewed_at_(opened_at),
        next_renewal_(opened_at) {}

  Step step(Time now) {
    Step s;
    if (lost_ || closed_) {
      s.done = true;
      return s;
    }
    if (now >= deadline()) {
      lost_ = true;
      s.lost = true;
      s.done = true;
      return s;
    }
    if (now >= next_renewal_) {
      s.send_keep_alive = true;
      next_renewal_ = now + period_;
    }
    // Wake for the next renewal or for the deadline, whichever comes first:
    // the deadline has a timer of its own, it is not only looked at when a
    // renewal is due (an acknowledgement that arrives meanwhile moves the
    // deadline; waking at the old one then just re-arms).
    s.wake_at = std::min(next_renewal_, deadline());
    return s;
  }

  // A keep-alive sent at `sent_at` was acknowledged.
  void acknowledged(Time sent_at) { renewed_at_ = std::max(renewed_at_, sent_at); }
  // The service said the session expired. True if that makes the lease lost
  // now (it was neither lost nor closed before).
  bool expired() {
    if (lost_ || closed_) return false;
    lost_ = true;
    return true;
  }
  void close() { closed_ = true; }

  Time deadline() const { return renewed_at_ + ttl_ - margin_; }
  Time renewed_at() const { return renewed_at_; }
  bool lost() const { return lost_; }
  bool closed() const { return closed_; }
  Ms ttl() const { return ttl_; }
  Ms margin() const { return margin_; }
  Ms period() const { return period_; }

 private:
  Ms ttl_;
  Ms margin_;
  Ms period_;
  Time renewed_at_;
  Time next_renewal_;
  bool lost_ = false;
  bool closed_ = false;
};

}  // namespace paxlock::client
