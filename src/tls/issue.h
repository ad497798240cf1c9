// Making the cluster's certificates: a CA, node certificates and client
// certificates, all ECDSA P-256 with SHA-256 signatures (what every TLS 1.3
// stack accepts; Ed25519 certificates are not yet accepted everywhere). The
// names follow identity.h. `paxlock certs` and the tests call these; nothing
// here reads flags.
//
// The files of a certificate directory (`paxlock certs ... --dir D`):
//
//   D/ca.crt, D/ca.key                    the cluster's CA (subject O = the cluster id)
//   D/node-<id>.crt, D/node-<id>.key      a node's
//   D/client-<name>.crt, D/client-<name>.key
//   D/tokens                              bearer-token hashes (tokens.h)
//
// Keys are mode 0600, certificates 0644; nothing existing is replaced unless
// asked (pem.h, write_file_atomically).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tls/openssl.h"

namespace paxlock::tls {

constexpr int64_t kDayS = 24 * 3600;
constexpr int64_t kCaValidityS = 3650 * kDayS;
constexpr int64_t kLeafValidityS = 365 * kDayS;
// notBefore is an hour back, so that a replica whose clock is a little
// behind the issuer's accepts a certificate made a moment ago.
constexpr int64_t kBackdateS = 3600;

// Relative to now, in seconds; a test makes expired certificates with
// negative values.
struct Validity {
  int64_t not_before_s = -kBackdateS;
  int64_t not_after_s = kLeafValidityS;
};

struct Issued {
  PkeyPtr key;
  X509Ptr cert;
};

Result<Issued> make_ca(std::string_view cluster_id,
                       Validity validity = {-kBackdateS, kCaValidityS});
// SAN DNS node-<id>.<cluster_id>, then each of `hosts` (an IPv4 or IPv6
// address becomes an IP SAN, anything else a DNS SAN); serverAuth and
// clientAuth. The CA must be the cluster's (its O is `cluster_id`).
Result<Issued> make_node_certificate(const Issued& ca, uint32_t node_id,
                                     std::string_view cluster_id,
                                     const std::vector<std::string>& hosts, Validity validity = {});
// CN `name`, clientAuth only, no SAN.
Result<Issued> make_client_certificate(const Issued& ca, std::string_view name,
                                       Validity validity = {});

// The cluster id a CA made by make_ca names (its subject's O).
Result<std::string> ca_cluster_id(X509* ca_cert);

struct IssuedFiles {
  std::string cert;
  std::string key;
};
IssuedFiles ca_files(const std::string& dir);
IssuedFiles node_files(const std::string& dir, uint32_t node_id);
IssuedFiles client_files(const std::string& dir, std::string_view name);
std::string tokens_file(const std::string& dir);

// Writes the key (0600), then the certificate (0644). Without `overwrite`,
// refuses before writing anything if either file exists.
Status write_issued(const Issued& issued, const IssuedFiles& files, bool overwrite);
// Reads a certificate and its key (a CA to sign with), checking they match.
Result<Issued> read_issued(const IssuedFiles& files);

}  // namespace paxlock::tls
