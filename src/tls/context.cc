#include "tls/context.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <vector>

#include "tls/pem.h"

namespace paxlock::tls {
namespace {

struct Loaded {
  std::vector<X509Ptr> ca;
  std::vector<X509Ptr> chain;  // ours first, then intermediates; empty: no certificate
  PkeyPtr key;
};

std::string time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  PAXLOCK_CHECK(bio != nullptr);
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// Why `chain`'s first certificate does not verify against `ca` for
// `purpose` now, in words naming the files.
Status verify_own(const Loaded& l, const TlsFiles& files, int purpose) {
  X509_STORE* store = X509_STORE_new();
  PAXLOCK_CHECK(store != nullptr);
  for (const X509Ptr& c : l.ca)
    PAXLOCK_CHECK(X509_STORE_add_cert(store, c.get()) == 1);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  PAXLOCK_CHECK(untrusted != nullptr);
  for (size_t i = 1; i < l.chain.size(); ++i)
    sk_X509_push(untrusted, l.chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  PAXLOCK_CHECK(ctx != nullptr);
  PAXLOCK_CHECK(X509_STORE_CTX_init(ctx, store, l.chain.front().get(), untrusted) == 1);
  PAXLOCK_CHECK(X509_STORE_CTX_set_purpose(ctx, purpose) == 1);
  const bool ok = X509_verify_cert(ctx) == 1;
  const int err = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* at = X509_STORE_CTX_get_current_cert(ctx);
  std::string which = depth == 0 || at == nullptr
                          ? "certificate " + files.cert
                          : fmt::format("CA (depth {}) of {}", depth, files.cert);
  std::string why;
  if (!ok) {
    switch (err) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        why = fmt::format("{} expired (notAfter {})", which, time_text(X509_get0_notAfter(at)));
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        why = fmt::format("{} is not yet valid (notBefore {})", which,
                          time_text(X509_get0_notBefore(at)));
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        why = fmt::format("certificate {} is not signed by the CA in {} ({})", files.cert, files.ca,
                          X509_verify_cert_error_string(err));
        break;
      case X509_V_ERR_INVALID_PURPOSE:
        why = fmt::format("certificate {} may not serve as a TLS {} (its Extended Key Usage)",
                          files.cert, purpose == X509_PURPOSE_SSL_SERVER ? "server" : "client");
        break;
      default:
        why = fmt::format("{} does not verify against the CA in {}: {}", which, files.ca,
                          X509_verify_cert_error_string(err));
    }
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  ERR_clear_error();
  if (!ok) return Status::error(EACCES, why);
  return {};
}

Result<Loaded> load(const TlsFiles& files, bool certificate_required) {
  Loaded l;
  auto ca_text = read_small_file(files.ca, "CA file");
  if (!ca_text.ok()) return ca_text.status();
  auto ca = certificates_from_pem(*ca_text, files.ca, "CA file");
  if (!ca.ok()) return ca.status();
  l.ca = std::move(*ca);
  if (!certificate_required && files.cert.empty() && files.key.empty()) return l;
  auto cert_text = read_small_file(files.cert, "certificate file");
  if (!cert_text.ok()) return cert_text.status();
  auto chain = certificates_from_pem(*cert_text, files.cert, "certificate file");
  if (!chain.ok()) return chain.status();
  l.chain = std::move(*chain);
  auto key_text = read_small_file(files.key, "key file");
  if (!key_text.ok()) return key_text.status();
  auto key = private_key_from_pem(*key_text, files.key);
  if (!key.ok()) return key.status();
  l.key = std::move(*key);
  if (X509_check_private_key(l.chain.front().get(), l.key.get()) != 1) {
    ERR_clear_error();
    return Status::error(
        EINVAL, fmt::format("key file {} does not match certificate {}", files.key, files.cert));
  }
  return l;
}

// The context every role shares: TLS 1.3 only, `l` as our certificate (if
// any), the CA as the only trust anchor, the peer verified.
ContextPtr base_context(const Loaded& l) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  SSL_CTX* native = ctx->native_handle();
  PAXLOCK_CHECK(SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) == 1);
  PAXLOCK_CHECK(SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) == 1);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const X509Ptr& c : l.ca)
    PAXLOCK_CHECK(X509_STORE_add_cert(store, c.get()) == 1);
  if (!l.chain.empty()) {
    PAXLOCK_CHECK(SSL_CTX_use_certificate(native, l.chain.front().get()) == 1);
    for (size_t i = 1; i < l.chain.size(); ++i)
      PAXLOCK_CHECK(SSL_CTX_add1_chain_cert(native, l.chain[i].get()) == 1);
    PAXLOCK_CHECK(SSL_CTX_use_PrivateKey(native, l.key.get()) == 1);
    PAXLOCK_CHECK(SSL_CTX_check_private_key(native) == 1);
  }
  return ctx;
}

}  // namespace

Result<ContextPtr> make_server_context(const TlsFiles& files, ClientCerts client_certs) {
  auto l = load(files, true);
  if (!l.ok()) return l.status();
  if (Status s = verify_own(*l, files, X509_PURPOSE_SSL_SERVER); !s.ok()) return s;
  ContextPtr ctx = base_context(*l);
  SSL_CTX* native = ctx->native_handle();
  for (const X509Ptr& c : l->ca)
    PAXLOCK_CHECK(SSL_CTX_add_client_CA(native, c.get()) == 1);
  // The peer's certificate must verify for the purpose "TLS client".
  PAXLOCK_CHECK(SSL_CTX_set_purpose(native, X509_PURPOSE_SSL_CLIENT) == 1);
  ctx->set_verify_mode(client_certs == ClientCerts::kRequired
                           ? asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert
                           : asio::ssl::verify_peer);
  return ctx;
}

Result<ContextPtr> make_client_context(const TlsFiles& files) {
  auto l = load(files, false);
  if (!l.ok()) return l.status();
  if (!l->chain.empty()) {
    if (Status s = verify_own(*l, files, X509_PURPOSE_SSL_CLIENT); !s.ok()) return s;
  }
  ContextPtr ctx = base_context(*l);
  PAXLOCK_CHECK(SSL_CTX_set_purpose(ctx->native_handle(), X509_PURPOSE_SSL_SERVER) == 1);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

X509Ptr peer_certificate(SSL* ssl) {
  return X509Ptr(SSL_get1_peer_certificate(ssl));
}

Result<TlsContexts> TlsContexts::load(TlsFiles files, ClientCerts client_port_certs,
                                      CertificateCheck check) {
  TlsContexts t;
  t.files_ = std::move(files);
  t.client_port_certs_ = client_port_certs;
  t.check_ = std::move(check);
  if (Status s = t.build(); !s.ok()) return s;
  return t;
}

Status TlsContexts::reload() {
  Status s = build();
  last_reload_error_ = s;
  return s;
}

Status TlsContexts::build() {
  auto peer_server = make_server_context(files_, ClientCerts::kRequired);
  if (!peer_server.ok()) return peer_server.status();
  if (check_) {
    // The certificate the context will show, not the file read again.
    X509* ours = SSL_CTX_get0_certificate((*peer_server)->native_handle());
    if (ours == nullptr)
      return Status::error(EINVAL, "certificate file " + files_.cert + ": empty");
    if (Status s = check_(ours); !s.ok()) {
      return Status::error(s.code(), "certificate file " + files_.cert + ": " + s.message());
    }
  }
  auto peer_client = make_client_context(files_);
  if (!peer_client.ok()) return peer_client.status();
  auto client_server = make_server_context(files_, client_port_certs_);
  if (!client_server.ok()) return client_server.status();
  peer_server_ = std::move(*peer_server);
  peer_client_ = std::move(*peer_client);
  client_server_ = std::move(*client_server);
  ++generation_;
  return {};
}

}  // namespace paxlock::tls
