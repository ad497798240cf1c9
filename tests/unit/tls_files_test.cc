// The TLS library without a handshake (and one with, for reload): contexts
// refuse bad files with a reason naming the file; a reload with bad files
// keeps the contexts in force; certificate files are written with the right
// modes and never replaced by accident; the naming rules; bearer tokens.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/unit/tls_harness.h"
#include "tls/tokens.h"

namespace paxlock::tls::testing {
namespace {

class TlsFiles_ : public ::testing::Test {
 protected:
  // The reason make_server_context gives for `files`, or "" if it built.
  static std::string refusal(const TlsFiles& files) {
    auto ctx = make_server_context(files, ClientCerts::kRequired);
    return ctx.ok() ? "" : ctx.status().message();
  }
  static void put(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  static void copy(const std::string& from, const std::string& to) {
    stdfs::copy_file(from, to, stdfs::copy_options::overwrite_existing);
  }

  TempDir tmp;
  Pki pki{tmp.path()};
};

using ::testing::HasSubstr;

TEST_F(TlsFiles_, GoodFilesBuildEveryContext) {
  EXPECT_EQ(refusal(pki.node(1)), "");
  EXPECT_TRUE(make_client_context(pki.node(1)).ok());
  EXPECT_TRUE(make_client_context(pki.client("alice")).ok());
  EXPECT_TRUE(make_client_context(pki.anonymous()).ok());
}

TEST_F(TlsFiles_, AMissingFileIsNamed) {
  TlsFiles f = pki.node(1);
  f.cert = tmp.path() + "/nope.crt";
  EXPECT_THAT(refusal(f), HasSubstr("certificate file " + f.cert + ": missing"));
  f = pki.node(1);
  f.ca = tmp.path() + "/nope-ca.crt";
  EXPECT_THAT(refusal(f), HasSubstr("CA file " + f.ca + ": missing"));
}

TEST_F(TlsFiles_, AnUnreadableFileIsNamed) {
  TlsFiles f = pki.node(1);
  f.key = tmp.path();  // a directory: read(2) fails whoever we are
  EXPECT_THAT(refusal(f), HasSubstr("key file " + f.key + ": unreadable"));
}

TEST_F(TlsFiles_, AFileThatIsNotPemIsNamed) {
  TlsFiles f = pki.node(1);
  f.cert = tmp.path() + "/garbage.crt";
  put(f.cert, "not a certificate\n");
  EXPECT_THAT(refusal(f), HasSubstr("certificate file " + f.cert + ": not a PEM certificate"));
  f = pki.node(1);
  f.key = tmp.path() + "/garbage.key";
  put(f.key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  EXPECT_THAT(refusal(f), HasSubstr("key file " + f.key + ": not a PEM private key"));
}

TEST_F(TlsFiles_, AKeyThatIsNotTheCertificatesIsRefused) {
  TlsFiles f = pki.node(1);
  f.key = pki.node(2).key;
  EXPECT_THAT(refusal(f), HasSubstr("key file " + f.key + " does not match certificate " + f.cert));
}

TEST_F(TlsFiles_, ACertificateOfAnotherCaIsRefused) {
  TempDir other_dir;
  Pki other(other_dir.path());
  TlsFiles f = other.node(1);
  f.ca = pki.node(1).ca;
  EXPECT_THAT(refusal(f),
              HasSubstr("certificate " + f.cert + " is not signed by the CA in " + f.ca));
}

TEST_F(TlsFiles_, AnExpiredOrNotYetValidCertificateIsRefused) {
  const IssuedFiles old = node_files(tmp.path(), 8);
  write(must(make_node_certificate(pki.ca, 8, kCluster, {}, {-2 * kDayS, -kDayS})), old);
  EXPECT_THAT(refusal({pki.node(1).ca, old.cert, old.key}),
              HasSubstr("certificate " + old.cert + " expired (notAfter "));
  const IssuedFiles early = node_files(tmp.path(), 9);
  write(must(make_node_certificate(pki.ca, 9, kCluster, {}, {kDayS, 2 * kDayS})), early);
  EXPECT_THAT(refusal({pki.node(1).ca, early.cert, early.key}),
              HasSubstr("certificate " + early.cert + " is not yet valid (notBefore "));
}

TEST_F(TlsFiles_, AnExpiredCaIsRefused) {
  TempDir d;
  Issued ca = must(make_ca(kCluster, {-2 * kDayS, -kDayS}));
  write(ca, ca_files(d.path()));
  write(must(make_node_certificate(ca, 1, kCluster, {})), node_files(d.path(), 1));
  EXPECT_THAT(
      refusal({ca_files(d.path()).cert, node_files(d.path(), 1).cert, node_files(d.path(), 1).key}),
      HasSubstr("CA (depth 1) of"));
}

TEST_F(TlsFiles_, AClientCertificateCannotBuildAServerContext) {
  EXPECT_THAT(refusal(pki.client("alice")), HasSubstr("may not serve as a TLS server"));
}

TEST_F(TlsFiles_, ReloadWithBadFilesKeepsTheContextsInForce) {
  const TlsFiles files = pki.node(1);
  auto loaded = TlsContexts::load(files, ClientCerts::kOptional);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  TlsContexts& t = *loaded;
  EXPECT_EQ(t.generation(), 1u);
  const ContextPtr before = t.peer_server();

  // A rotation gone wrong: the new certificate file is not even PEM.
  put(files.cert, "oops\n");
  const Status bad = t.reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr(files.cert));
  EXPECT_EQ(t.last_reload_error().message(), bad.message());
  EXPECT_EQ(t.generation(), 1u);
  EXPECT_EQ(t.peer_server(), before);
  Loopback still(t.peer_server(), must(make_client_context(pki.node(2))));
  still.handshake();
  EXPECT_TRUE(still.ok()) << still.server_error.message();

  // A key that is not the certificate's is refused the same way.
  copy(node_files(tmp.path(), 2).cert, files.cert);
  EXPECT_FALSE(t.reload().ok());
  EXPECT_EQ(t.peer_server(), before);
}

TEST_F(TlsFiles_, ReloadWithAnotherNodesCertificateKeepsTheContextsInForce) {
  const TlsFiles files = pki.node(1);
  auto check = [](X509* cert) { return certificate_names_node(cert, 1, kCluster); };
  auto loaded = TlsContexts::load(files, ClientCerts::kOptional, check);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  TlsContexts& t = *loaded;
  const ContextPtr before = t.peer_server();

  // Node 2's certificate and key, copied over node 1's: good files, the
  // wrong node.
  copy(node_files(tmp.path(), 2).cert, files.cert);
  copy(node_files(tmp.path(), 2).key, files.key);
  const Status bad = t.reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("certificate file " + files.cert));
  EXPECT_EQ(t.generation(), 1u);
  EXPECT_EQ(t.peer_server(), before);
  // And at load.
  EXPECT_FALSE(TlsContexts::load(files, ClientCerts::kOptional, check).ok());
}

TEST_F(TlsFiles_, ReloadWithGoodFilesServesNewConnectionsAndSparesOpenOnes) {
  const TlsFiles files = pki.node(1);
  auto loaded = TlsContexts::load(files, ClientCerts::kRequired);
  ASSERT_TRUE(loaded.ok());
  TlsContexts& t = *loaded;
  Loopback open(t.peer_server(), must(make_client_context(pki.node(2))));
  open.handshake();
  ASSERT_TRUE(open.ok());
  const std::string old_serial =
      hex(token_hash(certificate_pem(open.client_saw.get())));  // any fingerprint will do

  // Rotate node 1's certificate (same name, new key).
  write(must(make_node_certificate(pki.ca, 1, kCluster, {"localhost"})), node_files(tmp.path(), 1));
  const Status s = t.reload();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(t.generation(), 2u);
  EXPECT_TRUE(t.last_reload_error().ok());

  Loopback fresh(t.peer_server(), must(make_client_context(pki.node(2))));
  fresh.handshake();
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(hex(token_hash(certificate_pem(fresh.client_saw.get()))), old_serial);
  EXPECT_TRUE(certificate_names_node(fresh.client_saw.get(), 1, kCluster).ok());
  EXPECT_EQ(open.exchange("still here"), "still here");  // the old connection works on
}

TEST_F(TlsFiles_, ACaFileWithTheOldAndTheNewCaTrustsBoth) {
  // The middle of a CA rotation (docs/OPERATIONS.md): node 1 still has the
  // old CA's certificate, node 2 already the new one's; both trust both.
  TempDir new_dir;
  Pki fresh(new_dir.path());
  const std::string both = tmp.path() + "/both-ca.crt";
  put(both, *read_small_file(pki.node(1).ca, "ca") + *read_small_file(fresh.node(2).ca, "ca"));
  const TlsFiles old_node{both, pki.node(1).cert, pki.node(1).key};
  const TlsFiles new_node{both, fresh.node(2).cert, fresh.node(2).key};
  Loopback a(must(make_server_context(old_node, ClientCerts::kRequired)),
             must(make_client_context(new_node)));
  a.handshake();
  EXPECT_TRUE(a.ok()) << a.server_error.message() << " / " << a.client_error.message();
  Loopback b(must(make_server_context(new_node, ClientCerts::kRequired)),
             must(make_client_context(old_node)));
  b.handshake();
  EXPECT_TRUE(b.ok()) << b.server_error.message() << " / " << b.client_error.message();
}

TEST_F(TlsFiles_, KeysAre0600CertificatesAre0644AndNothingIsReplacedWithoutForce) {
  struct stat st;
  ASSERT_EQ(::stat(ca_files(tmp.path()).key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(ca_files(tmp.path()).cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  const std::string before = *read_small_file(ca_files(tmp.path()).key, "key");
  const Status s = write_issued(must(make_ca(kCluster)), ca_files(tmp.path()), false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EEXIST);
  EXPECT_THAT(s.message(), HasSubstr("ca.key exists"));
  EXPECT_EQ(*read_small_file(ca_files(tmp.path()).key, "key"), before);
  EXPECT_TRUE(write_issued(must(make_ca(kCluster)), ca_files(tmp.path()), true).ok());
  EXPECT_NE(*read_small_file(ca_files(tmp.path()).key, "key"), before);
  for (const auto& e : stdfs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(TlsFiles_, ReadIssuedGivesBackTheCaToSignWith) {
  auto ca = read_issued(ca_files(tmp.path()));
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  EXPECT_EQ(*ca_cluster_id(ca->cert.get()), kCluster);
  EXPECT_TRUE(make_node_certificate(*ca, 4, kCluster, {}).ok());
  auto wrong = make_node_certificate(*ca, 4, "another", {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("the CA is of cluster 'test-cluster', not 'another'"));
}

TEST(TlsNames, NodeIdentityAndItsRules) {
  EXPECT_EQ(node_identity(3, "prod"), "node-3.prod");
  EXPECT_FALSE(invalid_cluster_id("prod-locks.eu").has_value());
  EXPECT_TRUE(invalid_cluster_id("").has_value());
  EXPECT_TRUE(invalid_cluster_id("has space").has_value());
  EXPECT_TRUE(invalid_cluster_id("a,DNS:evil").has_value());
  EXPECT_FALSE(make_ca("a,DNS:evil").ok());
}

TEST(TlsNames, ClientNamesExcludeNodeNames) {
  EXPECT_FALSE(invalid_client_name("alice").has_value());
  EXPECT_FALSE(invalid_client_name("svc-billing@prod").has_value());
  EXPECT_TRUE(invalid_client_name("node-3.prod").has_value());
  EXPECT_TRUE(invalid_client_name("NODE-3.prod").has_value());
  EXPECT_TRUE(invalid_client_name("").has_value());
  EXPECT_TRUE(invalid_client_name("-x").has_value());
  EXPECT_TRUE(invalid_client_name("a b").has_value());
  EXPECT_TRUE(invalid_client_name(std::string(65, 'a')).has_value());
  Issued ca = must(make_ca(kCluster));
  EXPECT_FALSE(make_client_certificate(ca, "node-1.test-cluster").ok());
}

TEST(TlsTokens, TheRightTokenProvesItsIdentity) {
  auto a = generate_token("alice");
  auto b = generate_token("bob");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->token.size(), kTokenPrefix.size() + 2 * kTokenRandomBytes);
  EXPECT_EQ(a->line.find(a->token), std::string::npos);  // only the hash is stored
  auto tokens = Tokens::parse("# comment\n\n" + a->line + b->line, "tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->identity_of(a->token), "alice");
  EXPECT_EQ(tokens->identity_of(b->token), "bob");
}

TEST(TlsTokens, WrongOrTruncatedTokensAreRefused) {
  auto a = generate_token("alice");
  ASSERT_TRUE(a.ok());
  auto tokens = Tokens::parse(a->line, "tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_FALSE(tokens->identity_of(a->token.substr(0, a->token.size() - 1)).has_value());
  EXPECT_FALSE(tokens->identity_of(a->token + "0").has_value());
  EXPECT_FALSE(tokens->identity_of("").has_value());
  EXPECT_FALSE(tokens->identity_of(hex(token_hash(a->token))).has_value());  // the hash itself
  std::string flipped = a->token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(tokens->identity_of(flipped).has_value());
  EXPECT_FALSE(tokens->identity_of(std::string(kTokenBytesMax + 1, 'a')).has_value());
}

TEST(TlsTokens, AFileWithABadLineIsRefusedNamingTheLine) {
  auto a = generate_token("alice");
  ASSERT_TRUE(a.ok());
  const std::string good = a->line;
  auto refusal = [](const std::string& text) {
    auto t = Tokens::parse(text, "tokens");
    return t.ok() ? std::string() : t.status().message();
  };
  EXPECT_THAT(refusal("# x\n" + good + "bob\n"), HasSubstr("tokens:3: expected"));
  EXPECT_THAT(refusal(good + "bob 1234\n"), HasSubstr("tokens:2: the hash is not 64"));
  EXPECT_THAT(refusal("node-1.c " + hex(token_hash("x")) + "\n"),
              HasSubstr("tokens:1: client name 'node-1.c' starts with 'node-'"));
  EXPECT_THAT(refusal(good + "bob " + good.substr(good.find(' ') + 1)),
              HasSubstr("tokens:2: the same token hash"));
  std::string upper = hex(token_hash("x"));
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_THAT(refusal("bob " + upper + "\n"), HasSubstr("tokens:1: the hash is not 64 lowercase"));
}

TEST(TlsTokens, AppendingKeepsTheFilePrivateAndParseable) {
  TempDir d;
  const std::string path = tokens_file(d.path());
  auto a = generate_token("alice");
  auto b = generate_token("alice");  // a second token for rotation
  ASSERT_TRUE(append_token_line(path, a->line).ok());
  ASSERT_TRUE(append_token_line(path, b->line).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto tokens = Tokens::read(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  EXPECT_EQ(tokens->identity_of(a->token), "alice");
  EXPECT_EQ(tokens->identity_of(b->token), "alice");
  EXPECT_FALSE(append_token_line(path, "bad line\n").ok());
  EXPECT_EQ(Tokens::read(path)->size(), 2u);
}

}  // namespace
}  // namespace paxlock::tls::testing
