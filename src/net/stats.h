// Counters of the network side, for /metrics. Touched only on the event loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace paxlock::net {

// Every reason a connection is closed or refused for (the peer transport's,
// then the client service's): /metrics exports each from zero, so that an
// alert on a rise has a series to compare with before the first error.
// docs/OPERATIONS.md says what each means and which limit it counts.
inline constexpr std::array<std::string_view, 30> kConnectionErrorReasons = {
    "wrong_cluster",
    "bad_version",
    "unknown_node",
    "frame_too_big",
    "bad_frame",
    "bad_message",
    "stalled",
    "connection_limit",
    "source_limit",
    "hello_rate",
    "duplicate_peer",
    "hello_timeout",
    "frame_timeout",
    "idle_timeout",
    "tls_handshake",
    "peer_certificate",
    "client_bad_hello",
    "client_wrong_cluster",
    "client_frame_too_big",
    "client_bad_frame",
    "client_slow_reader",
    "client_output_budget",
    "client_connection_limit",
    "client_source_limit",
    "client_handshake_rate",
    "client_hello_timeout",
    "client_frame_timeout",
    "client_idle_timeout",
    "client_tls_handshake",
    "client_unauthenticated",
};

struct NetStats {
  NetStats() {
    for (std::string_view reason : kConnectionErrorReasons)
      connection_errors.emplace(reason, 0);
  }

  uint64_t peer_frames_in = 0;  // core messages (keepalives are counted apart)
  uint64_t peer_frames_out = 0;
  uint64_t peer_bytes_out = 0;
  uint64_t peer_dropped_queue_full = 0;  // send queue over its limit
  uint64_t peer_dropped_down = 0;        // no connection to the peer
  uint64_t peer_dropped_fault = 0;       // --drop-rate fault injection
  uint64_t peer_keepalives_in = 0;       // transport keepalives (PeerTransport)
  uint64_t peer_keepalives_out = 0;
  uint64_t peer_connects = 0;
  uint64_t client_connections = 0;
  uint64_t client_requests = 0;
  // Connections closed because of what the other side did, by reason: every
  // one of kConnectionErrorReasons (from zero), and only those.
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
