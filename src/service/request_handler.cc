#include "service/request_handler.h"

#include <openssl/sha.h>

#include <array>

#include "common/check.h"
#include "lock/command.h"

namespace paxlock::service {

static_assert(pb::LOCK == 1 && pb::UNLOCK == 2 && pb::CHECK == 3 && pb::STATUS == 4 &&
              pb::LIST == 5 && pb::OPEN_SESSION == 6 && pb::KEEP_ALIVE == 7 &&
              pb::CLOSE_SESSION == 8 && pb::ACL_GRANT == 10 && pb::ACL_REVOKE == 11 &&
              pb::ACL_LIST == 12 && pb::ACL_BOOTSTRAP == 13 && RequestCounts::kOps.size() == 14);
static_assert(pb::OK == 0 && pb::HELD == 1 && pb::NOT_OWNER == 2 && pb::NOT_HELD == 3 &&
              pb::STALE_TOKEN == 4 && pb::TIMEOUT == 5 && pb::DEADLOCK == 6 &&
              pb::SESSION_EXPIRED == 7 && pb::INVALID == 8 && pb::TOO_MANY_WAITERS == 9 &&
              pb::DUPLICATE_IGNORED == 10 && pb::PERMISSION_DENIED == 11 && pb::BUSY == 20 &&
              pb::BAD_REQUEST == 21 && pb::SHUTTING_DOWN == 22 &&
              RequestCounts::kResults.size() == 16);

size_t RequestCounts::op_of(const pb::ClientRequest& request) {
  if (request.body_case() == pb::ClientRequest::kClusterInfo) return kOps.size() - 1;
  if (request.body_case() != pb::ClientRequest::kCommand) return 0;
  const int op = request.command().op();
  if (op >= pb::LOCK && op <= pb::CLOSE_SESSION) return static_cast<size_t>(op);
  if (op >= pb::ACL_GRANT && op <= pb::ACL_BOOTSTRAP) return static_cast<size_t>(op) - 1;
  return 0;
}

size_t RequestCounts::result_of(int code) {
  if (code >= pb::OK && code <= pb::PERMISSION_DENIED) return static_cast<size_t>(code);
  if (code >= pb::BUSY && code <= pb::SHUTTING_DOWN)
    return static_cast<size_t>(code - pb::BUSY) + 12;
  return kResults.size() - 1;
}

uint64_t wire_client_id(std::string_view identity, uint64_t client_id) {
  if (identity.empty()) return client_id;
  std::string input(identity);
  input.push_back('\0');
  for (int i = 0; i < 8; ++i)
    input.push_back(static_cast<char>((client_id >> (8 * i)) & 0xff));
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i)
    id |= uint64_t{digest[static_cast<size_t>(i)]} << (8 * i);
  return id == 0 ? 1 : id;
}

void RequestHandler::set_identity(std::string identity) {
  PAXLOCK_CHECK(state_->pending.empty());
  identity_ = std::move(identity);
}

void RequestHandler::State::answer(size_t op, pb::ClientResponse& response, bool from_log) {
  if (counts) counts->add(op, RequestCounts::result_of(response.result().code()));
  respond(response, from_log);
}

RequestHandler::RequestHandler(driver::Replica& replica, RequestHandlerOptions options,
                               ClusterInfoFn cluster_info, Respond respond)
    : replica_(replica),
      options_(options),
      cluster_info_(std::move(cluster_info)),
      state_(std::make_shared<State>()) {
  state_->respond = std::move(respond);
  state_->withhold = options.withhold_replies;
  state_->counts = options.counts;
}

// Destroying the handler only stops answering (the replica may already be
// gone); call cancel_all() first to stop the replica's waits.
RequestHandler::~RequestHandler() = default;

void RequestHandler::cancel_all() {
  for (auto& [rid, wait] : state_->pending)
    replica_.cancel(wait.id, wait.tag);
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
    state_->answer(wait.op, resp, false);
    replica_.cancel(wait.id, wait.tag);
  }
}

void RequestHandler::handle(const pb::ClientRequest& req) {
  pb::ClientResponse resp;
  resp.set_request_id(req.request_id());
  const size_t op = RequestCounts::op_of(req);
  if (stopped_) {
    resp.mutable_result()->set_code(pb::SHUTTING_DOWN);
    state_->answer(op, resp, false);
    return;
  }
  if (req.body_case() == pb::ClientRequest::kClusterInfo) {
    if (cluster_info_) cluster_info_(resp.mutable_cluster());
    state_->answer(op, resp, false);
    return;
  }
  auto refuse = [&](const std::string& why) {
    resp.mutable_result()->set_code(pb::BAD_REQUEST);
    resp.set_error(why);
    state_->answer(op, resp, false);
  };
  if (req.body_case() != pb::ClientRequest::kCommand) return refuse("no command");
  if (req.client_id() == 0 || req.seq() == 0) return refuse("client_id and seq must be nonzero");
  auto cmd = lock::from_proto(req.command());
  if (!cmd.ok()) return refuse(cmd.status().message());
  // The identity a command runs as is the one this replica authenticated,
  // never what the client wrote (none in insecure mode). Without one, the
  // ACL operations would let any client make itself the admin of the table
  // a secure cluster enforces: refused here; with one, the lock machine
  // decides (admin only; acl_bootstrap never from a client).
  cmd->identity = identity_;
  switch (cmd->op) {
    case lock::Op::kAclGrant:
    case lock::Op::kAclRevoke:
    case lock::Op::kAclList:
    case lock::Op::kAclBootstrap:
      if (identity_.empty()) {
        return refuse(
            "ACL operations need an authenticated admin; this cluster runs insecure (no "
            "client is authenticated)");
      }
      break;
    default:
      break;
  }
  // A name or owner the state must not hold: INVALID, as the lock machine
  // would answer a malformed request, but with the reason, and never logged.
  if (const Status text = lock::check_names(*cmd); !text.ok()) {
    resp.mutable_result()->set_code(pb::INVALID);
    resp.set_error(text.message());
    state_->answer(op, resp, false);
    return;
  }
  auto& pending = state_->pending;
  if (pending.size() >= options_.pending_max || pending.count(req.request_id())) {
    resp.mutable_result()->set_code(pb::BUSY);
    resp.set_error(pending.count(req.request_id()) ? "request id in use"
                                                   : "too many requests in flight");
    state_->answer(op, resp, false);
    return;
  }
  const paxos::CommandId id{wire_client_id(identity_, req.client_id()), req.seq()};
  const uint64_t rid = req.request_id();
  std::weak_ptr<State> weak = state_;
  pending[rid] = {id, 0, op};  // before submit, in case the answer comes at once
  const Result<uint64_t> tag = replica_.submit(
      paxos::Command{id, lock::encode(*cmd)}, [weak, rid, op](const std::string& reply) {
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
        st->answer(op, r, true);
      });
  if (!tag.ok()) {
    pending.erase(rid);
    resp.mutable_result()->set_code(pb::BUSY);
    resp.set_error(tag.status().message());
    state_->answer(op, resp, false);
    return;
  }
  auto it = pending.find(rid);
  if (it != pending.end()) it->second.tag = *tag;
}

}  // namespace paxlock::service
