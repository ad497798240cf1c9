// Fuzz target: WAL recovery (src/storage/wal.cc) on segment files the fuzzer
// writes, over the simulated disk (tests/sim/sim_fs.h, no real files).
//
// Input:
//   u8 flags   bit 0: fix the checksums (segment header, batch headers,
//                     records, digests) so that the fuzzer reaches the record
//                     parser instead of stopping at a CRC; with it the
//                     segment's index and node are set as well
//              bit 1: two segments: u16 split point, then both
//              bit 2: with bit 0, number the batches 1, 2, ... too
//   the rest   the segment file(s), as wal.h lays them out
//
// Properties: opening never crashes and allocates no more than the input
// warrants; when it succeeds, the recovered entries are sorted and unique, a
// second open finds the same state (recovery's repairs are final), and a
// batch appended after recovery is found by the next open with everything
// recovered before (or refused with a reason, leaving the log as it was).
#include <algorithm>
#include <cstdio>

#include "fuzz/fuzz_input.h"
#include "sim/sim_fs.h"
#include "storage/crc32c.h"
#include "storage/wal.h"

namespace paxlock::fuzz {
namespace {

const std::string kDir = "/data/wal";
constexpr paxos::NodeId kNode = 1;
const storage::WalOptions kOptions{1 << 16, false};

// wal.h's layout, repeated here for the checksum fixer.
constexpr size_t kSegmentHeader = 32;
constexpr size_t kBatchHeader = 24;
constexpr size_t kRecordHeader = 9;
constexpr size_t kAlign = 512;

void put_u32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s[at + i] = static_cast<char>(v >> (8 * i));
}
void put_u64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    s[at + i] = static_cast<char>(v >> (8 * i));
}
uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

// Makes every structure that the bytes start to describe pass its checksum:
// the fuzzer then explores what lies behind the checks.
void fix_segment(std::string& d, uint64_t index, bool renumber, uint64_t& seq) {
  if (d.size() < kSegmentHeader) return;
  d.replace(0, 8, "PXLWAL01");
  put_u64(d, 8, index);
  put_u32(d, 16, kNode);
  put_u32(d, 28, storage::crc32c(0, d.data(), 28));
  size_t pos = kSegmentHeader;
  while (pos + kBatchHeader <= d.size()) {
    if (d.find_first_not_of('\0', pos) >= pos + kBatchHeader) {  // a zero header: the tail
      pos = (pos / kAlign + 1) * kAlign;
      continue;
    }
    put_u32(d, pos, 0x31425850);  // "PXB1"
    const size_t room = d.size() - pos - kBatchHeader;
    size_t length = std::min<size_t>(get_u32(d, pos + 4), room);
    const size_t payload = pos + kBatchHeader;
    uint32_t digest = 0;
    size_t p = 0;
    while (p + kRecordHeader <= length) {
      const size_t len = std::min<size_t>(get_u32(d, payload + p), length - p - kRecordHeader);
      put_u32(d, payload + p, static_cast<uint32_t>(len));
      uint32_t crc = storage::crc32c(0, d.data() + payload + p + 4, 1);
      crc = storage::crc32c(crc, d.data() + payload + p + kRecordHeader, len);
      put_u32(d, payload + p + 5, crc);
      digest = storage::crc32c(digest, d.data() + payload + p + 5, 4);
      p += kRecordHeader + len;
    }
    length = p;  // a partial record header at the end is cut off
    put_u32(d, pos + 4, static_cast<uint32_t>(length));
    if (renumber) put_u64(d, pos + 8, seq++);
    put_u32(d, pos + 16, digest);
    put_u32(d, pos + 20, storage::crc32c(0, d.data() + pos, kBatchHeader - 4));
    pos = (pos + kBatchHeader + length + kAlign - 1) / kAlign * kAlign;
  }
}

std::string segment_path(uint64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "wal-%016llx.log", static_cast<unsigned long long>(index));
  return kDir + "/" + name;
}

void write(sim::SimFs& fs, const std::string& path, const std::string& data) {
  auto f = fs.open(path, storage::OpenMode::kCreate);
  FUZZ_CHECK(f.ok());
  FUZZ_CHECK((*f)->pwrite(0, data).ok());
  FUZZ_CHECK((*f)->datasync().ok());
}

bool same_state(const paxos::Restored& a, const paxos::Restored& b) {
  if (a.promised != b.promised || a.commit != b.commit || a.entries.size() != b.entries.size()) {
    return false;
  }
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const paxos::Entry& x = a.entries[i];
    const paxos::Entry& y = b.entries[i];
    if (x.instance != y.instance || x.ballot != y.ballot || x.chosen != y.chosen ||
        !paxos::same_value(x.value, y.value)) {
      return false;
    }
  }
  return true;
}

paxos::Restored reopen(sim::SimFs& fs) {
  storage::WalRecovery rec;
  auto wal = storage::Wal::open(fs, kDir, kNode, kOptions, &rec);
  FUZZ_CHECK(wal.ok());
  return rec.state;
}

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paxlock;
  using namespace paxlock::fuzz;
  Input in(data, size);
  const uint8_t flags = in.u8();
  std::vector<std::string> segments;
  if (flags & 2) {
    const uint16_t split = in.u16();
    const std::string_view rest = in.rest();
    const size_t at = std::min<size_t>(split, rest.size());
    segments = {std::string(rest.substr(0, at)), std::string(rest.substr(at))};
  } else {
    segments = {std::string(in.rest())};
  }
  uint64_t seq = 1;
  sim::SimFs fs(1);
  FUZZ_CHECK(fs.mkdirs(kDir).ok());
  for (size_t i = 0; i < segments.size(); ++i) {
    if (flags & 1) fix_segment(segments[i], i + 1, (flags & 4) != 0, seq);
    write(fs, segment_path(i + 1), segments[i]);
  }

  storage::WalRecovery rec;
  auto wal = storage::Wal::open(fs, kDir, kNode, kOptions, &rec);
  if (!wal.ok()) return 0;  // refused, with a reason: fine
  const paxos::Restored& state = rec.state;
  for (size_t i = 1; i < state.entries.size(); ++i)
    FUZZ_CHECK(state.entries[i - 1].instance < state.entries[i].instance);
  wal->reset();
  FUZZ_CHECK(same_state(reopen(fs), state));

  // Recovery leaves a log that takes new batches, and the next open sees them.
  auto again = storage::Wal::open(fs, kDir, kNode, kOptions, nullptr);
  FUZZ_CHECK(again.ok());
  storage::WriteBatch batch;
  auto value = std::make_shared<paxos::Batch>();
  value->timestamp_ms = 42;
  value->commands.push_back(paxos::Command{paxos::CommandId{9, 9}, "after recovery"});
  const paxos::Entry added{1, paxos::Ballot{1, kNode}, value, false};
  batch.entries.push_back(added);
  if (!(*again)->append(batch).ok()) {
    // Refused with a reason (a log whose sequence numbers ran out): the
    // log stays as it was.
    again->reset();
    FUZZ_CHECK(same_state(reopen(fs), state));
    return 0;
  }
  FUZZ_CHECK((*again)->sync().ok());
  again->reset();
  paxos::Restored want = state;
  auto at = std::find_if(want.entries.begin(), want.entries.end(),
                         [](const paxos::Entry& e) { return e.instance >= 1; });
  if (at != want.entries.end() && at->instance == 1) {
    *at = added;
  } else {
    want.entries.insert(at, added);
  }
  FUZZ_CHECK(same_state(reopen(fs), want));
  return 0;
}
