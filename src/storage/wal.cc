#include "storage/wal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "common/check.h"
#include "common/encoding.h"
#include "storage/crc32c.h"
#include "storage/records.h"

namespace paxlock::storage {
namespace {

constexpr char kSegmentMagic[9] = "PXLWAL01";
constexpr uint32_t kBatchMagic = 0x31425850;  // "PXB1"
constexpr size_t kSegmentHeader = 32;
constexpr size_t kBatchHeader = 24;
constexpr int kRereads = 3;
// Batches start on sector boundaries, so that writing a batch never rewrites
// a sector holding an earlier, synced one: a torn write can only damage the
// batch being written.
constexpr uint64_t kAlign = 512;

uint64_t align_up(uint64_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

std::string segment_name(uint64_t index) {
  return fmt::format("wal-{:016x}.log", index);
}

bool parse_segment_name(const std::string& name, uint64_t& index) {
  if (name.size() != 24 || name.compare(0, 4, "wal-") != 0 || name.compare(20, 4, ".log") != 0) {
    return false;
  }
  index = 0;
  for (size_t i = 4; i < 20; ++i) {
    const char c = name[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return false;
    }
    index = index * 16 + static_cast<uint64_t>(v);
  }
  return true;
}

void put_u32_at(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = static_cast<char>(v >> (8 * i));
}

// Walks the records of a batch payload. With `verify`, checks every record's
// checksum. Returns false if a record is malformed, overruns the payload or
// fails its checksum; otherwise sets `digest` to the CRC32C of the records'
// checksum fields, in order: the batch checksum. (Checksumming the checksums
// protects the batch as a whole without reading every byte twice.)
bool records_digest(std::string_view payload, bool verify, uint32_t& digest) {
  digest = 0;
  size_t pos = 0;
  while (pos < payload.size()) {
    if (payload.size() - pos < kRecordHeader) return false;
    Reader r(payload.substr(pos, kRecordHeader));
    uint32_t len = 0, crc = 0;
    uint8_t type = 0;
    PAXLOCK_CHECK(r.u32(len) && r.u8(type) && r.u32(crc));  // kRecordHeader bytes are there
    if (len > payload.size() - pos - kRecordHeader) return false;
    if (verify) {
      uint32_t want = crc32c(0, &type, 1);
      want = crc32c(want, payload.data() + pos + kRecordHeader, len);
      if (want != crc) return false;
    }
    digest = crc32c(digest, payload.data() + pos + 5, 4);
    pos += kRecordHeader + len;
  }
  return true;
}

// Fills the batch header reserved at the front of `frame`.
void finish_batch(std::string& frame, uint64_t seq) {
  PAXLOCK_CHECK(frame.size() >= kBatchHeader);
  PAXLOCK_CHECK_MSG(frame.size() - kBatchHeader <= UINT32_MAX, "batch too large for its header");
  PAXLOCK_CHECK(seq >= 1);
  const auto length = static_cast<uint32_t>(frame.size() - kBatchHeader);
  uint32_t digest = 0;
  // Records we encoded ourselves always parse; if not, the batch would be
  // unreadable after a restart: stop before writing it.
  PAXLOCK_CHECK_MSG(
      records_digest(std::string_view(frame).substr(kBatchHeader), /*verify=*/false, digest),
      "an encoded batch does not parse as records");
  put_u32_at(frame, 0, kBatchMagic);
  put_u32_at(frame, 4, length);
  for (int i = 0; i < 8; ++i)
    frame[8 + i] = static_cast<char>(seq >> (8 * i));
  put_u32_at(frame, 16, digest);
  put_u32_at(frame, 20, crc32c(0, frame.data(), kBatchHeader - 4));
}

}  // namespace

namespace wal_detail {
struct BatchView {
  uint32_t length = 0;
  uint64_t seq = 0;
  std::string_view payload;
};
enum class BatchAt : uint8_t { kZeros, kBatch, kBad };
}  // namespace wal_detail

namespace {

using wal_detail::BatchAt;
using wal_detail::BatchView;

// Parses the batch at `pos`; false if its header or payload checksum fails.
bool parse_batch(std::string_view data, size_t pos, BatchView& out) {
  if (pos + kBatchHeader > data.size()) return false;
  Reader r(data.substr(pos, kBatchHeader));
  uint32_t magic = 0, payload_crc = 0, header_crc = 0;
  PAXLOCK_CHECK(r.u32(magic) && r.u32(out.length) && r.u64(out.seq) && r.u32(payload_crc) &&
                r.u32(header_crc));  // kBatchHeader bytes are there
  if (magic != kBatchMagic) return false;
  if (crc32c(0, data.data() + pos, kBatchHeader - 4) != header_crc) return false;
  if (pos + kBatchHeader + out.length > data.size()) return false;
  out.payload = data.substr(pos + kBatchHeader, out.length);
  uint32_t digest = 0;
  return records_digest(out.payload, /*verify=*/true, digest) && digest == payload_crc;
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// True if a whole, valid batch starts at any sector boundary after `from`.
bool valid_batch_after(std::string_view data, size_t from) {
  for (size_t p = align_up(from); p + kBatchHeader <= data.size(); p += kAlign) {
    BatchView b;
    if (parse_batch(data, p, b)) return true;
  }
  return false;
}

bool segment_header_ok(std::string_view d) {
  if (d.size() < kSegmentHeader || std::memcmp(d.data(), kSegmentMagic, 8) != 0) return false;
  Reader r(d.substr(28, 4));
  uint32_t crc = 0;
  PAXLOCK_CHECK(r.u32(crc));  // the size was checked above
  return crc32c(0, d.data(), 28) == crc;
}

// What starts at `pos`: the zeroed tail, a valid batch (parsed into `b`), or
// bad bytes. A bad batch is read again before it counts, to rule out a
// transient read error; a reread replaces `data`.
BatchAt classify_batch(Fs& fs, const std::string& path, std::string& data, size_t pos,
                       BatchView& b) {
  auto classify = [&] {
    if (all_zero(std::string_view(data).substr(pos, kBatchHeader))) return BatchAt::kZeros;
    return parse_batch(data, pos, b) ? BatchAt::kBatch : BatchAt::kBad;
  };
  BatchAt at = classify();
  for (int k = 0; at == BatchAt::kBad && k < kRereads; ++k) {
    auto again = read_file(fs, path);
    if (again.ok()) data = std::move(*again);
    at = classify();
  }
  return at;
}

// Folds one checksummed record into the replay state: the highest promise and
// commit win, the last Accept/Chosen of an instance replaces earlier ones.
// Returns nullptr, or why the record is bad ("malformed", "unknown type of").
const char* apply_record(uint8_t type, std::string_view body, paxos::Restored& st,
                         std::map<paxos::Instance, paxos::Entry>& entries,
                         paxos::Instance& max_instance) {
  Reader br(body);
  switch (type) {
    case kPromiseRecord:
    case kCheckpointRecord: {
      paxos::Ballot ballot;
      if (!get_ballot(br, ballot)) return "malformed";
      st.promised = std::max(st.promised, ballot);
      if (type == kCheckpointRecord) {
        uint64_t commit;
        if (!br.varint(commit)) return "malformed";
        st.commit = std::max(st.commit, commit);
      }
      return nullptr;
    }
    case kAcceptRecord:
    case kChosenRecord: {
      paxos::Entry e;
      if (!br.varint(e.instance) || !get_ballot(br, e.ballot) || !decode_value(br, e.value)) {
        return "malformed";
      }
      e.chosen = type == kChosenRecord;
      max_instance = std::max(max_instance, e.instance);
      entries[e.instance] = std::move(e);
      return nullptr;
    }
    case kCommitRecord: {
      uint64_t commit;
      if (!br.varint(commit)) return "malformed";
      st.commit = std::max(st.commit, commit);
      return nullptr;
    }
    default:
      return "unknown type of";
  }
}

}  // namespace

Wal::Wal(Fs& fs, std::string dir, paxos::NodeId node, const WalOptions& options)
    : fs_(fs), dir_(std::move(dir)), node_(node), options_(options) {}

Result<std::unique_ptr<Wal>> Wal::open(Fs& fs, const std::string& dir, paxos::NodeId node,
                                       const WalOptions& options, WalRecovery* recovery) {
  std::unique_ptr<Wal> wal(new Wal(fs, dir, node, options));
  WalRecovery scratch;
  Status s = wal->recover(recovery ? recovery : &scratch);
  if (!s.ok()) return s;
  return wal;
}

Status Wal::recover(WalRecovery* recovery) {
  Status s = create_dirs(fs_, dir_);
  if (!s.ok()) return s;
  auto names = fs_.list(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    uint64_t index = 0;
    if (!parse_segment_name(name, index)) continue;
    if (!segments_.empty() && index != segments_.back().index + 1) {
      return Status::error(EIO, fmt::format("wal: segment {} is missing before {} in {}",
                                            segment_name(segments_.back().index + 1), name, dir_));
    }
    segments_.push_back(Segment{index, join_path(dir_, name), 0, 0});
  }
  std::map<paxos::Instance, paxos::Entry> entries;
  recovery->state = paxos::Restored{};
  for (size_t i = 0; i < segments_.size(); ++i) {
    const bool last = i + 1 == segments_.size();
    s = replay_segment(segments_[i], last, entries, recovery);
    if (!s.ok()) return s;
  }
  recovery->state.entries.reserve(entries.size());
  for (auto& [i, e] : entries)
    recovery->state.entries.push_back(std::move(e));
  if (!segments_.empty() && segments_.back().size == 0) segments_.pop_back();  // removed
  recovery->segments = segments_.size();
  promised_ = recovery->state.promised;
  commit_ = recovery->state.commit;
  durable_commit_ = commit_;
  PAXLOCK_CHECK(next_seq_ >= 1);
  if (segments_.empty()) return open_segment(1);
  auto f = fs_.open(segments_.back().path, OpenMode::kWrite);
  if (!f.ok()) return f.status();
  active_ = std::move(*f);
  return {};
}

// Replay of one segment, in three steps with one job each: read_segment checks
// the header (and removes a half-created last segment), classify_batch says
// what starts at each batch position, apply_batch/apply_record fold a valid
// batch into the recovered state; end_of_batches and zero_dirty_tail decide
// what the first non-batch means (end of the log, a torn tail, or corruption).
Status Wal::replay_segment(Segment& seg, bool last,
                           std::map<paxos::Instance, paxos::Entry>& entries,
                           WalRecovery* recovery) {
  std::string data;
  Result<bool> has_batches = read_segment(seg, last, data, recovery);
  if (!has_batches.ok()) return has_batches.status();
  if (!*has_batches) return {};  // a half-created last segment, now removed
  size_t pos = kSegmentHeader;
  while (pos + kBatchHeader <= data.size()) {
    BatchView b;
    const BatchAt at = classify_batch(fs_, seg.path, data, pos, b);
    if (at != BatchAt::kBatch) {
      Status s = end_of_batches(seg, last, at, pos, data, recovery);
      if (!s.ok()) return s;
      break;
    }
    PAXLOCK_CHECK(pos + kBatchHeader + b.length <= data.size());  // parse_batch saw it whole
    Status s = apply_batch(seg, b, pos, entries, recovery);
    if (!s.ok()) return s;
    pos = align_up(pos + kBatchHeader + b.length);
  }
  if (last) {
    Status s = zero_dirty_tail(seg, pos, data, recovery);
    if (!s.ok()) return s;
  }
  seg.size = data.size();
  if (last) {
    // Batches start on sector boundaries, except a segment's first (the
    // checkpoint, right after the header).
    PAXLOCK_CHECK(pos == kSegmentHeader || pos % kAlign == 0);
    offset_ = pos;
  }
  return {};
}

Result<bool> Wal::read_segment(Segment& seg, bool last, std::string& data, WalRecovery* recovery) {
  auto read = read_file(fs_, seg.path);
  if (!read.ok()) return read.status();
  data = std::move(*read);
  bool header_good = segment_header_ok(data);
  for (int k = 0; !header_good && k < kRereads; ++k) {
    auto again = read_file(fs_, seg.path);
    if (again.ok()) {
      data = std::move(*again);
      header_good = segment_header_ok(data);
    }
  }
  if (!header_good) {
    if (!last) {
      return Status::error(EIO, fmt::format("wal: bad segment header in {}: corrupt", seg.path));
    }
    // Crashed while creating it: it never held a batch.
    recovery->note += fmt::format("removed half-created segment {}; ", seg.path);
    Status s = fs_.remove(seg.path);
    if (s.ok()) s = fs_.sync_dir(dir_);
    if (!s.ok()) return s;
    seg.size = 0;
    return false;
  }
  Reader hr(std::string_view(data).substr(8, 12));
  uint64_t index = 0;
  uint32_t node = 0;
  PAXLOCK_CHECK(hr.u64(index) && hr.u32(node));  // a good header is kSegmentHeader bytes
  if (index != seg.index) {
    return Status::error(EIO, fmt::format("wal: {} says it is segment {}", seg.path, index));
  }
  if (node != node_) {
    return Status::error(
        EINVAL, fmt::format("wal: {} belongs to node {}, not node {}", seg.path, node, node_));
  }
  return true;
}

Status Wal::end_of_batches(const Segment& seg, bool last, BatchAt at, size_t pos, std::string& data,
                           WalRecovery* recovery) {
  if (at == BatchAt::kZeros) {
    // The preallocated tail, unless synced batches follow a zeroed sector.
    if (valid_batch_after(data, pos + 1)) {
      return Status::error(EIO, fmt::format("wal: zeroed data in {} at byte {} before valid "
                                            "batches: the log is corrupt before its tail",
                                            seg.path, pos));
    }
    return {};
  }
  if (last && !valid_batch_after(data, pos + 1)) return zero_torn_tail(seg, pos, data, recovery);
  return Status::error(
      EIO, fmt::format("wal: checksum mismatch in {} at byte {}: the log is corrupt before "
                       "its tail (refusing to start; see docs/OPERATIONS.md on repair)",
                       seg.path, pos));
}

Status Wal::apply_batch(Segment& seg, const BatchView& b, size_t pos,
                        std::map<paxos::Instance, paxos::Entry>& entries, WalRecovery* recovery) {
  if (recovery->batches > 0 && b.seq != next_seq_) {
    return Status::error(EIO, fmt::format("wal: batch at byte {} of {} has sequence {}, "
                                          "expected {}",
                                          pos, seg.path, b.seq, next_seq_));
  }
  if (b.seq == UINT64_MAX) {
    // No batch is ever written with this number (write_batch), and its
    // successor's would wrap to 0 (found by the WAL fuzzer: a check failed
    // instead of the log being refused).
    return Status::error(EIO, fmt::format("wal: batch at byte {} of {} has sequence {}, the "
                                          "largest there is: corrupt",
                                          pos, seg.path, b.seq));
  }
  next_seq_ = b.seq + 1;
  ++recovery->batches;
  Reader r(b.payload);
  while (!r.done()) {
    const size_t rec_pos = pos + kBatchHeader + r.position();
    auto bad = [&](const char* why) {
      return Status::error(EIO,
                           fmt::format("wal: {} record at byte {} of {}", why, rec_pos, seg.path));
    };
    uint32_t len = 0, crc = 0;
    uint8_t type = 0;
    std::string_view body;
    if (!r.u32(len) || !r.u8(type) || !r.u32(crc) || !r.raw(body, len)) return bad("truncated");
    uint32_t want = crc32c(0, &type, 1);
    want = crc32c(want, body.data(), body.size());
    if (want != crc) return bad("checksum mismatch in");
    const char* why = apply_record(type, body, recovery->state, entries, seg.max_instance);
    if (why != nullptr) return bad(why);
    ++recovery->records;
  }
  return {};
}

Status Wal::zero_dirty_tail(const Segment& seg, size_t pos, std::string& data,
                            WalRecovery* recovery) {
  auto tail_dirty = [&] {
    return pos < data.size() && !all_zero(std::string_view(data).substr(pos));
  };
  for (int k = 0; tail_dirty() && k < kRereads; ++k) {
    auto again = read_file(fs_, seg.path);
    if (again.ok()) data = std::move(*again);
  }
  if (!tail_dirty()) return {};
  // A torn header too short to parse.
  return zero_torn_tail(seg, pos, data, recovery);
}

Status Wal::zero_torn_tail(const Segment& seg, size_t pos, std::string& data,
                           WalRecovery* recovery) {
  // A torn last batch was never acknowledged. Zero it, so that the next batch
  // starts clean at `pos` and a later recovery does not trip over its remains.
  PAXLOCK_CHECK(pos >= kSegmentHeader && pos <= data.size());
  PAXLOCK_CHECK(pos == kSegmentHeader || pos % kAlign == 0);
  size_t end = data.size();
  while (end > pos && data[end - 1] == 0)
    --end;
  const std::string zeros(end - pos, '\0');
  auto f = fs_.open(seg.path, OpenMode::kWrite);
  if (!f.ok()) return f.status();
  Status s = (*f)->pwrite(pos, zeros);
  if (s.ok()) s = (*f)->datasync();
  if (!s.ok()) return s;
  std::fill(data.begin() + static_cast<ptrdiff_t>(pos), data.end(), '\0');
  recovery->truncated_bytes += zeros.size();
  recovery->note += fmt::format("truncated a torn last batch in {} at byte {} ({} bytes); ",
                                seg.path, pos, zeros.size());
  return {};
}

Status Wal::open_segment(uint64_t index) {
  // Segments are numbered from 1 with no gaps.
  PAXLOCK_CHECK(index >= 1);
  PAXLOCK_CHECK(segments_.empty() || index == segments_.back().index + 1);
  const std::string path = join_path(dir_, segment_name(index));
  if (!half_created_.empty()) {
    // An earlier attempt made this file and could not remove it: it holds no
    // batch the driver relies on, so it goes before the name is used again.
    PAXLOCK_CHECK(half_created_ == path);
    Status s = fs_.remove(path);
    if (!s.ok() && s.code() != ENOENT) {
      return Status::error(s.code(),
                           fmt::format("wal: cannot remove the half-created segment {} of an "
                                       "earlier failed rotation: {}",
                                       path, s.message()));
    }
    half_created_.clear();
  }
  auto f = fs_.open(path, OpenMode::kCreate);
  if (!f.ok()) return f.status();
  std::string header(kSegmentMagic, 8);
  {
    Writer w(header);
    w.u64(index);
    w.u32(node_);
    w.u64(0);
    w.u32(crc32c(0, header.data(), header.size()));
  }
  std::string frame(kBatchHeader, '\0');
  append_checkpoint(frame, promised_, commit_);
  finish_batch(frame, next_seq_);
  const std::string first = header + frame;
  Status s;
  if (options_.preallocate) s = (*f)->allocate(options_.segment_bytes);
  if (s.ok()) s = (*f)->pwrite(0, first);
  if (s.ok()) s = (*f)->datasync();
  if (s.ok()) s = fs_.sync_dir(dir_);
  if (!s.ok()) {
    f->reset();
    // Never leave the half-made segment behind: the next rotation creates the
    // same name. If it cannot go now, the next open_segment removes it first.
    if (!fs_.remove(path).ok()) half_created_ = path;
    return s;
  }
  ++next_seq_;
  durable_commit_ = std::max(durable_commit_, commit_);
  PAXLOCK_CHECK(durable_commit_ <= commit_);
  const uint64_t size =
      std::max<uint64_t>(first.size(), options_.preallocate ? options_.segment_bytes : 0);
  segments_.push_back(Segment{index, path, 0, size});
  active_ = std::move(*f);
  offset_ = align_up(first.size());
  PAXLOCK_CHECK(offset_ <= align_up(size));
  dirty_ = false;
  return {};
}

void Wal::encode(const WriteBatch& batch, std::string& frame, paxos::Instance& max_instance) {
  // Records were normally encoded as the batch was built (WriteBatch::add);
  // a batch assembled field by field is encoded here.
  if (!batch.records.empty()) {
    frame += batch.records;
  } else {
    if (batch.promised) append_promise(frame, *batch.promised);
    for (const paxos::Entry& e : batch.entries)
      append_entry(frame, e);
    if (batch.commit != 0) append_commit(frame, batch.commit);
  }
  for (const paxos::Entry& e : batch.entries)
    max_instance = std::max(max_instance, e.instance);
}

void Wal::note_written(const WriteBatch& batch) {
  if (batch.promised) promised_ = std::max(promised_, *batch.promised);
  commit_ = std::max(commit_, batch.commit);
}

Status Wal::append(const WriteBatch& batch) {
  if (broken_) return Status::error(EIO, "wal: a sync failed earlier; restart to recover");
  if (batch.empty()) return {};
  scratch_.assign(kBatchHeader, '\0');  // the batch header, filled in by write_batch
  paxos::Instance max_instance = 0;
  encode(batch, scratch_, max_instance);
#if PAXLOCK_MUTATIONS
  // Planted Bug B: the checkpoint of a segment opened for this batch would
  // carry this batch's commit point, durable before the batch itself.
  if (options_.checkpoint_unwritten) note_written(batch);
#endif
  Status s = write_batch(scratch_);
  if (!s.ok()) return s;
  // Only now may a checkpoint repeat this batch's promise and commit point:
  // a checkpoint is synced when its segment is opened, and must never claim
  // more than the batches before it.
  note_written(batch);
  segments_.back().max_instance = std::max(segments_.back().max_instance, max_instance);
  return {};
}

Status Wal::write_batch(std::string& frame) {
  // A batch and perhaps a new segment's checkpoint, each numbered below
  // UINT64_MAX, which recovery refuses. Only a log whose numbers were forged
  // gets here: 2^64 batches are never written.
  if (next_seq_ >= UINT64_MAX - 1) {
    return Status::error(EIO, fmt::format("wal: batch sequence numbers exhausted at {} in {}: "
                                          "the log is corrupt",
                                          next_seq_, dir_));
  }
  const uint64_t size = frame.size();
  if (offset_ + size > options_.segment_bytes && offset_ > kSegmentHeader + kBatchHeader + 64) {
    // Rotate: what is in the full segment must be durable before the new
    // segment holds anything (only the last batch of the log may be torn).
    if (dirty_) {
      Status s = sync();
      if (!s.ok()) return s;
    }
    Status s = open_segment(segments_.back().index + 1);
    if (!s.ok()) return s;
  }
  // A batch never shares a sector with an earlier (synced) one: it starts on
  // a sector boundary, or right after the header of a segment whose
  // checkpoint was torn away.
  PAXLOCK_CHECK(active_ != nullptr && !segments_.empty());
  PAXLOCK_CHECK(offset_ >= kSegmentHeader);
  PAXLOCK_CHECK(offset_ == kSegmentHeader || offset_ % kAlign == 0);
  finish_batch(frame, next_seq_);
  Status s = active_->pwrite(offset_, frame);
  if (!s.ok()) return s;  // nothing advanced: a retry writes the same place
  offset_ = align_up(offset_ + size);
  ++next_seq_;
  dirty_ = true;
  bytes_appended_ += size;
  segments_.back().size = std::max(segments_.back().size, offset_);
  PAXLOCK_CHECK(offset_ % kAlign == 0 && offset_ <= segments_.back().size);
  return {};
}

Status Wal::sync() {
  if (broken_) return Status::error(EIO, "wal: a sync failed earlier; restart to recover");
  if (!dirty_) return {};
#if PAXLOCK_MUTATIONS
  if (options_.skip_fsync) {
    dirty_ = false;
    return {};
  }
#endif
  Status s = active_->datasync();
  if (!s.ok()) {
    broken_ = true;
    return s;
  }
  dirty_ = false;
  durable_commit_ = std::max(durable_commit_, commit_);
  PAXLOCK_CHECK(durable_commit_ <= commit_);  // durable only what was written
  return {};
}

Status Wal::compact(paxos::Instance start) {
  size_t removed = 0;
  Status s;
  while (segments_.size() - removed > 1 && segments_[removed].max_instance < start) {
    s = fs_.remove(segments_[removed].path);
    if (!s.ok()) break;  // the ones removed so far are gone: forget them below
    ++removed;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(removed));
  PAXLOCK_CHECK(!segments_.empty());  // the active segment is never deleted
  for (size_t k = 1; k < segments_.size(); ++k)
    PAXLOCK_CHECK(segments_[k].index == segments_[k - 1].index + 1);
  if (!s.ok()) return s;
  if (removed == 0) return {};
  return fs_.sync_dir(dir_);
}

uint64_t Wal::disk_bytes() const {
  uint64_t n = 0;
  for (const Segment& s : segments_)
    n += s.size;
  return n;
}

}  // namespace paxlock::storage
