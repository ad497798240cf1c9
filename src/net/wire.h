// The client protocol as both ends see it: frames (net/connection.h) carrying
// proto/paxlock.proto's ClientHello, ServerHello, ClientRequest and
// ClientResponse. The client library needs this and nothing of the core.
#pragma once

#include <cstdint>

namespace paxlock::net {

// 2: the command is a LockCommand message, the answer a LockResult
// (proto/lock.proto).
constexpr uint32_t kProtocolVersion = 2;

}  // namespace paxlock::net
