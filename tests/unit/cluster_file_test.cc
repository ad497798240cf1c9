// The cluster file library (src/cluster): what the daemon and the client
// both read. Addresses are resolved once, here, or refused with a reason.
#include "cluster/cluster_file.h"

#include <gtest/gtest.h>

namespace paxlock::cluster {
namespace {

std::string node(int id, const std::string& peer, const std::string& client,
                 const std::string& http) {
  return "[[node]]\nid = " + std::to_string(id) + "\npeer = \"" + peer + "\"\nclient = \"" +
         client + "\"\nhttp = \"" + http + "\"\n";
}

TEST(ClusterFile, AddressesAreResolvedOnce) {
  auto a = resolve_address("127.0.0.1:7000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ip, "127.0.0.1");
  EXPECT_EQ(a->port, 7000);
  auto v6 = resolve_address("[::1]:7001");
  ASSERT_TRUE(v6.ok()) << v6.status().message();
  EXPECT_EQ(v6->ip, "::1");
  auto local = resolve_address("localhost:7002");
  ASSERT_TRUE(local.ok()) << local.status().message();
  EXPECT_TRUE(local->ip == "127.0.0.1" || local->ip == "::1") << local->ip;
  EXPECT_EQ(local->to_string(), "localhost:7002");  // as written
}

TEST(ClusterFile, AnAddressThatCannotBeUsedIsAnErrorNamingIt) {
  // Before issue 14 the peer transport turned such a host into 127.0.0.1.
  auto r = resolve_address("node1.invalid:7000");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot resolve host 'node1.invalid'"), std::string::npos)
      << r.status().message();
  for (const char* bad :
       {"nonsense", "host:", ":7000", "host:0", "host:65536", "host:12ab", "a b:7000"}) {
    EXPECT_FALSE(parse_address(bad).ok()) << bad;
  }
  auto file = parse_cluster_file(
      "cluster_id = \"t\"\n" + node(1, "node1.invalid:1", "127.0.0.1:2", "127.0.0.1:3"), "c.toml");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("c.toml: node 1 peer: cannot resolve host"),
            std::string::npos)
      << file.status().message();
}

TEST(ClusterFile, OneAddressUnderTwoSpellingsIsUsedTwice) {
  auto file = parse_cluster_file("cluster_id = \"t\"\n" +
                                     node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300") +
                                     node(2, "localhost:7100", "127.0.0.1:7201", "127.0.0.1:7301"),
                                 "c.toml");
  // localhost may resolve to ::1 on some machines; then they differ.
  if (resolve_address("localhost:7100")->ip == "127.0.0.1") {
    ASSERT_FALSE(file.ok());
    EXPECT_NE(file.status().message().find("used twice"), std::string::npos);
  } else {
    EXPECT_TRUE(file.ok()) << file.status().message();
  }
}

TEST(ClusterFile, TheDaemonsTuningIsLeftToTheDaemonAndOtherKeysAreRefused) {
  const std::string base =
      "cluster_id = \"t\"\n" + node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300");
  auto with_tuning = parse_cluster_file(base + "[tuning]\nheartbeat_ms = 20\n", "c.toml");
  ASSERT_TRUE(with_tuning.ok()) << with_tuning.status().message();
  ASSERT_EQ(with_tuning->members.size(), 1u);
  EXPECT_EQ(with_tuning->member(1)->client.port, 7200);
  EXPECT_EQ(with_tuning->member(2), nullptr);
  auto bogus = parse_cluster_file(base + "bogus = 1\n", "c.toml");
  ASSERT_FALSE(bogus.ok());
  EXPECT_NE(bogus.status().message().find("unknown key 'bogus'"), std::string::npos);
  EXPECT_FALSE(load_cluster_file("/nonexistent/cluster.toml").ok());
}

TEST(ClusterFile, WrittenBackItReadsTheSame) {
  ClusterFile f;
  f.cluster_id = "a \"quoted\" \\ id";
  auto a = resolve_address("127.0.0.1:7100");
  auto b = resolve_address("127.0.0.1:7200");
  auto c = resolve_address("127.0.0.1:7300");
  f.members.push_back(Member{3, *a, *b, *c, "/tmp/x \"y\""});
  auto back = parse_cluster_file(to_toml(f), "written");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << to_toml(f);
  EXPECT_EQ(back->cluster_id, f.cluster_id);
  ASSERT_EQ(back->members.size(), 1u);
  EXPECT_EQ(back->members[0].id, 3u);
  EXPECT_EQ(back->members[0].http.to_string(), "127.0.0.1:7300");
  EXPECT_EQ(back->members[0].data_dir, "/tmp/x \"y\"");
}

// Found by the config fuzzer (tests/fuzz/corpus/config/regress-multiline-id):
// a cluster id with a newline and three quotes in a row was written back as a
// multi-line literal string that ended at those quotes.
TEST(ClusterFile, WrittenBackEveryCharacterReadsTheSame) {
  ClusterFile f;
  f.cluster_id = "multi\nline ''' \"\"\" \\ tab\t cr\r del\x7f nul" + std::string(1, '\0') + " end";
  auto a = resolve_address("127.0.0.1:7100");
  auto b = resolve_address("127.0.0.1:7200");
  auto c = resolve_address("127.0.0.1:7300");
  f.members.push_back(Member{1, *a, *b, *c, "dir\n'''x"});
  auto back = parse_cluster_file(to_toml(f), "written");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << to_toml(f);
  EXPECT_EQ(back->cluster_id, f.cluster_id);
  ASSERT_EQ(back->members.size(), 1u);
  EXPECT_EQ(back->members[0].data_dir, "dir\n'''x");
}

// Found by the config fuzzer (tests/fuzz/corpus/config/regress-float-id): a
// float where an integer belongs went through toml++'s conversion, which is
// undefined behaviour for one out of int64's range (id = 1e300). Only
// integers are taken now; 2.0 is refused too, with the same message.
TEST(ClusterFile, AnIdWrittenAsAFloatIsRefused) {
  for (const std::string id : {"2.0", "1e300", "-1e300", "nan", "inf"}) {
    const std::string text = "cluster_id = \"c\"\n[[node]]\nid = " + id +
                             "\npeer = \"127.0.0.1:1\"\nclient = \"127.0.0.1:2\"\n"
                             "http = \"127.0.0.1:3\"\n";
    auto f = parse_cluster_file(text, "c.toml");
    ASSERT_FALSE(f.ok()) << id;
    EXPECT_NE(f.status().message().find("needs an integer id"), std::string::npos)
        << f.status().message();
  }
}

// Issue 17: security is explicit. [tls] or insecure = true, never both; a
// file with neither parses (clients, tools) but a replica refuses it.
TEST(ClusterFileSecurity, MetricsPublicIsReadAndWrittenBackAndHttpInsecureIsGone) {
  const std::string base = "cluster_id = \"t\"\n" +
                           node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300") +
                           "[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n";
  auto off = parse_cluster_file(base, "c.toml");
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_FALSE(off->tls->metrics_public);  // the default
  auto on = parse_cluster_file(base + "metrics_public = true\n", "c.toml");
  ASSERT_TRUE(on.ok()) << on.status().message();
  EXPECT_TRUE(on->tls->metrics_public);
  auto back = parse_cluster_file(to_toml(*on), "written");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->tls->metrics_public);
  auto bad = parse_cluster_file(base + "metrics_public = \"yes\"\n", "c.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("metrics_public must be true or false"), std::string::npos);
  // The old switch for plain HTTP under [tls] says what replaced it.
  auto old = parse_cluster_file(base + "http_insecure = true\n", "c.toml");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("http_insecure is gone: under [tls] HTTP is HTTPS"),
            std::string::npos);
}

TEST(ClusterFileSecurity, TlsIsReadWithPerNodePathsAndAuthModes) {
  const std::string base = "cluster_id = \"t\"\n" +
                           node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300") +
                           node(12, "127.0.0.1:7101", "127.0.0.1:7201", "127.0.0.1:7301");
  auto f = parse_cluster_file(base +
                                  "[tls]\nca = \"/c/ca.crt\"\ncert = \"/c/node-{id}.crt\"\n"
                                  "key = \"/c/node-{id}.key\"\n",
                              "c.toml");
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_TRUE(f->tls.has_value());
  EXPECT_FALSE(f->insecure);
  EXPECT_EQ(f->tls->ca, "/c/ca.crt");
  EXPECT_EQ(f->tls->cert_of(12), "/c/node-12.crt");
  EXPECT_EQ(f->tls->key_of(1), "/c/node-1.key");
  EXPECT_EQ(f->tls->client_auth, ClientAuth::kCert);  // the default
  EXPECT_EQ(missing_security(f->insecure, f->tls, "c.toml"), std::nullopt);
  for (const auto& [text, auth] : {std::pair{"token", ClientAuth::kToken},
                                   std::pair{"cert_or_token", ClientAuth::kCertOrToken}}) {
    auto t = parse_cluster_file(base +
                                    "[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n"
                                    "client_tokens = \"tokens\"\nclient_auth = \"" +
                                    std::string(text) + "\"\n",
                                "c.toml");
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->tls->client_auth, auth);
    EXPECT_EQ(t->tls->client_tokens, "tokens");
    // Written back, it reads the same.
    auto back = parse_cluster_file(to_toml(*t), "written");
    ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << to_toml(*t);
    ASSERT_TRUE(back->tls.has_value());
    EXPECT_EQ(back->tls->client_auth, auth);
    EXPECT_EQ(back->tls->cert, "b");
    EXPECT_EQ(back->tls->client_tokens, "tokens");
  }
}

TEST(ClusterFileSecurity, InsecureOrTlsIsRequiredOfAReplicaAndBothAreRefused) {
  const std::string base =
      "cluster_id = \"t\"\n" + node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300");
  auto neither = parse_cluster_file(base, "c.toml");
  ASSERT_TRUE(neither.ok());
  auto why = missing_security(neither->insecure, neither->tls, "c.toml");
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("neither a [tls] table nor insecure = true"), std::string::npos) << *why;
  auto insecure = parse_cluster_file("insecure = true\n" + base, "c.toml");
  ASSERT_TRUE(insecure.ok()) << insecure.status().message();
  EXPECT_TRUE(insecure->insecure);
  EXPECT_EQ(missing_security(insecure->insecure, insecure->tls, "c.toml"), std::nullopt);
  auto back = parse_cluster_file(to_toml(*insecure), "written");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->insecure);
  const std::string tls = "[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n";
  const std::pair<std::string, std::string> bad[] = {
      {"insecure = true\n" + base + tls, "contradict each other"},
      {"insecure = 1\n" + base, "insecure must be true or false"},
      {base + "[tls]\nca = \"a\"\ncert = \"b\"\n", "[tls] has no 'key'"},
      {base + tls + "bogus = \"x\"\n", "[tls]: unknown key 'bogus'"},
      {base + tls + "client_auth = \"password\"\n", "client_auth = 'password'"},
      {base + tls + "client_auth = \"token\"\n", "needs client_tokens"},
      {base + "[tls]\nca = \"\"\ncert = \"b\"\nkey = \"c\"\n", "[tls] ca must be a non-empty"},
      {"tls = 3\n" + base, "tls must be a table"},
  };
  for (const auto& [text, expected] : bad) {
    auto f = parse_cluster_file(text, "c.toml");
    ASSERT_FALSE(f.ok()) << text;
    EXPECT_NE(f.status().message().find(expected), std::string::npos) << f.status().message();
  }
}

// What `paxlock local up` writes: the clients' default credentials, both or
// neither, anchored like the other paths and written back.
TEST(ClusterFileSecurity, ClientCredentialsGoTogetherAndAreWrittenBack) {
  const std::string base = "cluster_id = \"t\"\n" +
                           node(1, "127.0.0.1:7100", "127.0.0.1:7200", "127.0.0.1:7300") +
                           "[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n";
  auto both = parse_cluster_file(
      base + "client_cert = \"certs/client-admin.crt\"\nclient_key = \"certs/client-admin.key\"\n",
      "c.toml");
  ASSERT_TRUE(both.ok()) << both.status().message();
  EXPECT_EQ(both->tls->client_cert, "certs/client-admin.crt");
  EXPECT_EQ(both->tls->client_key, "certs/client-admin.key");
  auto back = parse_cluster_file(to_toml(*both), "written");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->tls->client_cert, "certs/client-admin.crt");
  EXPECT_EQ(back->tls->client_key, "certs/client-admin.key");
  TlsSettings t = *both->tls;
  anchor_paths(t, "/etc/paxlock/cluster.toml");
  EXPECT_EQ(t.client_cert, "/etc/paxlock/certs/client-admin.crt");
  EXPECT_EQ(t.client_key, "/etc/paxlock/certs/client-admin.key");
  auto one = parse_cluster_file(base + "client_cert = \"x.crt\"\n", "c.toml");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("client_cert and client_key go together"),
            std::string::npos)
      << one.status().message();
  auto none = parse_cluster_file(base, "c.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(to_toml(*none).find("client_cert"), std::string::npos);
}

TEST(ClusterFileSecurity, RelativePathsAreAnchoredAtTheFilesDirectory) {
  TlsSettings t;
  t.ca = "certs/ca.crt";
  t.cert = "/abs/node-{id}.crt";
  t.key = "node-{id}.key";
  anchor_paths(t, "/etc/paxlock/cluster.toml");
  EXPECT_EQ(t.ca, "/etc/paxlock/certs/ca.crt");
  EXPECT_EQ(t.cert, "/abs/node-{id}.crt");
  EXPECT_EQ(t.key, "/etc/paxlock/node-{id}.key");
  EXPECT_EQ(t.client_tokens, "");  // none stays none
  TlsSettings here = t;
  here.ca = "ca.crt";
  anchor_paths(here, "cluster.toml");  // in the working directory: as written
  EXPECT_EQ(here.ca, "ca.crt");
}

}  // namespace
}  // namespace paxlock::cluster
