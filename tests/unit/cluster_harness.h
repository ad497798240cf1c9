// A hand-driven cluster of consensus cores for scripted scenario tests, in
// the style of etcd's raft tests: the test decides which message is delivered,
// dropped or held, and when time passes. Records are durable as soon as a
// Ready is taken (each node's "disk" is a Restored it can restart from).
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "paxos/node.h"

namespace paxlock::paxos::testing {

inline Command make_command(uint64_t client, uint64_t seq, std::string payload = "") {
  if (payload.empty()) payload = "c" + std::to_string(client) + "s" + std::to_string(seq);
  return Command{CommandId{client, seq}, std::move(payload)};
}

class Cluster {
 public:
  explicit Cluster(int n, std::function<void(Config&)> tweak = {}) : tweak_(std::move(tweak)) {
    for (int i = 1; i <= n; ++i)
      ids_.push_back(static_cast<NodeId>(i));
    for (NodeId id : ids_) {
      disks_[id] = Restored{};
      boot(id);
    }
  }

  Node& node(NodeId id) { return *nodes_.at(id); }
  TimeMs now() const { return now_; }
  const std::vector<Entry>& applied(NodeId id) { return applied_[id]; }
  std::deque<Message>& network() { return network_; }

  Config config(NodeId id) const {
    Config c;
    c.self = id;
    c.members = ids_;
    c.rng_seed = id * 101 + 7;
    if (tweak_) tweak_(c);
    return c;
  }

  // Takes every node's Ready: persists, queues messages, records applies.
  void flush() {
    bool again = true;
    while (again) {
      again = false;
      for (NodeId id : ids_) {
        if (!up(id)) continue;
        Ready r = nodes_[id]->take_ready();
        if (r.empty()) continue;
        again = true;
        persist(id, r);
        for (Message& m : r.send_now)
          network_.push_back(std::move(m));
        for (Message& m : r.send_after_sync)
          network_.push_back(std::move(m));
        for (Entry& e : r.apply)
          applied_[id].push_back(std::move(e));
      }
    }
  }

  // Delivers queued messages matching `pred` (all by default) until none is
  // left that matches; the others stay queued in order.
  void deliver(const std::function<bool(const Message&)>& pred = {}) {
    for (int rounds = 0; rounds < 10000; ++rounds) {
      flush();
      auto it = std::find_if(network_.begin(), network_.end(),
                             [&](const Message& m) { return !pred || pred(m); });
      if (it == network_.end()) return;
      Message m = std::move(*it);
      network_.erase(it);
      if (up(m.to)) nodes_[m.to]->step(m);
    }
  }

  // Drops queued messages matching `pred`.
  void drop(const std::function<bool(const Message&)>& pred) {
    network_.erase(std::remove_if(network_.begin(), network_.end(), pred), network_.end());
  }

  void advance(TimeMs ms) {
    now_ += ms;
    for (NodeId id : ids_) {
      if (up(id)) nodes_[id]->tick(now_);
    }
    flush();
  }

  // Advances time in small steps, delivering everything, until `done` holds.
  bool run_until(const std::function<bool()>& done, TimeMs limit_ms = 10000) {
    for (TimeMs t = 0; t < limit_ms; t += 5) {
      deliver();
      if (done()) return true;
      advance(5);
    }
    deliver();
    return done();
  }

  NodeId elect(NodeId id) {
    nodes_[id]->campaign();
    deliver();
    return id;
  }

  void crash(NodeId id) { nodes_.erase(id); }
  void restart(NodeId id) { boot(id); }
  bool up(NodeId id) const { return nodes_.count(id) > 0; }
  const Restored& disk(NodeId id) const { return disks_.at(id); }

 private:
  void boot(NodeId id) {
    nodes_[id] = std::make_unique<Node>(config(id));
    nodes_[id]->restore(disks_[id], now_);
    applied_[id].clear();
  }

  void persist(NodeId id, const Ready& r) {
    Restored& d = disks_[id];
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
  }

  std::function<void(Config&)> tweak_;
  std::vector<NodeId> ids_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::map<NodeId, Restored> disks_;
  std::map<NodeId, std::vector<Entry>> applied_;
  std::deque<Message> network_;
  TimeMs now_ = 0;
};

}  // namespace paxlock::paxos::testing
