// tls_bench: what TLS costs paxlock's connections, before the daemon uses it
// (issue 17): the base for the side-by-side numbers of `paxlock bench`.
//
// 1. Connection setup over loopback: a TCP connect and accept (Plain), then
//    the same plus a full TLS 1.3 handshake with mutual authentication and
//    the cluster's ECDSA P-256 certificates (Tls), both ends on one thread,
//    so the time is the CPU of both sides (no session resumption: the
//    contexts of src/tls issue no tickets).
// 2. Small frames: one end writes frames of 100 bytes (a lock request is
//    about that) one write each, the other end reads them on its own thread;
//    plain TCP against TLS 1.3 (AES-GCM or ChaCha20 as negotiated). 16 KiB
//    writes show the bulk rate.
//
// Prints Google Benchmark's table, then the TLS/plain ratios. No timed
// assertion anywhere.
//
//   build/release/bench/tls_bench [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "tls/context.h"
#include "tls/issue.h"

namespace {

using namespace paxlock;
using asio::ip::tcp;
using Stream = asio::ssl::stream<tcp::socket>;
constexpr const char* kCluster = "bench";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "tls_bench: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(Result<T> r) {
  if (!r.ok()) die(r.status().message());
  return std::move(*r);
}

// A CA and nodes 1 and 2 in a temporary directory, for the whole run.
struct Certificates {
  Certificates() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "paxlock-tls-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp failed");
    dir = tmpl;
    tls::Issued ca = must(tls::make_ca(kCluster));
    if (Status s = tls::write_issued(ca, tls::ca_files(dir), false); !s.ok()) die(s.message());
    for (uint32_t id : {1u, 2u}) {
      tls::Issued n = must(tls::make_node_certificate(ca, id, kCluster, {}));
      if (Status s = tls::write_issued(n, tls::node_files(dir, id), false); !s.ok())
        die(s.message());
    }
    auto files = [&](uint32_t id) {
      return tls::TlsFiles{tls::ca_files(dir).cert, tls::node_files(dir, id).cert,
                           tls::node_files(dir, id).key};
    };
    server = must(tls::make_server_context(files(1), tls::ClientCerts::kRequired));
    client = must(tls::make_client_context(files(2)));
  }
  ~Certificates() { std::filesystem::remove_all(dir); }

  std::string dir;
  tls::ContextPtr server;
  tls::ContextPtr client;
};

Certificates& certificates() {
  static Certificates c;
  return c;
}

tcp::endpoint loopback() {
  return {asio::ip::make_address("127.0.0.1"), 0};
}

// Connects two sockets of `io` through `acceptor`, then, for TLS, runs both
// handshakes; all on the calling thread.
template <class Socket>
void connect_pair(asio::io_context& io, tcp::acceptor& acceptor, Socket& server, Socket& client,
                  bool tls) {
  auto& server_tcp = server.lowest_layer();
  auto& client_tcp = client.lowest_layer();
  asio::error_code failed;
  acceptor.async_accept(server_tcp, [&](asio::error_code ec) {
    if (ec) failed = ec;
    if constexpr (std::is_same_v<Socket, Stream>) {
      if (!ec && tls)
        server.async_handshake(Stream::server, [&](asio::error_code ec) {
          if (ec) failed = ec;
        });
    }
  });
  client_tcp.async_connect(acceptor.local_endpoint(), [&](asio::error_code ec) {
    if (ec) failed = ec;
    if constexpr (std::is_same_v<Socket, Stream>) {
      if (!ec && tls)
        client.async_handshake(Stream::client, [&](asio::error_code ec) {
          if (ec) failed = ec;
        });
    }
  });
  io.restart();
  io.run();
  if (failed) die("connecting over loopback: " + failed.message());
}

void BM_Connect_Plain(benchmark::State& state) {
  asio::io_context io;
  tcp::acceptor acceptor(io, loopback());
  for (auto _ : state) {
    tcp::socket server(io), client(io);
    connect_pair(io, acceptor, server, client, false);
  }
}
BENCHMARK(BM_Connect_Plain)->UseRealTime();

void BM_Connect_Tls13(benchmark::State& state) {
  Certificates& c = certificates();
  asio::io_context io;
  tcp::acceptor acceptor(io, loopback());
  for (auto _ : state) {
    Stream server(io, *c.server), client(io, *c.client);
    connect_pair(io, acceptor, server, client, true);
  }
}
BENCHMARK(BM_Connect_Tls13)->UseRealTime();

// Frames of state.range(0) bytes, one write each, read on another thread.
template <class Socket>
void small_writes(benchmark::State& state, Socket& server, Socket& client) {
  const size_t frame = static_cast<size_t>(state.range(0));
  const std::string out(frame, 'x');
  size_t total = 0;
  std::atomic<size_t> to_read{SIZE_MAX};
  std::thread reader([&] {
    std::vector<char> in(64 * 1024);
    size_t got = 0;
    asio::error_code ec;
    while (got < to_read.load()) {
      got += server.read_some(asio::buffer(in), ec);
      if (ec) die("reading: " + ec.message());
    }
  });
  for (auto _ : state) {
    asio::write(client, asio::buffer(out));
    total += frame;
  }
  const std::string end(1, 'e');
  to_read = total + 1;
  asio::write(client, asio::buffer(end));  // wakes a reader waiting for more
  reader.join();
  state.SetBytesProcessed(static_cast<int64_t>(total));
}

void BM_Writes_Plain(benchmark::State& state) {
  asio::io_context io;
  tcp::acceptor acceptor(io, loopback());
  tcp::socket server(io), client(io);
  connect_pair(io, acceptor, server, client, false);
  client.set_option(tcp::no_delay(true));
  small_writes(state, server, client);
}
BENCHMARK(BM_Writes_Plain)->Arg(100)->Arg(16384)->UseRealTime();

void BM_Writes_Tls13(benchmark::State& state) {
  Certificates& c = certificates();
  asio::io_context io;
  tcp::acceptor acceptor(io, loopback());
  Stream server(io, *c.server), client(io, *c.client);
  connect_pair(io, acceptor, server, client, true);
  client.lowest_layer().set_option(tcp::no_delay(true));
  small_writes(state, server, client);
}
BENCHMARK(BM_Writes_Tls13)->Arg(100)->Arg(16384)->UseRealTime();

// The console table, then TLS against plain for each pair of runs.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(::isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      ns_per_op_[r.benchmark_name()] = r.GetAdjustedRealTime();  // in the run's unit (ns)
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nTLS 1.3 / plain TCP (time per operation):\n");
    ratio("connect + handshake", "BM_Connect_Tls13/real_time", "BM_Connect_Plain/real_time");
    ratio("100-byte writes", "BM_Writes_Tls13/100/real_time", "BM_Writes_Plain/100/real_time");
    ratio("16 KiB writes", "BM_Writes_Tls13/16384/real_time", "BM_Writes_Plain/16384/real_time");
  }

 private:
  void ratio(const char* what, const std::string& tls, const std::string& plain) {
    auto t = ns_per_op_.find(tls);
    auto p = ns_per_op_.find(plain);
    if (t == ns_per_op_.end() || p == ns_per_op_.end() || p->second <= 0) return;
    std::printf("  %-22s %10.0f ns vs %10.0f ns: x%.2f\n", what, t->second, p->second,
                t->second / p->second);
  }
  std::map<std::string, double> ns_per_op_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
