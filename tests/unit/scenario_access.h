// Scripted tests put a node in a state its own timers would reach; node.h
// names this struct as a friend for that.
#pragma once

#include "paxos/node.h"

namespace paxlock::paxos {

struct ScenarioAccess {
  // As request_learn() leaves it: a learn request from instance `from` is
  // outstanding to `peer`. (A LearnReply nobody asked for changes nothing.)
  static void asked_to_learn(Node& n, NodeId peer, Instance from) {
    n.learn_outstanding_ = true;
    n.learn_target_ = peer;
    n.learn_from_ = from;
  }
};

}  // namespace paxlock::paxos
