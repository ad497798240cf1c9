#include "storage/membership.h"

#include <fmt/format.h>

#include <cerrno>
#include <vector>

#include "common/json.h"

namespace paxlock::storage {
namespace {

constexpr const char* kFormat = "paxlock membership 1";
constexpr const char* kFile = "MEMBERSHIP";

std::string ids_text(const std::vector<paxos::NodeId>& ids) {
  std::string out;
  for (paxos::NodeId id : ids)
    out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

std::string members_text(const Membership& m) {
  std::string out;
  for (const auto& [id, peer] : m.peers)
    out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", id, peer);
  return out;
}

}  // namespace

std::string encode_membership(const Membership& m) {
  Json members = Json::array();
  for (const auto& [id, peer] : m.peers)
    members.push_back({{"id", id}, {"peer", peer}});
  const Json j = {{"format", kFormat}, {"cluster_id", m.cluster_id}, {"members", members}};
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Result<Membership> decode_membership(std::string_view text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::error(EINVAL, "not JSON");
  const auto format = j.find("format");
  if (format == j.end() || *format != kFormat) {
    return Status::error(EINVAL, fmt::format("no \"format\": \"{}\"", kFormat));
  }
  const auto cluster = j.find("cluster_id");
  const auto members = j.find("members");
  if (cluster == j.end() || !cluster->is_string() || members == j.end() || !members->is_array() ||
      members->empty()) {
    return Status::error(EINVAL, "no cluster_id or members");
  }
  Membership m;
  m.cluster_id = cluster->get<std::string>();
  for (const Json& member : *members) {
    const auto id = member.find("id");
    const auto peer = member.find("peer");
    if (!member.is_object() || id == member.end() || !id->is_number_unsigned() ||
        peer == member.end() || !peer->is_string() || id->get<uint64_t>() == 0 ||
        id->get<uint64_t>() > UINT32_MAX) {
      return Status::error(EINVAL, "a member without a valid id and peer");
    }
    const auto node = static_cast<paxos::NodeId>(id->get<uint64_t>());
    if (!m.peers.emplace(node, peer->get<std::string>()).second) {
      return Status::error(EINVAL, fmt::format("member {} twice", node));
    }
  }
  return m;
}

std::string membership_difference(const Membership& recorded, const Membership& given) {
  std::vector<std::string> parts;
  if (recorded.cluster_id != given.cluster_id) {
    parts.push_back(
        fmt::format("the cluster id is '{}', not '{}'", given.cluster_id, recorded.cluster_id));
  }
  std::vector<paxos::NodeId> missing;
  std::vector<paxos::NodeId> added;
  for (const auto& [id, peer] : recorded.peers) {
    if (!given.peers.count(id)) missing.push_back(id);
  }
  for (const auto& [id, peer] : given.peers) {
    if (!recorded.peers.count(id)) added.push_back(id);
  }
  if (!missing.empty()) {
    parts.push_back(fmt::format("member{} {} {} not in it", missing.size() > 1 ? "s" : "",
                                ids_text(missing), missing.size() > 1 ? "are" : "is"));
  }
  if (!added.empty()) {
    parts.push_back(fmt::format("member{} {} {} new", added.size() > 1 ? "s" : "", ids_text(added),
                                added.size() > 1 ? "are" : "is"));
  }
  for (const auto& [id, peer] : recorded.peers) {
    const auto it = given.peers.find(id);
    if (it != given.peers.end() && it->second != peer) {
      parts.push_back(fmt::format("member {}'s peer address is {}, not {}", id, it->second, peer));
    }
  }
  std::string out;
  for (const std::string& p : parts)
    out += (out.empty() ? "" : "; ") + p;
  return out;
}

bool only_addresses_differ(const Membership& recorded, const Membership& given) {
  if (recorded == given || recorded.cluster_id != given.cluster_id) return false;
  if (recorded.peers.size() != given.peers.size()) return false;
  for (const auto& [id, peer] : recorded.peers) {
    if (!given.peers.count(id)) return false;
  }
  return true;
}

Result<MembershipCheck> check_membership(Fs& fs, const std::string& data_dir,
                                         const Membership& given, bool accept_address_change) {
  const std::string path = join_path(data_dir, kFile);
  if (!fs.exists(path)) {
    Status s = write_file_atomic(fs, data_dir, kFile, encode_membership(given));
    if (!s.ok()) return s;
    return MembershipCheck::kRecorded;
  }
  auto text = read_file(fs, path);
  Result<Membership> recorded = Status::error(EINVAL, "unread");
  // Read again before believing a damaged or different record: a read can
  // return a flipped bit.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) text = read_file(fs, path);
    if (!text.ok()) return text.status();
    recorded = decode_membership(*text);
    if (recorded.ok() && *recorded == given) return MembershipCheck::kSame;
  }
  if (!recorded.ok()) {
    return Status::error(
        EINVAL, fmt::format("{} is damaged ({}); it records the cluster this data directory "
                            "belongs to. Restore it from a copy, or see docs/OPERATIONS.md, "
                            "\"The data directory's membership\"",
                            path, recorded.status().message()));
  }
  const std::string diff = membership_difference(*recorded, given);
  const std::string head = fmt::format(
      "data directory {} belongs to cluster '{}' with members {}, and the cluster file differs: {}",
      data_dir, recorded->cluster_id, members_text(*recorded), diff);
  if (!only_addresses_differ(*recorded, given)) {
    return Status::error(EINVAL,
                         head +
                             ". A replica joins only the cluster it was started in: membership "
                             "changes are not supported (docs/OPERATIONS.md, \"The data "
                             "directory's membership\")");
  }
  if (!accept_address_change) {
    return Status::error(EINVAL, head +
                                     ". If the replicas moved to these addresses, start with "
                                     "--accept-peer-address-change (docs/OPERATIONS.md, \"The "
                                     "data directory's membership\")");
  }
  Status s = write_file_atomic(fs, data_dir, kFile, encode_membership(given));
  if (!s.ok()) return s;
  return MembershipCheck::kAddressesRecorded;
}

}  // namespace paxlock::storage
