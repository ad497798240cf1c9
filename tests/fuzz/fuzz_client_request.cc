// Fuzz target: what the client port decodes, served the way the daemon serves
// it. Each frame body is parsed as a pb::ClientRequest (ClientService::serve)
// and handed to a RequestHandler over a real Replica of a single-node cluster
// on the simulated disk, with the real lock machine: a request that validates
// goes through the log and the lock machine answers it; time passes between
// requests, so leases and waits end and snapshots are taken.
//
// Input: up to 64 times { u8 n (n % 64 steps of 10 ms pass), u16 length
// (LE), that many bytes: one ClientRequest }.
//
// Properties: no crash (the lock machine's and the core's checks included);
// every answer names a request that was sent, carries a code of the schema,
// and never says an answer from the log failed to decode; a request is
// answered at most once per time it was sent; answers given at once (not
// from the log) are refusals or cluster info.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <memory>

#include "fuzz/fuzz_input.h"
#include "lock/lock_machine.h"
#include "service/request_handler.h"
#include "sim/sim_log_store.h"

namespace paxlock::fuzz {
namespace {

constexpr size_t kRequestsMax = 64;

class Server : public paxos::Transport {
 public:
  Server() {
    paxos::Config c;
    c.self = 1;
    c.members = {1};
    c.rng_seed = 7;
    store_ = std::make_unique<sim::SimLogStore>(
        fs_, "/data", 1, storage::WalOptions{1 << 16, false},
        [this](std::function<void()> fn) { disk_.push_back(std::move(fn)); });
    driver::ReplicaOptions o;
    o.snapshot_every_instances = 16;  // snapshots of fuzzed states, and compaction
    replica_ = std::make_unique<driver::Replica>(c, o, *store_, *this, machine_);
    FUZZ_CHECK(replica_->start(now_).ok());
    replica_->campaign(now_);
    run(10);
    FUZZ_CHECK(replica_->node().role() == paxos::Role::kLeader);
    service::RequestHandlerOptions ho;
    ho.pending_max = 32;
    ho.counts = &counts_;
    handler_ = std::make_unique<service::RequestHandler>(
        *replica_, ho, [](pb::ClusterInfo* info) { info->set_cluster_id("fuzz"); },
        [this](pb::ClientResponse& r, bool from_log) { on_answer(r, from_log); });
  }

  ~Server() override { handler_->cancel_all(); }

  void send(const paxos::Message&) override {}

  void handle(const pb::ClientRequest& req) {
    ++sent_[req.request_id()];
    handler_->handle(req);
  }

  // `steps` rounds of 10 ms: the clock ticks and the disk completes.
  void run(int steps) {
    for (int k = 0; k < steps; ++k) {
      now_ += 10;
      replica_->tick(now_, now_);
      for (int n = 0; n < 1000 && !disk_.empty(); ++n) {
        auto fn = std::move(disk_.front());
        disk_.pop_front();
        fn();
      }
    }
  }

 private:
  void on_answer(const pb::ClientResponse& r, bool from_log) {
    auto it = sent_.find(r.request_id());
    FUZZ_CHECK(it != sent_.end());
    FUZZ_CHECK(++answered_[r.request_id()] <= it->second);
    const int code = r.result().code();
    FUZZ_CHECK(pb::Code_IsValid(code));
    if (from_log) {
      FUZZ_CHECK(code <= pb::PERMISSION_DENIED);
      FUZZ_CHECK(r.error().empty());
    } else {
      // A refusal by the replica, cluster info, or INVALID with the reason
      // for a name or owner the state must not hold (checked before the log).
      FUZZ_CHECK(r.has_cluster() || code == pb::BUSY || code == pb::BAD_REQUEST ||
                 (code == pb::INVALID && !r.error().empty()));
    }
  }

  sim::SimFs fs_{3};
  std::deque<std::function<void()>> disk_;
  std::unique_ptr<sim::SimLogStore> store_;
  lock::LockMachine machine_;
  std::unique_ptr<driver::Replica> replica_;
  service::RequestCounts counts_;
  std::unique_ptr<service::RequestHandler> handler_;
  std::map<uint64_t, uint64_t> sent_;      // times each request id was sent
  std::map<uint64_t, uint64_t> answered_;  // times each was answered
  paxos::TimeMs now_ = 1000;
};

}  // namespace
}  // namespace paxlock::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field logs an error
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paxlock;
  using namespace paxlock::fuzz;
  Input in(data, size);
  Server server;
  for (size_t k = 0; k < kRequestsMax && !in.empty(); ++k) {
    server.run(in.u8() % 64);
    const std::string_view frame = in.record();
    pb::ClientRequest req;
    if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
    server.handle(req);
  }
  server.run(100);  // one more second: what was taken is applied and answered
  return 0;
}
