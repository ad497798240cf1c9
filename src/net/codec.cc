#include "net/codec.h"

#include "storage/records.h"

namespace paxlock::net {

void to_proto(const paxos::Ballot& in, pb::Ballot* out) {
  out->set_round(in.round);
  out->set_node(in.node);
}

paxos::Ballot from_proto(const pb::Ballot& in) {
  return paxos::Ballot{in.round(), in.node()};
}

void to_proto(const paxos::Message& in, pb::PeerMessage* out) {
  out->set_type(static_cast<uint32_t>(in.type));
  out->set_from(in.from);
  out->set_to(in.to);
  to_proto(in.ballot, out->mutable_ballot());
  out->set_instance(in.instance);
  out->set_end(in.end);
  out->set_commit(in.commit);
  out->set_log_start(in.log_start);
  out->set_more(in.more);
  out->set_want_ack(in.want_ack);
  out->set_granted(in.granted);
  for (const paxos::Entry& e : in.entries) {
    pb::PeerEntry* pe = out->add_entries();
    pe->set_instance(e.instance);
    to_proto(e.ballot, pe->mutable_ballot());
    if (e.value) storage::encode_value(*e.value, *pe->mutable_value());
    pe->set_chosen(e.chosen);
  }
  for (paxos::Instance i : in.instances)
    out->add_instances(i);
  for (const paxos::Command& c : in.commands) {
    pb::PeerCommand* pc = out->add_commands();
    pc->set_client(c.id.client);
    pc->set_seq(c.id.seq);
    pc->set_payload(c.payload);
  }
  out->set_offset(in.offset);
  out->set_total(in.total);
  out->set_crc(in.crc);
  out->set_data(in.data);
}

bool from_proto(const pb::PeerMessage& in, paxos::Message& out, std::string* error) {
  if (in.type() < static_cast<uint32_t>(paxos::MessageType::kPrepare) ||
      in.type() > static_cast<uint32_t>(paxos::MessageType::kPreVoteReply)) {
    *error = "unknown message type " + std::to_string(in.type());
    return false;
  }
  out = paxos::Message{};
  out.type = static_cast<paxos::MessageType>(in.type());
  out.from = in.from();
  out.to = in.to();
  out.ballot = from_proto(in.ballot());
  out.instance = in.instance();
  out.end = in.end();
  out.commit = in.commit();
  out.log_start = in.log_start();
  out.more = in.more();
  out.want_ack = in.want_ack();
  out.granted = in.granted();
  out.entries.reserve(static_cast<size_t>(in.entries_size()));
  for (const pb::PeerEntry& pe : in.entries()) {
    paxos::Entry e;
    e.instance = pe.instance();
    e.ballot = from_proto(pe.ballot());
    e.chosen = pe.chosen();
    storage::Reader r(pe.value());
    if (!storage::decode_value(r, e.value) || !r.done()) {
      *error = "malformed value for instance " + std::to_string(e.instance);
      return false;
    }
    out.entries.push_back(std::move(e));
  }
  out.instances.assign(in.instances().begin(), in.instances().end());
  out.commands.reserve(static_cast<size_t>(in.commands_size()));
  for (const pb::PeerCommand& pc : in.commands()) {
    out.commands.push_back(paxos::Command{paxos::CommandId{pc.client(), pc.seq()}, pc.payload()});
  }
  out.offset = in.offset();
  out.total = in.total();
  out.crc = in.crc();
  out.data = in.data();
  return true;
}

bool to_command(const pb::ClientRequest& in, lock::Command& out, std::string* error) {
  if (in.client_id() == 0 || in.seq() == 0) {
    *error = "client_id and seq must be nonzero";
    return false;
  }
  if (in.op() < pb::LOCK || in.op() > pb::CLOSE_SESSION) {
    *error = "unknown op " + std::to_string(in.op());
    return false;
  }
  out = lock::Command{};
  out.op = static_cast<lock::Op>(in.op());
  out.name = in.name();
  out.owner = in.owner();
  out.session = in.session();
  out.token = in.token();
  out.wait_ms = in.wait_ms();
  out.will_retry = in.will_retry();
  out.ttl_ms = in.ttl_ms();
  out.limit = in.limit();
  out.first_outstanding = in.first_outstanding();
  return true;
}

void to_request(const lock::Command& in, pb::ClientRequest* out) {
  out->set_op(static_cast<pb::Op>(in.op));
  out->set_name(in.name);
  out->set_owner(in.owner);
  out->set_session(in.session);
  out->set_token(in.token);
  out->set_wait_ms(in.wait_ms);
  out->set_will_retry(in.will_retry);
  out->set_ttl_ms(in.ttl_ms);
  out->set_limit(in.limit);
  out->set_first_outstanding(in.first_outstanding);
}

void to_response(const lock::Result& in, pb::ClientResponse* out) {
  out->set_code(static_cast<pb::Code>(in.code));
  out->set_token(in.token);
  out->set_holder(in.holder);
  out->set_session(in.session);
  out->set_ttl_ms(in.ttl_ms);
  out->set_applied_at(in.applied_at);
  out->set_current(in.current);
  for (const lock::LockInfo& l : in.locks) {
    pb::LockInfo* pl = out->add_locks();
    pl->set_name(l.name);
    pl->set_holder(l.holder);
    pl->set_token(l.token);
    pl->set_session(l.session);
    pl->set_since_ms(l.since_ms);
    for (const lock::Waiter& w : l.waiters) {
      pb::WaiterInfo* pw = pl->add_waiters();
      pw->set_owner(w.owner);
      pw->set_session(w.session);
      pw->set_deadline_ms(w.deadline_ms);
    }
  }
  out->set_next(in.next);
  for (const lock::WaitEdge& e : in.cycle) {
    pb::CycleEdge* pe = out->add_cycle();
    pe->set_owner(e.owner);
    pe->set_lock(e.lock);
    pe->set_holder(e.holder);
  }
}

void from_response(const pb::ClientResponse& in, lock::Result& out) {
  out = lock::Result{};
  out.code = static_cast<lock::Code>(in.code());
  out.token = in.token();
  out.holder = in.holder();
  out.session = in.session();
  out.ttl_ms = in.ttl_ms();
  out.applied_at = in.applied_at();
  out.current = in.current();
  for (const pb::LockInfo& pl : in.locks()) {
    lock::LockInfo l;
    l.name = pl.name();
    l.holder = pl.holder();
    l.token = pl.token();
    l.session = pl.session();
    l.since_ms = pl.since_ms();
    for (const pb::WaiterInfo& pw : pl.waiters()) {
      l.waiters.push_back(lock::Waiter{pw.owner(), pw.session(), pw.deadline_ms()});
    }
    out.locks.push_back(std::move(l));
  }
  out.next = in.next();
  for (const pb::CycleEdge& pe : in.cycle()) {
    out.cycle.push_back(lock::WaitEdge{pe.owner(), pe.lock(), pe.holder()});
  }
}

}  // namespace paxlock::net
