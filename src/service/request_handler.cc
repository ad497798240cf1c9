#include "service/request_handler.h"

#include "lock/command.h"

namespace paxlock::service {

RequestHandler::RequestHandler(driver::Replica& replica, RequestHandlerOptions options,
                               ClusterInfoFn cluster_info, Respond respond)
    : replica_(replica),
      options_(options),
      cluster_info_(std::move(cluster_info)),
      state_(std::make_shared<State>()) {
  state_->respond = std::move(respond);
  state_->withhold = options.withhold_replies;
}

// Destroying the handler only stops answering (the replica may already be
// gone); call cancel_all() first to stop the replica's waits.
RequestHandler::~RequestHandler() = default;

void RequestHandler::cancel_all() {
  for (auto& [rid, wait] : state_->pending)
    replica_.cancel(wait.first, wait.second);
  state_->pending.clear();
}

void RequestHandler::shut_down() {
  stopped_ = true;
  auto pending = std::move(state_->pending);
  state_->pending.clear();
  for (auto& [rid, wait] : pending) {
    pb::ClientResponse resp;
    resp.set_request_id(rid);
    resp.mutable_result()->set_code(pb::SHUTTING_DOWN);
    state_->respond(resp, false);
    replica_.cancel(wait.first, wait.second);
  }
}

void RequestHandler::handle(const pb::ClientRequest& req) {
  pb::ClientResponse resp;
  resp.set_request_id(req.request_id());
  if (stopped_) {
    resp.mutable_result()->set_code(pb::SHUTTING_DOWN);
    state_->respond(resp, false);
    return;
  }
  if (req.body_case() == pb::ClientRequest::kClusterInfo) {
    if (cluster_info_) cluster_info_(resp.mutable_cluster());
    state_->respond(resp, false);
    return;
  }
  auto refuse = [&](const std::string& why) {
    resp.mutable_result()->set_code(pb::BAD_REQUEST);
    resp.set_error(why);
    state_->respond(resp, false);
  };
  if (req.body_case() != pb::ClientRequest::kCommand) return refuse("no command");
  if (req.client_id() == 0 || req.seq() == 0) return refuse("client_id and seq must be nonzero");
  auto cmd = lock::from_proto(req.command());
  if (!cmd.ok()) return refuse(cmd.status().message());
  auto& pending = state_->pending;
  if (pending.size() >= options_.pending_max || pending.count(req.request_id())) {
    resp.mutable_result()->set_code(pb::BUSY);
    resp.set_error(pending.count(req.request_id()) ? "request id in use"
                                                   : "too many requests in flight");
    state_->respond(resp, false);
    return;
  }
  const paxos::CommandId id{req.client_id(), req.seq()};
  const uint64_t rid = req.request_id();
  std::weak_ptr<State> weak = state_;
  pending[rid] = {id, 0};  // before submit, in case the answer comes at once
  const Result<uint64_t> tag = replica_.submit(
      paxos::Command{id, lock::encode(*cmd)}, [weak, rid](const std::string& reply) {
        auto st = weak.lock();
        if (!st || st->withhold) return;
        if (st->pending.erase(rid) == 0) return;  // no longer waited for
        pb::ClientResponse r;
        r.set_request_id(rid);
        const Status decoded = lock::decode_result(reply, r.mutable_result());
        if (!decoded.ok()) {
          r.mutable_result()->Clear();
          r.mutable_result()->set_code(pb::BAD_REQUEST);
          r.set_error("undecodable answer: " + decoded.message());
        }
        st->respond(r, true);
      });
  if (!tag.ok()) {
    pending.erase(rid);
    resp.mutable_result()->set_code(pb::BUSY);
    resp.set_error(tag.status().message());
    state_->respond(resp, false);
    return;
  }
  auto it = pending.find(rid);
  if (it != pending.end()) it->second.second = *tag;
}

}  // namespace paxlock::service
