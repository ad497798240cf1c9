// TLS contexts for the peer port, the client port and outgoing peer
// connections, built from three PEM files, and a holder that rebuilds them on
// demand (SIGHUP) without ever losing the working ones.
//
// Every context: TLS 1.3 only; the cluster's CA file is the only trust anchor
// (the system's CAs are never loaded); the peer's certificate is verified
// (chain to the CA, validity, purpose: a server's certificate must allow
// serverAuth, a client's clientAuth); no session tickets, so every
// connection is a full handshake that verifies its certificate against the
// context in force, and a rotated CA or certificate applies to every new
// connection at once. Who the verified certificate names is the caller's
// check after the handshake (identity.h), before any message is read.
//
// A context is built only from files that are right as a whole: the key
// matches the certificate, the certificate is signed by the CA and valid now
// for its purpose. Otherwise the Status names the file and what is wrong
// (missing, unreadable, not PEM, key does not match, not signed by the CA,
// expired, not yet valid).
#pragma once

#include <openssl/ssl.h>

#include <asio/ssl.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "tls/openssl.h"

namespace paxlock::tls {

struct TlsFiles {
  std::string ca;    // the cluster's CA certificate(s): the only trust anchor
  std::string cert;  // our certificate, optionally followed by intermediates
  std::string key;   // its private key, unencrypted PEM
};

// Whether a server requires its clients to show a certificate. The peer port
// always does; the client port may let clients without one through to prove
// themselves with a bearer token (tokens.h).
enum class ClientCerts : uint8_t { kRequired, kOptional };

using ContextPtr = std::shared_ptr<asio::ssl::context>;

Result<ContextPtr> make_server_context(const TlsFiles& files, ClientCerts client_certs);
// `files.cert` and `files.key` may both be empty: a client that shows no
// certificate (it authenticates with a token).
Result<ContextPtr> make_client_context(const TlsFiles& files);

// The certificate the other end showed in a completed handshake, or null.
X509Ptr peer_certificate(SSL* ssl);

// The contexts of one node, rebuilt by reload(): a reload whose files are
// bad keeps the contexts in force and returns (and remembers) the error, so
// a botched rotation never takes a node down. Connections hold the context
// they were made with (a shared_ptr), so existing connections are untouched
// and new ones use the new contexts. Used on one thread (the event loop).
class TlsContexts {
 public:
  // What our own certificate must also satisfy (that it names this node):
  // checked on the certificate a built context holds, at load and at every
  // reload, before the new contexts replace the old.
  using CertificateCheck = std::function<Status(X509* cert)>;

  static Result<TlsContexts> load(TlsFiles files, ClientCerts client_port_certs,
                                  CertificateCheck check = nullptr);

  // Re-reads the files. OK: the new contexts are in force; otherwise the old
  // ones stay and last_reload_error() is the reason.
  Status reload();

  const ContextPtr& peer_server() const { return peer_server_; }  // client certs required
  const ContextPtr& peer_client() const { return peer_client_; }
  const ContextPtr& client_server() const { return client_server_; }
  const TlsFiles& files() const { return files_; }
  // 1 after load, one more per successful reload.
  uint64_t generation() const { return generation_; }
  const Status& last_reload_error() const { return last_reload_error_; }

 private:
  TlsContexts() = default;
  Status build();

  TlsFiles files_;
  ClientCerts client_port_certs_ = ClientCerts::kRequired;
  CertificateCheck check_;
  ContextPtr peer_server_;
  ContextPtr peer_client_;
  ContextPtr client_server_;
  uint64_t generation_ = 0;
  Status last_reload_error_;
};

}  // namespace paxlock::tls
