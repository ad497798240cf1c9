// lock_sm_bench: the lock state machine alone. Applied commands per CPU
// second for a lock/unlock mix over 1,000 and 1,000,000 lock names (batches of
// 64 commands, as the log delivers them), and heap bytes per held lock beyond
// its name.
//
//   build/release/bench/lock_sm_bench [--commands N]
#include <malloc.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/rng.h"
#include "lock/lock_machine.h"

namespace {

using namespace paxlock;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string name_of(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "lock-%08llu", static_cast<unsigned long long>(i));
  return buf;
}

// Batches of 64 commands from 64 clients (one owner each); each client
// alternates lock and unlock of a random name. Payloads are encoded before
// the clock starts: this measures apply only.
std::vector<paxos::Batch> make_batches(uint64_t names, uint64_t commands, uint64_t& seq) {
  paxlock::Rng rng(names);
  std::vector<std::string> held(64);
  std::vector<paxos::Batch> batches;
  for (uint64_t done = 0; done < commands;) {
    paxos::Batch b;
    b.timestamp_ms = 1'000'000;
    for (uint64_t c = 0; c < 64 && done < commands; ++c, ++done) {
      lock::Command cmd;
      cmd.owner = "owner" + std::to_string(c);
      if (held[c].empty()) {
        cmd.op = lock::Op::kLock;
        cmd.name = name_of(static_cast<uint64_t>(rng.uniform(0, static_cast<int64_t>(names) - 1)));
        held[c] = cmd.name;
      } else {
        cmd.op = lock::Op::kUnlock;
        cmd.name = held[c];
        held[c].clear();
      }
      ++seq;
      cmd.first_outstanding = seq;  // the client waits for nothing older
      b.commands.push_back(paxos::Command{paxos::CommandId{c + 1, seq}, lock::encode(cmd)});
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

double apply_rate(lock::LockMachine& m, const std::vector<paxos::Batch>& batches,
                  paxos::Instance& instance) {
  std::vector<paxos::Reply> replies;
  uint64_t commands = 0;
  const double start = cpu_seconds();
  for (const paxos::Batch& b : batches) {
    replies.clear();
    m.apply(++instance, b, replies);
    commands += b.commands.size();
  }
  return static_cast<double>(commands) / (cpu_seconds() - start);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t commands = 2'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--commands") == 0) commands = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("lock_sm_bench: lock/unlock mix, batches of 64, %llu commands per cell\n",
              static_cast<unsigned long long>(commands));
  for (uint64_t names : {uint64_t{1000}, uint64_t{1'000'000}}) {
    lock::LockMachine m;
    paxos::Instance instance = 0;
    uint64_t seq = 0;
    // Background: half of the names held by a separate owner, so that the
    // table has the size it would have in service.
    {
      std::vector<paxos::Batch> fill;
      paxos::Batch b;
      b.timestamp_ms = 1'000'000;
      for (uint64_t i = 0; i < names; i += 2) {
        lock::Command cmd;
        cmd.op = lock::Op::kLock;
        cmd.owner = "background";
        cmd.name = name_of(i);
        ++seq;
        cmd.first_outstanding = seq;
        b.commands.push_back(paxos::Command{paxos::CommandId{999, seq}, lock::encode(cmd)});
        if (b.commands.size() == 256) {
          fill.push_back(std::move(b));
          b = paxos::Batch{};
          b.timestamp_ms = 1'000'000;
        }
      }
      if (!b.commands.empty()) fill.push_back(std::move(b));
      apply_rate(m, fill, instance);
    }
    const auto batches = make_batches(names, commands, seq);
    const double rate = apply_rate(m, batches, instance);
    std::printf("%9llu names (%zu held): %12.0f applied commands/s\n",
                static_cast<unsigned long long>(names), m.locks_held(), rate);
  }
  // Memory per held lock: heap in use before and after taking 1,000,000
  // locks with 13-byte names (which fit std::string's inline buffer, so
  // "beyond its name" is everything but those 13 bytes).
  {
    lock::LockMachine m;
    paxos::Instance instance = 0;
    uint64_t seq = 0;
    constexpr uint64_t kLocks = 1'000'000;
    std::vector<paxos::Batch> batches;
    paxos::Batch b;
    for (uint64_t i = 0; i < kLocks; ++i) {
      lock::Command cmd;
      cmd.op = lock::Op::kLock;
      cmd.owner = "owner" + std::to_string(i % 100);
      cmd.name = name_of(i);
      ++seq;
      cmd.first_outstanding = seq;
      b.commands.push_back(paxos::Command{paxos::CommandId{1 + i % 100, seq}, lock::encode(cmd)});
      if (b.commands.size() == 256) {
        batches.push_back(std::move(b));
        b = paxos::Batch{};
      }
    }
    if (!b.commands.empty()) batches.push_back(std::move(b));
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks;
    apply_rate(m, batches, instance);
    const size_t after = mallinfo2().uordblks;
    const double per_lock = static_cast<double>(after - before) / static_cast<double>(kLocks);
    std::printf(
        "memory: %.0f heap bytes per held lock (name of %zu bytes inline; %.0f beyond it)\n",
        per_lock, name_of(0).size(), per_lock - static_cast<double>(name_of(0).size()));
  }
  std::printf("goal: >= 2,000,000 applied commands/s; < 200 bytes per held lock beyond its name\n");
  return 0;
}
