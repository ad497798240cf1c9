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

}  // namespace
}  // namespace paxlock
