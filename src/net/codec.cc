#include "net/codec.h"

#include <algorithm>
#include <cerrno>

#include "paxos/value_codec.h"

namespace paxlock::net {

Status check_peer_frame(std::string_view frame) {
  // PeerMessage's repeated fields: entries (11), instances (12, packed or
  // not) and commands (13).
  size_t entries = 0;
  size_t instances = 0;
  size_t commands = 0;
  paxlock::Reader r(frame);
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(key)) return {};
    const uint64_t number = key >> 3;
    switch (key & 7) {
      case 0: {
        uint64_t ignored = 0;
        if (!r.varint(ignored)) return {};
        if (number == 12) ++instances;
        break;
      }
      case 1: {
        uint64_t ignored = 0;
        if (!r.u64(ignored)) return {};
        break;
      }
      case 5: {
        uint32_t ignored = 0;
        if (!r.u32(ignored)) return {};
        break;
      }
      case 2: {
        std::string_view bytes;
        if (!r.bytes(bytes)) return {};
        if (number == 11) ++entries;
        if (number == 13) ++commands;
        if (number == 12) {
          // Packed varints: one ends at each byte without the high bit.
          instances += static_cast<size_t>(
              std::count_if(bytes.begin(), bytes.end(), [](char c) { return (c & 0x80) == 0; }));
        }
        break;
      }
      default:
        return {};  // the parser refuses it
    }
  }
  const auto over = [](const char* what, size_t n) {
    return Status::error(EINVAL, std::to_string(n) + " " + what + ", more than " +
                                     std::to_string(kPeerRepeatedMax) + " a message may hold");
  };
  if (entries > kPeerRepeatedMax) return over("entries", entries);
  if (instances > kPeerRepeatedMax) return over("instances", instances);
  if (commands > kPeerRepeatedMax) return over("commands", commands);
  return {};
}

void to_proto(const paxos::Ballot& in, pb::Ballot* out) {
  out->set_round(in.round);
  out->set_node(in.node);
}

paxos::Ballot from_proto(const pb::Ballot& in) {
  return paxos::Ballot{in.round(), in.node()};
}

void to_proto(const paxos::Message& in, pb::PeerMessage* out) {
  out->set_type(static_cast<uint32_t>(in.type));
  out->set_from(in.from);
  out->set_to(in.to);
  to_proto(in.ballot, out->mutable_ballot());
  out->set_instance(in.instance);
  out->set_end(in.end);
  out->set_commit(in.commit);
  out->set_log_start(in.log_start);
  out->set_more(in.more);
  out->set_want_ack(in.want_ack);
  out->set_granted(in.granted);
  for (const paxos::Entry& e : in.entries) {
    pb::PeerEntry* pe = out->add_entries();
    pe->set_instance(e.instance);
    to_proto(e.ballot, pe->mutable_ballot());
    if (e.value) paxos::encode_value(*e.value, *pe->mutable_value());
    pe->set_chosen(e.chosen);
  }
  for (paxos::Instance i : in.instances)
    out->add_instances(i);
  for (const paxos::Command& c : in.commands) {
    pb::PeerCommand* pc = out->add_commands();
    pc->set_client(c.id.client);
    pc->set_seq(c.id.seq);
    pc->set_payload(c.payload);
  }
  out->set_offset(in.offset);
  out->set_total(in.total);
  out->set_crc(in.crc);
  out->set_data(in.data);
}

Result<paxos::Message> from_proto(const pb::PeerMessage& in) {
  if (in.type() < static_cast<uint32_t>(paxos::MessageType::kPrepare) ||
      in.type() > static_cast<uint32_t>(paxos::MessageType::kPreVoteReply)) {
    return Status::error(EINVAL, "unknown message type " + std::to_string(in.type()));
  }
  paxos::Message out;
  out.type = static_cast<paxos::MessageType>(in.type());
  out.from = in.from();
  out.to = in.to();
  out.ballot = from_proto(in.ballot());
  out.instance = in.instance();
  out.end = in.end();
  out.commit = in.commit();
  out.log_start = in.log_start();
  out.more = in.more();
  out.want_ack = in.want_ack();
  out.granted = in.granted();
  out.entries.reserve(static_cast<size_t>(in.entries_size()));
  for (const pb::PeerEntry& pe : in.entries()) {
    paxos::Entry e;
    e.instance = pe.instance();
    e.ballot = from_proto(pe.ballot());
    e.chosen = pe.chosen();
    paxlock::Reader r(pe.value());
    if (!paxos::decode_value(r, e.value) || !r.done()) {
      return Status::error(EINVAL, "malformed value for instance " + std::to_string(e.instance));
    }
    out.entries.push_back(std::move(e));
  }
  out.instances.assign(in.instances().begin(), in.instances().end());
  out.commands.reserve(static_cast<size_t>(in.commands_size()));
  for (const pb::PeerCommand& pc : in.commands()) {
    out.commands.push_back(paxos::Command{paxos::CommandId{pc.client(), pc.seq()}, pc.payload()});
  }
  out.offset = in.offset();
  out.total = in.total();
  out.crc = in.crc();
  out.data = in.data();
  return out;
}

}  // namespace paxlock::net
