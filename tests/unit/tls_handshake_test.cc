// Real TLS 1.3 handshakes over loopback with certificates made by the
// library: what succeeds, the identity each side then reads, and each way a
// certificate is refused (another CA, expired, missing, the wrong node, a
// client's posing as a node's, a key that is not the certificate's). A
// refusal is asserted on the side that must refuse; in TLS 1.3 a client
// finishes its handshake before the server has judged its certificate.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/unit/tls_harness.h"

namespace paxlock::tls::testing {
namespace {

class TlsHandshake : public ::testing::Test {
 protected:
  TempDir tmp;
  Pki pki{tmp.path()};
};

TEST_F(TlsHandshake, NodesWithTheClusterCertificatesShakeHandsAndReadEachOthersIds) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             must(make_client_context(pki.node(2))));
  c.handshake();
  ASSERT_TRUE(c.ok()) << c.server_error.message() << " / " << c.client_error.message();
  EXPECT_EQ(c.server_verify, X509_V_OK);
  EXPECT_EQ(c.client_verify, X509_V_OK);
  ASSERT_NE(c.server_saw, nullptr);
  ASSERT_NE(c.client_saw, nullptr);
  EXPECT_TRUE(certificate_names_node(c.server_saw.get(), 2, kCluster).ok());
  EXPECT_TRUE(certificate_names_node(c.client_saw.get(), 1, kCluster).ok());
  EXPECT_EQ(certificate_names(c.server_saw.get()),
            (std::vector<std::string>{"node-2.test-cluster", "localhost"}));
  EXPECT_EQ(c.exchange("hello"), "hello");
}

TEST_F(TlsHandshake, OnlyTls13IsSpoken) {
  auto old_client = raw_context(false, pki.node(2).ca, pki.node(2).cert, pki.node(2).key);
  SSL_CTX_set_max_proto_version(old_client->native_handle(), TLS1_2_VERSION);
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)), old_client);
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.server_error);
  EXPECT_TRUE(c.client_error);
}

TEST_F(TlsHandshake, AClientCertificateYieldsTheClientIdentity) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             must(make_client_context(pki.client("alice"))));
  c.handshake();
  ASSERT_TRUE(c.ok()) << c.server_error.message();
  ASSERT_NE(c.server_saw, nullptr);
  auto id = client_identity(c.server_saw.get());
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, "alice");
}

TEST_F(TlsHandshake, ACertificateOfAnotherCaIsRefusedByTheServer) {
  TempDir other_dir;
  Pki other(other_dir.path());
  // The intruder trusts our CA, but its own certificate is the other CA's.
  auto intruder = raw_context(false, pki.node(1).ca, other.node(2).cert, other.node(2).key);
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)), intruder);
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.server_error);
  EXPECT_EQ(c.server_saw, nullptr);
  EXPECT_EQ(c.server_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsHandshake, AServerWithACertificateOfAnotherCaIsRefusedByTheClient) {
  TempDir other_dir;
  Pki other(other_dir.path());
  auto impostor = raw_context(true, pki.node(1).ca, other.node(1).cert, other.node(1).key);
  Loopback c(impostor, must(make_client_context(pki.node(2))));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.client_error);
  EXPECT_EQ(c.client_saw, nullptr);
  EXPECT_EQ(c.client_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsHandshake, AnExpiredCertificateIsRefused) {
  const IssuedFiles f = node_files(tmp.path(), 9);
  write(must(make_node_certificate(pki.ca, 9, kCluster, {}, {-2 * kDayS, -kDayS})), f);
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             raw_context(false, pki.node(1).ca, f.cert, f.key));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  ASSERT_TRUE(c.server_error);
  EXPECT_EQ(c.server_saw, nullptr);
  EXPECT_EQ(c.server_verify, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(TlsHandshake, AClientWithoutACertificateIsRefusedWhereOneIsRequired) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             must(make_client_context(pki.anonymous())));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.server_error);
}

TEST_F(TlsHandshake, AClientWithoutACertificatePassesWhereOneIsOptional) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kOptional)),
             must(make_client_context(pki.anonymous())));
  c.handshake();
  ASSERT_TRUE(c.ok()) << c.server_error.message();
  EXPECT_EQ(c.server_saw, nullptr);  // it must prove itself with a token
  ASSERT_NE(c.client_saw, nullptr);  // and it still verified the server
}

TEST_F(TlsHandshake, WhereCertificatesAreOptionalABadOneIsStillRefused) {
  TempDir other_dir;
  Pki other(other_dir.path());
  Loopback c(
      must(make_server_context(pki.node(1), ClientCerts::kOptional)),
      raw_context(false, pki.node(1).ca, other.client("alice").cert, other.client("alice").key));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.server_error);
  EXPECT_EQ(c.server_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsHandshake, ANodeCertificateForNode2DoesNotNameNode3) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             must(make_client_context(pki.node(2))));
  c.handshake();
  ASSERT_TRUE(c.ok());  // a valid certificate of the cluster...
  const Status s = certificate_names_node(c.server_saw.get(), 3, kCluster);
  ASSERT_FALSE(s.ok());  // ...that names another node
  EXPECT_NE(s.message().find("not node-3.test-cluster"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("node-2.test-cluster"), std::string::npos) << s.message();
  EXPECT_FALSE(certificate_names_node(c.server_saw.get(), 2, "other-cluster").ok());
}

// `paxlock certs node --id 1 --host node-2.<cluster>` made a certificate
// naming two nodes, and certificate_names_node took it for either: node 1's
// key then passed as node 2 (found by a review of the trust model).
TEST_F(TlsHandshake, ACertificateNamingTwoNodesIsNeitherAndCannotBeMade) {
  for (const char* host : {"node-2.test-cluster", "NODE-2.Test-Cluster", "node-17.test-cluster"}) {
    auto made = make_node_certificate(pki.ca, 1, kCluster, {host});
    ASSERT_FALSE(made.ok()) << host;
    EXPECT_NE(made.status().message().find("a node's name"), std::string::npos)
        << made.status().message();
  }
  // Other names that look alike are hosts like any other.
  for (const char* host : {"node-2.other-cluster", "node-x.test-cluster", "node-.test-cluster",
                           "mynode-2.test-cluster"}) {
    EXPECT_TRUE(make_node_certificate(pki.ca, 1, kCluster, {host}).ok()) << host;
  }
  // Made by hand with the CA's key: both names in the subjectAltName.
  auto two = must(make_node_certificate(pki.ca, 1, kCluster, {}));
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  for (const char* n : {"node-1.test-cluster", "node-2.test-cluster"}) {
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    ASSERT_EQ(ASN1_STRING_set(text, n, -1), 1);
    GENERAL_NAME* g = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(g, GEN_DNS, text);
    sk_GENERAL_NAME_push(names, g);
  }
  ASSERT_EQ(X509_add1_ext_i2d(two.cert.get(), NID_subject_alt_name, names, 0, X509V3_ADD_REPLACE),
            1);
  GENERAL_NAMES_free(names);
  ASSERT_GT(X509_sign(two.cert.get(), pki.ca.key.get(), EVP_sha256()), 0);
  ASSERT_EQ(certificate_names(two.cert.get()),
            (std::vector<std::string>{"node-1.test-cluster", "node-2.test-cluster"}));
  for (uint32_t id : {1u, 2u}) {
    const Status s = certificate_names_node(two.cert.get(), id, kCluster);
    ASSERT_FALSE(s.ok()) << id;
    EXPECT_NE(s.message().find("another node's"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(is_node_identity("Node-12.TEST-cluster", kCluster));
  EXPECT_FALSE(is_node_identity("node-12.test-cluster.evil", kCluster));
  EXPECT_FALSE(is_node_identity("node-12", kCluster));
}

TEST_F(TlsHandshake, AClientCertificateIsNotANodesOnThePeerPort) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             must(make_client_context(pki.client("alice"))));
  c.handshake();
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(certificate_names_node(c.server_saw.get(), 2, kCluster).ok());
}

TEST_F(TlsHandshake, AClientCertificateNamedLikeANodeIsStillNotANode) {
  // Made by hand with the CA's key (make_client_certificate refuses the name):
  // the missing serverAuth is what refuses it.
  auto fake = must(make_client_certificate(pki.ca, "mallory"));
  X509_NAME* subject = X509_get_subject_name(fake.cert.get());
  X509_NAME_ENTRY_free(X509_NAME_delete_entry(subject, 0));
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("node-2.test-cluster"), -1, -1,
                             0);
  ASSERT_GT(X509_sign(fake.cert.get(), pki.ca.key.get(), EVP_sha256()), 0);
  const Status s = certificate_names_node(fake.cert.get(), 2, kCluster);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("serverAuth"), std::string::npos) << s.message();
}

TEST_F(TlsHandshake, AClientCertificateCannotServeAsAServer) {
  Loopback c(raw_context(true, pki.node(1).ca, pki.client("alice").cert, pki.client("alice").key),
             must(make_client_context(pki.node(2))));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.client_error);
  EXPECT_EQ(c.client_verify, X509_V_ERR_INVALID_PURPOSE);  // no serverAuth
}

TEST_F(TlsHandshake, ANodeCertificateIsNotAClientIdentity) {
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kOptional)),
             must(make_client_context(pki.node(2))));
  c.handshake();
  ASSERT_TRUE(c.ok());
  auto id = client_identity(c.server_saw.get());
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("serverAuth"), std::string::npos);
}

TEST_F(TlsHandshake, ACertificateWithoutItsKeyIsRefused) {
  // Node 2's certificate with node 3's key: OpenSSL will not pair them, so
  // the client ends up showing no certificate at all.
  Loopback c(must(make_server_context(pki.node(1), ClientCerts::kRequired)),
             raw_context(false, pki.node(1).ca, pki.node(2).cert, pki.node(3).key));
  c.handshake();
  EXPECT_FALSE(c.timed_out);
  EXPECT_TRUE(c.server_error);
  EXPECT_EQ(c.server_saw, nullptr);
}

}  // namespace
}  // namespace paxlock::tls::testing
