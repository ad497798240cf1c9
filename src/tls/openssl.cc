#include "tls/openssl.h"

#include <openssl/err.h>

namespace paxlock::tls {

std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (const unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail" : out;
}

}  // namespace paxlock::tls
