#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <unordered_map>

#include "client/client_core.h"
#include "common/check.h"
#include "common/hash.h"
#include "driver/replica.h"
#include "lock/command.h"
#include "lock/lock_machine.h"
#include "paxos/message.h"
#include "service/request_handler.h"
#include "sim/lock_workload.h"
#include "sim/observed_machine.h"
#include "sim/register_machine.h"
#include "sim/sim_log_store.h"

namespace paxlock::sim {
namespace {

using paxos::Instance;
using paxos::Message;
using paxos::NodeId;
using paxos::TimeMs;

enum class EventKind : uint8_t {
  kDeliver,
  kTick,
  kClientSubmit,    // a client starts its next request
  kClientTick,      // a client core's timer (token: which arming)
  kToReplica,       // a client request on the wire (node: replica; token: client; aux: generation)
  kToClient,        // a response on the wire (node: client; token: replica)
  kClientConnLost,  // a client notices its connection to a replica broke (token: replica)
  kCrash,
  kRestart,
  kPartition,
  kHeal,
  kCampaign,
  kCallback,  // a simulated disk completion
  kOutage,
  kDiskFull,
  kDiskBack,
  kIsolate,
  kRestartLeader,  // restart_leader's script (token: its step)
};

struct Event {
  TimeMs at = 0;
  uint64_t seq = 0;  // ties broken by scheduling order: deterministic
  EventKind kind = EventKind::kTick;
  int node = 0;        // node index (or client index for client events)
  uint64_t token = 0;  // generation or attempt, to drop stale events
  std::shared_ptr<Message> msg;
  std::shared_ptr<std::function<void()>> fn;
  std::shared_ptr<const std::string> bytes;  // a serialized client request or response
  uint64_t aux = 0;

  bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class World;

class SimTransport : public paxos::Transport {
 public:
  SimTransport(World& world, int node) : world_(world), node_(node) {}
  void send(const Message& msg) override;

 private:
  World& world_;
  int node_;
};

struct SimNode {
  NodeId id = 0;
  bool up = false;
  uint64_t generation = 0;
  std::unique_ptr<SimFs> disk;  // survives crashes
  std::unique_ptr<SimLogStore> store;
  std::unique_ptr<paxos::StateMachine> machine;
  RegisterMachine* reg = nullptr;  // the register workload's machine, for final checks
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<driver::Replica> replica;
  // The client service of this incarnation: one handler per client
  // "connection" (the daemon's code without the sockets).
  std::map<int, std::unique_ptr<service::RequestHandler>> handlers;
  Instance next_apply = 1;  // order check: the next instance this incarnation must apply
  // Per-step invariant state of the current incarnation.
  struct DurableRecord {
    paxos::Ballot ballot;
    bool chosen = false;
  };
  std::map<Instance, DurableRecord> durable;  // the newest synced record per instance
  Instance chosen_verified = 0;               // chosen instances below were checked
  Instance durable_commit_checked = 0;        // (d) was checked below this
  uint64_t became_leader_seen = 0;            // stale-leader faults: elections noticed
  TimeMs deaf_until = 0;  // stale-leader faults: Nacks to this node are lost until then
  int deaf_to = -1;       // ... and so is everything from this node
  int bridge = -1;        // ... while this node reaches it both ways, whatever else fails
};

// A client: the library's client core (src/client/client_core.h) with one
// request at a time from the workload; its requests and their answers travel
// over the simulated network.
struct SimClient {
  uint64_t id = 0;
  std::unique_ptr<client::ClientCore> core;
  bool waiting = false;                   // a request of the workload in flight
  uint64_t request = 0;                   // the workload's request number (from 1)
  client::ClientCore::Handle handle = 0;  // its handle in the core
  int done = 0;
  std::vector<uint64_t> sessions;  // renewed by its core
  uint64_t tick_token = 0;         // the armed kClientTick event
  TimeMs tick_at = -1;             // when it fires (-1: none armed)
};

class World {
 public:
  explicit World(const Options& o) : opt_(o), rng_(o.seed) {}

  Outcome run();
  void network_send(int from_node, const Message& msg);

 private:
  void draw_faults();
  void schedule(TimeMs at, EventKind kind, int node, uint64_t token = 0,
                std::shared_ptr<Message> msg = nullptr,
                std::shared_ptr<std::function<void()>> fn = nullptr,
                std::shared_ptr<const std::string> bytes = nullptr, uint64_t aux = 0);
  void process(const Event& e);
  void hash_event(const Event& e);
  void start_node(int i);
  void crash_node(int i);
  void client_submit(int c);
  void client_pump(int c);
  void client_send(int c, const client::ClientCore::Send& send);
  void deliver_request(const Event& e);
  void client_completed(int c, const client::ClientCore::Completion& done);
  void took_effect(const paxos::CommandId& id);
  void renew_sessions(int c);
  void on_apply_at(int node, Instance instance, const paxos::Batch& batch);
  void on_durable(int node, const storage::WriteBatch& batch);
  void note_acceptance(int node, Instance instance, const paxos::Ballot& ballot,
                       const paxos::Value& value);
  void new_partition();
  void heal();
  void schedule_campaign();
  void fail(const std::string& what);
  void check_steps();
  void stale_leader_fault(int i);
  void check_chosen(int i, Instance from, const char* when);
  int current_leader() const;
  void track_rejoin_leader();
  void restart_leader_step(uint64_t step);
  void check_restarted_leader();
  std::string sticky_mix() const;
  bool all_clients_done() const;
  bool converged() const;
  void final_checks();
  paxos::Config node_config(int i) const;

  Options opt_;
  paxlock::Rng rng_;
  TimeMs now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::vector<SimNode> nodes_;
  std::vector<SimClient> clients_;
  std::vector<std::vector<bool>> blocked_;  // blocked_[a][b]: a cannot reach b
  bool healed_ = false;
  TimeMs healed_at_ = 0;
  std::vector<bool> sticky_per_node_;  // drawn per run: mixed sticky rules
  int isolated_ = -1;                  // isolate_one: the node cut off
  int rejoin_leader_ = -1;             // who led since the isolated node rejoined
  // restart_leader's script: the killed leader, who leads since, at which
  // ballot, when the old one restarted, and each node's elections by then.
  int restarted_ = -1;
  int new_leader_ = -1;
  paxos::Ballot new_leader_ballot_;
  TimeMs restarted_at_ = -1;
  bool watching_window_ = false;
  std::vector<uint64_t> elections_at_restart_;
  Outcome result_;
  uint64_t hash_ = kFnvOffsetBasis;

  // Invariant state.
  std::unordered_map<Instance, std::shared_ptr<const paxos::Batch>> chosen_;
  // Paxos's own definition of chosen: a majority of acceptors durably accepted
  // the same (instance, ballot). Catches a conflict even if no learner sees it.
  struct Acceptances {
    paxos::Value value;
    std::set<int> nodes;
  };
  std::map<std::pair<Instance, paxos::Ballot>, Acceptances> accepted_;
  std::unordered_map<Instance, paxos::Value> truly_chosen_;
  // Every payload a client sent under each (client, seq) (attempts differ in
  // first_outstanding only), and the workload request each one belongs to.
  std::map<paxos::CommandId, std::set<std::string>> submitted_;
  std::map<paxos::CommandId, std::pair<int, uint64_t>> request_of_;
  // Exactly-once: the (client, seq)s that took effect in the log, per
  // workload request (client, request number). More than one is a violation.
  std::map<std::pair<int, uint64_t>, std::set<uint64_t>> effects_;
  std::map<uint64_t, uint64_t> register_last_seq_;  // the register's dedup rule, per client
  std::map<paxos::CommandId, uint64_t> acked_pos_;  // acknowledged position per command
  std::unique_ptr<LockWorkload> locks_;             // the lock workload, if chosen
  std::set<paxos::CommandId> acked_ids_;
  std::set<paxos::CommandId> in_log_;
};

void SimTransport::send(const Message& msg) {
  world_.network_send(node_, msg);
}

paxos::Config World::node_config(int i) const {
  paxos::Config c;
  c.self = static_cast<NodeId>(i + 1);
  for (int n = 0; n < opt_.nodes; ++n)
    c.members.push_back(static_cast<NodeId>(n + 1));
  c.rng_seed = opt_.seed * 1000003 + static_cast<uint64_t>(i) * 7919 + nodes_[i].generation;
  c.mutation = opt_.mutation;
  c.sticky_leader = opt_.sticky_leader;
  if (!sticky_per_node_.empty()) c.sticky_leader = sticky_per_node_[static_cast<size_t>(i)];
  c.batch_commands_max = opt_.batch_commands_max;
  return c;
}

void World::draw_faults() {
  if (!opt_.randomize_faults) return;
  const double losses[] = {0.0, 0.02, 0.1, 0.3, 0.5};
  opt_.loss = losses[rng_.uniform(0, 4)];
  opt_.duplicate = rng_.chance(0.5) ? 0.05 * static_cast<double>(rng_.uniform(0, 2)) : 0.0;
  const TimeMs delays[] = {1, 5, 20, 60};
  opt_.delay_max_ms = delays[rng_.uniform(0, 3)];
  opt_.spike = rng_.chance(0.3) ? 0.01 : 0.0;
  opt_.partitions = rng_.chance(0.5);
  opt_.crashes = rng_.chance(0.6);
  const double campaigns[] = {0.0, 0.0, 1.0, 5.0, 20.0};
  opt_.campaign_per_s = campaigns[rng_.uniform(0, 4)];
  // Refusals lost more often than the rest: a stale leader goes on longer.
  opt_.nack_loss = rng_.chance(0.3) ? 0.8 : 0.0;
  opt_.stale_leader_faults = rng_.chance(0.5);
  opt_.sticky_leader = rng_.chance(0.5);
  // Safety never depends on the sticky rule, so some runs mix it: a sticky
  // leader ignores the Prepare of a node that the non-sticky ones elect.
  if (rng_.chance(0.6)) {
    for (int i = 0; i < opt_.nodes; ++i)
      sticky_per_node_.push_back(rng_.chance(0.5));
  }
  opt_.crash_gap_max_ms = rng_.chance(0.5) ? 1500 : 300;
  opt_.restart_max_ms = rng_.chance(0.5) ? 1500 : 30;
  opt_.crash_after_promise = opt_.crashes && rng_.chance(0.5) ? 0.3 : 0.0;
  opt_.crash_after_append = opt_.crashes && rng_.chance(0.5) ? 0.3 : 0.0;
  opt_.minority_restarts = opt_.crashes && rng_.chance(0.5);
  const paxos::Instance snapshot_every[] = {10, 40, 1000000};
  opt_.snapshot_every = snapshot_every[rng_.uniform(0, 2)];
  // 1 KiB segments rotate every batch or two: checkpoints are written often.
  const uint64_t segment_bytes[] = {1024, 4096, 65536};
  opt_.wal_segment_bytes = segment_bytes[rng_.uniform(0, 2)];
  opt_.wal_preallocate = rng_.chance(0.5);
  opt_.read_flip_rate = rng_.chance(0.3) ? 0.01 : 0.0;
  // One run in three duels around a sticky leader: frequent forced
  // campaigns, a mixed sticky rule and stale-leader faults together reach
  // the states of Bug A (an old leader learning what a newer one chose).
  if (rng_.chance(0.35)) {
    opt_.campaign_per_s = 20.0;
    opt_.stale_leader_faults = true;
    if (sticky_per_node_.empty()) {
      for (int i = 0; i < opt_.nodes; ++i)
        sticky_per_node_.push_back(rng_.chance(0.5));
    }
  }
}

void World::schedule(TimeMs at, EventKind kind, int node, uint64_t token,
                     std::shared_ptr<Message> msg, std::shared_ptr<std::function<void()>> fn,
                     std::shared_ptr<const std::string> bytes, uint64_t aux) {
  queue_.push(
      Event{at, seq_++, kind, node, token, std::move(msg), std::move(fn), std::move(bytes), aux});
}

void World::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.violation = fmt::format("t={}ms: {}", now_, what);
}

void World::hash_event(const Event& e) {
  auto mix = [this](uint64_t v) {
    char le[8];
    for (int b = 0; b < 8; ++b)
      le[b] = static_cast<char>(v >> (8 * b));
    hash_ = fnv1a(std::string_view(le, 8), hash_);
  };
  mix(static_cast<uint64_t>(e.at));
  mix(static_cast<uint64_t>(e.kind));
  mix(static_cast<uint64_t>(e.node));
  if (e.msg) {
    mix(static_cast<uint64_t>(e.msg->type));
    mix(e.msg->from);
    mix(e.msg->to);
    mix(e.msg->ballot.round);
    mix(e.msg->instance);
    mix(e.msg->commit);
    mix(e.msg->entries.size());
  }
  if (e.bytes) {
    mix(e.aux);
    mix(e.token);
    hash_ = fnv1a(*e.bytes, hash_);
  }
}

void World::network_send(int from_node, const Message& msg) {
  ++result_.messages_sent;
  if ((msg.type == paxos::MessageType::kAccepted || msg.type == paxos::MessageType::kPromise) &&
      nodes_[from_node].up && !nodes_[from_node].replica->disk_ok()) {
    ++result_.acks_while_disk_failed;
    fail(fmt::format("node {} sent a {} while its disk was failing", from_node + 1,
                     paxos::to_string(msg.type)));
  }
  const int to = static_cast<int>(msg.to) - 1;
  PAXLOCK_CHECK(to >= 0 && to < opt_.nodes);
  if (!nodes_[from_node].up) return;
  const bool faulty = !healed_;
  if (faulty) ++result_.messages_in_fault_window;
  const bool refusal = msg.type == paxos::MessageType::kNack;
  const bool deaf = now_ < nodes_[to].deaf_until && (refusal || nodes_[to].deaf_to == from_node);
  const bool bridged = (now_ < nodes_[to].deaf_until && nodes_[to].bridge == from_node) ||
                       (now_ < nodes_[from_node].deaf_until && nodes_[from_node].bridge == to);
  if (faulty && !bridged &&
      (blocked_[from_node][to] || deaf || rng_.chance(opt_.loss) ||
       (refusal && rng_.chance(opt_.nack_loss)))) {
    ++result_.messages_dropped;
    return;
  }
  const int copies = faulty && rng_.chance(opt_.duplicate) ? 2 : 1;
  for (int k = 0; k < copies; ++k) {
    TimeMs delay = rng_.uniform(0, faulty ? opt_.delay_max_ms : 2);
    if (faulty && rng_.chance(opt_.spike)) delay += rng_.uniform(100, 1000);
    schedule(now_ + delay, EventKind::kDeliver, to, 0, std::make_shared<Message>(msg));
  }
}

void World::start_node(int i) {
  SimNode& n = nodes_[i];
  ++n.generation;
  n.up = true;
  n.next_apply = 1;
  n.handlers.clear();
  const uint64_t gen = n.generation;
  auto on_apply = [this, i](Instance inst, const paxos::Batch& b) { on_apply_at(i, inst, b); };
  auto on_restore = [this, i](Instance next) { nodes_[i].next_apply = next; };
  if (opt_.workload == Workload::kLocks) {
    lock::MachineOptions mo;
    mo.mutation_no_dedup = opt_.lock_mutation_no_dedup;
    mo.mutation_sessions_before_waits = opt_.lock_mutation_sessions_before_waits;
    auto lm = std::make_unique<lock::LockMachine>(mo);
    lock::LockMachine* raw = lm.get();
    n.machine = std::make_unique<ObservedMachine>(
        std::move(lm), [raw] { return raw->applied(); }, on_apply, on_restore);
    n.reg = nullptr;
  } else {
    auto reg = std::make_unique<RegisterMachine>(on_apply, on_restore);
    n.reg = reg.get();
    n.machine = std::move(reg);
  }
  n.transport = std::make_unique<SimTransport>(*this, i);
  storage::WalOptions wal;
  wal.segment_bytes = opt_.wal_segment_bytes;
  wal.preallocate = opt_.wal_preallocate;
  wal.checkpoint_unwritten = opt_.mutation == paxos::Mutation::kCheckpointUnwritten;
  n.store = std::make_unique<SimLogStore>(
      *n.disk, "/data", n.id, wal, [this, i, gen](std::function<void()> fn) {
        schedule(now_ + rng_.uniform(0, 3), EventKind::kCallback, i, gen, nullptr,
                 std::make_shared<std::function<void()>>(std::move(fn)));
      });
  driver::ReplicaOptions ropt;
  ropt.snapshot_every_instances = opt_.snapshot_every;
  ropt.snapshot_chunk_bytes = 700;
  ropt.clock = [this] { return std::make_pair(now_, paxos::TimeMs{-1}); };
  n.replica =
      std::make_unique<driver::Replica>(node_config(i), ropt, *n.store, *n.transport, *n.machine);
  n.replica->set_durable_observer([this, i](const storage::WriteBatch& b) { on_durable(i, b); });
  n.store->set_on_append([this, i](bool rotated) {
    if (healed_ || opt_.crash_after_append <= 0) return;
    if (rng_.chance(rotated ? opt_.crash_after_append : opt_.crash_after_append / 10)) {
      // Before the batch's sync completes (that callback comes later, or at
      // this time but scheduled after this event).
      ++result_.power_losses_after_append;
      schedule(now_, EventKind::kCrash, i, /*token=*/1);
    }
  });
  const Status started = n.replica->start(now_);
  if (!started.ok()) {
    fail(fmt::format("node {} failed to start: {}", n.id, started.message()));
    n.up = false;
    return;
  }
  // What the restored node holds is what its disk holds.
  const paxos::Node& core = n.replica->node();
  n.durable.clear();
  for (Instance k = core.log_start(); k < core.log_end(); ++k) {
    const paxos::Slot* s = core.slot(k);
    if (!s || !s->value) continue;
    n.durable[k] = SimNode::DurableRecord{s->ballot, s->chosen};
    // A write that was never synced may still have reached the disk before
    // the power went: what recovery finds is accepted, and counts.
    if (!s->chosen) note_acceptance(i, k, s->ballot, s->value);
  }
  n.durable_commit_checked = std::max(core.log_start(), n.store->durable_commit());
  n.became_leader_seen = 0;
  n.chosen_verified = core.log_start();
  check_chosen(i, core.log_start(), "after its restart");  // (c)
  n.chosen_verified = core.first_unchosen();
  schedule(now_ + rng_.uniform(1, opt_.tick_ms), EventKind::kTick, i, gen);
}

void World::crash_node(int i) {
  SimNode& n = nodes_[i];
  if (!n.up) return;
  ++result_.crashes;
  n.up = false;
  // Its clients' connections break; each client notices a little later.
  for (const auto& [c, h] : n.handlers)
    schedule(now_ + rng_.uniform(1, 50), EventKind::kClientConnLost, c, static_cast<uint64_t>(i));
  n.handlers.clear();
  n.replica.reset();
  n.machine.reset();
  n.store.reset();
  n.disk->crash(rng_);
  if (opt_.verbose) std::fprintf(stderr, "t=%lld crash node %d\n", (long long)now_, i + 1);
}

void World::client_submit(int c) {
  SimClient& cl = clients_[c];
  if (cl.waiting) return;
  pb::ClientRequest req;
  std::chrono::milliseconds extra{0};
  ++cl.request;
  if (locks_) {
    const lock::Command cmd = locks_->next(c, rng_, now_);
    lock::to_proto(cmd, req.mutable_command());
    if (cmd.op == lock::Op::kLock)
      extra = std::chrono::milliseconds(std::max<int64_t>(cmd.wait_ms, 0));
  } else {
    // The register stores any command; a LockCommand is what the client
    // service takes.
    req.mutable_command()->set_op(pb::LOCK);
    req.mutable_command()->set_name(fmt::format("c{}-r{}", cl.id, cl.request));
    req.mutable_command()->set_owner(fmt::format("c{}", cl.id));
  }
  cl.waiting = true;
  cl.handle =
      cl.core->submit(std::move(req), client::Time{} + std::chrono::milliseconds(now_), extra);
  client_pump(c);
}

// After every input to a client's core: what it sends goes on the wire, what
// it completed is checked, and its timer is armed for its next tick.
void World::client_pump(int c) {
  SimClient& cl = clients_[c];
  for (;;) {
    auto sends = cl.core->take_sends();
    auto done = cl.core->take_completions();
    auto lost = cl.core->take_lost_sessions();
    if (sends.empty() && done.empty() && lost.empty()) break;
    for (const auto& snd : sends)
      client_send(c, snd);
    // Losses before answers, as the library's shell does (src/client/client.cc).
    for (uint64_t session : lost) {
      if (locks_) locks_->session_lost(c, session);
    }
    for (const auto& d : done)
      client_completed(c, d);
  }
  const auto next = cl.core->next_tick();
  if (!next) return;
  const TimeMs at =
      std::chrono::duration_cast<std::chrono::milliseconds>(next->time_since_epoch()).count();
  if (cl.tick_at >= 0 && cl.tick_at <= at) return;  // an earlier tick is armed: it re-arms
  cl.tick_at = std::max(at, now_);
  schedule(cl.tick_at, EventKind::kClientTick, c, ++cl.tick_token);
}

void World::client_send(int c, const client::ClientCore::Send& send) {
  const pb::ClientRequest& req = send.request;
  const size_t replica = send.replica;
  const int i = static_cast<int>(replica);
  const paxos::CommandId id{req.client_id(), req.seq()};
  if (req.has_command()) {
    auto cmd = lock::from_proto(req.command());
    if (cmd.ok()) submitted_[id].insert(lock::encode(*cmd));
    if (req.command().first_outstanding() < req.seq()) ++result_.sent_behind_first_outstanding;
    // A request is what the core took in one submit (a workload request or
    // a keep-alive of its own): its handle names it.
    const auto request = std::make_pair(c, send.handle);
    auto [it, fresh] = request_of_.emplace(id, request);
    if (!fresh && it->second != request) {
      fail(
          fmt::format("exactly-once: client {} used seq {} for request {} and again for request {}",
                      id.client, id.seq, it->second.second, request.second));
      return;
    }
  }
  SimNode& n = nodes_[i];
  if (!n.up) {  // connection refused
    schedule(now_ + rng_.uniform(5, 50), EventKind::kClientConnLost, c, replica);
    return;
  }
  const bool faulty = !healed_;
  if (faulty && rng_.chance(opt_.loss)) {
    ++result_.client_messages_dropped;
    return;
  }
  auto bytes = std::make_shared<const std::string>(req.SerializeAsString());
  const int copies = faulty && rng_.chance(opt_.duplicate) ? 2 : 1;
  for (int k = 0; k < copies; ++k) {
    TimeMs delay = rng_.uniform(0, faulty ? opt_.delay_max_ms : 2);
    if (faulty && rng_.chance(opt_.spike)) delay += rng_.uniform(100, 1000);
    schedule(now_ + delay, EventKind::kToReplica, i, static_cast<uint64_t>(c), nullptr, nullptr,
             bytes, n.generation);
  }
}

void World::deliver_request(const Event& e) {
  SimNode& n = nodes_[e.node];
  const int c = static_cast<int>(e.token);
  if (!n.up || n.generation != e.aux) return;  // its connection died with the replica
  auto& h = n.handlers[c];
  if (!h) {
    const int i = e.node;
    h = std::make_unique<service::RequestHandler>(
        *n.replica, service::RequestHandlerOptions{}, nullptr,
        [this, i, c](pb::ClientResponse& resp, bool) {
          const bool faulty = !healed_;
          if (faulty && rng_.chance(opt_.loss)) {
            ++result_.client_messages_dropped;
            return;
          }
          auto bytes = std::make_shared<const std::string>(resp.SerializeAsString());
          const int copies = faulty && rng_.chance(opt_.duplicate) ? 2 : 1;
          for (int k = 0; k < copies; ++k) {
            TimeMs delay = rng_.uniform(0, faulty ? opt_.delay_max_ms : 2);
            if (faulty && rng_.chance(opt_.spike)) delay += rng_.uniform(100, 1000);
            schedule(now_ + delay, EventKind::kToClient, c, static_cast<uint64_t>(i), nullptr,
                     nullptr, bytes);
          }
        });
  }
  pb::ClientRequest req;
  PAXLOCK_CHECK(req.ParseFromString(*e.bytes));
  h->handle(req);
}

void World::client_completed(int c, const client::ClientCore::Completion& done) {
  SimClient& cl = clients_[c];
  const Reply& r = done.reply;
  const paxos::CommandId id{r.client_id, r.seq};
  if (r.code == Code::kDuplicateIgnored) {
    fail(
        fmt::format("exactly-once: client {} seq {} was answered DUPLICATE_IGNORED while the "
                    "client still waited for it (first_outstanding passed it)",
                    id.client, id.seq));
    return;
  }
  if (done.keep_alive_of != 0) {  // the core's own renewal of a session
    if (r.code == Code::kUnavailable || !locks_) return;
    const std::string violation = locks_->keep_alive_acked(c, id, r);
    if (!violation.empty()) {
      fail("lock semantics: " + violation);
      return;
    }
    acked_ids_.insert(id);
    ++result_.keep_alives_acked;
    return;
  }
  if (done.handle != cl.handle || !cl.waiting) return;
  cl.waiting = false;
  ++cl.done;
  if (r.code == Code::kUnavailable) {
    // Given up: the outcome is unknown (it may still take effect, once).
    ++result_.client_give_ups;
    if (locks_) locks_->gave_up(c);
  } else {
    if (locks_) {
      const std::string violation = locks_->acked(c, id, r);
      if (!violation.empty()) {
        fail("lock semantics: " + violation);
        return;
      }
      acked_ids_.insert(id);
      renew_sessions(c);
    } else {
      if (r.code != Code::kOk || r.token == 0) {
        fail(fmt::format("client {} seq {} got {} ({})", id.client, id.seq, to_string(r.code),
                         r.error));
        return;
      }
      acked_pos_[id] = r.token;
    }
    ++result_.commands_acked;
  }
  result_.client_attempts += static_cast<uint64_t>(r.attempts);
  if (cl.done < opt_.commands_per_client) {
    schedule(now_ + rng_.uniform(0, 20), EventKind::kClientSubmit, c);
  } else {
    for (uint64_t session : cl.sessions)  // done: no more renewals
      cl.core->close_session(session);
    cl.sessions.clear();
  }
}

// The session the workload keeps (opened, not abandoned) is renewed by the
// client core, like the library's Session; one it replaced or lost is not.
void World::renew_sessions(int c) {
  SimClient& cl = clients_[c];
  const auto keep = locks_->session_to_renew(c);
  for (uint64_t old : cl.sessions) {
    if (!keep || keep->id != old) cl.core->close_session(old);
  }
  if (keep && std::find(cl.sessions.begin(), cl.sessions.end(), keep->id) == cl.sessions.end()) {
    // The lease counts from the open request's submit time.
    cl.core->start_session(keep->id, std::chrono::milliseconds(keep->ttl_ms),
                           client::Time{} + std::chrono::milliseconds(keep->opened_ms),
                           client::Time{} + std::chrono::milliseconds(now_));
  }
  cl.sessions.clear();
  if (keep) cl.sessions.push_back(keep->id);
}

// `id` took effect in the log for the first time: it must be the only
// (client, seq) of its workload request that did.
void World::took_effect(const paxos::CommandId& id) {
  auto it = request_of_.find(id);
  if (it == request_of_.end()) return;  // validity reports it
  auto& seqs = effects_[it->second];
  seqs.insert(id.seq);
  if (seqs.size() > 1) {
    fail(fmt::format(
        "exactly-once: request {} of client {} took effect {} times in the log (as "
        "seqs {})",
        it->second.second, id.client, seqs.size(), fmt::join(seqs.begin(), seqs.end(), ", ")));
  }
}

void World::on_apply_at(int node, Instance instance, const paxos::Batch& batch) {
  SimNode& n = nodes_[node];
  if (instance != n.next_apply) {
    fail(fmt::format("order: node {} applied instance {} but expected {}", node + 1, instance,
                     n.next_apply));
  }
  n.next_apply = instance + 1;
  auto it = chosen_.find(instance);
  if (it == chosen_.end()) {
    chosen_.emplace(instance, std::make_shared<const paxos::Batch>(batch));
    ++result_.instances_chosen;
    if (locks_) {
      for (const paxos::CommandId& id : locks_->chosen(instance, batch))
        took_effect(id);
    } else {
      for (const paxos::Command& c : batch.commands) {  // RegisterMachine's rule
        uint64_t& last = register_last_seq_[c.id.client];
        if (c.id.seq > last) {
          last = c.id.seq;
          took_effect(c.id);
        }
      }
    }
    for (const paxos::Command& c : batch.commands)
      in_log_.insert(c.id);
  } else if (!(*it->second == batch)) {
    fail(
        fmt::format("agreement: node {} applied a different value for instance {} "
                    "({} commands vs {})",
                    node + 1, instance, batch.commands.size(), it->second->commands.size()));
  }
  for (const paxos::Command& c : batch.commands) {
    auto s = submitted_.find(c.id);
    if (s == submitted_.end() || !s->second.count(c.payload)) {
      fail(fmt::format("validity: node {} applied a command no client submitted ({}, {})", node + 1,
                       c.id.client, c.id.seq));
    }
  }
}

void World::check_chosen(int i, Instance from, const char* when) {
  const paxos::Node& core = nodes_[i].replica->node();
  for (Instance k = std::max(from, core.log_start()); k < core.log_end(); ++k) {
    const paxos::Slot* s = core.slot(k);
    if (!s || !s->chosen) continue;
    ++result_.chosen_checks;
    auto it = truly_chosen_.find(k);
    if (it == truly_chosen_.end()) {
      fail(
          fmt::format("chosen: node {} {} holds instance {} as chosen (ballot {}), but no "
                      "majority durably accepted any value for it",
                      i + 1, when, k, s->ballot.to_string()));
      return;
    }
    if (!paxos::same_value(it->second, s->value)) {
      fail(
          fmt::format("chosen: node {} {} holds instance {} as chosen with a value (ballot {}) "
                      "other than the one a majority durably accepted",
                      i + 1, when, k, s->ballot.to_string()));
      return;
    }
  }
}

void World::stale_leader_fault(int i) {
  // Node i was just elected. If another node still leads at a lower ballot,
  // sometimes keep it in the dark for a while: nothing from the new leader
  // and no refusal reaches it, a third node reaches it both ways whatever
  // else fails, and that node campaigns. Its Prepare carries a commit point
  // past what the old leader proposed, and the old leader (sticky) ignores
  // the Prepare but learns from it (Bug A's path).
  const paxos::Ballot b = nodes_[i].replica->node().ballot();
  for (int k = 0; k < opt_.nodes; ++k) {
    SimNode& old = nodes_[k];
    if (k == i || !old.up || old.replica->node().role() != paxos::Role::kLeader) continue;
    if (!(old.replica->node().ballot() < b) || !rng_.chance(0.7)) continue;
    old.deaf_until = now_ + rng_.uniform(100, 600);
    old.deaf_to = i;
    ++result_.stale_leader_faults;
    std::vector<int> others;
    for (int m = 0; m < opt_.nodes; ++m) {
      if (m != i && m != k && nodes_[m].up) others.push_back(m);
    }
    if (others.empty()) continue;
    const int third = others[rng_.uniform(0, static_cast<int64_t>(others.size()) - 1)];
    old.bridge = third;
    schedule(now_ + rng_.uniform(20, 250), EventKind::kCampaign, third, /*token=*/1);
  }
}

void World::check_steps() {
  for (int i = 0; i < opt_.nodes && result_.ok; ++i) {
    SimNode& n = nodes_[i];
    if (!n.up) continue;
    const paxos::Node& core = n.replica->node();
    if (core.stats().became_leader > n.became_leader_seen) {
      n.became_leader_seen = core.stats().became_leader;
      if (opt_.stale_leader_faults && !healed_) stale_leader_fault(i);
    }
    // (a)
    if (core.role() == paxos::Role::kLeader && core.next_instance() < core.first_unchosen()) {
      fail(fmt::format("leader: node {} leads with next instance {} below its first unchosen {}",
                       i + 1, core.next_instance(), core.first_unchosen()));
      return;
    }
    // (b): every chosen mark is checked at the first event after it is made.
    check_chosen(i, n.chosen_verified, "");
    n.chosen_verified = std::max(n.chosen_verified, core.first_unchosen());
    // (d)
    const Instance on_disk = n.store->durable_commit();
    for (Instance k = std::max(n.durable_commit_checked, core.log_start()); k < on_disk; ++k) {
      const paxos::Slot* s = core.slot(k);
      if (!s || !s->value) continue;
      auto rec = n.durable.find(k);
      if (rec == n.durable.end() || (!rec->second.chosen && rec->second.ballot != s->ballot)) {
        fail(
            fmt::format("durability: node {}'s commit point on disk ({}) covers instance {} "
                        "whose newest acceptance (ballot {}) is not on disk ({})",
                        i + 1, on_disk, k, s->ballot.to_string(),
                        rec == n.durable.end() ? std::string("nothing")
                                               : "ballot " + rec->second.ballot.to_string()));
        return;
      }
    }
    n.durable_commit_checked = std::max(n.durable_commit_checked, on_disk);
  }
}

std::string World::sticky_mix() const {
  if (sticky_per_node_.empty()) return "same";
  std::string s;
  for (bool b : sticky_per_node_)
    s += b ? 'y' : 'n';
  return s;
}

int World::current_leader() const {
  int leader = -1;
  for (int i = 0; i < opt_.nodes; ++i) {
    const SimNode& s = nodes_[i];
    if (!s.up || s.replica->node().role() != paxos::Role::kLeader) continue;
    if (leader < 0 || nodes_[leader].replica->node().ballot() < s.replica->node().ballot()) {
      leader = i;
    }
  }
  return leader;
}

void World::track_rejoin_leader() {
  // A leader that runs phase 1 again under a higher ballot is no change; a
  // different node leading is.
  const int now_leading = current_leader();
  if (now_leading < 0) return;
  if (rejoin_leader_ >= 0 && now_leading != rejoin_leader_) ++result_.leader_changes_after_rejoin;
  rejoin_leader_ = now_leading;
}

// restart_leader's script. Step 0: kill the leader. Step 1: wait until
// another node leads. Step 2: restart the old leader (0-1000 ms after that).
// Step 3: two election timeouts later, the window closes; next round.
void World::restart_leader_step(uint64_t step) {
  if (healed_) return;
  const TimeMs election_ms = node_config(0).election_timeout_ms;
  switch (step) {
    case 0: {
      const int leader = current_leader();
      if (leader < 0) {
        schedule(now_ + 10, EventKind::kRestartLeader, 0, 0);
        return;
      }
      crash_node(leader);
      restarted_ = leader;
      new_leader_ = -1;
      restarted_at_ = -1;
      schedule(now_ + 10, EventKind::kRestartLeader, 0, 1);
      return;
    }
    case 1: {
      const int leader = current_leader();
      if (leader < 0 || leader == restarted_) {
        schedule(now_ + 10, EventKind::kRestartLeader, 0, 1);
        return;
      }
      schedule(now_ + rng_.uniform(0, 1000), EventKind::kRestartLeader, 0, 2);
      return;
    }
    case 2: {
      const int leader = current_leader();
      if (leader < 0) {  // lost again meanwhile: wait for the next one
        schedule(now_ + 10, EventKind::kRestartLeader, 0, 1);
        return;
      }
      new_leader_ = leader;
      new_leader_ballot_ = nodes_[leader].replica->node().ballot();
      start_node(restarted_);
      restarted_at_ = now_;
      watching_window_ = true;
      elections_at_restart_.assign(static_cast<size_t>(opt_.nodes), 0);
      for (int i = 0; i < opt_.nodes; ++i) {
        if (nodes_[i].up) {
          elections_at_restart_[static_cast<size_t>(i)] =
              nodes_[i].replica->node().stats().elections_started;
        }
      }
      schedule(now_ + 2 * election_ms, EventKind::kRestartLeader, 0, 3);
      return;
    }
    default: {
      watching_window_ = false;
      ++result_.leader_restarts;
      if (result_.leader_restarts < static_cast<uint64_t>(opt_.restart_leader)) {
        schedule(now_ + 100, EventKind::kRestartLeader, 0, 0);
      }
      return;
    }
  }
}

void World::check_restarted_leader() {
  if (restarted_at_ < 0 || !nodes_[restarted_].up || new_leader_ < 0) return;
  const paxos::Node& old = nodes_[restarted_].replica->node();
  const SimNode& lead = nodes_[new_leader_];
  const bool leads_on = lead.up && lead.replica->node().role() == paxos::Role::kLeader &&
                        lead.replica->node().ballot() == new_leader_ballot_;
  const TimeMs since = now_ - restarted_at_;
  if (leads_on && old.role() != paxos::Role::kFollower) {
    fail(fmt::format(
        "restart: node {}, restarted {} ms ago, is {} at ballot {} while node {} leads at {}",
        restarted_ + 1, since, paxos::to_string(old.role()), old.ballot().to_string(),
        new_leader_ + 1, new_leader_ballot_.to_string()));
    return;
  }
  if (!watching_window_) return;
  if (!leads_on) {
    fail(fmt::format("restart: node {} no longer leads at ballot {}, {} ms after node {} restarted",
                     new_leader_ + 1, new_leader_ballot_.to_string(), since, restarted_ + 1));
    return;
  }
  if (old.stats().pre_votes_started > 0) {
    fail(fmt::format("restart: node {} asked for a pre-vote {} ms after its restart",
                     restarted_ + 1, since));
    return;
  }
  for (int i = 0; i < opt_.nodes; ++i) {
    if (!nodes_[i].up) continue;
    const uint64_t started = nodes_[i].replica->node().stats().elections_started;
    if (started != elections_at_restart_[static_cast<size_t>(i)]) {
      fail(fmt::format("restart: node {} started phase 1 {} ms after node {} restarted", i + 1,
                       since, restarted_ + 1));
      return;
    }
  }
}

void World::on_durable(int node, const storage::WriteBatch& batch) {
  for (const paxos::Entry& e : batch.entries) {
    nodes_[node].durable[e.instance] = SimNode::DurableRecord{e.ballot, e.chosen};
  }
  if (batch.promised && !healed_ && rng_.chance(opt_.crash_after_promise)) {
    // Let the promise's messages leave first, then pull the plug.
    schedule(now_ + rng_.uniform(0, 3), EventKind::kCrash, node, /*token=*/1);
  }
  for (const paxos::Entry& e : batch.entries) {
    if (e.chosen) continue;  // a learned value, not an acceptance
    note_acceptance(node, e.instance, e.ballot, e.value);
  }
}

void World::note_acceptance(int node, Instance instance, const paxos::Ballot& ballot,
                            const paxos::Value& value) {
  const size_t majority = static_cast<size_t>(opt_.nodes) / 2 + 1;
  Acceptances& a = accepted_[{instance, ballot}];
  if (!a.value) {
    a.value = value;
  } else if (!paxos::same_value(a.value, value)) {
    fail(fmt::format("two values accepted at one ballot {} for instance {}", ballot.to_string(),
                     instance));
  }
  if (!a.nodes.insert(node).second || a.nodes.size() != majority) return;
  auto [it, fresh] = truly_chosen_.emplace(instance, a.value);
  if (!fresh && !paxos::same_value(it->second, a.value)) {
    fail(
        fmt::format("agreement: a majority accepted two different values for instance {} "
                    "(the second at ballot {}, by node {})",
                    instance, ballot.to_string(), node + 1));
  }
}

void World::new_partition() {
  ++result_.partitions;
  for (auto& row : blocked_)
    std::fill(row.begin(), row.end(), false);
  switch (rng_.uniform(0, 4)) {
    case 0:  // everyone connected
      break;
    case 4: {  // one-way between groups: some nodes cannot send to others
      std::vector<int> side(opt_.nodes);
      for (int& s : side)
        s = static_cast<int>(rng_.uniform(0, 2));  // 0 mute towards 1, 2 untouched
      for (int a = 0; a < opt_.nodes; ++a) {
        for (int b = 0; b < opt_.nodes; ++b)
          blocked_[a][b] = side[a] == 0 && side[b] == 1;
      }
      break;
    }
    case 1: {  // two sides, symmetric
      std::vector<int> side(opt_.nodes);
      for (int& s : side)
        s = static_cast<int>(rng_.uniform(0, 1));
      for (int a = 0; a < opt_.nodes; ++a) {
        for (int b = 0; b < opt_.nodes; ++b)
          blocked_[a][b] = side[a] != side[b];
      }
      break;
    }
    case 2: {  // one-way links
      for (int k = 0; k < opt_.nodes; ++k) {
        const int a = static_cast<int>(rng_.uniform(0, opt_.nodes - 1));
        const int b = static_cast<int>(rng_.uniform(0, opt_.nodes - 1));
        if (a != b) blocked_[a][b] = true;
      }
      break;
    }
    default: {  // one node isolated
      const int a = static_cast<int>(rng_.uniform(0, opt_.nodes - 1));
      for (int b = 0; b < opt_.nodes; ++b) {
        if (a != b) blocked_[a][b] = blocked_[b][a] = true;
      }
    }
  }
}

void World::heal() {
  healed_ = true;
  healed_at_ = now_;
  if (opt_.isolate_one) rejoin_leader_ = current_leader();
  for (auto& row : blocked_)
    std::fill(row.begin(), row.end(), false);
  for (int i = 0; i < opt_.nodes; ++i) {
    if (!nodes_[i].up) start_node(i);
  }
}

void World::schedule_campaign() {
  if (opt_.campaign_per_s <= 0) return;
  const auto mean_ms = static_cast<TimeMs>(1000.0 / opt_.campaign_per_s);
  const TimeMs next = now_ + rng_.uniform(1, 2 * mean_ms);
  if (next < opt_.fault_ms) {
    schedule(next, EventKind::kCampaign, static_cast<int>(rng_.uniform(0, opt_.nodes - 1)));
  }
}

bool World::all_clients_done() const {
  return std::all_of(clients_.begin(), clients_.end(),
                     [&](const SimClient& c) { return c.done >= opt_.commands_per_client; });
}

bool World::converged() const {
  const Instance target = nodes_[0].replica ? nodes_[0].replica->node().first_unchosen() : 0;
  for (const SimNode& n : nodes_) {
    if (!n.up) return false;
    const paxos::Node& core = n.replica->node();
    if (core.first_unchosen() != target || core.next_apply() != target) return false;
    if (core.known_commit() > target) return false;
  }
  return true;
}

void World::process(const Event& e) {
  switch (e.kind) {
    case EventKind::kDeliver: {
      SimNode& n = nodes_[e.node];
      // A stale-leader fault also catches what was already on its way.
      const bool deaf = now_ < n.deaf_until && !healed_ &&
                        (e.msg->type == paxos::MessageType::kNack ||
                         static_cast<int>(e.msg->from) - 1 == n.deaf_to);
      if (deaf) {
        ++result_.messages_dropped;
        break;
      }
      if (n.up) n.replica->receive(*e.msg);
      break;
    }
    case EventKind::kTick: {
      SimNode& n = nodes_[e.node];
      if (!n.up || n.generation != e.token) break;
      n.replica->tick(now_);
      result_.max_disk_bytes = std::max(result_.max_disk_bytes, n.store->disk_bytes());
      result_.max_log_disk_bytes = std::max(result_.max_log_disk_bytes, n.store->log_disk_bytes());
      schedule(now_ + opt_.tick_ms, EventKind::kTick, e.node, e.token);
      break;
    }
    case EventKind::kOutage:
      crash_node(e.node);  // back at the heal
      break;
    case EventKind::kDiskFull:
      nodes_[e.node].disk->set_capacity(nodes_[e.node].disk->used_bytes());
      break;
    case EventKind::kDiskBack:
      nodes_[e.node].disk->set_capacity(UINT64_MAX);
      break;
    case EventKind::kCallback: {
      SimNode& n = nodes_[e.node];
      if (n.up && n.generation == e.token) (*e.fn)();
      break;
    }
    case EventKind::kClientSubmit:
      client_submit(e.node);
      break;
    case EventKind::kClientTick: {
      SimClient& cl = clients_[e.node];
      if (e.token != cl.tick_token) break;  // re-armed since
      cl.tick_at = -1;
      cl.core->tick(client::Time{} + std::chrono::milliseconds(now_));
      client_pump(e.node);
      break;
    }
    case EventKind::kToReplica:
      deliver_request(e);
      break;
    case EventKind::kToClient: {
      pb::ClientResponse resp;
      PAXLOCK_CHECK(resp.ParseFromString(*e.bytes));
      clients_[e.node].core->on_response(static_cast<size_t>(e.token), resp,
                                         client::Time{} + std::chrono::milliseconds(now_));
      client_pump(e.node);
      break;
    }
    case EventKind::kClientConnLost:
      clients_[e.node].core->on_connection_lost(static_cast<size_t>(e.token),
                                                client::Time{} + std::chrono::milliseconds(now_));
      client_pump(e.node);
      break;
    case EventKind::kCrash: {
      if (healed_) break;
      crash_node(e.node);
      if (e.token == 1) {  // a targeted crash: back quickly, no new crash chain
        schedule(now_ + rng_.uniform(1, 20), EventKind::kRestart, e.node);
        break;
      }
      if (opt_.minority_restarts && rng_.chance(0.5)) {
        // A minority goes down at once and comes back soon, knowing no
        // leader: for a while they promise anyone.
        schedule(now_ + rng_.uniform(1, 100), EventKind::kRestart, e.node);
        for (int k = 1; k < (opt_.nodes - 1) / 2; ++k) {
          const int other = static_cast<int>(rng_.uniform(0, opt_.nodes - 1));
          if (!nodes_[other].up) continue;
          crash_node(other);
          schedule(now_ + rng_.uniform(1, 100), EventKind::kRestart, other);
        }
        // Someone who still follows the leader campaigns meanwhile: with the
        // restarted ones it is a majority, and a second leader stands beside
        // a sticky one that ignored its Prepare.
        std::vector<int> followers;
        for (int k = 0; k < opt_.nodes; ++k) {
          if (nodes_[k].up && nodes_[k].replica->node().role() == paxos::Role::kFollower) {
            followers.push_back(k);
          }
        }
        if (!followers.empty()) {
          const int who = followers[rng_.uniform(0, static_cast<int64_t>(followers.size()) - 1)];
          schedule(now_ + rng_.uniform(100, 300), EventKind::kCampaign, who, /*token=*/1);
        }
      } else {
        schedule(now_ + rng_.uniform(1, opt_.restart_max_ms), EventKind::kRestart, e.node);
      }
      const TimeMs next = now_ + rng_.uniform(opt_.crash_gap_max_ms / 8, opt_.crash_gap_max_ms);
      if (next < opt_.fault_ms) {
        schedule(next, EventKind::kCrash, static_cast<int>(rng_.uniform(0, opt_.nodes - 1)));
      }
      break;
    }
    case EventKind::kRestart:
      if (!nodes_[e.node].up) start_node(e.node);
      break;
    case EventKind::kPartition: {
      if (healed_) break;
      new_partition();
      const TimeMs next = now_ + rng_.uniform(100, 1000);
      if (next < opt_.fault_ms) schedule(next, EventKind::kPartition, 0);
      break;
    }
    case EventKind::kHeal:
      heal();
      break;
    case EventKind::kIsolate: {
      // A follower, cut off both ways until the heal.
      std::vector<int> followers;
      for (int i = 0; i < opt_.nodes; ++i) {
        if (nodes_[i].up && nodes_[i].replica->node().role() != paxos::Role::kLeader) {
          followers.push_back(i);
        }
      }
      if (followers.empty()) break;
      isolated_ = followers[rng_.uniform(0, static_cast<int64_t>(followers.size()) - 1)];
      for (int b = 0; b < opt_.nodes; ++b) {
        if (b != isolated_) blocked_[isolated_][b] = blocked_[b][isolated_] = true;
      }
      break;
    }
    case EventKind::kRestartLeader:
      restart_leader_step(e.token);
      break;
    case EventKind::kCampaign: {
      if (healed_) break;
      SimNode& n = nodes_[e.node];
      if (n.up) {
        ++result_.campaigns;
        n.replica->campaign(now_);
      }
      if (e.token == 0) schedule_campaign();  // token 1: a one-off
      break;
    }
  }
}

void World::final_checks() {
  if (locks_) {
    // Every acknowledged command is in the chosen log (and so, with
    // agreement and convergence, applied on every replica).
    for (const paxos::CommandId& id : acked_ids_) {
      if (!in_log_.count(id)) {
        fail(fmt::format("durability: acknowledged command ({}, {}) is not in the log", id.client,
                         id.seq));
        return;
      }
    }
    return;
  }
  // Durability: every acknowledged command at its acknowledged position, on
  // every replica (all up and converged by now).
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto& applied = nodes_[i].reg->applied();
    for (const auto& [id, pos] : acked_pos_) {
      if (pos == 0 || pos > applied.size() || applied[pos - 1] != id) {
        fail(fmt::format("durability: node {} lacks acknowledged command ({}, {}) at position {}",
                         i + 1, id.client, id.seq, pos));
        return;
      }
    }
  }
}

Outcome World::run() {
  draw_faults();
  result_.faults = fmt::format(
      "loss={} nack_loss={} dup={} delay<={}ms spike={} partitions={} crashes={} campaigns/s={} "
      "sticky={} "
      "crash_gap<={}ms restart<={}ms crash_after_promise={} crash_after_append={} "
      "minority_restarts={} stale_leader_faults={} sticky_per_node={} snapshot_every={} segment={} "
      "prealloc={} "
      "read_flips={}{}",
      opt_.loss, opt_.nack_loss, opt_.duplicate, opt_.delay_max_ms, opt_.spike, opt_.partitions,
      opt_.crashes, opt_.campaign_per_s, opt_.sticky_leader, opt_.crash_gap_max_ms,
      opt_.restart_max_ms, opt_.crash_after_promise, opt_.crash_after_append,
      opt_.minority_restarts, opt_.stale_leader_faults, sticky_mix(), opt_.snapshot_every,
      opt_.wal_segment_bytes, opt_.wal_preallocate, opt_.read_flip_rate,
      opt_.isolate_one ? " isolate_one" : "");
  nodes_.resize(opt_.nodes);
  blocked_.assign(opt_.nodes, std::vector<bool>(opt_.nodes, false));
  for (int i = 0; i < opt_.nodes; ++i) {
    nodes_[i].id = static_cast<NodeId>(i + 1);
    // The disk outlives crashes; each incarnation opens its own store on it.
    nodes_[i].disk = std::make_unique<SimFs>(opt_.seed * 31 + static_cast<uint64_t>(i));
    nodes_[i].disk->set_read_flip_rate(opt_.read_flip_rate);
    start_node(i);
  }
  clients_.resize(opt_.clients);
  if (opt_.workload == Workload::kLocks) {
    locks_ = std::make_unique<LockWorkload>(opt_.clients, opt_.lock_names);
  }
  for (int c = 0; c < opt_.clients; ++c) {
    SimClient& cl = clients_[c];
    cl.id = static_cast<uint64_t>(c + 1);
    ClientOptions co;
    co.cluster_id = "sim";
    for (int i = 0; i < opt_.nodes; ++i) {
      co.replicas.push_back({static_cast<uint32_t>(i + 1), fmt::format("sim:{}", i + 1), "", ""});
    }
    // Each client draws its replica choice and attempt timeout from the seed.
    const int64_t choice = rng_.uniform(0, 4);
    co.choice = choice == 0   ? ReplicaChoice::kHash
                : choice == 1 ? ReplicaChoice::kFixed
                              : ReplicaChoice::kRandom;
    co.fixed_replica = static_cast<uint32_t>(rng_.uniform(1, opt_.nodes));
    co.attempt_timeout = std::chrono::milliseconds(rng_.uniform(300, 1500));
    // By default a request never gives up within a run.
    co.request_timeout = std::chrono::milliseconds(opt_.client_request_timeout_ms > 0
                                                       ? opt_.client_request_timeout_ms
                                                       : 2 * (opt_.fault_ms + opt_.liveness_ms));
    co.client_id = cl.id;
    co.seed = opt_.seed * 1000033 + static_cast<uint64_t>(c) + 1;
    client::CoreConfig cc;
    cc.mutation = opt_.client_mutation;
    cl.core = std::make_unique<client::ClientCore>(std::move(co), cc);
    schedule(rng_.uniform(0, 100), EventKind::kClientSubmit, c);
  }
  if (opt_.partitions) schedule(rng_.uniform(0, 500), EventKind::kPartition, 0);
  if (opt_.isolate_one) schedule(opt_.isolate_at_ms, EventKind::kIsolate, 0);
  if (opt_.restart_leader > 0) schedule(opt_.restart_leader_at_ms, EventKind::kRestartLeader, 0);
  if (opt_.crashes) {
    schedule(rng_.uniform(100, 1000), EventKind::kCrash,
             static_cast<int>(rng_.uniform(0, opt_.nodes - 1)));
  }
  schedule_campaign();
  if (opt_.outage_node >= 0) schedule(opt_.outage_from_ms, EventKind::kOutage, opt_.outage_node);
  if (opt_.disk_full_node >= 0) {
    schedule(opt_.disk_full_from_ms, EventKind::kDiskFull, opt_.disk_full_node);
    schedule(opt_.disk_full_until_ms, EventKind::kDiskBack, opt_.disk_full_node);
  }
  schedule(opt_.fault_ms, EventKind::kHeal, 0);

  const TimeMs deadline = opt_.fault_ms + opt_.liveness_ms;
  while (!queue_.empty() && result_.ok) {
    Event e = queue_.top();
    queue_.pop();
    if (e.at > deadline) break;
    now_ = e.at;
    if (++result_.events > opt_.max_events || queue_.size() > opt_.max_events) {
      fail(fmt::format("message storm: more than {} events or queued events", opt_.max_events));
      break;
    }
    hash_event(e);
    process(e);
    for (const SimNode& n : nodes_) {
      if (n.up && !n.replica->node().violation_seen().empty()) {
        fail(fmt::format("node {}: {}", n.id, n.replica->node().violation_seen()));
      }
    }
    check_steps();
    if (opt_.isolate_one && healed_) track_rejoin_leader();
    if (opt_.restart_leader > 0) check_restarted_leader();
    if (healed_ && all_clients_done() && converged() && now_ >= opt_.run_at_least_ms) break;
  }
  result_.end_ms = now_;
  for (const SimNode& n : nodes_) {
    if (!n.replica) continue;
    result_.elections += n.replica->node().stats().elections_started;
    result_.snapshots_installed += n.replica->stats().snapshots_installed;
    result_.write_failures += n.replica->stats().write_failures;
    result_.log_bytes_written += n.store->log_bytes();
  }
  if (result_.ok && !(all_clients_done() && converged())) {
    int done = 0;
    for (const SimClient& c : clients_)
      done += c.done;
    std::string state;
    for (const SimNode& n : nodes_) {
      if (!n.up) continue;
      const paxos::Node& core = n.replica->node();
      state += fmt::format(" [n{} {} fu={} kc={} pend={}]", n.id, paxos::to_string(core.role()),
                           core.first_unchosen(), core.known_commit(), core.pending_commands());
    }
    fail(fmt::format("liveness: {}ms after healing, {}/{} commands done, converged={};{}",
                     opt_.liveness_ms, done, opt_.clients * opt_.commands_per_client, converged(),
                     state));
  }
  if (result_.ok && opt_.isolate_one && isolated_ >= 0) {
    const uint64_t changes = result_.leader_changes_after_rejoin;
    if (changes > 0) {
      fail(
          fmt::format("liveness: {} leader change(s) after node {} rejoined from isolation "
                      "(a healthy leader was deposed)",
                      changes, isolated_ + 1));
    }
  }
  if (result_.ok && result_.leader_restarts < static_cast<uint64_t>(opt_.restart_leader)) {
    fail(fmt::format("restart: only {} of {} leader restarts watched before the heal",
                     result_.leader_restarts, opt_.restart_leader));
  }
  if (result_.ok) final_checks();
  if (locks_) {
    result_.lock_grants_acked = locks_->grants_acked();
    result_.unlocks_acked = locks_->unlocks_acked();
    result_.sessions_opened = locks_->sessions_opened();
  }
  result_.trace_hash = hash_;
  return result_;
}

}  // namespace

Outcome run(const Options& options) {
  World world(options);
  return world.run();
}

}  // namespace paxlock::sim
