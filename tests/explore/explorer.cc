#include "explore/explorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/check.h"
#include "explore/node_inspector.h"
#include "paxos/node.h"
#include "sim/sim_fs.h"
#include "storage/log_store.h"
#include "storage/wal.h"

namespace paxlock::explore {
namespace {

using paxos::Ballot;
using paxos::Entry;
using paxos::Instance;
using paxos::Message;
using paxos::MessageType;
using paxos::Node;
using paxos::NodeInspector;
using paxos::Ready;
using paxos::Restored;
using paxos::TimeMs;
using paxos::Value;

// The core's timers, fixed for the explorer. A `timeout` moves a clock by
// kJump, more than any timer or lease spans (the longest is a restarted node's
// election timer, 3 * kElection), so that every timer fires at the next
// timeout whatever its (random) value; see node_inspector.h.
constexpr TimeMs kHeartbeat = 50;
constexpr TimeMs kElection = 300;
constexpr TimeMs kResend = 100;
constexpr TimeMs kRetry = 400;
constexpr TimeMs kIdleTick = 200;
constexpr TimeMs kJump = 100000;
constexpr TimeMs kTick = kResend;
const char* const kWalDir = "wal";

// ---------------------------------------------------------------------------
// Canonical text of values and messages: replay scripts name messages by it,
// and the network orders and deduplicates messages by it.

std::string command_text(const paxos::Command& c) {
  if (c.id.seq == 1 && c.payload == fmt::format("c{}", c.id.client)) {
    return fmt::format("c{}", c.id.client);
  }
  return fmt::format("c{}.{}:{}", c.id.client, c.id.seq, c.payload);
}

std::string value_text(const Value& v) {
  if (!v) return "null";
  std::string s = v->timestamp_ms != 0 ? fmt::format("t{}", v->timestamp_ms) : "";
  if (v->commands.empty()) return s + "noop";
  s += "{";
  for (size_t i = 0; i < v->commands.size(); ++i) {
    if (i) s += ",";
    s += command_text(v->commands[i]);
  }
  return s + "}";
}

std::string entry_text(const Entry& e) {
  return fmt::format("{}@{}={}{}", e.instance, e.ballot.to_string(), value_text(e.value),
                     e.chosen ? "*" : "");
}

std::string message_text(const Message& m) {
  std::string s =
      fmt::format("{} {}->{} b={} i={} end={} commit={} start={}", paxos::to_string(m.type), m.from,
                  m.to, m.ballot.to_string(), m.instance, m.end, m.commit, m.log_start);
  if (m.more) s += " more";
  if (m.want_ack) s += " ack";
  if (m.granted) s += " granted";
  if (!m.entries.empty()) {
    s += " e=[";
    for (size_t i = 0; i < m.entries.size(); ++i)
      s += (i ? " " : "") + entry_text(m.entries[i]);
    s += "]";
  }
  if (!m.instances.empty()) {
    s += " n=[";
    for (size_t i = 0; i < m.instances.size(); ++i)
      s += fmt::format("{}{}", i ? " " : "", m.instances[i]);
    s += "]";
  }
  if (!m.commands.empty()) {
    s += " c=[";
    for (size_t i = 0; i < m.commands.size(); ++i)
      s += (i ? " " : "") + command_text(m.commands[i]);
    s += "]";
  }
  return s;
}

uint64_t text_hash(const std::string& s) {
  Hasher h;
  h.add(s);
  return h.value();
}

// ---------------------------------------------------------------------------
// World state. Everything big is shared between states and copied on write.

struct NetMsg {
  std::string key;  // message_text
  uint64_t hash = 0;
  Message msg;
};

struct NetSlot {
  std::shared_ptr<const NetMsg> m;
  int count = 1;
};

struct WalDisk {
  std::shared_ptr<const sim::SimFs> clean;  // durable == visible
  bool writing = false;                     // `inflight` is appended, not synced
  storage::WriteBatch inflight;
  std::vector<Message> inflight_msgs;  // leave when `inflight` is durable
  storage::WriteBatch next;            // group commit: taken while writing
  std::vector<Message> next_msgs;
  // While writing: what a power loss now leaves (recovered), and its state.
  std::shared_ptr<const sim::SimFs> crash;
  std::shared_ptr<const Restored> crash_state;
};

struct NodeState {
  std::shared_ptr<Node> node;
  uint64_t node_fp = 0;           // 0: stale
  std::shared_ptr<Restored> mem;  // memory model
  std::shared_ptr<WalDisk> wal;   // WAL model
  uint64_t disk_fp = 0;           // 0: stale
};

struct Acc {
  Value value;
  std::set<int> nodes;
};

struct Truth {
  std::map<std::pair<Instance, Ballot>, Acc> acc;  // durable acceptances
  std::map<Instance, Value> chosen;                // first majority per instance
};

struct World {
  std::vector<NodeState> nodes;
  std::vector<NetSlot> net;  // sorted by key
  std::shared_ptr<Truth> truth;
  uint64_t truth_fp = 0;  // 0: stale
  int campaigns = 0, restarts = 0, timeouts = 0, ticks = 0;
  uint32_t proposed = 0;  // bit c-1: command c was proposed
  std::string violation;
};

enum class Kind : uint8_t {
  kDeliver,
  kDup,
  kDrop,
  kSync,
  kRestart,
  kCampaign,
  kPropose,
  kTimeout,
  kTick,
  kSettle,  // scripts only: deliver everything, sync everything, until quiet
  kLose,    // scripts only: every message in flight is lost
};

struct Action {
  Kind kind = Kind::kDeliver;
  int node = 0;  // 1-based
  int cmd = 0;   // 1-based
  std::shared_ptr<const NetMsg> msg;
};

std::string action_text(const Action& a) {
  switch (a.kind) {
    case Kind::kDeliver:
      return "deliver " + a.msg->key;
    case Kind::kDup:
      return "dup " + a.msg->key;
    case Kind::kDrop:
      return "drop " + a.msg->key;
    case Kind::kSync:
      return fmt::format("sync {}", a.node);
    case Kind::kRestart:
      return fmt::format("restart {}", a.node);
    case Kind::kCampaign:
      return fmt::format("campaign {}", a.node);
    case Kind::kPropose:
      return fmt::format("propose {} c{}", a.node, a.cmd);
    case Kind::kTimeout:
      return fmt::format("timeout {}", a.node);
    case Kind::kTick:
      return fmt::format("tick {}", a.node);
    case Kind::kSettle:
      return "settle";
    case Kind::kLose:
      return "lose";
  }
  return "?";
}

template <typename T>
void set_checkpoint_unwritten(T& wal_options, bool on) {
  // storage::WalOptions::checkpoint_unwritten is planted bug B; builds
  // before it existed simply cannot plant it.
  if constexpr (requires { wal_options.checkpoint_unwritten = on; }) {
    wal_options.checkpoint_unwritten = on;
  } else {
    (void)wal_options;
    (void)on;
  }
}

struct Mounted {
  std::unique_ptr<sim::SimFs> fs;  // declared first: destroyed after the Wal
  std::unique_ptr<storage::Wal> wal;
  storage::WalRecovery rec;
};

class Engine {
 public:
  explicit Engine(const Options& o) : o_(o) {
    majority_ = static_cast<size_t>(o_.nodes) / 2 + 1;
    wal_options_.segment_bytes = o_.segment_bytes;
    wal_options_.preallocate = false;
    set_checkpoint_unwritten(wal_options_, o_.checkpoint_unwritten);
  }

  paxos::Config config(int n) const {
    paxos::Config c;
    c.self = static_cast<paxos::NodeId>(n);
    for (int i = 1; i <= o_.nodes; ++i)
      c.members.push_back(static_cast<paxos::NodeId>(i));
    c.rng_seed = static_cast<uint64_t>(n) * 101 + 7;
    c.heartbeat_ms = kHeartbeat;
    c.election_timeout_ms = kElection;
    c.resend_ms = kResend;
    c.command_retry_ms = kRetry;
    c.idle_tick_ms = kIdleTick;
    c.pipeline_window = o_.pipeline_window;
    c.batch_commands_max = o_.batch_commands_max;
    c.sticky_leader = o_.sticky_leader;
    c.mutation = o_.mutation;
    return c;
  }

  paxos::Command command(int c) const {
    return paxos::Command{paxos::CommandId{static_cast<uint64_t>(c), 1}, fmt::format("c{}", c)};
  }

  World initial() {
    World w;
    w.truth = std::make_shared<Truth>();
    for (int n = 1; n <= o_.nodes; ++n) {
      NodeState s;
      Restored r;
      if (o_.disk == DiskModel::kWal) {
        auto fs = std::make_unique<sim::SimFs>(static_cast<uint64_t>(n));
        {
          auto wal = storage::Wal::open(*fs, kWalDir, static_cast<paxos::NodeId>(n), wal_options_,
                                        nullptr);
          PAXLOCK_CHECK(wal.ok());
        }
        s.wal = std::make_shared<WalDisk>();
        s.wal->clean = std::shared_ptr<const sim::SimFs>(std::move(fs));
      } else {
        s.mem = std::make_shared<Restored>();
      }
      w.nodes.push_back(std::move(s));
    }
    for (int n = 1; n <= o_.nodes; ++n)
      boot(w, n, r_of(w, n), 0);
    check(w, 0);
    return w;
  }

  // Every action enabled in `w`, in a fixed order.
  std::vector<Action> actions(const World& w) const {
    std::vector<Action> out;
    for (const NetSlot& s : w.net) {
      if (o_.bag) {
        out.push_back(Action{Kind::kDeliver, 0, 0, s.m});
        out.push_back(Action{Kind::kDup, 0, 0, s.m});
        out.push_back(Action{Kind::kDrop, 0, 0, s.m});
      } else {
        out.push_back(Action{Kind::kDeliver, 0, 0, s.m});
      }
    }
    for (int n = 1; n <= o_.nodes; ++n) {
      const NodeState& s = w.nodes[n - 1];
      if (s.wal && s.wal->writing) out.push_back(Action{Kind::kSync, n, 0, nullptr});
    }
    for (int c = 1; c <= o_.commands; ++c) {
      if (w.proposed & (1u << (c - 1))) continue;
      for (int n = 1; n <= o_.nodes; ++n)
        out.push_back(Action{Kind::kPropose, n, c, nullptr});
    }
    auto per_node = [&](Kind k, int used, int max) {
      if (used >= max) return;
      for (int n = 1; n <= o_.nodes; ++n)
        out.push_back(Action{k, n, 0, nullptr});
    };
    per_node(Kind::kCampaign, w.campaigns, o_.max_campaigns);
    per_node(Kind::kRestart, w.restarts, o_.max_restarts);
    per_node(Kind::kTimeout, w.timeouts, o_.max_timeouts);
    per_node(Kind::kTick, w.ticks, o_.max_ticks);
    return out;
  }

  // Applies `a`; then checks every invariant (w.violation says what broke).
  void apply(World& w, const Action& a) {
    int restarted = 0;
    switch (a.kind) {
      case Kind::kDeliver:
      case Kind::kDup:
      case Kind::kDrop: {
        auto it = find(w, a.msg->key);
        PAXLOCK_CHECK(it != w.net.end());
        const std::shared_ptr<const NetMsg> m = it->m;
        if (a.kind != Kind::kDup && (o_.bag || a.kind == Kind::kDrop)) {
          if (--it->count == 0) w.net.erase(it);
        }
        if (a.kind == Kind::kDrop) break;
        const int to = static_cast<int>(m->msg.to);
        mut_node(w, to).step(m->msg);
        pump(w, to);
        break;
      }
      case Kind::kSync:
        sync(w, a.node);
        break;
      case Kind::kRestart:
        ++w.restarts;
        restart(w, a.node);
        restarted = a.node;
        break;
      case Kind::kCampaign:
        ++w.campaigns;
        mut_node(w, a.node).campaign();
        pump(w, a.node);
        break;
      case Kind::kPropose:
        w.proposed |= 1u << (a.cmd - 1);
        mut_node(w, a.node).propose(command(a.cmd));
        pump(w, a.node);
        break;
      case Kind::kTimeout:
      case Kind::kTick: {
        if (a.kind == Kind::kTimeout) {
          ++w.timeouts;
        } else {
          ++w.ticks;
        }
        Node& node = mut_node(w, a.node);
        node.tick(NodeInspector::now(node) + (a.kind == Kind::kTimeout ? kJump : kTick), 0);
        pump(w, a.node);
        break;
      }
      case Kind::kSettle:
        settle(w);
        break;
      case Kind::kLose:
        w.net.clear();
        break;
    }
    check(w, restarted);
  }

  uint64_t fingerprint(World& w) const {
    Hasher h;
    const bool exact = o_.max_ticks > 0;
    for (NodeState& s : w.nodes) {
      if (s.node_fp == 0) s.node_fp = NodeInspector::fingerprint(*s.node, exact) | 1;
      if (s.disk_fp == 0) s.disk_fp = disk_fingerprint(s) | 1;
      h.add(s.node_fp);
      h.add(s.disk_fp);
    }
    h.add(w.net.size());
    for (const NetSlot& s : w.net) {
      h.add(s.m->hash);
      h.add(static_cast<uint64_t>(s.count));
    }
    if (w.truth_fp == 0) {
      Hasher t;
      for (const auto& [key, acc] : w.truth->acc) {
        t.add(key.first);
        t.add(key.second);
        t.add_value(acc.value);
        for (int n : acc.nodes)
          t.add(static_cast<uint64_t>(n));
      }
      w.truth_fp = t.value() | 1;
    }
    h.add(w.truth_fp);
    h.add(static_cast<uint64_t>(w.campaigns));
    h.add(static_cast<uint64_t>(w.restarts));
    h.add(static_cast<uint64_t>(w.timeouts));
    h.add(static_cast<uint64_t>(w.ticks));
    h.add(w.proposed);
    return h.value() | 1;
  }

  std::vector<NetSlot>::iterator find(World& w, const std::string& key) const {
    auto it = std::lower_bound(w.net.begin(), w.net.end(), key,
                               [](const NetSlot& s, const std::string& k) { return s.m->key < k; });
    if (it == w.net.end() || it->m->key != key) return w.net.end();
    return it;
  }

  // Parses one script line into an action; an error message if it cannot.
  std::optional<Action> parse(World& w, const std::string& line, std::string& error) const {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    Action a;
    auto node_arg = [&]() -> bool {
      if (!(in >> a.node) || a.node < 1 || a.node > o_.nodes) {
        error = "bad node in: " + line;
        return false;
      }
      return true;
    };
    if (verb == "deliver" || verb == "dup" || verb == "drop") {
      a.kind = verb == "deliver" ? Kind::kDeliver : verb == "dup" ? Kind::kDup : Kind::kDrop;
      const std::string key = line.substr(verb.size() + 1);
      auto it = find(w, key);
      if (it == w.net.end()) {
        error = "no such message in flight: " + key;
        return std::nullopt;
      }
      a.msg = it->m;
      return a;
    }
    if (verb == "settle") return Action{Kind::kSettle, 0, 0, nullptr};
    if (verb == "lose") return Action{Kind::kLose, 0, 0, nullptr};
    static const std::map<std::string, Kind> kinds = {
        {"sync", Kind::kSync},       {"restart", Kind::kRestart}, {"campaign", Kind::kCampaign},
        {"propose", Kind::kPropose}, {"timeout", Kind::kTimeout}, {"tick", Kind::kTick},
    };
    auto k = kinds.find(verb);
    if (k == kinds.end()) {
      error = "unknown action: " + line;
      return std::nullopt;
    }
    a.kind = k->second;
    if (!node_arg()) return std::nullopt;
    if (a.kind == Kind::kPropose) {
      std::string c;
      in >> c;
      if (c.size() < 2 || c[0] != 'c' || (a.cmd = std::atoi(c.c_str() + 1)) < 1 || a.cmd > 32) {
        error = "bad command in: " + line;
        return std::nullopt;
      }
      if (w.proposed & (1u << (a.cmd - 1))) {
        error = "command proposed twice: " + line;
        return std::nullopt;
      }
    }
    if (a.kind == Kind::kSync && !(w.nodes[a.node - 1].wal && w.nodes[a.node - 1].wal->writing)) {
      error = "nothing to sync: " + line;
      return std::nullopt;
    }
    return a;
  }

  std::string describe(const World& w) const {
    std::string s;
    for (int n = 1; n <= o_.nodes; ++n) {
      const NodeState& st = w.nodes[n - 1];
      const Node& node = *st.node;
      s += fmt::format("  n{} {} b={} promised={} first_unchosen={} next_instance={} leader={}", n,
                       paxos::to_string(node.role()), node.ballot().to_string(),
                       node.promised().to_string(), node.first_unchosen(),
                       NodeInspector::next_instance(node),
                       node.leader() ? std::to_string(*node.leader()) : "-");
      s += " log=[";
      for (Instance i = node.log_start(); i < node.log_end(); ++i) {
        const paxos::Slot* slot = node.slot(i);
        if (!slot->value) continue;
        s += fmt::format("{}{}", i == node.log_start() ? "" : " ",
                         entry_text(Entry{i, slot->ballot, slot->value, slot->chosen}));
      }
      s += fmt::format("] pending={}", node.pending_commands());
      if (st.wal) {
        s += st.wal->writing ? fmt::format(" writing({} records, {} msgs waiting)",
                                           st.wal->inflight.entries.size() +
                                               (st.wal->inflight.promised ? 1 : 0) +
                                               (st.wal->inflight.commit ? 1 : 0),
                                           st.wal->inflight_msgs.size())
                             : " synced";
      }
      if (!node.violation_seen().empty()) s += " violation=\"" + node.violation_seen() + "\"";
      s += "\n";
    }
    s += fmt::format("  network: {} message(s)", w.net.size());
    for (const NetSlot& m : w.net)
      s += "\n    " + m.m->key + (m.count > 1 ? fmt::format(" (x{})", m.count) : "");
    s += "\n  chosen (ground truth):";
    for (const auto& [i, v] : w.truth->chosen)
      s += fmt::format(" {}={}", i, value_text(v));
    return s;
  }

 private:
  Node& mut_node(World& w, int n) const {
    NodeState& s = w.nodes[n - 1];
    if (s.node.use_count() > 1) s.node = std::make_shared<Node>(*s.node);
    s.node_fp = 0;
    return *s.node;
  }
  Restored& mut_mem(World& w, int n) const {
    NodeState& s = w.nodes[n - 1];
    if (s.mem.use_count() > 1) s.mem = std::make_shared<Restored>(*s.mem);
    s.disk_fp = 0;
    return *s.mem;
  }
  WalDisk& mut_wal(World& w, int n) const {
    NodeState& s = w.nodes[n - 1];
    if (s.wal.use_count() > 1) s.wal = std::make_shared<WalDisk>(*s.wal);
    s.disk_fp = 0;
    return *s.wal;
  }
  Truth& mut_truth(World& w) const {
    if (w.truth.use_count() > 1) w.truth = std::make_shared<Truth>(*w.truth);
    w.truth_fp = 0;
    return *w.truth;
  }

  Mounted mount(const sim::SimFs& image, int n) const {
    Mounted m;
    m.fs = image.clone();
    auto wal =
        storage::Wal::open(*m.fs, kWalDir, static_cast<paxos::NodeId>(n), wal_options_, &m.rec);
    PAXLOCK_CHECK_MSG(wal.ok(), wal.ok() ? "" : wal.status().message().c_str());
    m.wal = std::move(*wal);
    return m;
  }

  // The durable state node n restarts from now.
  Restored r_of(const World& w, int n) const {
    const NodeState& s = w.nodes[n - 1];
    if (s.mem) return *s.mem;
    return mount(*s.wal->clean, n).rec.state;
  }

  void boot(World& w, int n, const Restored& r, TimeMs now) {
    NodeState& s = w.nodes[n - 1];
    s.node = std::make_shared<Node>(config(n));
    s.node_fp = 0;
    s.node->restore(r, now);
    // Batches carry wall time 0: values then depend on commands only.
    s.node->tick(now, 0);
    pump(w, n);
  }

  void restart(World& w, int n) {
    const TimeMs now = NodeInspector::now(*w.nodes[n - 1].node);
    Restored r;
    if (w.nodes[n - 1].mem) {
      r = *w.nodes[n - 1].mem;
    } else {
      WalDisk& d = mut_wal(w, n);
      if (d.writing) {
        r = *d.crash_state;
        d.clean = d.crash;
      } else {
        r = mount(*d.clean, n).rec.state;
      }
      d.writing = false;
      d.inflight.clear();
      d.inflight_msgs.clear();
      d.next.clear();
      d.next_msgs.clear();
      d.crash.reset();
      d.crash_state.reset();
    }
    boot(w, n, r, now);
  }

  void dispatch(World& w, int n, Message&& m, std::deque<Message>& inbox) const {
    if (static_cast<int>(m.to) == n) {
      inbox.push_back(std::move(m));
      return;
    }
    auto msg = std::make_shared<NetMsg>();
    msg->key = message_text(m);
    msg->hash = text_hash(msg->key);
    msg->msg = std::move(m);
    auto it = std::lower_bound(w.net.begin(), w.net.end(), msg->key,
                               [](const NetSlot& s, const std::string& k) { return s.m->key < k; });
    if (it != w.net.end() && it->m->key == msg->key) {
      if (o_.bag) ++it->count;
      return;
    }
    w.net.insert(it, NetSlot{std::move(msg), 1});
  }

  // As driver::Replica::pump: take Readys and step self-addressed messages
  // until the node is quiet.
  void pump(World& w, int n) {
    std::deque<Message> inbox;
    pump_with(w, n, inbox);
  }

  void pump_with(World& w, int n, std::deque<Message>& inbox) {
    for (int rounds = 0;; ++rounds) {
      PAXLOCK_CHECK(rounds < 100000);
      Ready r = mut_node(w, n).take_ready();
      if (r.empty() && inbox.empty()) break;
      handle(w, n, r, inbox);
      while (!inbox.empty()) {
        Message m = std::move(inbox.front());
        inbox.pop_front();
        mut_node(w, n).step(m);
      }
    }
  }

  void handle(World& w, int n, Ready& r, std::deque<Message>& inbox) {
    if (w.nodes[n - 1].mem) {
      // Durable at once, then everything leaves.
      if (r.needs_sync() || r.commit != 0) {
        Restored& d = mut_mem(w, n);
        if (r.promised && d.promised < *r.promised) d.promised = *r.promised;
        for (const Entry& e : r.entries) {
          auto it = std::find_if(d.entries.begin(), d.entries.end(),
                                 [&](const Entry& x) { return x.instance == e.instance; });
          if (it == d.entries.end()) {
            d.entries.push_back(e);
          } else {
            *it = e;
          }
        }
        d.commit = std::max(d.commit, r.commit);
        record_durable(w, n, r.entries);
      }
      for (Message& m : r.send_after_sync)
        dispatch(w, n, std::move(m), inbox);
      for (Message& m : r.send_now)
        dispatch(w, n, std::move(m), inbox);
      return;
    }
    WalDisk& d = mut_wal(w, n);
    if (r.needs_sync() || r.commit != 0) d.next.add(r);
    for (Message& m : r.send_after_sync)
      d.next_msgs.push_back(std::move(m));
    for (Message& m : r.send_now)
      dispatch(w, n, std::move(m), inbox);
    if (!d.writing) start_write(w, n, inbox);
  }

  // As driver::Replica::start_write: append the group-commit batch (not
  // synced yet), or release what waited if there is nothing to write.
  void start_write(World& w, int n, std::deque<Message>& inbox) {
    WalDisk& d = mut_wal(w, n);
    PAXLOCK_CHECK(!d.writing);
    if (d.next.empty()) {
      std::vector<Message> msgs = std::move(d.next_msgs);
      d.next_msgs.clear();
      for (Message& m : msgs)
        dispatch(w, n, std::move(m), inbox);
      return;
    }
    d.writing = true;
    d.inflight = std::move(d.next);
    d.inflight_msgs = std::move(d.next_msgs);
    d.next = storage::WriteBatch{};
    d.next_msgs.clear();
    // Append to the real WAL. What a power loss would leave now is computed
    // here once (invariant d) and kept for a restart.
    Mounted m = mount(*d.clean, n);
    Status s = m.wal->append(d.inflight);
    PAXLOCK_CHECK_MSG(s.ok(), s.message().c_str());
    Mounted view = mount(*m.fs, n);  // recovery of everything written so far
    auto lost = m.fs->clone();
    lost->crash_drop_unsynced();
    Mounted after = mount(*lost, n);
    after.wal.reset();
    d.crash_state = std::make_shared<Restored>(after.rec.state);
    d.crash = std::shared_ptr<const sim::SimFs>(std::move(after.fs));
    if (o_.check_disk_commit)
      check_commit_on_disk(w, n, d.crash_state->commit, d.crash_state->entries,
                           view.rec.state.entries);
  }

  // Invariant (d).
  void check_commit_on_disk(World& w, int n, Instance commit, const std::vector<Entry>& kept,
                            const std::vector<Entry>& written) const {
    if (!w.violation.empty()) return;
    std::map<Instance, const Entry*> k, wr;
    for (const Entry& e : kept)
      k[e.instance] = &e;
    for (const Entry& e : written)
      wr[e.instance] = &e;
    for (const auto& [i, e] : wr) {
      if (i >= commit) break;
      auto it = k.find(i);
      if (it == k.end() || it->second->ballot != e->ballot ||
          !paxos::same_value(it->second->value, e->value)) {
        w.violation = fmt::format(
            "(d) commit point on disk: node {}'s WAL would recover commit {} after a power loss "
            "now, but its newest record of instance {} ({}) would be lost (recovered: {})",
            n, commit, i, entry_text(*e), it == k.end() ? "nothing" : entry_text(*it->second));
        return;
      }
    }
  }

  void sync(World& w, int n) {
    WalDisk& d = mut_wal(w, n);
    PAXLOCK_CHECK(d.writing);
    {
      Mounted m = mount(*d.clean, n);
      Status s = m.wal->append(d.inflight);
      if (s.ok()) s = m.wal->sync();
      PAXLOCK_CHECK_MSG(s.ok(), s.message().c_str());
      m.wal.reset();
      d.clean = std::shared_ptr<const sim::SimFs>(std::move(m.fs));
    }
    record_durable(w, n, d.inflight.entries);
    std::vector<Message> msgs = std::move(d.inflight_msgs);
    d.writing = false;
    d.inflight.clear();
    d.inflight_msgs.clear();
    d.crash.reset();
    d.crash_state.reset();
    std::deque<Message> inbox;
    for (Message& m : msgs)
      dispatch(w, n, std::move(m), inbox);
    start_write(w, n, inbox);
    while (!inbox.empty()) {
      Message m = std::move(inbox.front());
      inbox.pop_front();
      mut_node(w, n).step(m);
    }
    pump_with(w, n, inbox);
  }

  void settle(World& w) {
    for (int round = 0; round < 10000; ++round) {
      bool progress = false;
      for (int n = 1; n <= o_.nodes; ++n) {
        if (w.nodes[n - 1].wal && w.nodes[n - 1].wal->writing) {
          sync(w, n);
          progress = true;
        }
      }
      std::vector<std::shared_ptr<const NetMsg>> msgs;
      for (const NetSlot& s : w.net)
        msgs.push_back(s.m);
      w.net.clear();
      for (const auto& m : msgs) {
        const int to = static_cast<int>(m->msg.to);
        mut_node(w, to).step(m->msg);
        pump(w, to);
        progress = true;
      }
      if (!progress) return;
    }
    PAXLOCK_CHECK_MSG(false, "settle: the cluster never went quiet");
  }

  // Ground truth: acceptances (not learned values) that are durable.
  void record_durable(World& w, int n, const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
      if (e.chosen || !e.value) continue;
      Truth& t = mut_truth(w);
      Acc& a = t.acc[{e.instance, e.ballot}];
      if (!a.value) {
        a.value = e.value;
      } else if (!paxos::same_value(a.value, e.value) && w.violation.empty()) {
        w.violation =
            fmt::format("(b) two values accepted at ballot {} for instance {}: {} and {}",
                        e.ballot.to_string(), e.instance, value_text(a.value), value_text(e.value));
      }
      if (!a.nodes.insert(n).second || a.nodes.size() != majority_) continue;
      auto [it, fresh] = t.chosen.emplace(e.instance, a.value);
      if (!fresh && !paxos::same_value(it->second, a.value) && w.violation.empty()) {
        w.violation = fmt::format(
            "(b) a majority durably accepted two different values for instance {}: {} and {} "
            "(at ballot {})",
            e.instance, value_text(it->second), value_text(a.value), e.ballot.to_string());
      }
    }
  }

  void check(World& w, int restarted) const {
    if (!w.violation.empty()) return;
    for (int n = 1; n <= o_.nodes; ++n) {
      const Node& node = *w.nodes[n - 1].node;
      if (node.role() == paxos::Role::kLeader &&
          NodeInspector::next_instance(node) < node.first_unchosen()) {
        w.violation = fmt::format(
            "(a) node {} leads at ballot {} with next instance {} below its first unchosen "
            "instance {}",
            n, node.ballot().to_string(), NodeInspector::next_instance(node),
            node.first_unchosen());
        return;
      }
      for (Instance i = node.log_start(); i < node.log_end(); ++i) {
        const paxos::Slot* s = node.slot(i);
        if (!s->chosen) continue;
        auto it = w.truth->chosen.find(i);
        const char* label = n == restarted ? "(c) after restart" : "(b) chosen";
        if (it == w.truth->chosen.end()) {
          w.violation = fmt::format(
              "{}: node {} holds instance {} chosen as {} but no majority durably accepted "
              "any value for it",
              label, n, i, value_text(s->value));
          return;
        }
        if (!paxos::same_value(it->second, s->value)) {
          w.violation = fmt::format("{}: node {} holds instance {} chosen as {} but {} was chosen",
                                    label, n, i, value_text(s->value), value_text(it->second));
          return;
        }
      }
    }
    // A planted mutation's own check (the core's check_invariants).
    for (int n = 1; n <= o_.nodes; ++n) {
      const Node& node = *w.nodes[n - 1].node;
      if (!node.violation_seen().empty()) {
        w.violation = fmt::format("node {} reports a violation: {}", n, node.violation_seen());
        return;
      }
    }
  }

  uint64_t disk_fingerprint(const NodeState& s) const {
    Hasher h;
    if (s.mem) {
      h.add(s.mem->promised);
      h.add(s.mem->commit);
      std::vector<const Entry*> es;
      for (const Entry& e : s.mem->entries)
        es.push_back(&e);
      std::sort(es.begin(), es.end(),
                [](const Entry* a, const Entry* b) { return a->instance < b->instance; });
      for (const Entry* e : es) {
        h.add(e->instance);
        h.add(e->ballot);
        h.add_value(e->value);
        h.add(e->chosen ? 1 : 0);
      }
      return h.value();
    }
    const WalDisk& d = *s.wal;
    // The synced image byte for byte (segment layout decides rotations).
    sim::SimFs& fs = const_cast<sim::SimFs&>(*d.clean);
    auto names = fs.list(kWalDir);
    PAXLOCK_CHECK(names.ok());
    for (const std::string& name : *names) {
      h.add(name);
      auto data = storage::read_file(fs, storage::join_path(kWalDir, name));
      PAXLOCK_CHECK(data.ok());
      h.add(*data);
    }
    h.add(d.writing ? 1 : 0);
    h.add(d.inflight.records);
    h.add(d.next.records);
    for (const Message& m : d.inflight_msgs)
      h.add(message_text(m));
    h.add(0xabcdULL);
    for (const Message& m : d.next_msgs)
      h.add(message_text(m));
    return h.value();
  }

  Options o_;
  size_t majority_ = 0;
  storage::WalOptions wal_options_;
};

// ---------------------------------------------------------------------------
// Scripts.

struct Script {
  std::vector<std::string> config;   // "config ..." lines
  std::vector<std::string> actions;  // everything else, comments dropped
};

Script split_script(const std::string& text) {
  Script s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    size_t b = line.find_first_not_of(' ');
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line.rfind("config ", 0) == 0) {
      s.config.push_back(line.substr(7));
    } else {
      s.actions.push_back(line);
    }
  }
  return s;
}

std::vector<std::string> config_lines(const Options& o) {
  std::vector<std::string> c;
  c.push_back(fmt::format("nodes {}", o.nodes));
  c.push_back(fmt::format("mutation {}", o.checkpoint_unwritten ? "checkpoint-unwritten"
                                                                : paxos::to_string(o.mutation)));
  c.push_back(fmt::format("sticky {}", o.sticky_leader ? 1 : 0));
  c.push_back(fmt::format("disk {}", o.disk == DiskModel::kWal ? "wal" : "memory"));
  c.push_back(fmt::format("segment-bytes {}", o.segment_bytes));
  c.push_back(fmt::format("commands {}", o.commands));
  c.push_back(fmt::format("pipeline-window {}", o.pipeline_window));
  c.push_back(fmt::format("batch-commands-max {}", o.batch_commands_max));
  c.push_back(fmt::format("network {}", o.bag ? "bag" : "set"));
  c.push_back(fmt::format("disk-commit-check {}", o.check_disk_commit ? 1 : 0));
  return c;
}

bool apply_config(Options& o, const std::string& line, std::string& error) {
  std::istringstream in(line);
  std::string key, value;
  in >> key >> value;
  if (key == "nodes") {
    o.nodes = std::atoi(value.c_str());
  } else if (key == "mutation") {
    auto m = parse_mutation(value);
    if (!m) {
      error = "unknown mutation: " + value;
      return false;
    }
    o.mutation = *m;
    o.checkpoint_unwritten = value == "checkpoint-unwritten";
  } else if (key == "sticky") {
    o.sticky_leader = value == "1";
  } else if (key == "disk") {
    o.disk = value == "wal" ? DiskModel::kWal : DiskModel::kMemory;
  } else if (key == "segment-bytes") {
    o.segment_bytes = std::strtoull(value.c_str(), nullptr, 10);
  } else if (key == "commands") {
    o.commands = std::atoi(value.c_str());
  } else if (key == "pipeline-window") {
    o.pipeline_window = std::strtoull(value.c_str(), nullptr, 10);
  } else if (key == "batch-commands-max") {
    o.batch_commands_max = std::strtoull(value.c_str(), nullptr, 10);
  } else if (key == "network") {
    o.bag = value == "bag";
  } else if (key == "disk-commit-check") {
    o.check_disk_commit = value == "1";
  } else {
    error = "unknown config: " + line;
    return false;
  }
  return true;
}

// Runs script actions on `w`; false with `error` if one is not possible.
bool run_actions(Engine& e, World& w, const std::vector<std::string>& lines, std::string& error,
                 const std::function<void(const std::string&, const World&)>& after = {}) {
  for (const std::string& line : lines) {
    auto a = e.parse(w, line, error);
    if (!a) return false;
    e.apply(w, *a);
    if (after) after(line, w);
    if (!w.violation.empty()) return true;
  }
  return true;
}

// Fingerprint -> least depth reached: open addressing, linear probing.
// Fingerprints are never 0 (explore sets the low bit), so 0 marks a free slot.
class Visited {
 public:
  void clear() {
    keys_.assign(1 << 16, 0);
    depth_.assign(1 << 16, 0);
    size_ = 0;
  }
  size_t size() const { return size_; }
  // Records `depth` for `fp`; false if fp was seen at a depth <= `depth`.
  bool visit(uint64_t fp, uint8_t depth) {
    if (2 * (size_ + 1) > keys_.size()) grow();
    size_t mask = keys_.size() - 1;
    for (size_t i = fp & mask;; i = (i + 1) & mask) {
      if (keys_[i] == 0) {
        keys_[i] = fp;
        depth_[i] = depth;
        ++size_;
        return true;
      }
      if (keys_[i] == fp) {
        if (depth_[i] <= depth) return false;
        depth_[i] = depth;
        return true;
      }
    }
  }

 private:
  void grow() {
    std::vector<uint64_t> keys(keys_.size() * 2, 0);
    std::vector<uint8_t> depth(keys.size(), 0);
    const size_t mask = keys.size() - 1;
    for (size_t j = 0; j < keys_.size(); ++j) {
      if (keys_[j] == 0) continue;
      size_t i = keys_[j] & mask;
      while (keys[i] != 0)
        i = (i + 1) & mask;
      keys[i] = keys_[j];
      depth[i] = depth_[j];
    }
    keys_ = std::move(keys);
    depth_ = std::move(depth);
  }

  std::vector<uint64_t> keys_;
  std::vector<uint8_t> depth_;
  size_t size_ = 0;
};

class Search {
 public:
  Search(Engine& e, const Options& o, Result& r)
      : e_(e), o_(o), r_(r), start_(std::chrono::steady_clock::now()) {}

  // Exhaustive DFS below `w` up to `bound` actions; true on a violation.
  bool run(World& w, int bound) {
    visited_.clear();
    visited_.visit(e_.fingerprint(w), 0);
    path_.clear();
    bound_ = bound;
    const bool found = dfs(w, 0);
    r_.distinct = visited_.size();
    r_.distinct_total += visited_.size();
    return found;
  }

  bool stopped() const { return stopped_; }
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  bool dfs(const World& w, int depth) {
    for (const Action& a : e_.actions(w)) {
      if (stopped_) return false;
      World c = w;
      e_.apply(c, a);
      ++r_.transitions;
      r_.depth_reached = std::max(r_.depth_reached, depth + 1);
      if (!c.violation.empty()) {
        path_.push_back(a);
        r_.violation = true;
        r_.what = c.violation;
        for (const Action& p : path_)
          r_.trace.push_back(action_text(p));
        return true;
      }
      if (!visited_.visit(e_.fingerprint(c), static_cast<uint8_t>(depth + 1))) continue;
      if ((r_.transitions & 1023) == 0 || visited_.size() >= o_.max_states) {
        if (visited_.size() >= o_.max_states) {
          stopped_ = true;
          r_.budget_note = fmt::format("state budget {} reached", o_.max_states);
        } else if (elapsed() > o_.time_budget_s) {
          stopped_ = true;
          r_.budget_note = fmt::format("time budget {:.0f} s reached", o_.time_budget_s);
        }
      }
      if (depth + 1 < bound_) {
        path_.push_back(a);
        if (dfs(c, depth + 1)) return true;
        path_.pop_back();
      }
    }
    return false;
  }

  Engine& e_;
  const Options& o_;
  Result& r_;
  std::chrono::steady_clock::time_point start_;
  Visited visited_;
  std::vector<Action> path_;
  int bound_ = 0;
  bool stopped_ = false;
};

}  // namespace

std::string prefix_leader(int leader) {
  return fmt::format("campaign {}\nsettle\n", leader);
}

// Bug A's setting (issue 13, steps 1-2): node 1 leads at ballot 1.1 and all
// promised it; nodes 4 and 5 restart and forget the leader; node 3
// campaigns, its Prepares reach 4 and 5 only, and it leads with {3, 4, 5};
// every other message in flight is lost. Nodes 1 and 2 still see node 1 as
// a live leader (no clock has moved).
const char* const kPrefixA =
    "campaign 1\n"
    "settle\n"
    "restart 4\n"
    "restart 5\n"
    "campaign 3\n"
    "deliver Prepare 3->4 b=1.3 i=1 end=0 commit=1 start=1\n"
    "deliver Prepare 3->5 b=1.3 i=1 end=0 commit=1 start=1\n"
    "deliver Promise 4->3 b=1.3 i=1 end=0 commit=1 start=1\n"
    "deliver Promise 5->3 b=1.3 i=1 end=0 commit=1 start=1\n"
    "lose\n";

// Bug B's issue form needs a node holding an older acceptance of another
// value: node 1 leads, c1 is accepted (durably) by node 3 only, node 1 loses
// its own unsynced acceptance in a power loss, node 2 campaigns and leads
// with node 1's promise (which reports nothing for instance 1).
const char* const kPrefixStale =
    "campaign 1\n"
    "settle\n"
    "propose 1 c1\n"
    "deliver Accept 1->3 b=1.1 i=0 end=0 commit=1 start=1 e=[1@1.1={c1}]\n"
    "sync 3\n"
    "restart 1\n"
    "lose\n"
    "campaign 2\n"
    "sync 2\n"
    "deliver Prepare 2->1 b=1.2 i=1 end=0 commit=1 start=1\n"
    "sync 1\n"
    "deliver Promise 1->2 b=1.2 i=1 end=0 commit=1 start=1\n";

std::optional<Options> scenario(const std::string& name) {
  Options o;
  o.time_budget_s = 1800;
  if (name == "small") {  // 3 nodes from a fresh start, no prefix
    o.nodes = 3;
    o.commands = 2;
    o.max_campaigns = 2;
    o.max_restarts = 1;
    o.max_timeouts = 1;
    o.max_depth = 8;
    return o;
  }
  if (name == "small5") {  // 5 nodes from a fresh start, smaller bounds
    o.nodes = 5;
    o.commands = 1;
    o.max_campaigns = 2;
    o.max_restarts = 1;
    o.max_timeouts = 0;
    o.max_depth = 8;
    return o;
  }
  if (name == "bug-a" || name == "pass-a") {
    o.nodes = 5;
    o.prefix = kPrefixA;
    o.commands = 1;
    o.max_campaigns = 1;
    o.max_restarts = 1;
    o.max_timeouts = 1;
    o.max_depth = 9;
    if (name == "bug-a") {
      auto m = parse_mutation("no-stepdown-on-learn");
      if (!m) return std::nullopt;
      o.mutation = *m;
    }
    return o;
  }
  if (name == "bug-b-stale" || name == "pass-b-stale") {
    // Invariant (d) off for the mutation: what does a restart make of it?
    o.nodes = 3;
    o.disk = DiskModel::kWal;
    o.prefix = kPrefixStale;
    o.commands = 2;
    o.max_campaigns = 0;
    o.max_restarts = 1;
    o.max_timeouts = 0;
    o.max_depth = 9;
    if (name == "bug-b-stale") {
      auto m = parse_mutation("checkpoint-unwritten");
      if (!m) return std::nullopt;
      o.mutation = *m;
      o.checkpoint_unwritten = true;
      o.check_disk_commit = false;
    }
    return o;
  }
  if (name == "bug-b" || name == "pass-b") {
    o.nodes = 3;
    o.disk = DiskModel::kWal;
    o.prefix = prefix_leader(1);
    o.commands = 1;
    o.max_campaigns = 1;
    o.max_restarts = 1;
    o.max_timeouts = 1;
    o.max_depth = 9;
    if (name == "bug-b") {
      auto m = parse_mutation("checkpoint-unwritten");
      if (!m) return std::nullopt;
      o.mutation = *m;
      o.checkpoint_unwritten = true;
    }
    return o;
  }
  return std::nullopt;
}

std::string scenario_names() {
  return "small, small5, bug-a, pass-a, bug-b, pass-b, bug-b-stale, pass-b-stale";
}

Result explore(const Options& options) {
  Result r;
  Options o = options;
  PAXLOCK_CHECK(o.nodes >= 1 && o.nodes <= 9 && o.commands >= 0 && o.commands <= 32);
  PAXLOCK_CHECK(o.max_depth < 250);
  Engine e(o);
  World w = e.initial();
  const Script prefix = split_script(o.prefix);
  std::string error;
  if (!run_actions(e, w, prefix.actions, error)) {
    r.prefix_error = error;
    return r;
  }
  // Budgets count explored actions only.
  w.campaigns = w.restarts = w.timeouts = w.ticks = 0;
  auto script = [&](const std::vector<std::string>& trace) {
    std::string s = "# paxlock-explore replay script: paxlock-explore --replay FILE\n";
    for (const std::string& c : config_lines(o))
      s += "config " + c + "\n";
    s += "# prefix\n";
    for (const std::string& a : prefix.actions)
      s += a + "\n";
    s += "# explored\n";
    for (const std::string& a : trace)
      s += a + "\n";
    return s;
  };
  if (!w.violation.empty()) {
    r.violation = true;
    r.what = "in the prefix: " + w.violation;
    r.script = script({});
    return r;
  }
  Search search(e, o, r);
  for (int bound = std::max(1, o.min_depth); bound <= o.max_depth; ++bound) {
    const bool found = search.run(w, bound);
    if (o.verbose) {
      std::fprintf(stderr, "depth %d: %llu distinct states, %llu transitions so far, %.1f s\n",
                   bound, (unsigned long long)r.distinct, (unsigned long long)r.transitions,
                   search.elapsed());
    }
    if (found) {
      r.script = script(r.trace);
      break;
    }
    if (search.stopped()) {
      r.budget_hit = true;
      break;
    }
    r.depth_completed = bound;
  }
  r.seconds = search.elapsed();
  return r;
}

Result replay(const std::string& text, const std::function<void(const std::string&)>& out,
              const Options* overrides) {
  Result r;
  const Script s = split_script(text);
  Options o = overrides ? *overrides : Options{};
  for (const std::string& c : s.config) {
    std::string error;
    if (!apply_config(o, c, error)) {
      r.prefix_error = error;
      return r;
    }
  }
  Engine e(o);
  World w = e.initial();
  out("initial state\n" + e.describe(w));
  std::string error;
  int step = 0;
  const bool ok = run_actions(e, w, s.actions, error, [&](const std::string& line, const World& x) {
    out(fmt::format("step {}: {}\n{}", ++step, line, e.describe(x)));
  });
  if (!ok) {
    r.prefix_error = error;
    return r;
  }
  r.depth_reached = step;
  if (!w.violation.empty()) {
    r.violation = true;
    r.what = w.violation;
  }
  return r;
}

}  // namespace paxlock::explore
