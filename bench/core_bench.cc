// core_bench: how fast the consensus core itself chooses and applies
// commands, with nothing else in the way: a 3-node cluster in one thread, an
// instant network (messages delivered in order), records dropped instead of
// written. Prints commands and instances per CPU-second, unbatched (one
// command per instance) and with batches of 64.
//
//   build/release/bench/core_bench [--commands N]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "paxos/node.h"

namespace {

using namespace paxlock::paxos;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Figures {
  double commands_per_s;
  double instances_per_s;
  double seconds;
};

Figures run(size_t batch_max, uint64_t total_commands) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (NodeId id = 1; id <= 3; ++id) {
    Config c;
    c.self = id;
    c.members = {1, 2, 3};
    c.batch_commands_max = batch_max;
    c.pipeline_window = 64;
    c.pending_commands_max = 1 << 20;
    auto n = std::make_unique<Node>(c);
    n->restore(Restored{}, 0);
    nodes.push_back(std::move(n));
  }
  std::deque<Message> net;
  nodes[0]->campaign();
  uint64_t proposed = 0;
  uint64_t applied_commands = 0;  // on all three nodes
  uint64_t applied_instances = 0;
  const std::string payload(64, 'x');
  const double start = cpu_seconds();
  while (applied_commands < 3 * total_commands) {
    // Keep the leader's queue topped up, as many clients would.
    while (proposed < total_commands && nodes[0]->pending_commands() < 4 * 64 * batch_max &&
           nodes[0]->role() == Role::kLeader) {
      ++proposed;
      nodes[0]->propose(Command{CommandId{1, proposed}, payload});
    }
    for (auto& n : nodes) {
      Ready r = n->take_ready();
      for (Message& m : r.send_now)
        net.push_back(std::move(m));
      for (Message& m : r.send_after_sync)
        net.push_back(std::move(m));
      for (const Entry& e : r.apply) {
        applied_commands += e.value->commands.size();
        ++applied_instances;
      }
    }
    while (!net.empty()) {
      Message m = std::move(net.front());
      net.pop_front();
      nodes[m.to - 1]->step(m);
    }
  }
  const double secs = cpu_seconds() - start;
  return Figures{static_cast<double>(total_commands) / secs,
                 static_cast<double>(applied_instances) / 3.0 / secs, secs};
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t commands = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--commands") == 0) commands = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("core_bench: 3 nodes in one thread, instant network, no disk, %llu commands\n",
              static_cast<unsigned long long>(commands));
  std::printf("%-12s %14s %16s %10s\n", "batch", "commands/s", "instances/s", "cpu s");
  for (size_t batch : {size_t{1}, size_t{64}}) {
    const Figures f = run(batch, commands);
    std::printf("%-12zu %14.0f %16.0f %10.2f\n", batch, f.commands_per_s, f.instances_per_s,
                f.seconds);
  }
  std::printf("goal: >= 50,000 instances/s unbatched, >= 1,000,000 commands/s batched\n");
  return 0;
}
