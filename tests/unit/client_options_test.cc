// The client library's front: a cluster file gives resolved client
// addresses, and options whose address cannot be used are refused when the
// Client is built, naming the replica (never a silent default endpoint).
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>

#include "paxlock/client.h"

namespace paxlock {
namespace {

TEST(ClientOptions, ABadReplicaAddressIsRefusedWhenTheClientIsBuilt) {
  ClientOptions o;
  o.cluster_id = "t";
  o.replicas.push_back({1, "127.0.0.1:7201", "", ""});
  o.replicas.push_back({2, "node2.invalid:7202", "", ""});
  try {
    Client c(o);
    FAIL() << "a client with an unresolvable replica was built";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("replica 2"), std::string::npos) << what;
    EXPECT_NE(what.find("node2.invalid"), std::string::npos) << what;
  }
  o.replicas[1].client_address = "nonsense";
  EXPECT_THROW(Client c(o), std::invalid_argument);
}

TEST(ClientOptions, TheClusterFileGivesResolvedClientAddresses) {
  const std::string path = ::testing::TempDir() + "/client_options_test.toml";
  std::ofstream(path) << "cluster_id = \"t\"\ninsecure = true\n[[node]]\nid = 1\n"
                         "peer = \"localhost:7101\"\n"
                         "client = \"localhost:7201\"\nhttp = \"localhost:7301\"\n[tuning]\n"
                         "heartbeat_ms = 20\n";
  ClientOptions o;
  std::string error;
  ASSERT_TRUE(load_cluster_file(path, o, &error)) << error;
  ASSERT_EQ(o.replicas.size(), 1u);
  EXPECT_TRUE(o.replicas[0].client_address == "127.0.0.1:7201" ||
              o.replicas[0].client_address == "[::1]:7201")
      << o.replicas[0].client_address;
  EXPECT_EQ(o.replicas[0].http_address, "localhost:7301");  // as written
  Client c(o);                                              // resolvable: builds
  EXPECT_NE(c.client_id(), 0u);

  std::ofstream(path) << "cluster_id = \"t\"\ninsecure = true\n[[node]]\nid = 1\n"
                         "peer = \"localhost:7101\"\n"
                         "client = \"node1.invalid:7201\"\nhttp = \"localhost:7301\"\n";
  EXPECT_FALSE(load_cluster_file(path, o, &error));
  EXPECT_NE(error.find("cannot resolve host 'node1.invalid'"), std::string::npos) << error;
}

// A file that says nothing about security is refused by the client as by
// the replicas (it connected in the clear before): neither [tls] nor
// insecure = true is a mistake, never a default.
TEST(ClientOptions, AClusterFileWithNeitherTlsNorInsecureIsRefused) {
  const std::string path = ::testing::TempDir() + "/client_options_neither.toml";
  std::ofstream(path) << "cluster_id = \"t\"\n[[node]]\nid = 1\npeer = \"localhost:7101\"\n"
                         "client = \"localhost:7201\"\nhttp = \"localhost:7301\"\n";
  ClientOptions o;
  std::string error;
  EXPECT_FALSE(load_cluster_file(path, o, &error));
  EXPECT_NE(error.find("neither a [tls] table nor insecure = true"), std::string::npos) << error;
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

// A caller that loads a file naming default credentials and then sets a
// token must present the token alone: the file's certificate was copied
// into tls_cert, so the client proved the file's identity (admin on a local
// cluster) besides the token (found in review).
TEST(ClientOptions, TheFilesDefaultCredentialsYieldToTheCallers) {
  const std::string path = ::testing::TempDir() + "/client_options_tls.toml";
  const std::string nodes =
      "[[node]]\nid = 1\npeer = \"127.0.0.1:7101\"\nclient = \"127.0.0.1:7201\"\n"
      "http = \"127.0.0.1:7301\"\n";
  std::ofstream(path) << "cluster_id = \"t\"\n"
                      << nodes
                      << "[tls]\nca = \"/c/ca.crt\"\ncert = \"/c/n.crt\"\nkey = \"/c/n.key\"\n"
                         "client_cert = \"/c/client-admin.crt\"\n"
                         "client_key = \"/c/client-admin.key\"\n";
  ClientOptions o;
  std::string error;
  ASSERT_TRUE(load_cluster_file(path, o, &error)) << error;
  EXPECT_TRUE(o.tls_cert.empty());  // the caller's own stay the caller's
  EXPECT_EQ(client_certificate(o),
            std::make_pair(std::string("/c/client-admin.crt"), std::string("/c/client-admin.key")));
  o.token = "pxl_0123";  // set after loading
  EXPECT_EQ(client_certificate(o), std::make_pair(std::string(), std::string()));
  o.token.clear();
  o.tls_cert = "/mine.crt";
  o.tls_key = "/mine.key";
  EXPECT_EQ(client_certificate(o),
            std::make_pair(std::string("/mine.crt"), std::string("/mine.key")));
  // The same options loaded from a file without defaults keep none of the
  // first file's.
  std::ofstream(path) << "cluster_id = \"t\"\ninsecure = true\n" << nodes;
  o.tls_cert.clear();
  o.tls_key.clear();
  ASSERT_TRUE(load_cluster_file(path, o, &error)) << error;
  EXPECT_EQ(client_certificate(o), std::make_pair(std::string(), std::string()));
}

}  // namespace
}  // namespace paxlock
