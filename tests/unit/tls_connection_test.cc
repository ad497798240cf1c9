// A net::Connection over TLS, against a plain Asio TLS client on loopback:
// what the TLS engine costs and how frames leave it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "net/connection.h"
#include "tests/unit/tls_harness.h"

namespace paxlock::tls::testing {
namespace {

// Counts the TLS records an SSL object reads (their headers, as OpenSSL's
// message callback reports them).
void count_records(int write_p, int /*version*/, int content_type, const void* /*buf*/, size_t len,
                   SSL* /*ssl*/, void* arg) {
  if (write_p == 0 && content_type == SSL3_RT_HEADER && len == SSL3_RT_HEADER_LENGTH) {
    ++*static_cast<size_t*>(arg);
  }
}

TEST(TlsConnection, QueuedFramesLeaveInRecordsOf8KibNotOneEach) {
  TempDir tmp;
  Pki pki(tmp.path());
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  Stream client(io, *must(make_client_context(pki.node(2))));
  size_t records = 0;
  SSL_set_msg_callback(client.native_handle(), count_records);
  SSL_set_msg_callback_arg(client.native_handle(), &records);

  constexpr size_t kFrames = 32;
  const std::string frame(1000, 'f');
  constexpr size_t kRecordsMax = (kFrames * 1000 + 8191) / 8192 + 1;  // and a ticket
  std::string got(kFrames * frame.size(), '\0');
  size_t records_after_handshake = 0;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        auto conn = std::make_shared<net::Connection>(
            net::Stream(std::move(socket),
                        must(make_server_context(pki.node(1), ClientCerts::kRequired))),
            1 << 20, 1 << 20);
        const asio::error_code ec = co_await conn->handshake(asio::ssl::stream_base::server);
        EXPECT_FALSE(ec) << ec.message();
        for (size_t i = 0; i < kFrames; ++i) {
          std::string f = frame;
          EXPECT_EQ(conn->send(std::move(f)), net::SendStatus::kQueued);
        }
        co_await conn->write_loop();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await client.lowest_layer().async_connect(acceptor.local_endpoint(),
                                                     asio::use_awaitable);
        co_await client.async_handshake(Stream::client, asio::use_awaitable);
        // Records of the handshake (and any ticket) read so far.
        records_after_handshake = records;
        co_await asio::async_read(client, asio::buffer(got), asio::use_awaitable);
        done = true;
        io.stop();
      },
      asio::detached);
  io.run_for(kHandshakeTimeout);
  ASSERT_TRUE(done);
  EXPECT_EQ(got, std::string(kFrames * frame.size(), 'f'));
  // Asio (1.22) gathers a write's buffers into one of up to 8 KiB per TLS
  // record; were each frame a record (and a write(2)) of its own, 32.
  EXPECT_GT(records_after_handshake, 0u);
  EXPECT_LE(records - records_after_handshake, kRecordsMax);
}

}  // namespace
}  // namespace paxlock::tls::testing
