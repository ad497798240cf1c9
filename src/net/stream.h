// The byte stream under a Connection: a plain TCP socket, or TLS over one
// (an asio::ssl::stream made from a context of src/tls). Everything a
// Connection does with its bytes goes through here, dispatching on the kind,
// so the framing, limits and timeouts above are the same for both.
//
// A TLS stream holds the context it was made with (a reload makes new
// contexts for new connections; this one keeps its own), and its handshake
// is a separate step: the owner runs it (bounded by its hello deadline)
// before reading the first frame, and then reads who the other end is from
// peer_certificate().
//
// The TLS engine (the SSL object, OpenSSL's BIO pair and Asio's two 17 KB
// record buffers: ~85 KB) is made by the handshake, and a server first waits
// for the socket to be readable (wait_readable()): a connection that sends
// nothing costs what a plain one does.
#pragma once

#include <openssl/ssl.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tls/context.h"
#include "tls/openssl.h"

namespace paxlock::net {

using asio::ip::tcp;

class Stream {
 public:
  using TlsStream = asio::ssl::stream<tcp::socket>;

  // Plain TCP.
  explicit Stream(tcp::socket socket) : plain_(std::move(socket)) {}
  // TLS over `socket`, with `context` (not null).
  Stream(tcp::socket socket, tls::ContextPtr context);

  bool is_tls() const { return context_ != nullptr; }
  // The TCP layer (for options, addresses, shutdown and close).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  const tcp::socket& socket() const { return tls_ ? tls_->next_layer() : *plain_; }

  // Waits until the other side sent something (an error if it closed
  // first, asio::error::eof if it closed without a byte): a server calls
  // it before its handshake, so that a connection that sends nothing holds
  // no TLS engine.
  asio::awaitable<asio::error_code> wait_readable();
  // TLS only: makes the TLS engine and runs the handshake, as a client or a
  // server.
  asio::awaitable<asio::error_code> handshake(asio::ssl::stream_base::handshake_type type);
  bool handshake_done() const { return !tls_ || handshake_done_; }
  // TLS only, after the handshake: the certificate the other end showed
  // (verified by the handshake against the context's CA), or null.
  tls::X509Ptr peer_certificate();
  // Why a handshake failed with `ec`, in words: OpenSSL's reason, and the
  // verdict on the other side's certificate if that is what failed
  // ("certificate verify failed (SSL routines): certificate has expired").
  std::string handshake_failure(const asio::error_code& ec) const;
  // TLS only: decrypted bytes waiting inside the TLS engine (readable
  // without waiting for the socket).
  size_t tls_pending() const;

  asio::awaitable<size_t> read_some(asio::mutable_buffer buffer, asio::error_code& ec);
  asio::awaitable<void> write(const std::vector<asio::const_buffer>& buffers, asio::error_code& ec);

 private:
  tls::ContextPtr context_;           // TLS: the context; null for plain TCP
  std::unique_ptr<TlsStream> tls_;    // TLS, once the handshake started
  std::optional<tcp::socket> plain_;  // the socket, unless tls_ holds it
  bool handshake_done_ = false;
};

// An error of a handshake or a TLS read, in words (OpenSSL's reason for
// the TLS ones: "certificate verify failed", "tlsv13 alert certificate
// required").
inline std::string tls_error_text(const asio::error_code& ec) {
  return ec.message();
}

}  // namespace paxlock::net
