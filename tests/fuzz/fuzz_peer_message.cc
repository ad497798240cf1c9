// Fuzz target: what a peer sends, decoded and stepped into a real consensus
// core. The network is hostile, even from a peer (STYLE.md 14): nothing a
// peer's frame holds may reach one of the core's fatal checks, and the log
// may not grow past what the issue 16 validation allows.
//
// Each input (peer_input.h) picks one of four prepared nodes of a 3-member
// cluster (a follower, the leader, a fresh node, a candidate) and feeds it up
// to 64 frames, with time passing in between. A frame goes the way
// PeerTransport::inbound and Replica::receive send it: pb::PeerMessage parse,
// keepalives skipped, net::from_proto, `from` set to a peer and `to` to the
// node (the transport refuses anything else on a connection, so fuzzing those
// only finds closed connections), snapshot transfers left to the driver, then
// Node::step and take_ready; messages the node sends to itself are stepped
// back in, as Replica::pump does.
//
// Properties, after every message and tick (the core checks its own
// invariants in take_ready):
// - the promise, the first unchosen instance and the next instance to apply
//   never go back;
// - the log never reaches first_unchosen + accept_ahead_max.
#include <google/protobuf/stubs/logging.h>

#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/peer_input.h"
#include "net/codec.h"
#include "paxos/node.h"
#include "unit/cluster_harness.h"

namespace paxlock::fuzz {
namespace {

using paxos::Message;
using paxos::MessageType;
using paxos::Node;
using paxos::testing::Cluster;
using paxos::testing::make_command;

struct Prepared {
  Node node;
  paxos::TimeMs now;
};

// Built once; every input starts from a copy.
std::vector<Prepared> prepare() {
  std::vector<Prepared> out;
  Cluster c(3);
  c.advance(1000);  // past the restart hold-off
  c.elect(1);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    c.node(1).propose(make_command(7, seq));
    c.deliver();
  }
  c.advance(60);  // a heartbeat carries the commit point to the followers
  c.deliver();
  out.push_back(Prepared{c.node(2), c.now()});  // kFollower
  c.node(1).propose(make_command(7, 4));
  c.flush();                                    // its accepts wait in the network
  out.push_back(Prepared{c.node(1), c.now()});  // kLeader

  Cluster fresh(3);
  out.push_back(Prepared{fresh.node(3), fresh.now()});  // kFresh
  fresh.advance(1000);
  fresh.node(3).campaign();
  fresh.flush();                                        // its prepares wait in the network
  out.push_back(Prepared{fresh.node(3), fresh.now()});  // kCandidate
  FUZZ_CHECK(out.size() == kPeerStates);
  FUZZ_CHECK(out[kFollower].node.leader() == paxos::NodeId{1});
  FUZZ_CHECK(out[kLeader].node.role() == paxos::Role::kLeader);
  FUZZ_CHECK(out[kCandidate].node.role() == paxos::Role::kCandidate);
  return out;
}

// What must hold between any two moments of one node's life.
struct Watermarks {
  paxos::Ballot promised;
  paxos::Instance first_unchosen = 0;
  paxos::Instance next_apply = 0;

  void check(const Node& n) {
    FUZZ_CHECK(n.promised() >= promised);
    FUZZ_CHECK(n.first_unchosen() >= first_unchosen);
    FUZZ_CHECK(n.next_apply() >= next_apply);
    FUZZ_CHECK(n.log_end() <= n.first_unchosen() + n.config().accept_ahead_max);
    promised = n.promised();
    first_unchosen = n.first_unchosen();
    next_apply = n.next_apply();
  }
};

// Takes the node's Readys until it has nothing more to say; its messages to
// itself go back in (the leader's own acceptor gets its accepts that way).
void drain(Node& n, Watermarks& w) {
  for (int round = 0; round < 100; ++round) {
    paxos::Ready r = n.take_ready();
    w.check(n);
    if (r.empty()) return;
    std::vector<Message> self;
    for (std::vector<Message>* out : {&r.send_now, &r.send_after_sync}) {
      for (Message& m : *out) {
        if (m.to == n.id()) self.push_back(std::move(m));
      }
    }
    for (const Message& m : self)
      n.step(m);
  }
}

// The peer a message is taken to come from: its connection's node.
paxos::NodeId peer_of(const Node& n, paxos::NodeId claimed) {
  std::vector<paxos::NodeId> peers;
  for (paxos::NodeId id : n.config().members) {
    if (id != n.id()) peers.push_back(id);
  }
  for (paxos::NodeId id : peers) {
    if (id == claimed) return id;
  }
  return peers[claimed % peers.size()];
}

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field logs an error
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paxlock;
  using namespace paxlock::fuzz;
  static const std::vector<Prepared> prepared = prepare();
  Input in(data, size);
  const Prepared& start = prepared[in.u8() % prepared.size()];
  Node node = start.node;
  paxos::TimeMs now = start.now;
  Watermarks w;
  w.check(node);
  for (size_t k = 0; k < kPeerMessagesMax && !in.empty(); ++k) {
    now += in.u8();
    node.tick(now);
    drain(node, w);
    const std::string_view frame = in.record();
    pb::PeerMessage pm;
    if (!pm.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
    if (pm.type() == net::kPeerKeepaliveType) continue;
    auto decoded = net::from_proto(pm);
    if (!decoded.ok()) continue;
    Message m = std::move(*decoded);
    m.from = peer_of(node, m.from);
    m.to = node.id();
    if (m.type == MessageType::kSnapshotRequest || m.type == MessageType::kSnapshotChunk) {
      continue;  // the driver's (Replica::receive), never the core's
    }
    node.step(m);
    drain(node, w);
  }
  return 0;
}
