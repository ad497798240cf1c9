#include "net/listener.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <utility>

namespace paxlock::net {

Listener::Listener(asio::io_context& io, std::string what, std::shared_ptr<Admission> admission)
    : io_(io), what_(std::move(what)), admission_(std::move(admission)), acceptor_(io) {}

Status Listener::listen(const cluster::Address& address) {
  auto listen = endpoint_of(address.ip, address.port);
  if (!listen.ok()) {
    return Status::error(EINVAL, "cannot listen for " + what_ + "s on " + address.to_string() +
                                     ": " + listen.status().message());
  }
  asio::error_code ec;
  const tcp::endpoint ep = *listen;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(ec.value(), "cannot listen for " + what_ + "s on " + address.to_string() +
                                         ": " + ec.message());
  }
  return {};
}

void Listener::start(Accepted accepted, Refused refused) {
  accepted_ = std::move(accepted);
  refused_ = std::move(refused);
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void Listener::close() {
  closed_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
}

uint16_t Listener::port() const {
  asio::error_code ec;
  const tcp::endpoint ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

asio::awaitable<void> Listener::accept_loop() {
  using Clock = std::chrono::steady_clock;
  asio::steady_timer pause(io_);
  while (!closed_) {
    asio::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (closed_) break;
      uint64_t suppressed = 0;
      if (log_limit_.allow("accept", suppressed)) {
        spdlog::warn("accepting a {} connection failed: {} ({} similar suppressed)", what_,
                     ec.message(), suppressed);
      }
      pause.expires_after(kAcceptErrorPause);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::error_code no_address;
    const auto remote = socket.remote_endpoint(no_address);
    const std::string source = no_address ? "?" : remote.address().to_string();
    const Admission::Verdict verdict = admission_->admit(source, Clock::now());
    if (verdict != Admission::Verdict::kAdmit) {
      const bool port_full = verdict == Admission::Verdict::kPortFull;
      refused_(port_full ? "connection_limit" : "source_limit", source,
               port_full ? fmt::format("{} connections open on the {} port (the limit)",
                                       admission_->connections(), what_)
                         : fmt::format("{} connections open from {} (the limit)",
                                       admission_->connections_from(source), source));
      socket.close(ec);
      continue;
    }
    accepted_(std::move(socket), AdmissionSlot(admission_, source));
  }
}

}  // namespace paxlock::net
