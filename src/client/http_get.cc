// paxlock::http_get: one GET on a replica's HTTP port, HTTPS under TLS with
// the same checks as the client port (include/paxlock/client.h).
#include <fmt/format.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <charconv>
#include <optional>
#include <vector>

#include "cluster/cluster_file.h"
#include "net/connection.h"
#include "paxlock/client.h"
#include "tls/context.h"
#include "tls/identity.h"

namespace paxlock {
namespace {

using asio::ip::tcp;

constexpr size_t kAnswerBytesMax = 64 << 20;

struct Get {
  std::string host_header;
  std::string path;
  std::string token;       // sent as a bearer token if not empty
  tls::ContextPtr tls;     // null: plain HTTP
  uint32_t node = 0;       // under TLS, whose certificate the replica must show
  std::string cluster_id;  // of that node
  // The outcome.
  bool done = false;
  bool truncated = false;  // TLS ended without close_notify
  std::string bytes;
  std::string error;
};

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, Get& g) {
  std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", g.path, g.host_header);
  if (!g.token.empty()) request += "Authorization: Bearer " + g.token + "\r\n";
  request += "\r\n";
  asio::error_code ec;
  co_await asio::async_write(stream, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    g.error = "sending the request: " + ec.message();
    co_return;
  }
  // On the heap: an array in the coroutine frame makes GCC 12's ASan build
  // report a false -Wmismatched-new-delete (net/connection.cc says more).
  std::vector<char> buf(16 << 10);
  for (;;) {
    asio::error_code rec;
    const size_t got = co_await stream.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, rec));
    g.bytes.append(buf.data(), got);
    if (g.bytes.size() > kAnswerBytesMax) {
      g.error = "the answer is over 64 MiB";
      co_return;
    }
    // The server closes after its answer (Connection: close). A TLS peer
    // that skips close_notify ends "truncated": whole only if the answer
    // says its length (parse_answer checks).
    if (rec == asio::ssl::error::stream_truncated) g.truncated = true;
    if (rec == asio::error::eof || rec == asio::ssl::error::stream_truncated) break;
    if (rec) {
      g.error = "reading the answer: " + rec.message();
      co_return;
    }
  }
  g.done = true;
}

asio::awaitable<void> run(tcp::endpoint to, Get& g) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  asio::error_code ec;
  co_await socket.async_connect(to, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    g.error = "connecting: " + ec.message();
    co_return;
  }
  if (!g.tls) {
    co_await exchange(socket, g);
    co_return;
  }
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *g.tls);
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    g.error = "TLS handshake: " + ec.message();
    co_return;
  }
  const tls::X509Ptr cert = tls::peer_certificate(stream.native_handle());
  const Status named = cert ? tls::certificate_names_node(cert.get(), g.node, g.cluster_id)
                            : Status::error(EACCES, "no certificate");
  if (!named.ok()) {
    g.error = fmt::format("the HTTP port is not node {}'s: {}", g.node, named.message());
    co_return;
  }
  co_await exchange(stream, g);
}

// "HTTP/1.1 200 OK\r\n...\r\n\r\nbody": the status and the body (cut to
// Content-Length if there is one; without one, the body is what came before
// the close, which a truncated TLS stream cannot vouch for).
bool parse_answer(const std::string& bytes, bool truncated, HttpAnswer& answer,
                  std::string& error) {
  const size_t head_end = bytes.find("\r\n\r\n");
  if (bytes.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) {
    error = "the answer is not HTTP";
    return false;
  }
  const size_t sp = bytes.find(' ');
  int status = 0;
  const char* digits = bytes.data() + sp + 1;
  if (sp == std::string::npos || sp + 4 > head_end ||
      std::from_chars(digits, digits + 3, status).ptr != digits + 3 || status < 100 ||
      status > 599) {
    error = "the answer has no status";
    return false;
  }
  std::optional<size_t> length;
  size_t at = bytes.find("\r\n") + 2;
  while (at < head_end) {
    const size_t eol = bytes.find("\r\n", at);
    std::string line = bytes.substr(at, eol - at);
    at = eol + 2;
    for (size_t i = 0; i < line.size() && line[i] != ':'; ++i)
      line[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    if (line.starts_with("transfer-encoding:")) {
      error = "the answer is chunked (not spoken here)";
      return false;
    }
    if (line.starts_with("content-length:")) {
      size_t v = 0;
      const char* p = line.data() + 15;
      const char* end = line.data() + line.size();
      while (p < end && (*p == ' ' || *p == '\t'))
        ++p;
      while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
      const auto parsed = std::from_chars(p, end, v);
      if (p == end || parsed.ec != std::errc() || parsed.ptr != end || (length && *length != v)) {
        error = "the answer's Content-Length is no number, or two differ";
        return false;
      }
      length = v;
    }
  }
  if (!length && truncated) {
    error = "the answer has no Content-Length and its TLS stream was cut";
    return false;
  }
  answer.status = status;
  answer.body = bytes.substr(head_end + 4);
  if (length) {
    if (answer.body.size() < *length) {
      error = "the answer ended before its Content-Length";
      return false;
    }
    answer.body.resize(*length);
  }
  return true;
}

}  // namespace

bool http_get(const ClientOptions& options, uint32_t replica, const std::string& path,
              std::chrono::milliseconds timeout, HttpAnswer& answer, std::string* error) {
  const auto fail = [error](std::string why) {
    if (error != nullptr) *error = std::move(why);
    return false;
  };
  const Member* m = nullptr;
  for (const Member& r : options.replicas) {
    if (r.id == replica) m = &r;
  }
  if (m == nullptr) return fail(fmt::format("no replica {} in the cluster", replica));
  auto address = cluster::resolve_address(m->http_address);
  if (!address.ok())
    return fail("HTTP address " + m->http_address + ": " + address.status().message());
  auto endpoint = net::endpoint_of(address->ip, address->port);
  if (!endpoint.ok()) return fail(endpoint.status().message());
  Get g;
  g.host_header = m->http_address;
  g.path = path;
  g.node = m->id;
  g.cluster_id = options.cluster_id;
  if (options.tls) {
    const auto [cert, key] = client_certificate(options);
    auto ctx = tls::make_client_context({options.tls_ca, cert, key});
    if (!ctx.ok()) return fail("TLS: " + ctx.status().message());
    g.tls = std::move(*ctx);
    g.token = options.token;
  }
  {
    asio::io_context io;
    asio::co_spawn(io, run(*endpoint, g), asio::detached);
    io.run_for(timeout);
  }
  const std::string where = fmt::format("replica {} ({})", m->id, m->http_address);
  if (!g.error.empty()) return fail(where + ": " + g.error);
  if (!g.done) return fail(fmt::format("{}: no answer within {} ms", where, timeout.count()));
  std::string why;
  if (!parse_answer(g.bytes, g.truncated, answer, why)) return fail(where + ": " + why);
  return true;
}

}  // namespace paxlock
