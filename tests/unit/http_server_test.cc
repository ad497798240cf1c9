// The HTTP endpoint's limits (src/daemon/http_server.h): what makes a request
// complete or refused (RequestBuffer, pure), and the server's own bounds on
// loopback sockets: an answer nobody reads is cut off at the write timeout,
// a full server answers 503, and the oldest connection still sending makes
// room for a new one. Waits are bounded; nothing sleeps and hopes.
#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "daemon/config.h"

namespace paxlock::daemon {
namespace {

using State = RequestBuffer::State;

TEST(RequestBuffer, AHeadWithoutBodyIsCompleteAtItsBlankLine) {
  RequestBuffer b(1024, 0);
  b.add("GET /status HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(b.state(), State::kIncomplete);
  b.add("\r\n");
  ASSERT_EQ(b.state(), State::kComplete);
  EXPECT_EQ(b.request(), "GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(b.room(), 0u);
}

TEST(RequestBuffer, TheBlankLineMaySplitAcrossReads) {
  RequestBuffer b(1024, 0);
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (char c : head) {
    ASSERT_EQ(b.state(), State::kIncomplete);
    b.add(std::string_view(&c, 1));
  }
  EXPECT_EQ(b.state(), State::kComplete);
}

TEST(RequestBuffer, ABodyIsContentLengthBytesAndNoMoreIsRead) {
  RequestBuffer b(1024, 100);
  b.add("GET / HTTP/1.1\r\ncontent-LENGTH:  5 \r\n\r\nab");
  EXPECT_EQ(b.state(), State::kIncomplete);
  EXPECT_EQ(b.room(), 3u);
  b.add("cde");
  ASSERT_EQ(b.state(), State::kComplete);
  EXPECT_EQ(b.request(), "GET / HTTP/1.1\r\ncontent-LENGTH:  5 \r\n\r\nabcde");
}

TEST(RequestBuffer, AHeadThatDoesNotEndWithinTheLimitIsRefused431) {
  RequestBuffer b(64, 0);
  b.add("GET / HTTP/1.1\r\nX: ");
  EXPECT_EQ(b.room(), 64u - 19);
  b.add(std::string(b.room(), 'a'));
  ASSERT_EQ(b.state(), State::kRefused);
  EXPECT_EQ(b.refusal(), HttpRefusal::kHeaderTooLarge);
  EXPECT_EQ(b.status(), 431);
  EXPECT_EQ(b.room(), 0u);
}

TEST(RequestBuffer, AHeadEndingJustPastTheLimitIsRefused) {
  const std::string head = "GET / HTTP/1.1\r\n\r\n";
  RequestBuffer fits(head.size(), 0);
  fits.add(head);
  EXPECT_EQ(fits.state(), State::kComplete);
  RequestBuffer over(head.size() - 1, 0);
  over.add(head.substr(0, over.room()));
  EXPECT_EQ(over.state(), State::kRefused);
  EXPECT_EQ(over.refusal(), HttpRefusal::kHeaderTooLarge);
}

TEST(RequestBuffer, ABodyOverTheLimitIsRefused413BeforeAnyOfItIsRead) {
  RequestBuffer b(1024, 10);
  b.add("POST / HTTP/1.1\r\nContent-Length: 419430400\r\n\r\n");
  ASSERT_EQ(b.state(), State::kRefused);
  EXPECT_EQ(b.refusal(), HttpRefusal::kBodyTooLarge);
  EXPECT_EQ(b.status(), 413);
  EXPECT_EQ(b.room(), 0u);
}

TEST(RequestBuffer, ABodyOfUnknownLengthIsRefused411) {
  RequestBuffer b(1024, 10);
  b.add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(b.state(), State::kRefused);
  EXPECT_EQ(b.refusal(), HttpRefusal::kLengthRequired);
  EXPECT_EQ(b.status(), 411);
}

TEST(RequestBuffer, AContentLengthThatIsNoNumberOrDisagreesIsRefused400) {
  for (const char* head :
       {"GET / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
    RequestBuffer b(1024, 10);
    b.add(head);
    ASSERT_EQ(b.state(), State::kRefused) << head;
    EXPECT_EQ(b.refusal(), HttpRefusal::kBadRequest) << head;
    EXPECT_EQ(b.status(), 400);
  }
  RequestBuffer same(1024, 10);
  same.add("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz");
  EXPECT_EQ(same.state(), State::kComplete);
}

TEST(HttpConfig, TheTuningKeysSetTheLimitsAndDefaultsAreDocumented) {
  const std::string nodes =
      "cluster_id = \"t\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:1\"\nclient = "
      "\"127.0.0.1:2\"\nhttp = \"127.0.0.1:3\"\n";
  auto plain = parse_config(nodes, "test");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  const HttpLimits d = plain->http_limits();
  EXPECT_EQ(d.connections_max, 64u);
  EXPECT_EQ(d.threads, 4u);
  EXPECT_EQ(d.header_bytes_max, 16384u);
  EXPECT_EQ(d.body_bytes_max, 65536u);
  EXPECT_EQ(d.request_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(d.write_timeout, std::chrono::milliseconds(5000));
  auto tuned = parse_config(nodes +
                                "[tuning]\nhttp_connections_max = 8\nhttp_threads = 2\n"
                                "http_header_bytes_max = 2048\nhttp_body_bytes_max = 0\n"
                                "http_request_timeout_ms = 250\nhttp_write_timeout_ms = 300\n",
                            "test");
  ASSERT_TRUE(tuned.ok()) << tuned.status().message();
  const HttpLimits t = tuned->http_limits();
  EXPECT_EQ(t.connections_max, 8u);
  EXPECT_EQ(t.threads, 2u);
  EXPECT_EQ(t.header_bytes_max, 2048u);
  EXPECT_EQ(t.body_bytes_max, 0u);
  EXPECT_EQ(t.request_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(t.write_timeout, std::chrono::milliseconds(300));
  auto again = parse_config(to_toml(*tuned), "again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->http_limits().request_timeout, std::chrono::milliseconds(250));
  auto bad = parse_config(nodes + "[tuning]\nhttp_threads = 0\n", "test");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("http_threads = 0 is out of range"), std::string::npos);
}

// ------------------------------------------------------------- on loopback

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Everything until the server closes (bounded by 5 s).
std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

template <typename F>
bool within(std::chrono::milliseconds limit, F condition) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(HttpServer, AnswersARequestAndClosesTheConnection) {
  HttpServer server(HttpLimits{});
  server.get("/hi", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello", "text/plain");
  });
  ASSERT_TRUE(server.start("127.0.0.1", 0).ok());
  const int fd = connect_to(server.port());
  send_all(fd, "GET /hi HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string answer = read_to_end(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  EXPECT_EQ(answer.substr(answer.size() - 5), "hello");
  EXPECT_TRUE(within(std::chrono::seconds(5), [&] { return server.stats().open == 0; }));
  EXPECT_EQ(server.stats().answered, 1u);
}

TEST(HttpServer, AnAnswerNobodyReadsIsCutOffAtTheWriteTimeout) {
  HttpLimits limits;
  limits.write_timeout = std::chrono::milliseconds(200);
  HttpServer server(limits);
  server.get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(64 << 20, 'b'), "text/plain");  // more than any socket buffer
  });
  ASSERT_TRUE(server.start("127.0.0.1", 0).ok());
  const int fd = connect_to(server.port());
  send_all(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");  // and never read
  EXPECT_TRUE(within(std::chrono::seconds(5),
                     [&] { return server.stats().refusals(HttpRefusal::kWriteTimeout) == 1; }));
  EXPECT_TRUE(within(std::chrono::seconds(5), [&] { return server.stats().open == 0; }));
  ::close(fd);
}

TEST(HttpServer, WhenEveryConnectionIsBeingServedANewOneGets503) {
  HttpLimits limits;
  limits.connections_max = 1;
  limits.threads = 1;
  HttpServer server(limits);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> entered{false};
  server.get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    entered = true;
    released.wait();
    res.set_content("done", "text/plain");
  });
  ASSERT_TRUE(server.start("127.0.0.1", 0).ok());
  const int busy = connect_to(server.port());
  send_all(busy, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(within(std::chrono::seconds(5), [&] { return entered.load(); }));
  const std::string refused = read_to_end(connect_to(server.port()));
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
  EXPECT_EQ(server.stats().refusals(HttpRefusal::kConnections), 1u);
  release.set_value();
  EXPECT_NE(read_to_end(busy).find("done"), std::string::npos);
}

TEST(HttpServer, TheOldestConnectionStillSendingMakesRoomForANewOne) {
  HttpLimits limits;
  limits.connections_max = 2;
  HttpServer server(limits);
  server.get("/hi", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello", "text/plain");
  });
  ASSERT_TRUE(server.start("127.0.0.1", 0).ok());
  const int oldest = connect_to(server.port());
  send_all(oldest, "GET /hi HTTP/1.1\r\n");
  ASSERT_TRUE(within(std::chrono::seconds(5), [&] { return server.stats().open == 1; }));
  const int second = connect_to(server.port());
  send_all(second, "GET /hi HTTP/1.1\r\n");
  ASSERT_TRUE(within(std::chrono::seconds(5), [&] { return server.stats().open == 2; }));
  const int fresh = connect_to(server.port());
  send_all(fresh, "GET /hi HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(read_to_end(fresh).find("hello"), std::string::npos);
  EXPECT_EQ(read_to_end(oldest).rfind("HTTP/1.1 408 ", 0), 0u);
  EXPECT_EQ(server.stats().refusals(HttpRefusal::kEvicted), 1u);
  ::close(second);
}

TEST(HttpServer, StopCutsOffAnAnswerThatWaitsForItsReader) {
  HttpLimits limits;
  limits.write_timeout = std::chrono::minutes(10);
  auto server = std::make_unique<HttpServer>(limits);
  server->get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(64 << 20, 'b'), "text/plain");
  });
  ASSERT_TRUE(server->start("127.0.0.1", 0).ok());
  const int fd = connect_to(server->port());
  send_all(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(within(std::chrono::seconds(5), [&] { return server->stats().answered == 1; }));
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ::close(fd);
}

}  // namespace
}  // namespace paxlock::daemon
