#include "tls/identity.h"

#include <fmt/format.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

namespace paxlock::tls {
namespace {

constexpr size_t kClusterIdMax = 200;
constexpr size_t kClientNameMax = 64;

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// An ASN.1 string as text, or nullopt if it holds a NUL (a name that would
// compare as a prefix of itself).
std::optional<std::string> text_of(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  if (out.find('\0') != std::string::npos) return std::nullopt;
  return out;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_DNS) continue;
    if (auto s = text_of(g->d.dNSName)) out.push_back(std::move(*s));
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::optional<std::string> common_name(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return std::nullopt;
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0) return std::nullopt;
  return text_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
}

// The Extended Key Usages; a certificate without the extension may serve any
// purpose (RFC 5280), which OpenSSL reports as all bits set.
struct Usage {
  bool server = false;
  bool client = false;
};
Usage usage_of(X509* cert) {
  const uint32_t xku = X509_get_extended_key_usage(cert);
  return {(xku & XKU_SSL_SERVER) != 0, (xku & XKU_SSL_CLIENT) != 0};
}

std::string names_text(X509* cert) {
  const auto names = certificate_names(cert);
  if (names.empty()) return "no DNS name and no CN";
  return fmt::format("'{}'", fmt::join(names, "', '"));
}

}  // namespace

std::string node_identity(uint32_t node_id, std::string_view cluster_id) {
  return fmt::format("node-{}.{}", node_id, cluster_id);
}

std::optional<std::string> invalid_cluster_id(std::string_view id) {
  if (id.empty() || id.size() > kClusterIdMax)
    return fmt::format("a cluster id in a certificate name has 1 to {} characters", kClusterIdMax);
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
      return fmt::format(
          "cluster id '{}' has a character other than letters, digits, '-' and "
          "'.', so it cannot be part of a certificate's DNS name",
          id);
  }
  return std::nullopt;
}

std::optional<std::string> invalid_client_name(std::string_view name) {
  if (name.empty() || name.size() > kClientNameMax)
    return fmt::format("a client name has 1 to {} characters", kClientNameMax);
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != '@')
      return fmt::format("client name '{}': only letters, digits, '-', '_', '.' and '@'", name);
  }
  if (name[0] == '-' || name[0] == '.')
    return fmt::format("client name '{}' starts with '{}'", name, name[0]);
  if (equal_ignoring_ascii_case(name.substr(0, 5), "node-"))
    return fmt::format("client name '{}' starts with 'node-', which names replicas", name);
  return std::nullopt;
}

std::vector<std::string> certificate_names(X509* cert) {
  PAXLOCK_CHECK(cert != nullptr);
  auto names = dns_names(cert);
  if (!names.empty()) return names;
  if (auto cn = common_name(cert)) names.push_back(std::move(*cn));
  return names;
}

bool is_node_identity(std::string_view name, std::string_view cluster_id) {
  constexpr std::string_view kPrefix = "node-";
  if (name.size() < kPrefix.size() + 2 + cluster_id.size()) return false;
  if (!equal_ignoring_ascii_case(name.substr(0, kPrefix.size()), kPrefix)) return false;
  const std::string_view rest = name.substr(kPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  for (char c : rest.substr(0, dot)) {
    if (c < '0' || c > '9') return false;
  }
  return equal_ignoring_ascii_case(rest.substr(dot + 1), cluster_id);
}

Status certificate_names_node(X509* cert, uint32_t node_id, std::string_view cluster_id) {
  PAXLOCK_CHECK(cert != nullptr);
  const std::string want = node_identity(node_id, cluster_id);
  const auto names = certificate_names(cert);
  const bool named = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return equal_ignoring_ascii_case(n, want);
  });
  if (!named)
    return Status::error(EACCES,
                         fmt::format("certificate names {}, not {}", names_text(cert), want));
  for (const std::string& n : names) {
    if (is_node_identity(n, cluster_id) && !equal_ignoring_ascii_case(n, want)) {
      return Status::error(EACCES, fmt::format("certificate names {}: {} is another node's, so "
                                               "it cannot prove to be {}",
                                               names_text(cert), n, want));
    }
  }
  const Usage u = usage_of(cert);
  if (!u.server || !u.client)
    return Status::error(EACCES, fmt::format("certificate for {} lacks the Extended Key Usage {} "
                                             "(a node's serves both ends)",
                                             want, u.server ? "clientAuth" : "serverAuth"));
  return {};
}

Result<std::string> client_identity(X509* cert) {
  PAXLOCK_CHECK(cert != nullptr);
  const Usage u = usage_of(cert);
  if (!u.client)
    return Status::error(EACCES, fmt::format("certificate ({}) is not for client "
                                             "authentication (no Extended Key Usage clientAuth)",
                                             names_text(cert)));
  if (u.server)
    return Status::error(EACCES, fmt::format("certificate ({}) allows serverAuth: a node's or "
                                             "a server's, not a client identity",
                                             names_text(cert)));
  const auto cn = common_name(cert);
  if (!cn) return Status::error(EACCES, "client certificate has no CN");
  if (auto why = invalid_client_name(*cn)) return Status::error(EACCES, *why);
  return *cn;
}

}  // namespace paxlock::tls
