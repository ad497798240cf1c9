// wal_bench: the write-ahead log against the raw disk, side by side in one run.
//
// 1. Synced batches per second and latency (p50, p99) for batches of 1, 16 and
//    256 records of 128 bytes: the WAL as paxlockd drives it (records encoded
//    while the previous batch syncs; the disk thread frames, checksums, does
//    one write and one fdatasync per batch) against a raw pwrite+fdatasync
//    loop on a preallocated file in the same directory. Rounds alternate so
//    that both see the same machine noise.
// 2. Group commit: 64 proposals kept in flight through the production
//    ThreadedLogStore, with the driver's rule (one write in flight; everything
//    that arrives meanwhile goes into the next), against one sync per record.
//
//   build/release/bench/wal_bench [--dir DIR] [--seconds S]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "storage/posix_fs.h"
#include "storage/threaded_log_store.h"
#include "storage/wal.h"

namespace {

using namespace paxlock;
using Clock = std::chrono::steady_clock;

constexpr size_t kRecordBytes = 128;

[[noreturn]] void die(const Status& s) {
  std::fprintf(stderr, "write failed: %s\n", s.message().c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Stats {
  uint64_t syncs = 0;
  double seconds = 0;
  std::vector<double> latency_us;

  void add(const Stats& o) {
    syncs += o.syncs;
    seconds += o.seconds;
    latency_us.insert(latency_us.end(), o.latency_us.begin(), o.latency_us.end());
  }
  double per_second() const { return static_cast<double>(syncs) / seconds; }
  double pct(double p) {
    if (latency_us.empty()) return 0;
    std::sort(latency_us.begin(), latency_us.end());
    return latency_us[static_cast<size_t>(p * static_cast<double>(latency_us.size() - 1))];
  }
};

// A write as the driver builds it: records encoded as they are added.
storage::WriteBatch make_batch(size_t records, paxos::Instance& next) {
  paxos::Ready ready;
  for (size_t i = 0; i < records; ++i) {
    auto b = std::make_shared<paxos::Batch>();
    // 128 bytes per record with the WAL's framing and the value's encoding.
    b->commands.push_back(paxos::Command{paxos::CommandId{1, next}, std::string(98, 'w')});
    ready.entries.push_back(paxos::Entry{next, paxos::Ballot{1, 1}, b, false});
    ++next;
  }
  storage::WriteBatch w;
  w.add(ready);
  return w;
}

// A raw pwrite+fdatasync loop. `overwrite`: into a file whose blocks were
// already written (zero-filled), the ideal for any log; otherwise into a fresh
// fallocated file, the same I/O pattern as a new WAL segment (ext4 must mark
// each newly written extent as written, a metadata change per sync).
Stats raw_round(const std::string& dir, size_t records, double seconds, bool overwrite) {
  const std::string path = dir + "/raw.dat";
  std::filesystem::remove(path);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  constexpr off_t kFile = 256 << 20;
  if (fd < 0 || ::posix_fallocate(fd, 0, kFile) != 0) {
    std::perror("raw file");
    std::exit(1);
  }
  if (overwrite) {
    const std::string zeros(1 << 20, '\0');
    for (off_t o = 0; o < kFile; o += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd, zeros.data(), zeros.size(), o) < 0) std::exit(1);
    }
  }
  ::fdatasync(fd);
  const std::string buf(records * kRecordBytes, 'r');
  Stats st;
  off_t off = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    if (off + static_cast<off_t>(buf.size()) > kFile) off = 0;
    const auto t = Clock::now();
    if (::pwrite(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size()) ||
        ::fdatasync(fd) != 0) {
      std::perror("raw write");
      std::exit(1);
    }
    st.latency_us.push_back(seconds_since(t) * 1e6);
    off += static_cast<off_t>(buf.size());
    ++st.syncs;
  }
  st.seconds = seconds_since(start);
  ::close(fd);
  return st;
}

// A minimal event loop: completions posted by the disk thread run here.
class Loop {
 public:
  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }
  void run_one() {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !q_.empty(); });
      fn = std::move(q_.front());
      q_.pop_front();
    }
    fn();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
};

// The WAL as paxlockd drives it: ThreadedLogStore's disk thread writes and
// syncs one batch while this thread builds (and encodes) the next.
Stats wal_round(const std::string& dir, size_t records, double seconds) {
  storage::PosixFs fs;
  const std::string data = dir + "/wal";
  std::filesystem::remove_all(data);
  Loop loop;
  storage::ThreadedLogStore store(fs, data, "bench", 1, storage::WalOptions{},
                                  [&loop](std::function<void()> fn) { loop.post(std::move(fn)); });
  if (!store.load().ok()) {
    std::fprintf(stderr, "store load failed\n");
    std::exit(1);
  }
  paxos::Instance next = 1;
  Stats st;
  bool in_flight = false;
  Clock::time_point submitted;
  storage::WriteBatch ready_batch = make_batch(records, next);
  const auto start = Clock::now();
  while (seconds_since(start) < seconds || in_flight) {
    if (!in_flight && seconds_since(start) < seconds) {
      in_flight = true;
      submitted = Clock::now();
      store.write(std::move(ready_batch), [&](const Status& s) {
        if (!s.ok()) die(s);
        st.latency_us.push_back(seconds_since(submitted) * 1e6);
        ++st.syncs;
        in_flight = false;
      });
      ready_batch = make_batch(records, next);  // overlaps the sync
    }
    if (in_flight) loop.run_one();
  }
  st.seconds = seconds_since(start);
  std::vector<uint32_t> syncs;
  store.take_sync_latencies(syncs);
  if (getenv("WAL_BENCH_DEBUG")) {
    std::sort(syncs.begin(), syncs.end());
    std::fprintf(stderr, "  [batch %zu: disk-thread fdatasync p50 %u us]\n", records,
                 syncs.empty() ? 0 : syncs[syncs.size() / 2]);
  }
  return st;
}

// 64 closed-loop proposals through ThreadedLogStore. With `group`, the
// driver's rule: one write in flight, the rest wait for the next write. Without
// it, each write carries one record. Returns records made durable per second.
double proposals_round(const std::string& dir, bool group, double seconds) {
  constexpr size_t kProposals = 64;
  storage::PosixFs fs;
  const std::string data = dir + (group ? "/group" : "/single");
  std::filesystem::remove_all(data);
  Loop loop;
  storage::ThreadedLogStore store(fs, data, "bench", 1, storage::WalOptions{},
                                  [&loop](std::function<void()> fn) { loop.post(std::move(fn)); });
  if (!store.load().ok()) {
    std::fprintf(stderr, "store load failed\n");
    std::exit(1);
  }
  paxos::Instance next = 1;
  size_t waiting = kProposals;  // proposals not yet in a write
  bool in_flight = false;
  uint64_t durable = 0;
  bool stop = false;
  const auto start = Clock::now();
  std::function<void()> start_write = [&] {
    if (stop || in_flight || waiting == 0) return;
    const size_t n = group ? waiting : 1;
    waiting -= n;
    in_flight = true;
    store.write(make_batch(n, next), [&, n](const Status& s) {
      if (!s.ok()) die(s);
      in_flight = false;
      durable += n;
      waiting += n;  // each proposal, once durable, proposes again
      start_write();
    });
  };
  start_write();
  while (seconds_since(start) < seconds)
    loop.run_one();
  const double elapsed = seconds_since(start);
  stop = true;
  while (in_flight)
    loop.run_one();
  return static_cast<double>(durable) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp/paxlock-wal-bench";
  double seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  std::filesystem::create_directories(dir);
  std::printf("wal_bench in %s: %zu-byte records, 3 alternating rounds of %.1f s per cell\n",
              dir.c_str(), kRecordBytes, seconds);
  std::printf(
      "raw-new: pwrite+fdatasync into a fresh fallocated file (a new segment's I/O)\n"
      "raw-ovw: pwrite+fdatasync overwriting written blocks (what recycling would give)\n");
  std::printf("%-6s %12s %9s %9s %12s %9s %12s %9s %9s %9s %9s\n", "batch", "raw-new/s", "p50us",
              "p99us", "raw-ovw/s", "p50us", "wal sync/s", "p50us", "p99us", "wal/new", "wal/ovw");
  for (size_t batch : {size_t{1}, size_t{16}, size_t{256}}) {
    Stats raw_new, raw_ovw, wal;
    for (int round = 0; round < 3; ++round) {
      raw_new.add(raw_round(dir, batch, seconds, false));
      raw_ovw.add(raw_round(dir, batch, seconds, true));
      wal.add(wal_round(dir, batch, seconds));
    }
    std::printf("%-6zu %12.0f %9.0f %9.0f %12.0f %9.0f %12.0f %9.0f %9.0f %8.0f%% %8.0f%%\n", batch,
                raw_new.per_second(), raw_new.pct(0.5), raw_new.pct(0.99), raw_ovw.per_second(),
                raw_ovw.pct(0.5), wal.per_second(), wal.pct(0.5), wal.pct(0.99),
                100.0 * wal.per_second() / raw_new.per_second(),
                100.0 * wal.per_second() / raw_ovw.per_second());
  }
  double single = 0, grouped = 0;
  for (int round = 0; round < 3; ++round) {
    single += proposals_round(dir, false, seconds);
    grouped += proposals_round(dir, true, seconds);
  }
  std::printf(
      "64 proposals in flight: one sync per record %.0f records/s, group commit %.0f "
      "records/s: %.1fx\n",
      single / 3, grouped / 3, grouped / single);
  std::printf("goals: wal >= 90%% of raw at every batch size; group commit >= 20x\n");
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
  return 0;
}
