// Counters of the network side, for /metrics. Touched only on the event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace paxlock::net {

struct NetStats {
  uint64_t peer_frames_in = 0;
  uint64_t peer_frames_out = 0;
  uint64_t peer_bytes_out = 0;
  uint64_t peer_dropped_queue_full = 0;  // send queue over its limit
  uint64_t peer_dropped_down = 0;        // no connection to the peer
  uint64_t peer_dropped_fault = 0;       // --drop-rate fault injection
  uint64_t peer_connects = 0;
  uint64_t client_connections = 0;
  uint64_t client_requests = 0;
  // Connections closed because of what the other side did, by reason:
  // "wrong_cluster", "bad_version", "unknown_node", "frame_too_big",
  // "bad_frame", "bad_message", "stalled", ...
  std::map<std::string, uint64_t> connection_errors;
};

// Logs a line at most once per `period` per key, saying how many were
// suppressed in between. A misbehaving peer cannot flood the log.
class RateLimiter {
 public:
  explicit RateLimiter(std::chrono::seconds period = std::chrono::seconds(5)) : period_(period) {}

  // True if a line for `key` may be logged now; `suppressed` says how many
  // were held back since the last one.
  bool allow(const std::string& key, uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    Entry& e = entries_[key];
    if (e.last.time_since_epoch().count() != 0 && now - e.last < period_) {
      ++e.suppressed;
      return false;
    }
    suppressed = e.suppressed;
    e.suppressed = 0;
    e.last = now;
    return true;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last{};
    uint64_t suppressed = 0;
  };
  std::chrono::seconds period_;
  std::map<std::string, Entry> entries_;
};

}  // namespace paxlock::net
