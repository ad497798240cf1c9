// Writes the seed corpus of the fuzz targets: small valid inputs made by the
// real encoders (messages of a scripted 3-node run, requests and commands of
// every op, WAL segments and snapshots written by the storage code, cluster
// files), plus a few edge cases. The output is checked in under
// tests/fuzz/corpus/; regenerate it with
//
//   build/dev/tests/fuzz/paxlock-fuzz-seeds tests/fuzz/corpus
//
// Every file is named seed-*; the fuzzers add theirs (SHA-1 names) to a copy
// under build/fuzz/, never here.
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "fuzz/command_builder.h"
#include "fuzz/peer_input.h"
#include "lock/command.h"
#include "lock/lock_machine.h"
#include "net/codec.h"
#include "paxlock.pb.h"
#include "sim/sim_fs.h"
#include "storage/snapshot_store.h"
#include "storage/wal.h"
#include "unit/cluster_harness.h"

namespace paxlock::fuzz {
namespace {

namespace fs = std::filesystem;

class Corpus {
 public:
  explicit Corpus(fs::path root) : root_(std::move(root)) {}

  void add(const std::string& target, const std::string& name, const std::string& bytes) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    std::ofstream out(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
    ++written_;
  }
  size_t written() const { return written_; }

 private:
  fs::path root_;
  size_t written_ = 0;
};

std::string u64_le(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// ------------------------------------------------------------ peer messages

std::string wire(const paxos::Message& m) {
  pb::PeerMessage pm;
  net::to_proto(m, &pm);
  return pm.SerializeAsString();
}

// Every message of a scripted run: election, commands (at the leader and
// forwarded), heartbeats, a follower that missed accepts and learns them, a
// second election after the leader's death with pre-votes and a nack.
std::vector<paxos::Message> scripted_traffic() {
  using paxos::testing::Cluster;
  using paxos::testing::make_command;
  std::vector<paxos::Message> seen;
  Cluster c(3);
  auto run = [&](const std::function<bool(const paxos::Message&)>& drop) {
    for (int k = 0; k < 10000; ++k) {
      c.flush();
      if (c.network().empty()) return;
      paxos::Message m = std::move(c.network().front());
      c.network().pop_front();
      seen.push_back(m);
      if (drop && drop(m)) continue;
      if (c.up(m.to)) c.node(m.to).step(m);
    }
  };
  auto advance = [&](paxos::TimeMs ms) {
    for (paxos::TimeMs t = 0; t < ms; t += 10) {
      c.advance(10);
      run({});
    }
  };
  advance(1000);  // hold-off, pre-votes, the first election
  c.node(1).campaign();
  run({});
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    c.node(1).propose(make_command(7, seq));
    run({});
  }
  c.node(3).propose(make_command(8, 1));  // forwarded to the leader
  run({});
  // Node 3 misses the accepts of two commands, then learns them.
  for (uint64_t seq = 4; seq <= 5; ++seq) {
    c.node(1).propose(make_command(7, seq));
    run([](const paxos::Message& m) { return m.to == 3; });
  }
  advance(300);
  c.crash(1);  // the others elect a new leader
  advance(2000);
  c.node(2).propose(make_command(9, 1));
  c.node(3).propose(make_command(9, 2));
  advance(200);
  c.restart(1);  // the old leader returns with a lower ballot
  c.node(1).campaign();
  run({});
  advance(500);
  return seen;
}

void peer_seeds(Corpus& corpus) {
  const std::vector<paxos::Message> traffic = scripted_traffic();
  const char* state_names[] = {"follower", "leader", "fresh", "candidate"};
  // One message of each type, to each prepared node.
  std::map<paxos::MessageType, const paxos::Message*> first;
  for (const paxos::Message& m : traffic)
    first.emplace(m.type, &m);
  for (const auto& [type, m] : first) {
    for (uint8_t s = 0; s < kPeerStates; ++s) {
      std::string in(1, static_cast<char>(s));
      append_peer_message(in, 5, wire(*m));
      corpus.add("peer_message", std::string(state_names[s]) + "-" + paxos::to_string(type), in);
    }
  }
  // What each node received, in order (the first 64 messages).
  const paxos::NodeId node_of[] = {2, 1, 3, 3};
  for (uint8_t s = 0; s < kPeerStates; ++s) {
    std::string in(1, static_cast<char>(s));
    size_t n = 0;
    for (const paxos::Message& m : traffic) {
      if (m.to != node_of[s] || n++ == kPeerMessagesMax) continue;
      append_peer_message(in, 10, wire(m));
    }
    corpus.add("peer_message", std::string(state_names[s]) + "-stream", in);
  }
  // Edge cases a transport lets through: an empty message (type 0), a
  // keepalive, an unknown type, and bytes that do not parse.
  std::string edge(1, kFollower);
  append_peer_message(edge, 0, "");
  pb::PeerMessage keepalive;
  keepalive.set_type(net::kPeerKeepaliveType);
  keepalive.set_from(1);
  keepalive.set_to(2);
  append_peer_message(edge, 0, keepalive.SerializeAsString());
  pb::PeerMessage unknown;
  unknown.set_type(99);
  append_peer_message(edge, 0, unknown.SerializeAsString());
  append_peer_message(edge, 0, std::string("\xff\xff\xff", 3));
  corpus.add("peer_message", "edge-cases", edge);
}

// ---------------------------------------------------------- client requests

std::string frame_request(uint8_t steps, const pb::ClientRequest& r) {
  std::string out;
  append_peer_message(out, steps, r.SerializeAsString());  // same layout
  return out;
}

pb::ClientRequest request(uint64_t rid, uint64_t seq, lock::Command c) {
  pb::ClientRequest r;
  r.set_request_id(rid);
  r.set_client_id(42);
  r.set_seq(seq);
  lock::to_proto(c, r.mutable_command());
  return r;
}

void client_seeds(Corpus& corpus) {
  using lock::Op;
  const std::vector<std::pair<std::string, lock::Command>> one = {
      {"lock", Cmd(Op::kLock).name("jobs/nightly").owner("alice")},
      {"lock-wait", Cmd(Op::kLock).name("x").owner("bob").wait_ms(500)},
      {"lock-retry", Cmd(Op::kLock).name("x").owner("carol").will_retry()},
      {"unlock", Cmd(Op::kUnlock).name("x").owner("alice").token(1)},
      {"check", Cmd(Op::kCheck).name("x").token(1)},
      {"status", Cmd(Op::kStatus).name("x")},
      {"list", Cmd(Op::kList).limit(10)},
      {"open-session", Cmd(Op::kOpenSession).owner("alice").ttl_ms(2000)},
      {"keep-alive", Cmd(Op::kKeepAlive).owner("alice").session(1)},
      {"close-session", Cmd(Op::kCloseSession).owner("alice").session(1)},
  };
  for (const auto& [name, c] : one)
    corpus.add("client_request", name, frame_request(1, request(1, 1, c)));
  // A working session: open, lock under it, a waiter, a deadlock-prone
  // retry, status and list, unlock, close; then a retry of an old request.
  std::string flow;
  uint64_t rid = 0;
  auto add = [&](uint8_t steps, lock::Command c) {
    ++rid;
    flow += frame_request(steps, request(rid, rid, c));
  };
  add(1, Cmd(Op::kOpenSession).owner("alice").ttl_ms(1000));
  add(5, Cmd(Op::kLock).name("a").owner("alice").session(1));
  add(0, Cmd(Op::kLock).name("a").owner("bob").wait_ms(2000));
  add(0, Cmd(Op::kLock).name("b").owner("bob"));
  add(0, Cmd(Op::kLock).name("b").owner("alice").will_retry());
  add(5, Cmd(Op::kStatus).name("a"));
  add(0, Cmd(Op::kList).limit(1000));
  add(10, Cmd(Op::kKeepAlive).owner("alice").session(1));
  add(5, Cmd(Op::kUnlock).name("a").owner("alice").token(1));
  add(20, Cmd(Op::kCloseSession).owner("alice").session(1));
  flow += frame_request(0, request(1, 1, Cmd(Op::kOpenSession).owner("alice").ttl_ms(1000)));
  corpus.add("client_request", "session-flow", flow);
  // Refusals: no command, no ids, an unknown op, names over the limits, a
  // request id in use, and a cluster_info request.
  std::string refused;
  pb::ClientRequest empty;
  empty.set_request_id(1);
  refused += frame_request(0, empty);
  pb::ClientRequest info;
  info.set_request_id(2);
  info.set_cluster_info(true);
  refused += frame_request(0, info);
  pb::ClientRequest no_ids = request(3, 0, Cmd(Op::kLock).name("x").owner("o"));
  no_ids.set_client_id(0);
  refused += frame_request(0, no_ids);
  pb::ClientRequest bad_op = request(4, 1, Cmd(Op::kLock).name("x").owner("o"));
  bad_op.mutable_command()->set_op(static_cast<pb::Op>(77));
  refused += frame_request(0, bad_op);
  refused += frame_request(0, request(5, 2, Cmd(Op::kLock).name(std::string(513, 'n')).owner("o")));
  refused += frame_request(0, request(6, 3, Cmd(Op::kLock).name("x").owner("o").wait_ms(100)));
  refused += frame_request(0, request(6, 4, Cmd(Op::kLock).name("y").owner("o")));
  corpus.add("client_request", "refusals", refused);
  // ACL ops (a client without identity: insecure mode), and a command with
  // an identity, as the replica will stamp it.
  std::string acl;
  rid = 100;
  auto add_acl = [&](lock::Command c) {
    ++rid;
    acl += frame_request(1, request(rid, rid, c));
  };
  add_acl(Cmd(Op::kAclBootstrap).grant("root", "", lock::Role::kAdmin));
  add_acl(Cmd(Op::kAclGrant).identity("root").grant("alice", "jobs/", lock::Role::kLock));
  add_acl(Cmd(Op::kLock).identity("alice").name("jobs/a").owner("alice/w"));
  add_acl(Cmd(Op::kUnlock).identity("bob").name("jobs/a").owner("alice/w"));
  add_acl(Cmd(Op::kAclList).identity("root").limit(10));
  add_acl(Cmd(Op::kAclRevoke).identity("root").grant("alice", "jobs/", lock::Role::kNone));
  corpus.add("client_request", "acl-ops", acl);
}

// ------------------------------------------------------------ command codec

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

void codec_seeds(Corpus& corpus) {
  using lock::Op;
  corpus.add("command_codec", "command-lock",
             lock::encode(Cmd(Op::kLock)
                              .name("jobs/nightly")
                              .owner("w-7")
                              .session(12)
                              .wait_ms(1500)
                              .will_retry()
                              .first_outstanding(41)));
  corpus.add("command_codec", "command-list", lock::encode(Cmd(Op::kList).name("a").limit(1000)));
  corpus.add("command_codec", "command-open-session",
             lock::encode(Cmd(Op::kOpenSession).owner("o").ttl_ms(5000)));
  corpus.add("command_codec", "command-acl-grant",
             lock::encode(Cmd(Op::kAclGrant)
                              .identity("root")
                              .grant("alice", "jobs/", lock::Role::kLock)
                              .first_outstanding(3)));
  lock::Result denied;
  denied.code = lock::Code::kPermissionDenied;
  denied.reason = "identity bob may not act as owner alice";
  denied.applied_at = 12;
  corpus.add("command_codec", "result-permission-denied", lock::encode(denied));
  lock::Result held;
  held.code = lock::Code::kHeld;
  held.token = 1013;
  held.holder = "mallory";
  held.applied_at = 99;
  corpus.add("command_codec", "result-held", lock::encode(held));
  lock::Result listing;
  listing.applied_at = 7;
  pb::LockInfo info;
  info.set_name("x");
  info.set_holder("alice");
  info.set_token(3);
  info.add_waiters()->set_owner("bob");
  listing.locks.push_back(info);
  listing.next = "x";
  pb::CycleEdge edge;
  edge.set_owner("a");
  edge.set_lock("l");
  edge.set_holder("b");
  listing.cycle.push_back(edge);
  corpus.add("command_codec", "result-list", lock::encode(listing));
  // paxlock 0.1's encodings, as command_codec_test.cc has them.
  corpus.add("command_codec", "legacy-command-lock",
             unhex("010c6a6f62732f6e696768746c7908776f726b65722d370c00b81701000029"));
  corpus.add("command_codec", "legacy-command-close", unhex("080000ac02000000000007"));
  corpus.add("command_codec", "legacy-result-held",
             unhex("01f507076d616c6c6f727904a09c01630101017805616c696365070380890f0103626f62059e9"
                   "c010179010161026c310162"));
  paxos::Batch batch;
  batch.timestamp_ms = 1700000000000;
  batch.commands.push_back(paxos::Command{paxos::CommandId{42, 1}, "payload"});
  batch.commands.push_back(paxos::Command{paxos::CommandId{43, 9}, ""});
  std::string value;
  paxos::encode_value(batch, value);
  corpus.add("command_codec", "value-batch", value);
  corpus.add("command_codec", "empty", "");
}

// ---------------------------------------------------------------------- WAL

std::string read_all(sim::SimFs& fs, const std::string& path) {
  auto f = fs.open(path, storage::OpenMode::kRead);
  std::string data;
  if (!f.ok() || !(*f)->pread(0, fs.file_size(path), data).ok()) {
    throw std::runtime_error("cannot read " + path);
  }
  return data;
}

storage::WriteBatch accept(paxos::Instance i, paxos::Ballot b, bool chosen) {
  auto v = std::make_shared<paxos::Batch>();
  v->timestamp_ms = 1000 + static_cast<int64_t>(i);
  v->commands.push_back(paxos::Command{paxos::CommandId{7, i}, "cmd" + std::to_string(i)});
  storage::WriteBatch w;
  w.entries.push_back(paxos::Entry{i, b, v, chosen});
  return w;
}

void wal_seeds(Corpus& corpus) {
  const std::string dir = "/data/wal";
  const std::string seg1 = dir + "/wal-0000000000000001.log";
  const std::string seg2 = dir + "/wal-0000000000000002.log";
  auto open = [&](sim::SimFs& fs, uint64_t segment_bytes) {
    auto wal = storage::Wal::open(fs, dir, 1, storage::WalOptions{segment_bytes, false}, nullptr);
    if (!wal.ok()) throw std::runtime_error(wal.status().message());
    return std::move(*wal);
  };
  {
    sim::SimFs fs(1);
    open(fs, 1 << 16);
    corpus.add("wal_replay", "new-log", std::string(1, '\0') + read_all(fs, seg1));
  }
  {
    sim::SimFs fs(1);
    auto wal = open(fs, 1 << 16);
    storage::WriteBatch promise;
    promise.promised = paxos::Ballot{3, 2};
    (void)wal->append(promise);
    for (paxos::Instance i = 1; i <= 3; ++i)
      (void)wal->append(accept(i, paxos::Ballot{3, 2}, false));
    (void)wal->append(accept(2, paxos::Ballot{4, 1}, true));
    storage::WriteBatch commit;
    commit.commit = 3;
    (void)wal->append(commit);
    (void)wal->sync();
    const std::string seg = read_all(fs, seg1);
    corpus.add("wal_replay", "records", std::string(1, '\0') + seg);
    corpus.add("wal_replay", "records-fixed", std::string(1, '\5') + seg);
    // A torn last batch: its second half never reached the disk.
    const size_t last = seg.rfind("PXB1");
    corpus.add("wal_replay", "torn-tail", std::string(1, '\0') + seg.substr(0, last + 30));
  }
  {
    // Rotation into a second segment, which starts with a checkpoint.
    sim::SimFs fs(1);
    auto wal = open(fs, 1024);
    for (paxos::Instance i = 1; i <= 6; ++i) {
      (void)wal->append(accept(i, paxos::Ballot{1, 1}, i < 4));
      (void)wal->sync();
    }
    const std::string a = read_all(fs, seg1);
    const std::string b = read_all(fs, seg2);
    std::string in(1, '\2');
    in.push_back(static_cast<char>(a.size() & 0xff));
    in.push_back(static_cast<char>(a.size() >> 8));
    corpus.add("wal_replay", "two-segments", in + a + b);
  }
}

// ---------------------------------------------------------------- snapshots

std::string lock_state() {
  using lock::Op;
  lock::LockMachine m;
  std::vector<paxos::Reply> replies;
  paxos::Instance instance = 0;
  auto run = [&](uint64_t client, uint64_t seq, paxos::TimeMs now, lock::Command c) {
    paxos::Batch b;
    b.timestamp_ms = now;
    b.commands.push_back(paxos::Command{paxos::CommandId{client, seq}, lock::encode(c)});
    m.apply(++instance, b, replies);
  };
  run(1, 1, 1000, Cmd(Op::kOpenSession).owner("alice").ttl_ms(60000));
  run(1, 2, 1001, Cmd(Op::kLock).name("a").owner("alice").session(1));
  run(2, 1, 1002, Cmd(Op::kLock).name("a").owner("bob").wait_ms(30000));
  run(2, 2, 1003, Cmd(Op::kLock).name("b").owner("bob"));
  run(1, 3, 1004, Cmd(Op::kLock).name("b").owner("alice").will_retry());
  run(3, 1, 1005, Cmd(Op::kLock).name("c").owner("carol"));
  return m.snapshot();
}

// Version 2: grants, and records and a waiter of identities.
std::string acl_state() {
  using lock::Op;
  using lock::Role;
  lock::LockMachine m;
  std::vector<paxos::Reply> replies;
  paxos::Instance instance = 0;
  auto run = [&](uint64_t client, uint64_t seq, paxos::TimeMs now, lock::Command c) {
    paxos::Batch b;
    b.timestamp_ms = now;
    b.commands.push_back(paxos::Command{paxos::CommandId{client, seq}, lock::encode(c)});
    m.apply(++instance, b, replies);
  };
  run(9, 1, 1000, Cmd(Op::kAclBootstrap).grant("root", "", Role::kAdmin));
  run(1, 1, 1001, Cmd(Op::kAclGrant).identity("root").grant("alice", "jobs/", Role::kLock));
  run(1, 2, 1002, Cmd(Op::kAclGrant).identity("root").grant("bob", "jobs/", Role::kLock));
  run(1, 3, 1003, Cmd(Op::kAclGrant).identity("root").grant("eve", "jobs/", Role::kRead));
  run(2, 1, 1004, Cmd(Op::kOpenSession).identity("alice").owner("alice/w").ttl_ms(60000));
  run(2, 2, 1005, Cmd(Op::kLock).identity("alice").name("jobs/a").owner("alice/w").session(1));
  run(2, 1, 1006, Cmd(Op::kLock).identity("bob").name("jobs/a").owner("bob").wait_ms(30000));
  run(3, 1, 1007, Cmd(Op::kLock).identity("eve").name("jobs/b").owner("eve"));
  return m.snapshot();
}

void snapshot_seeds(Corpus& corpus) {
  const std::string empty = lock::LockMachine().snapshot();
  const std::string busy = lock_state();
  const std::string acl = acl_state();
  for (const auto& [name, data] :
       {std::pair{"empty", empty}, std::pair{"locks", busy}, std::pair{"acl", acl}}) {
    const auto data_ptr = std::make_shared<const std::string>(data);
    corpus.add("snapshot", std::string("file-") + name,
               std::string(1, '\0') + storage::SnapshotStore::encode({7, data_ptr}));
    corpus.add("snapshot", std::string("data-") + name, std::string(1, '\1') + u64_le(7) + data);
  }
}

// ------------------------------------------------------------------- config

void config_seeds(Corpus& corpus) {
  const std::string three =
      "cluster_id = \"prod-locks\"\n"
      "\n[[node]]\nid = 1\npeer = \"10.0.0.1:7101\"\nclient = \"10.0.0.1:7201\"\n"
      "http = \"10.0.0.1:7301\"\ndata_dir = \"/var/lib/paxlock\"\n"
      "\n[[node]]\nid = 2\npeer = \"10.0.0.2:7101\"\nclient = \"10.0.0.2:7201\"\n"
      "http = \"10.0.0.2:7301\"\n"
      "\n[[node]]\nid = 3\npeer = \"10.0.0.3:7101\"\nclient = \"10.0.0.3:7201\"\n"
      "http = \"10.0.0.3:7301\"\n";
  corpus.add("config", "three-nodes", three);
  corpus.add("config", "tuning",
             three +
                 "\n[tuning]  # every key\nheartbeat_ms = 50\nelection_timeout_ms = 300\n"
                 "resend_ms = 100\ncommand_retry_ms = 400\nidle_tick_ms = 200\n"
                 "pipeline_window = 8\nbatch_commands_max = 256\nbatch_bytes_max = 262144\n"
                 "pending_commands_max = 100000\nsnapshot_every_instances = 10000\n"
                 "snapshot_every_bytes = 67108864\nsnapshot_fetch_max_bytes = 1073741824\n"
                 "wal_segment_bytes = 67108864\nmax_frame_bytes = 8388608\n"
                 "peer_queue_bytes = 33554432\nclient_pending_max = 10000\n");
  corpus.add("config", "ipv6",
             "cluster_id = 'v6'\n[[node]]\nid = 7\npeer = \"[::1]:7101\"\n"
             "client = \"[::1]:7201\"\nhttp = \"[fe80::1]:7301\"\n");
  corpus.add("config", "host-name",
             "cluster_id = \"h\"\n[[node]]\nid = 1\npeer = \"db1.example:7101\"\n"
             "client = \"127.0.0.1:7201\"\nhttp = \"127.0.0.1:7301\"\n");
  corpus.add("config", "inline-tables",
             "cluster_id = \"\"\"multi\nline\"\"\"\nnode = [ { id = 1, peer = \"1.2.3.4:1\", "
             "client = \"1.2.3.4:2\", http = \"1.2.3.4:3\" } ]\ntuning = { resend_ms = 7 }\n");
  corpus.add("config", "errors",
             "cluster_id = 5\n[[node]]\nid = 0\npeer = \"x\"\n[tuning]\nnope = 1\n");
}

// -------------------------------------------------------------------- frame

// Programs for fuzz_frame.cc: u16 initial limit, then steps (opcode, operands).
void frame_seeds(Corpus& corpus) {
  auto u16 = [](uint16_t v) {
    return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  };
  auto frame = [](std::string_view body) {
    std::string f;
    for (int i = 0; i < 4; ++i)
      f.push_back(static_cast<char>(body.size() >> (8 * i)));
    f.append(body);
    return f;
  };
  auto feed = [&](std::string_view bytes) {
    return std::string(1, '\x01') + u16(static_cast<uint16_t>(bytes.size())) + std::string(bytes);
  };
  auto write = [&](uint16_t want, std::string_view bytes) {
    return std::string(1, '\x00') + u16(want) + u16(static_cast<uint16_t>(bytes.size())) +
           std::string(bytes);
  };
  const std::string drain(1, '\x02');
  const std::string two = frame("hello") + frame(std::string(300, 'x'));
  corpus.add("frame", "two-frames-one-read", u16(1024) + feed(two) + drain);
  std::string bytewise = u16(1024);
  for (char c : two)
    bytewise += write(1, std::string(1, c)) + drain;
  corpus.add("frame", "byte-by-byte", bytewise);
  corpus.add("frame", "empty-frame", u16(16) + feed(frame("")) + drain);
  corpus.add("frame", "announced-too-big", u16(64) + feed(frame(std::string(65, 'y'))) + drain);
  corpus.add("frame", "header-only-8mib",
             u16(0xffff) + feed(std::string("\x00\x00\x80\x00", 4)) + drain);
  // A small limit for the hello, a larger one after it.
  corpus.add("frame", "limit-raised-after-hello",
             u16(16) + feed(frame("hi") + frame(std::string(200, 'z'))) + drain +
                 std::string(1, '\x03') + u16(4096) + drain);
  std::string large = u16(0xffff) + write(0xffff, frame(std::string(9000, 'b')).substr(0, 5000));
  large += feed(frame(std::string(9000, 'b')).substr(5000)) + drain + feed(frame("s")) + drain;
  corpus.add("frame", "large-then-small", large);
}

}  // namespace
}  // namespace paxlock::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR   (tests/fuzz/corpus)\n";
    return 2;
  }
  try {
    paxlock::fuzz::Corpus corpus(argv[1]);
    paxlock::fuzz::peer_seeds(corpus);
    paxlock::fuzz::client_seeds(corpus);
    paxlock::fuzz::codec_seeds(corpus);
    paxlock::fuzz::wal_seeds(corpus);
    paxlock::fuzz::snapshot_seeds(corpus);
    paxlock::fuzz::config_seeds(corpus);
    paxlock::fuzz::frame_seeds(corpus);
    std::cout << "paxlock-fuzz-seeds: wrote " << corpus.written() << " seeds under " << argv[1]
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "paxlock-fuzz-seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
