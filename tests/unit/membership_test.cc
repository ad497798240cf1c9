// The membership a data directory records (src/storage/membership.h): what
// differs is named, ids and cluster ids never change, peer addresses only
// with the operator's word, and the record survives a power loss whole.
#include "storage/membership.h"

#include <gtest/gtest.h>

#include "common/rng.h"
#include "sim/sim_fs.h"

namespace paxlock::storage {
namespace {

Membership three() {
  return Membership{"prod", {{1, "10.0.0.1:7101"}, {2, "10.0.0.2:7101"}, {3, "10.0.0.3:7101"}}};
}

TEST(Membership, TheRecordRoundTripsAndDamageIsNamed) {
  const Membership m = three();
  auto back = decode_membership(encode_membership(m));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m);
  Membership odd{"a \"quoted\"\nid", {{7, "[::1]:1"}}};
  EXPECT_EQ(*decode_membership(encode_membership(odd)), odd);
  for (const char* bad : {"", "{", "[]", "{\"format\": \"x\"}",
                          "{\"format\": \"paxlock membership 1\", \"cluster_id\": \"c\"}",
                          "{\"format\": \"paxlock membership 1\", \"cluster_id\": \"c\", "
                          "\"members\": [{\"id\": 0, \"peer\": \"a:1\"}]}",
                          "{\"format\": \"paxlock membership 1\", \"cluster_id\": \"c\", "
                          "\"members\": [{\"id\": 1, \"peer\": \"a:1\"}, {\"id\": 1, \"peer\": "
                          "\"b:1\"}]}"}) {
    EXPECT_FALSE(decode_membership(bad).ok()) << bad;
  }
}

TEST(Membership, EveryDifferenceIsNamed) {
  const Membership rec = three();
  Membership one{"prod", {{2, "127.0.0.1:9101"}}};
  EXPECT_EQ(membership_difference(rec, one),
            "members 1, 3 are not in it; member 2's peer address is 127.0.0.1:9101, not "
            "10.0.0.2:7101");
  EXPECT_FALSE(only_addresses_differ(rec, one));
  Membership four = rec;
  four.peers[4] = "10.0.0.4:7101";
  four.cluster_id = "other";
  EXPECT_EQ(membership_difference(rec, four),
            "the cluster id is 'other', not 'prod'; member 4 is new");
  Membership moved = rec;
  moved.peers[1] = "10.0.1.1:7101";
  EXPECT_EQ(membership_difference(rec, moved),
            "member 1's peer address is 10.0.1.1:7101, not 10.0.0.1:7101");
  EXPECT_TRUE(only_addresses_differ(rec, moved));
  EXPECT_EQ(membership_difference(rec, rec), "");
  EXPECT_FALSE(only_addresses_differ(rec, rec));
}

TEST(Membership, FirstStartRecordsThenTheSameFileIsTakenAndAnotherRefused) {
  sim::SimFs fs(1);
  ASSERT_TRUE(fs.mkdirs("/d").ok());
  auto first = check_membership(fs, "/d", three(), false);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, MembershipCheck::kRecorded);
  EXPECT_EQ(*check_membership(fs, "/d", three(), false), MembershipCheck::kSame);

  // A copy started as a one-member cluster: refused, even with the flag.
  Membership alone{"prod", {{2, "10.0.0.2:7101"}}};
  for (bool accept : {false, true}) {
    auto r = check_membership(fs, "/d", alone, accept);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("data directory /d belongs to cluster 'prod' with members "
                                        "1 (10.0.0.1:7101), 2 (10.0.0.2:7101), 3 (10.0.0.3:7101)"),
              std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("members 1, 3 are not in it"), std::string::npos);
    EXPECT_NE(r.status().message().find("membership changes are not supported"), std::string::npos);
  }
  EXPECT_EQ(*decode_membership(*read_file(fs, "/d/MEMBERSHIP")), three());  // unchanged
}

TEST(Membership, MovedPeersAreRefusedUnlessAcceptedAndThenRecorded) {
  sim::SimFs fs(2);
  ASSERT_TRUE(fs.mkdirs("/d").ok());
  ASSERT_TRUE(check_membership(fs, "/d", three(), false).ok());
  Membership moved = three();
  moved.peers[3] = "10.0.9.3:7101";
  auto refused = check_membership(fs, "/d", moved, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("member 3's peer address is 10.0.9.3:7101, not "
                                            "10.0.0.3:7101"),
            std::string::npos);
  EXPECT_NE(refused.status().message().find("--accept-peer-address-change"), std::string::npos);
  auto accepted = check_membership(fs, "/d", moved, true);
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(*accepted, MembershipCheck::kAddressesRecorded);
  EXPECT_EQ(*check_membership(fs, "/d", moved, false), MembershipCheck::kSame);
  EXPECT_FALSE(check_membership(fs, "/d", three(), false).ok());  // no way back without the flag
}

TEST(Membership, ADamagedRecordRefusesToStart) {
  sim::SimFs fs(3);
  ASSERT_TRUE(fs.mkdirs("/d").ok());
  ASSERT_TRUE(
      write_file_atomic(fs, "/d", "MEMBERSHIP", "{\"format\": \"paxlock membership 1\"").ok());
  auto r = check_membership(fs, "/d", three(), true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/d/MEMBERSHIP is damaged"), std::string::npos);
}

TEST(Membership, TheRecordIsDurableOnceTheCheckReturns) {
  // Whatever a power loss keeps of unsynced writes, a record the check
  // reported written is there, whole, afterwards.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    sim::SimFs fs(seed);
    ASSERT_TRUE(fs.mkdirs("/d").ok());
    ASSERT_TRUE(fs.sync_dir("/").ok());
    ASSERT_TRUE(check_membership(fs, "/d", three(), false).ok());
    Rng rng(seed);
    fs.crash(rng);
    EXPECT_EQ(*check_membership(fs, "/d", three(), false), MembershipCheck::kSame) << seed;
  }
}

}  // namespace
}  // namespace paxlock::storage
