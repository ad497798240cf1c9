#include "tls/issue.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/identity.h"
#include "tls/pem.h"

namespace paxlock::tls {
namespace {

constexpr int kSerialBytes = 16;

Result<PkeyPtr> new_p256_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr)
    return Status::error(EIO, "generating a P-256 key failed: " + openssl_errors());
  return key;
}

// A random positive 127-bit serial: unique without keeping a counter.
Status set_random_serial(X509* cert) {
  unsigned char bytes[kSerialBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return Status::error(EIO, "no random bytes for a serial: " + openssl_errors());
  bytes[0] &= 0x7f;
  bytes[0] |= 0x40;  // never zero, never shorter
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  PAXLOCK_CHECK(bn != nullptr);
  const bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  PAXLOCK_CHECK(ok);
  return {};
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  PAXLOCK_CHECK(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                           reinterpret_cast<const unsigned char*>(value.data()),
                                           static_cast<int>(value.size()), -1, 0) == 1);
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr)
    return Status::error(
        EINVAL, fmt::format("extension {} = '{}': {}", OBJ_nid2sn(nid), value, openssl_errors()));
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  PAXLOCK_CHECK(ok);
  return {};
}

struct Leaf {
  std::string common_name;
  std::string organization;  // empty: none
  std::vector<std::pair<int, std::string>> extensions;
};

// A certificate for `key`, valid for `validity`, with `leaf`'s subject and
// extensions, signed by `issuer` (or self-signed if issuer is null).
Result<X509Ptr> sign(EVP_PKEY* key, const Leaf& leaf, const Issued* issuer, Validity validity) {
  X509Ptr cert(X509_new());
  PAXLOCK_CHECK(cert != nullptr);
  PAXLOCK_CHECK(X509_set_version(cert.get(), X509_VERSION_3) == 1);
  if (Status s = set_random_serial(cert.get()); !s.ok()) return s;
  PAXLOCK_CHECK(X509_gmtime_adj(X509_getm_notBefore(cert.get()), validity.not_before_s) != nullptr);
  PAXLOCK_CHECK(X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity.not_after_s) != nullptr);
  PAXLOCK_CHECK(X509_set_pubkey(cert.get(), key) == 1);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!leaf.organization.empty()) add_name_entry(subject, "O", leaf.organization);
  add_name_entry(subject, "CN", leaf.common_name);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert.get();
  PAXLOCK_CHECK(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) == 1);
  for (const auto& [nid, value] : leaf.extensions) {
    if (Status s = add_extension(cert.get(), issuer_cert, nid, value); !s.ok()) return s;
  }
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0)
    return Status::error(EIO, "signing the certificate failed: " + openssl_errors());
  return cert;
}

Result<Issued> issue(const Leaf& leaf, const Issued* issuer, Validity validity) {
  auto key = new_p256_key();
  if (!key.ok()) return key.status();
  auto cert = sign(key->get(), leaf, issuer, validity);
  if (!cert.ok()) return cert.status();
  return Issued{std::move(*key), std::move(*cert)};
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::optional<std::string> invalid_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return "a host name has 1 to 253 characters";
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
      return fmt::format("host '{}' is neither an IP address nor a DNS name", host);
  }
  return std::nullopt;
}

std::string leaf_extensions_common() {
  return "critical,digitalSignature";
}

}  // namespace

Result<Issued> make_ca(std::string_view cluster_id, Validity validity) {
  if (auto why = invalid_cluster_id(cluster_id)) return Status::error(EINVAL, *why);
  Leaf leaf{"paxlock CA",
            std::string(cluster_id),
            {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
             {NID_key_usage, "critical,keyCertSign,cRLSign"},
             {NID_subject_key_identifier, "hash"}}};
  return issue(leaf, nullptr, validity);
}

Result<std::string> ca_cluster_id(X509* ca_cert) {
  const X509_NAME* subject = X509_get_subject_name(ca_cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_organizationName, -1);
  if (at < 0) return Status::error(EINVAL, "the CA's subject has no O (cluster id)");
  unsigned char* utf8 = nullptr;
  const int n =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
  if (n < 0) return Status::error(EINVAL, "the CA's O is not text");
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

Result<Issued> make_node_certificate(const Issued& ca, uint32_t node_id,
                                     std::string_view cluster_id,
                                     const std::vector<std::string>& hosts, Validity validity) {
  if (auto why = invalid_cluster_id(cluster_id)) return Status::error(EINVAL, *why);
  auto ca_cluster = ca_cluster_id(ca.cert.get());
  if (!ca_cluster.ok()) return ca_cluster.status();
  if (*ca_cluster != cluster_id)
    return Status::error(
        EINVAL, fmt::format("the CA is of cluster '{}', not '{}'", *ca_cluster, cluster_id));
  const std::string name = node_identity(node_id, cluster_id);
  std::string san = "DNS:" + name;
  for (const std::string& h : hosts) {
    if (is_ip_address(h)) {
      san += ",IP:" + h;
      continue;
    }
    if (auto why = invalid_host(h)) return Status::error(EINVAL, *why);
    if (is_node_identity(h, cluster_id)) {
      return Status::error(EINVAL, fmt::format("host '{}' is a node's name in cluster '{}': the "
                                               "certificate would pass for that node too",
                                               h, cluster_id));
    }
    san += ",DNS:" + h;
  }
  Leaf leaf{name,
            std::string(cluster_id),
            {{NID_basic_constraints, "critical,CA:FALSE"},
             {NID_key_usage, leaf_extensions_common()},
             {NID_ext_key_usage, "serverAuth,clientAuth"},
             {NID_subject_alt_name, san},
             {NID_subject_key_identifier, "hash"},
             {NID_authority_key_identifier, "keyid:always"}}};
  return issue(leaf, &ca, validity);
}

Result<Issued> make_client_certificate(const Issued& ca, std::string_view name, Validity validity) {
  if (auto why = invalid_client_name(name)) return Status::error(EINVAL, *why);
  Leaf leaf{std::string(name),
            {},
            {{NID_basic_constraints, "critical,CA:FALSE"},
             {NID_key_usage, leaf_extensions_common()},
             {NID_ext_key_usage, "clientAuth"},
             {NID_subject_key_identifier, "hash"},
             {NID_authority_key_identifier, "keyid:always"}}};
  return issue(leaf, &ca, validity);
}

IssuedFiles ca_files(const std::string& dir) {
  return {dir + "/ca.crt", dir + "/ca.key"};
}
IssuedFiles node_files(const std::string& dir, uint32_t node_id) {
  return {fmt::format("{}/node-{}.crt", dir, node_id), fmt::format("{}/node-{}.key", dir, node_id)};
}
IssuedFiles client_files(const std::string& dir, std::string_view name) {
  return {fmt::format("{}/client-{}.crt", dir, name), fmt::format("{}/client-{}.key", dir, name)};
}
std::string tokens_file(const std::string& dir) {
  return dir + "/tokens";
}

Status write_issued(const Issued& issued, const IssuedFiles& files, bool overwrite) {
  if (!overwrite) {
    for (const std::string* p : {&files.key, &files.cert}) {
      if (file_exists(*p))
        return Status::error(EEXIST, fmt::format("{} exists (--force replaces it)", *p));
    }
  }
  if (Status s =
          write_file_atomically(files.key, private_key_pem(issued.key.get()), 0600, overwrite);
      !s.ok())
    return s;
  return write_file_atomically(files.cert, certificate_pem(issued.cert.get()), 0644, overwrite);
}

Result<Issued> read_issued(const IssuedFiles& files) {
  auto cert_text = read_small_file(files.cert, "certificate file");
  if (!cert_text.ok()) return cert_text.status();
  auto certs = certificates_from_pem(*cert_text, files.cert, "certificate file");
  if (!certs.ok()) return certs.status();
  auto key_text = read_small_file(files.key, "key file");
  if (!key_text.ok()) return key_text.status();
  auto key = private_key_from_pem(*key_text, files.key);
  if (!key.ok()) return key.status();
  X509Ptr cert = std::move(certs->front());
  if (X509_check_private_key(cert.get(), key->get()) != 1) {
    ERR_clear_error();
    return Status::error(
        EINVAL, fmt::format("key file {} does not match certificate {}", files.key, files.cert));
  }
  return Issued{std::move(*key), std::move(cert)};
}

}  // namespace paxlock::tls
