// The lock service's schema (proto/lock.proto) as the log and the reply
// cache hold it, and the paxlock 0.1 encoding that old logs and snapshots
// still hold (src/lock/legacy_codec.cc). The legacy bytes below were written
// by paxlock 0.1's encoder (commit f035ae6) and are frozen here.
#include <gtest/gtest.h>

#include "lock/command.h"
#include "lock/legacy_codec.h"
#include "lock/lock_machine.h"

namespace paxlock::lock {
namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(CommandCodec, LegacyCommandsDecodeAsTheyWereWritten) {
  auto lock =
      decode_command(unhex("010c6a6f62732f6e696768746c7908776f726b65722d370c00b81701000029"));
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  EXPECT_EQ(lock->op, Op::kLock);
  EXPECT_EQ(lock->name, "jobs/nightly");
  EXPECT_EQ(lock->owner, "worker-7");
  EXPECT_EQ(lock->session, 12u);
  EXPECT_EQ(lock->wait_ms, 1500);
  EXPECT_TRUE(lock->will_retry);
  EXPECT_EQ(lock->first_outstanding, 41u);

  auto close = decode_command(unhex("080000ac02000000000007"));
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(close->op, Op::kCloseSession);
  EXPECT_EQ(close->session, 300u);
  EXPECT_EQ(close->first_outstanding, 7u);

  auto list = decode_command(unhex("050161000000000009e80700"));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->op, Op::kList);
  EXPECT_EQ(list->name, "a");
  EXPECT_EQ(list->limit, 1000u);
  EXPECT_EQ(list->ttl_ms, -5);
}

TEST(CommandCodec, LegacyResultsDecodeAsTheyWereWritten) {
  auto full = decode_result(
      unhex("01f507076d616c6c6f727904a09c01630101017805616c696365070380890f0103626f62059e9c0101790"
            "10161026c310162"));
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->code, Code::kHeld);
  EXPECT_EQ(full->token, 1013u);
  EXPECT_EQ(full->holder, "mallory");
  EXPECT_EQ(full->session, 4u);
  EXPECT_EQ(full->ttl_ms, 10000);
  EXPECT_EQ(full->applied_at, 99u);
  EXPECT_TRUE(full->current);
  ASSERT_EQ(full->locks.size(), 1u);
  EXPECT_EQ(full->locks[0].name(), "x");
  EXPECT_EQ(full->locks[0].holder(), "alice");
  EXPECT_EQ(full->locks[0].token(), 7u);
  EXPECT_EQ(full->locks[0].session(), 3u);
  EXPECT_EQ(full->locks[0].since_ms(), 123456);
  ASSERT_EQ(full->locks[0].waiters_size(), 1);
  EXPECT_EQ(full->locks[0].waiters(0).owner(), "bob");
  EXPECT_EQ(full->locks[0].waiters(0).session(), 5u);
  EXPECT_EQ(full->locks[0].waiters(0).deadline_ms(), 9999);
  EXPECT_EQ(full->next, "y");
  ASSERT_EQ(full->cycle.size(), 1u);
  EXPECT_EQ(full->cycle[0].owner(), "a");
  EXPECT_EQ(full->cycle[0].lock(), "l1");
  EXPECT_EQ(full->cycle[0].holder(), "b");

  auto ok = decode_result(unhex("00050000001100000000"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->code, Code::kOk);
  EXPECT_EQ(ok->token, 5u);
  EXPECT_EQ(ok->applied_at, 17u);
}

TEST(CommandCodec, NewEncodingNeverLooksLegacyAndRoundTrips) {
  for (int op = 1; op <= 8; ++op) {
    Command c;
    c.op = static_cast<Op>(op);
    const std::string bytes = encode(c);
    ASSERT_FALSE(bytes.empty());
    EXPECT_FALSE(legacy::is_legacy(bytes)) << "op " << op;
    auto back = decode_command(bytes);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->op, c.op);
  }
  Command c{Op::kLock, "n", "o", 3, 4, 500, true, 0, 0, 9};
  auto back = decode_command(encode(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "n");
  EXPECT_EQ(back->owner, "o");
  EXPECT_EQ(back->session, 3u);
  EXPECT_EQ(back->token, 4u);
  EXPECT_EQ(back->wait_ms, 500);
  EXPECT_TRUE(back->will_retry);
  EXPECT_EQ(back->first_outstanding, 9u);

  for (int code = 0; code <= 10; ++code) {
    Result r;
    r.code = static_cast<Code>(code);
    r.applied_at = 1;
    const std::string bytes = encode(r);
    EXPECT_FALSE(legacy::is_legacy(bytes)) << "code " << code;
    auto rb = decode_result(bytes);
    ASSERT_TRUE(rb.ok());
    EXPECT_EQ(rb->code, r.code);
  }
  // An all-default answer encodes to nothing, which is not legacy either.
  auto empty = decode_result("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->code, Code::kOk);
}

TEST(CommandCodec, BadCommandsAreRefusedWithAReason) {
  pb::LockCommand m;
  m.set_op(static_cast<pb::Op>(42));
  auto r = from_proto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown op"), std::string::npos);
  m.set_op(pb::LOCK);
  m.set_name(std::string(kNameBytesMax + 1, 'x'));
  r = from_proto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("name longer"), std::string::npos);
  EXPECT_FALSE(decode_command("\x01").ok());          // truncated legacy
  EXPECT_FALSE(decode_command("\x12\xff\xff").ok());  // truncated protobuf
  EXPECT_FALSE(decode_result("\x10\x63").ok());       // code 99
}

TEST(CheckNames, ControlCharactersAndInvalidUtf8AreRefusedWithWhereTheyAre) {
  Command c;
  c.op = Op::kLock;
  c.owner = "alice";
  struct Case {
    std::string name;
    std::string why;
  };
  for (const Case& k : std::vector<Case>{
           {std::string("a\0b", 3),
            "the lock name cannot contain control characters (byte 0x00 at offset 1)"},
           {"a\nb", "(byte 0x0a at offset 1)"},
           {"\x1b[31mred", "(byte 0x1b at offset 0)"},
           {"del\x7f", "(byte 0x7f at offset 3)"},
           {"csi\xc2\x9b", "(byte 0xc2 at offset 3)"},  // U+009B, a C1 control
           {"bad\xff", "the lock name must be valid UTF-8 (bad byte 0xff at offset 3)"},
           {"\xc0\xaf", "must be valid UTF-8"},      // an overlong '/'
           {"\xed\xa0\x80", "must be valid UTF-8"},  // a surrogate
           {"cut\xe2\x82", "must be valid UTF-8"},   // truncated
       }) {
    c.name = k.name;
    const Status s = check_names(c);
    ASSERT_FALSE(s.ok()) << k.why;
    EXPECT_NE(s.message().find(k.why), std::string::npos) << s.message();
  }
  c.name =
      "jobs/n\xc3\xa4"
      "chtlich \xe2\x82\xac \xf0\x9f\x94\x92";  // UTF-8, no controls
  EXPECT_TRUE(check_names(c).ok());
  c.owner = "bob\tx";
  EXPECT_NE(check_names(c).message().find("the owner cannot contain control characters"),
            std::string::npos);
}

TEST(CheckNames, OnlyWhatPutsANameOrOwnerIntoTheStateIsChecked) {
  Command c;
  c.name = "old\nname";
  c.owner = "old\x1bowner";
  for (Op op : {Op::kLock, Op::kOpenSession}) {
    c.op = op;
    EXPECT_FALSE(check_names(c).ok()) << to_string(op);
  }
  // A lock taken under the earlier rules can still be released and read.
  for (Op op :
       {Op::kUnlock, Op::kCheck, Op::kStatus, Op::kList, Op::kKeepAlive, Op::kCloseSession}) {
    c.op = op;
    EXPECT_TRUE(check_names(c).ok()) << to_string(op);
  }
}

TEST(CommandCodec, AnyBytesInNamesDecodeSilentlyAndAsWritten) {
  // Names are protobuf bytes: neither invalid UTF-8 nor controls fail the
  // parse (a proto3 string did, with a libprotobuf ERROR line each time), and
  // commands logged with them decode as they were written.
  Command c;
  c.op = Op::kLock;
  c.name = std::string("\xff\x00\x1b[2J", 6);
  c.owner = "\xc2\x9b";
  const std::string bytes = encode(c);
  auto back = decode_command(bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->name, c.name);
  EXPECT_EQ(back->owner, c.owner);
  pb::LockCommand m;
  m.set_op(pb::LOCK);
  m.set_name("a\nb");
  m.set_owner("o");
  EXPECT_EQ(encode(*from_proto(m)), m.SerializeAsString());  // the wire form did not change
}

// Found by the command codec fuzzer (tests/fuzz/corpus/command_codec/
// regress-negative-code): a result with code -1 decoded (the schema's enum is
// open, the parser keeps any number) and re-encoded as code 255.
TEST(CommandCodec, ResultWithANegativeCodeIsRefused) {
  const std::string minus_one("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  EXPECT_FALSE(decode_result(minus_one).ok());
  pb::LockResult wire;
  EXPECT_FALSE(decode_result(minus_one, &wire).ok());
}

// Found by the command codec fuzzer (tests/fuzz/corpus/command_codec/
// regress-legacy-result-not-utf8): a legacy result whose holder is not UTF-8
// decoded, but its re-encoding (a proto3 `string`) did not; a legacy command
// with such a name (a peer can forward one) put a lock into the state that
// made every later snapshot unreadable. paxlock 0.1 never wrote one (its
// names came from proto3 strings), so the legacy reader refuses them.
TEST(CommandCodec, LegacyStringsThatAreNotUtf8AreRefused) {
  // The legacy lock command of LegacyCommandsDecodeAsTheyWereWritten, with
  // byte 0xff in its name, then in its owner.
  std::string lock = unhex("010c6a6f62732f6e696768746c7908776f726b65722d370c00b81701000029");
  ASSERT_TRUE(decode_command(lock).ok());
  std::string bad_name = lock;
  bad_name[2] = '\xff';
  EXPECT_FALSE(decode_command(bad_name).ok());
  std::string bad_owner = lock;
  bad_owner[16] = '\xff';
  EXPECT_FALSE(decode_command(bad_owner).ok());

  // A legacy HELD answer whose holder "mallory" has an invalid byte.
  std::string held = unhex("01f507076d616c6c6f727904a09c016300000000");
  ASSERT_TRUE(decode_result(held).ok());
  held[6] = '\x94';
  EXPECT_FALSE(decode_result(held).ok());
  pb::LockResult wire;
  EXPECT_FALSE(decode_result(held, &wire).ok());
}

// What the lock machine makes of such a command: INVALID, and its state
// still serialises into a snapshot that restores.
TEST(CommandCodec, LegacyCommandWithANameThatIsNotUtf8IsInvalidAndTheStateStillRestores) {
  std::string lock = unhex("010c6a6f62732f6e696768746c7908776f726b65722d370c00b81701000029");
  lock[2] = '\xff';
  LockMachine m;
  paxos::Batch batch;
  batch.timestamp_ms = 1000;
  batch.commands.push_back(paxos::Command{paxos::CommandId{1, 1}, lock});
  std::vector<paxos::Reply> replies;
  m.apply(1, batch, replies);
  ASSERT_EQ(replies.size(), 1u);
  auto answer = decode_result(replies[0].payload);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->code, Code::kInvalid);
  EXPECT_EQ(m.locks_held(), 0u);
  LockMachine restored;
  EXPECT_TRUE(restored.restore(m.snapshot()));
}

}  // namespace
}  // namespace paxlock::lock
