// What the TLS tests share: a temporary directory with a cluster's CA and
// certificates made by the library (src/tls/issue.h), and a real TLS
// handshake over loopback between an Asio server and client on one
// io_context, bounded by a timer (nothing waits longer than kHandshakeTimeout).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "tls/context.h"
#include "tls/identity.h"
#include "tls/issue.h"
#include "tls/pem.h"

namespace paxlock::tls::testing {

namespace stdfs = std::filesystem;
using asio::ip::tcp;
using Stream = asio::ssl::stream<tcp::socket>;

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr const char* kCluster = "test-cluster";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (stdfs::temp_directory_path() / "paxlock-tls-XXXXXX").string();
    PAXLOCK_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { stdfs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Issued must(Result<Issued> r) {
  if (!r.ok()) ADD_FAILURE() << r.status().message();
  PAXLOCK_CHECK(r.ok());
  return std::move(*r);
}

inline ContextPtr must(Result<ContextPtr> r) {
  if (!r.ok()) ADD_FAILURE() << r.status().message();
  PAXLOCK_CHECK(r.ok());
  return std::move(*r);
}

inline void write(const Issued& issued, const IssuedFiles& files) {
  const Status s = write_issued(issued, files, true);
  ASSERT_TRUE(s.ok()) << s.message();
}

// A CA, nodes 1 to 3, and client "alice" of cluster kCluster under `dir`.
struct Pki {
  explicit Pki(const std::string& dir) : dir(dir), ca(must(make_ca(kCluster))) {
    write(ca, ca_files(dir));
    for (uint32_t id = 1; id <= 3; ++id)
      write(must(make_node_certificate(ca, id, kCluster, {"localhost", "127.0.0.1"})),
            node_files(dir, id));
    write(must(make_client_certificate(ca, "alice")), client_files(dir, "alice"));
  }
  TlsFiles node(uint32_t id) const {
    const IssuedFiles f = node_files(dir, id);
    return {ca_files(dir).cert, f.cert, f.key};
  }
  TlsFiles client(const std::string& name) const {
    const IssuedFiles f = client_files(dir, name);
    return {ca_files(dir).cert, f.cert, f.key};
  }
  TlsFiles anonymous() const { return {ca_files(dir).cert, "", ""}; }

  std::string dir;
  Issued ca;
};

// A context built without the library's checks: what a misbehaving or
// misconfigured other end could use. Each of cert/key may be empty.
inline ContextPtr raw_context(bool server, const std::string& ca, const std::string& cert,
                              const std::string& key) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  ctx->load_verify_file(ca);
  asio::error_code ignored;
  if (!key.empty()) ctx->use_private_key_file(key, asio::ssl::context::pem, ignored);
  if (!cert.empty()) ctx->use_certificate_chain_file(cert, ignored);
  ctx->set_verify_mode(server ? asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert
                              : asio::ssl::verify_peer);
  return ctx;
}

// Both ends of one loopback TLS connection on one io_context.
class Loopback {
 public:
  Loopback(ContextPtr server_ctx, ContextPtr client_ctx)
      : server_ctx_(std::move(server_ctx)),
        client_ctx_(std::move(client_ctx)),
        acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}),
        server_(io_, *server_ctx_),
        client_(io_, *client_ctx_) {}

  // Runs both handshakes to completion (or the timeout).
  void handshake() {
    pending_ = 2;
    acceptor_.async_accept(server_.lowest_layer(), [this](asio::error_code ec) {
      if (ec) return finish(server_error, ec);
      server_.async_handshake(Stream::server, [this](asio::error_code ec) {
        server_verify = SSL_get_verify_result(server_.native_handle());
        if (!ec) server_saw = peer_certificate(server_.native_handle());
        finish(server_error, ec);
      });
    });
    client_.lowest_layer().async_connect(acceptor_.local_endpoint(), [this](asio::error_code ec) {
      if (ec) return finish(client_error, ec);
      client_.async_handshake(Stream::client, [this](asio::error_code ec) {
        client_verify = SSL_get_verify_result(client_.native_handle());
        if (!ec) client_saw = peer_certificate(client_.native_handle());
        finish(client_error, ec);
      });
    });
    run();
  }

  // The client writes `text`; the server reads as many bytes. Returns what
  // the server read, or the error.
  std::string exchange(const std::string& text) {
    std::string got(text.size(), '\0');
    pending_ = 2;
    asio::async_write(client_, asio::buffer(text),
                      [this](asio::error_code ec, size_t) { finish(client_error, ec); });
    asio::async_read(server_, asio::buffer(got),
                     [this](asio::error_code ec, size_t) { finish(server_error, ec); });
    run();
    return server_error ? server_error.message() : got;
  }

  bool ok() const { return !timed_out && !server_error && !client_error; }

  asio::error_code server_error;
  asio::error_code client_error;
  X509Ptr server_saw;  // the client's certificate, as the server saw it
  X509Ptr client_saw;  // the server's certificate, as the client saw it
  // Each side's verdict on the other's certificate (X509_V_OK, or why not).
  long server_verify = -1;
  long client_verify = -1;
  bool timed_out = false;

 private:
  void finish(asio::error_code& slot, asio::error_code ec) {
    slot = ec;
    if (--pending_ == 0) deadline_.cancel();
  }
  void run() {
    deadline_.expires_after(kHandshakeTimeout);
    deadline_.async_wait([this](asio::error_code ec) {
      if (ec) return;
      timed_out = true;
      asio::error_code ignored;
      server_.lowest_layer().close(ignored);
      client_.lowest_layer().close(ignored);
      acceptor_.close(ignored);
    });
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  ContextPtr server_ctx_;
  ContextPtr client_ctx_;
  tcp::acceptor acceptor_;
  Stream server_;
  Stream client_;
  asio::steady_timer deadline_{io_};
  int pending_ = 0;
};

}  // namespace paxlock::tls::testing
