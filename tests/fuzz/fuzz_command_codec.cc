// Fuzz target: the codecs of what goes into the log. The input is decoded as
// a lock command (lock::decode_command: the schema's LockCommand, or a
// paxlock 0.1 command), as a lock result (lock::decode_result, both forms)
// and as a core value (paxos::decode_value: a batch's canonical bytes).
//
// Properties: whatever decodes encodes to bytes that decode to the same
// thing, and encoding that again gives the same bytes (the encoding is
// canonical: replicas compare state hashes built from it). A re-encoded
// command or result is never mistaken for a paxlock 0.1 one.
#include <google/protobuf/stubs/logging.h>

#include "fuzz/fuzz_input.h"
#include "lock/command.h"
#include "lock/legacy_codec.h"
#include "paxos/value_codec.h"

namespace paxlock::fuzz {
namespace {

bool same(const lock::Command& a, const lock::Command& b) {
  return a.op == b.op && a.name == b.name && a.owner == b.owner && a.session == b.session &&
         a.token == b.token && a.wait_ms == b.wait_ms && a.will_retry == b.will_retry &&
         a.ttl_ms == b.ttl_ms && a.limit == b.limit && a.first_outstanding == b.first_outstanding &&
         a.identity == b.identity && a.grant == b.grant;
}

void command_round_trip(std::string_view bytes) {
  auto c = lock::decode_command(bytes);
  if (!c.ok()) return;
  const std::string once = lock::encode(*c);
  FUZZ_CHECK(!lock::legacy::is_legacy(once));
  auto again = lock::decode_command(once);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(same(*c, *again));
  FUZZ_CHECK(lock::encode(*again) == once);
}

void result_round_trip(std::string_view bytes) {
  auto r = lock::decode_result(bytes);
  pb::LockResult wire;
  const Status into_wire = lock::decode_result(bytes, &wire);
  FUZZ_CHECK(r.ok() == into_wire.ok());  // the answer path agrees with the cache's
  if (!r.ok()) return;
  const std::string once = lock::encode(*r);
  FUZZ_CHECK(!lock::legacy::is_legacy(once));
  FUZZ_CHECK(lock::encode(lock::from_proto(wire)) == once);
  auto again = lock::decode_result(once);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(lock::encode(*again) == once);
}

void value_round_trip(std::string_view bytes) {
  Reader r(bytes);
  paxos::Value v;
  if (!paxos::decode_value(r, v)) return;
  FUZZ_CHECK(v != nullptr);
  std::string once;
  paxos::encode_value(*v, once);
  Reader r2(once);
  paxos::Value again;
  FUZZ_CHECK(paxos::decode_value(r2, again) && r2.done());
  FUZZ_CHECK(*again == *v);
  std::string twice;
  paxos::encode_value(*again, twice);
  FUZZ_CHECK(twice == once);
}

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field logs an error
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  paxlock::fuzz::command_round_trip(bytes);
  paxlock::fuzz::result_round_trip(bytes);
  paxlock::fuzz::value_round_trip(bytes);
  return 0;
}
