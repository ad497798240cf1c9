// A listening TCP port: the peer port (net/peer_transport) and the client
// port (daemon/client_service) both take their connections through one.
//
// listen() opens, binds (with SO_REUSEADDR) and listens; start() runs the
// accept loop on the io_context until close(). Each accepted connection is
// admitted first (net/admission.h): one over the port's or its source's
// limit is closed at once and reported to `refused` with the reason
// "connection_limit" or "source_limit" (the caller counts and logs it); an
// admitted one goes to `accepted` with the AdmissionSlot that holds its
// place until the connection's coroutine drops it.
//
// After a failed accept (out of descriptors, say) the listening socket stays
// readable: the loop waits kAcceptErrorPause instead of spinning, and logs
// the error at most once per 5 s (with the number of similar ones
// suppressed).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cluster/cluster_file.h"
#include "common/status.h"
#include "net/admission.h"
#include "net/connection.h"
#include "net/stats.h"

namespace paxlock::net {

class Listener {
 public:
  static constexpr std::chrono::milliseconds kAcceptErrorPause{50};

  using Accepted = std::function<void(tcp::socket socket, AdmissionSlot slot)>;
  using Refused = std::function<void(const std::string& reason, const std::string& source,
                                     const std::string& detail)>;

  // `what` names the port in messages: "peer" or "client".
  Listener(asio::io_context& io, std::string what, std::shared_ptr<Admission> admission);

  // Binds `address`: an error ("cannot listen for peers on ...") if it is
  // malformed or taken.
  Status listen(const cluster::Address& address);
  // Starts accepting (after a successful listen()).
  void start(Accepted accepted, Refused refused);
  // Stops accepting: the accept loop ends. Connections accepted stay open.
  void close();
  // The bound port (useful after listening on port 0), 0 if not listening.
  uint16_t port() const;

 private:
  asio::awaitable<void> accept_loop();

  asio::io_context& io_;
  std::string what_;
  std::shared_ptr<Admission> admission_;
  tcp::acceptor acceptor_;
  RateLimiter log_limit_;
  Accepted accepted_;
  Refused refused_;
  bool closed_ = false;
};

}  // namespace paxlock::net
