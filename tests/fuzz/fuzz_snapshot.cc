// Fuzz target: snapshots, as a data directory or a peer hands them over.
//
// Input: u8 mode, then
//   mode bit 0 clear: a whole snapshot file (snapshot_store.h layout), read
//                     with SnapshotStore::decode and with SnapshotStore::load
//                     from a simulated data directory;
//   mode bit 0 set:   u64 next, then the lock machine's data, which the
//                     target wraps in a valid header (so that the fuzzer
//                     gets past the CRCs to the lock machine's restore).
// Whatever decodes goes to the lock machine: validate, restore, and then a
// few commands applied at instance `next` on (as after installing a snapshot
// fetched from a peer, replica_snapshot.cc), chosen from what the snapshot
// holds: release and take its first lock, renew and close its first session,
// a retry of its first client's first cached answer, a list; with grants, a
// lock, a list and an ACL list by the first grant's identity, and its revoke
// (no identity: the machine's own rules, nothing else); then a batch a
// day later, so every lease, wait and record expires.
//
// Properties: no crash; load and decode agree; validate and restore agree;
// a restored state serialises canonically (restore(snapshot()) gives the same
// bytes back), before and after the commands.
#include <google/protobuf/stubs/logging.h>

#include <optional>

#include "fuzz/command_builder.h"
#include "fuzz/fuzz_input.h"
#include "lock.pb.h"
#include "lock/command.h"
#include "lock/lock_machine.h"
#include "sim/sim_fs.h"
#include "storage/snapshot_store.h"

namespace paxlock::fuzz {
namespace {

const std::string kSnapDir = "/data/snap";

// The newest snapshot in a data directory holding just this file.
std::optional<storage::Snapshot> load_from_disk(std::string_view file) {
  sim::SimFs fs(1);
  FUZZ_CHECK(fs.mkdirs(kSnapDir).ok());
  auto f =
      fs.open(kSnapDir + "/" + storage::SnapshotStore::file_name(1), storage::OpenMode::kCreate);
  FUZZ_CHECK(f.ok());
  FUZZ_CHECK((*f)->pwrite(0, file).ok());
  storage::SnapshotStore store(fs, kSnapDir);
  auto loaded = store.load();
  if (!loaded.ok()) return std::nullopt;
  FUZZ_CHECK(loaded->has_value());
  return **loaded;
}

void expect_canonical(const lock::LockMachine& m) {
  const std::string bytes = m.snapshot();
  lock::LockMachine again;
  FUZZ_CHECK(again.validate(bytes, UINT64_MAX));
  FUZZ_CHECK(again.restore(bytes));
  FUZZ_CHECK(again.snapshot() == bytes);
}

paxos::Command command(uint64_t client, uint64_t seq, const lock::Command& c) {
  return paxos::Command{paxos::CommandId{client, seq}, lock::encode(c)};
}

// Commands that touch what the snapshot holds.
paxos::Batch commands_for(const pb::LockSnapshot& s) {
  paxos::Batch b;
  b.timestamp_ms = s.now_ms() < INT64_MAX ? s.now_ms() + 1 : INT64_MAX;
  uint64_t seq = 0;
  auto add = [&](lock::Command c) { b.commands.push_back(command(0xf022, ++seq, std::move(c))); };
  if (s.locks_size() > 0) {
    const pb::LockInfo& l = s.locks(0);
    add(Cmd(lock::Op::kStatus).name(l.name()));
    add(Cmd(lock::Op::kUnlock).name(l.name()).owner(l.holder()).token(l.token()));
    add(Cmd(lock::Op::kLock).name(l.name()).owner("fuzz").wait_ms(1000));
    add(Cmd(lock::Op::kCheck).name(l.name()).token(l.token()));
  }
  if (s.sessions_size() > 0) {
    const pb::SnapSession& ses = s.sessions(0);
    add(Cmd(lock::Op::kKeepAlive).owner(ses.owner()).session(ses.id()));
    add(Cmd(lock::Op::kCloseSession).owner(ses.owner()).session(ses.id()));
  }
  if (s.clients_size() > 0 && s.clients(0).replies_size() > 0) {
    const pb::SnapClient& c = s.clients(0);
    b.commands.push_back(command(c.id(), c.replies(0).seq(), Cmd(lock::Op::kList)));
  }
  add(Cmd(lock::Op::kList).limit(1000));
  if (s.grants_size() > 0) {
    const pb::AclGrant& g = s.grants(0);
    add(Cmd(lock::Op::kLock).identity(g.identity()).name(g.prefix() + "fuzz").owner(g.identity()));
    add(Cmd(lock::Op::kList).identity(g.identity()).limit(1000));
    add(Cmd(lock::Op::kAclList).identity(g.identity()).limit(1000));
    add(Cmd(lock::Op::kAclRevoke).grant(g.identity(), g.prefix(), lock::Role::kNone));
  }
  return b;
}

void exercise(const storage::Snapshot& snap) {
  const std::string& data = *snap.data;
  lock::LockMachine m;
  // A well-formed state at or past `next` parses but does not validate: it
  // would fail apply's order check on instance `next` (found by this target).
  const bool valid = m.validate(data, snap.next);
  const bool parses = m.restore(data);
  FUZZ_CHECK(parses || !valid);
  if (!valid) return;
  expect_canonical(m);
  pb::LockSnapshot s;
  FUZZ_CHECK(s.ParseFromString(data));
  FUZZ_CHECK(s.applied_instance() < snap.next);
  const paxos::Instance next = snap.next;
  std::vector<paxos::Reply> replies;
  m.apply(next, commands_for(s), replies);
  expect_canonical(m);
  if (next == UINT64_MAX) return;
  paxos::Batch later;
  constexpr paxos::TimeMs kDayMs = 24LL * 3600 * 1000;
  later.timestamp_ms = m.now() > INT64_MAX - kDayMs ? INT64_MAX : m.now() + kDayMs;
  m.apply(next + 1, later, replies);
  expect_canonical(m);
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
  Input in(data, size);
  const uint8_t mode = in.u8();
  std::optional<storage::Snapshot> snap;
  if (mode & 1) {
    const paxos::Instance next = in.u64();
    const std::string body(in.rest());
    const std::string file = storage::SnapshotStore::encode_header(next, body) + body;
    snap = storage::SnapshotStore::decode(file);
    // Instances start at 1 and end at paxos::kInstanceMax.
    FUZZ_CHECK(snap.has_value() == (next != 0 && next <= paxos::kInstanceMax));
    if (snap) FUZZ_CHECK(snap->next == next && *snap->data == body);
  } else {
    const std::string_view file = in.rest();
    snap = storage::SnapshotStore::decode(file);
    const std::optional<storage::Snapshot> loaded = load_from_disk(file);
    FUZZ_CHECK(snap.has_value() == loaded.has_value());
    if (snap) FUZZ_CHECK(snap->next == loaded->next && *snap->data == *loaded->data);
  }
  if (snap) exercise(*snap);
  return 0;
}
