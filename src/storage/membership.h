// The cluster a data directory belongs to: DIR/MEMBERSHIP records the
// cluster id and every member's node id and peer address, as the cluster file
// said when the directory was first started. A replica refuses a cluster file
// that disagrees. Without it, a copy of a node's data directory started with
// a one-member cluster file elected itself and appended instances to a log
// that a majority of the real cluster had written: two histories from one.
//
// The file (JSON, written atomically: temporary file, fdatasync, rename,
// directory fsync; so a crash leaves the old record or the new one):
//
//   {"format": "paxlock membership 1", "cluster_id": "prod-locks",
//    "members": [{"id": 1, "peer": "10.0.0.1:7101"}, ...]}   (by id)
//
// A directory without it (first start, or a directory of a release before
// issue 16) gets it written from the cluster file it is started with.
// Different ids or a different cluster id are always refused (membership
// changes are not supported); a change of peer addresses alone is refused
// unless the operator says the replicas moved, and then recorded.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "paxos/types.h"
#include "storage/fs.h"

namespace paxlock::storage {

struct Membership {
  std::string cluster_id;
  std::map<paxos::NodeId, std::string> peers;  // node id -> peer address, as written
  bool operator==(const Membership&) const = default;
};

std::string encode_membership(const Membership& m);
// Not ok, saying what is wrong, if `text` is not a record.
Result<Membership> decode_membership(std::string_view text);

// How `given` (the cluster file) differs from `recorded`, in words
// ("members 1, 3 are not in the cluster file; ..."), "" if it does not.
std::string membership_difference(const Membership& recorded, const Membership& given);
// True if the two differ in peer addresses only.
bool only_addresses_differ(const Membership& recorded, const Membership& given);

enum class MembershipCheck : uint8_t {
  kSame,               // the record agrees
  kRecorded,           // there was none: written now
  kAddressesRecorded,  // only addresses differed, and the caller accepted it
};

// Checks DIR/MEMBERSHIP against `given` (see above). An error names the data
// directory and says what differs and what to do.
Result<MembershipCheck> check_membership(Fs& fs, const std::string& data_dir,
                                         const Membership& given, bool accept_address_change);

}  // namespace paxlock::storage
