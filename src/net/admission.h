// Who may hold a connection on a listening port, and for how long: the pure
// rules behind the peer and client ports' resource bounds (issue 16). No
// sockets and no clock: time is passed in, so that unit tests script it.
//
// Admission counts a port's open connections, in total and per source
// address, and refuses one over either limit at accept. It also keeps a
// token bucket of hellos per source (the peer port uses it: a source that
// sends hellos faster than the rate is refused before its hello is looked
// at). The table of sources holds those with a connection open or a bucket
// still refilling, and at most kSourcesMax of them.
//
// expiry() says when an open connection is to be closed for taking too long:
// no hello within the hello timeout; a frame started and not finished within
// the frame timeout (a slowloris that dribbles bytes makes no progress that
// counts); after the hello, no frame and nothing in flight for the idle
// timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace paxlock::net {

using SteadyTime = std::chrono::steady_clock::time_point;

struct AdmissionLimits {
  size_t connections_max = 64;   // open connections on the port
  size_t per_source_max = 16;    // of which from one source address
  double hellos_per_second = 0;  // per source; 0: no limit
  double hello_burst = 1;        // hellos a source may send at once
  static constexpr size_t kSourcesMax = 16384;
};

class Admission {
 public:
  enum class Verdict : uint8_t { kAdmit, kPortFull, kSourceFull };

  explicit Admission(AdmissionLimits limits) : limits_(limits) {}

  // Counts a new connection from `source` if both limits allow it.
  Verdict admit(const std::string& source, SteadyTime now);
  // The connection admitted from `source` closed.
  void release(const std::string& source);
  // Takes a token from `source`'s bucket; false if it is empty.
  bool allow_hello(const std::string& source, SteadyTime now);

  size_t connections() const { return connections_; }
  size_t connections_from(const std::string& source) const;
  size_t sources() const { return sources_.size(); }

 private:
  struct Source {
    size_t connections = 0;
    double tokens = 0;
    SteadyTime refilled{};
  };
  void refill(Source& s, SteadyTime now) const;
  // Forgets sources with no connection and a full bucket.
  void prune(SteadyTime now);

  AdmissionLimits limits_;
  size_t connections_ = 0;
  std::map<std::string, Source> sources_;
};

// Holds the place of one admitted connection and gives it back when
// destroyed (the coroutine serving the connection owns it).
class AdmissionSlot {
 public:
  AdmissionSlot(std::shared_ptr<Admission> admission, std::string source);
  ~AdmissionSlot();
  AdmissionSlot(AdmissionSlot&& other) noexcept;
  AdmissionSlot(const AdmissionSlot&) = delete;
  AdmissionSlot& operator=(const AdmissionSlot&) = delete;
  AdmissionSlot& operator=(AdmissionSlot&&) = delete;

 private:
  std::shared_ptr<Admission> admission_;
  std::string source_;
};

// A hello (PeerHello, ClientHello) is tiny: a header announcing more than
// this before the hello is refused at once.
inline constexpr size_t kHelloBytesMax = 4096;

struct TimeLimits {
  std::chrono::milliseconds hello{5000};
  std::chrono::milliseconds frame{30000};
  std::chrono::milliseconds idle{120000};
};

// What a connection did, as the expiry rules see it.
struct Activity {
  SteadyTime opened{};
  bool greeted = false;                     // its hello was accepted
  SteadyTime last_frame{};                  // the last complete frame (the hello too)
  std::optional<SteadyTime> partial_since;  // a frame is started, since then
  bool busy = false;                        // requests in flight: not idle
};

enum class Expiry : uint8_t { kNone, kHello, kFrame, kIdle };

Expiry expiry(const Activity& a, SteadyTime now, const TimeLimits& limits);
// How often to look: a quarter of the shortest timeout, within 20 ms..1 s.
std::chrono::milliseconds sweep_period(const TimeLimits& limits);

}  // namespace paxlock::net
