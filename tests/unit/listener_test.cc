// net::Listener, the accept loop of the peer and client ports: admitted
// sockets reach the callback with their admission slot, one over the limit
// is refused by reason, a taken port is an error, and close() ends the loop.
// Real sockets on 127.0.0.1 (port 0); every wait is bounded.
#include "net/listener.h"

#include <gtest/gtest.h>

#include <chrono>
#include <list>
#include <vector>

namespace paxlock::net {
namespace {

using namespace std::chrono_literals;

cluster::Address loopback(uint16_t port) {
  return cluster::Address{"127.0.0.1", port, "127.0.0.1"};
}

struct Refusal {
  std::string reason, source, detail;
};

struct Fixture {
  asio::io_context io;
  std::shared_ptr<Admission> admission = std::make_shared<Admission>(AdmissionLimits{2, 16, 0, 1});
  Listener listener{io, "test", admission};
  std::vector<tcp::socket> sockets;
  std::list<AdmissionSlot> slots;  // AdmissionSlot moves but does not assign
  std::vector<Refusal> refusals;

  void start() {
    listener.start(
        [this](tcp::socket s, AdmissionSlot slot) {
          sockets.push_back(std::move(s));
          slots.push_back(std::move(slot));
        },
        [this](const std::string& reason, const std::string& source, const std::string& detail) {
          refusals.push_back(Refusal{reason, source, detail});
        });
  }
  // Runs the loop until `done` or 5 s passed; returns done().
  template <typename Done>
  bool run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      io.run_one_for(50ms);
    return done();
  }
};

// A blocking connect from another io_context: the kernel completes it from
// the backlog whether or not the listener has accepted yet.
tcp::socket connect_to(asio::io_context& io, uint16_t port) {
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

TEST(Listener, AdmittedSocketsReachTheCallbackAndOneOverTheLimitIsRefused) {
  Fixture f;
  ASSERT_TRUE(f.listener.listen(loopback(0)).ok());
  const uint16_t port = f.listener.port();
  ASSERT_NE(port, 0);
  f.start();

  asio::io_context client_io;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(connect_to(client_io, port));
  ASSERT_TRUE(f.run_until([&] { return f.sockets.size() + f.refusals.size() == 3; }));
  EXPECT_EQ(f.sockets.size(), 2u);
  EXPECT_EQ(f.admission->connections(), 2u);
  ASSERT_EQ(f.refusals.size(), 1u);
  EXPECT_EQ(f.refusals[0].reason, "connection_limit");
  EXPECT_EQ(f.refusals[0].source, "127.0.0.1");
  EXPECT_EQ(f.refusals[0].detail, "2 connections open on the test port (the limit)");

  // A connection that closes gives its slot back: the next one is admitted.
  f.slots.pop_front();
  EXPECT_EQ(f.admission->connections(), 1u);
  clients.push_back(connect_to(client_io, port));
  ASSERT_TRUE(f.run_until([&] { return f.sockets.size() == 3; }));
  EXPECT_EQ(f.refusals.size(), 1u);
  EXPECT_EQ(f.admission->connections(), 2u);
}

TEST(Listener, ASecondListenerOnATakenPortIsAnError) {
  Fixture a;
  ASSERT_TRUE(a.listener.listen(loopback(0)).ok());
  Fixture b;
  const Status st = b.listener.listen(loopback(a.listener.port()));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot listen for tests on 127.0.0.1:"), std::string::npos)
      << st.message();
}

TEST(Listener, CloseEndsTheAcceptLoop) {
  Fixture f;
  ASSERT_TRUE(f.listener.listen(loopback(0)).ok());
  const uint16_t port = f.listener.port();
  f.start();
  asio::io_context client_io;
  tcp::socket client = connect_to(client_io, port);
  ASSERT_TRUE(f.run_until([&] { return f.sockets.size() == 1; }));

  f.listener.close();
  // The accept loop was the only work: once it ended, the io_context runs
  // out of work and stops by itself, well before the bound.
  f.io.run_for(5s);
  EXPECT_TRUE(f.io.stopped());
  EXPECT_EQ(f.listener.port(), 0);
  // Nobody listens on the port any more; the accepted socket is untouched.
  tcp::socket late(client_io);
  asio::error_code ec;
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec);
  EXPECT_TRUE(f.sockets[0].is_open());
}

}  // namespace
}  // namespace paxlock::net
