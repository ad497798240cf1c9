// Owning pointers for OpenSSL objects, and the one way to turn OpenSSL's
// error queue into text for a Status. Everything in src/tls goes through
// these; no raw X509* or EVP_PKEY* is owned anywhere else.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace paxlock::tls {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The reasons OpenSSL queued on this thread, oldest first, joined with "; "
// (the queue is emptied); "no detail" if it was empty.
std::string openssl_errors();

}  // namespace paxlock::tls
