// floor: the physical floor under a replicated lock cycle on this machine.
//
//   floor fsync DIR COUNT   fdatasync() latency of a 256-byte write, COUNT
//                           times, in a file under DIR: "append" (the file
//                           grows, so its size must be synced too) and
//                           "prealloc" (overwrite a preallocated, zero-filled,
//                           synced file, like paxlock's WAL segments).
//   floor tcp COUNT         round trip of a 128-byte message over a loopback
//                           TCP connection (127.0.0.1, TCP_NODELAY), COUNT
//                           times, echoed by a second thread.
//
// Prints one JSON object with p50/p90/p99/max in microseconds. Bounded by
// COUNT (at most 1,000,000) and by nothing reaching beyond 127.0.0.1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double tenths(double v) {
  return std::round(v * 10) / 10;
}

nlohmann::ordered_json summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  return {{"n", v.size()},
          {"p50", tenths(at(0.5))},
          {"p90", tenths(at(0.9))},
          {"p99", tenths(at(0.99))},
          {"max", tenths(v.back())}};
}

std::vector<double> sync_latencies(const std::string& dir, bool prealloc, int count) {
  const std::string path = dir + "/floor-fsync." + std::to_string(::getpid()) + ".dat";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  constexpr size_t kRecord = 256;
  if (prealloc) {
    std::vector<char> zeros(1 << 20, 0);
    const size_t total = kRecord * static_cast<size_t>(count) + zeros.size();
    for (size_t off = 0; off < total; off += zeros.size()) {
      if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) {
        die("write");
      }
    }
    if (::fsync(fd) != 0) die("fsync");
    if (::lseek(fd, 0, SEEK_SET) != 0) die("lseek");
  }
  std::vector<char> record(kRecord, 'x');
  std::vector<double> lat;
  lat.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size())) {
      die("write");
    }
    const auto t = Clock::now();
    if (::fdatasync(fd) != 0) die("fdatasync");
    lat.push_back(micros(Clock::now() - t));
  }
  ::close(fd);
  ::unlink(path.c_str());
  return lat;
}

void nodelay(int fd) {
  int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt");
}

bool full(int fd, char* buf, size_t n, bool rd) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = rd ? ::read(fd, buf + done, n - done) : ::write(fd, buf + done, n - done);
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

std::vector<double> round_trips(int count) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(lfd, 1) != 0) die("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");
  constexpr size_t kMsg = 128;
  std::thread echo([lfd] {
    const int c = ::accept(lfd, nullptr, nullptr);
    if (c < 0) die("accept");
    nodelay(c);
    char buf[kMsg];
    while (full(c, buf, kMsg, true) && full(c, buf, kMsg, false)) {
    }
    ::close(c);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  nodelay(fd);
  char buf[kMsg];
  std::memset(buf, 'p', kMsg);
  std::vector<double> lat;
  lat.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count + 100; ++i) {  // the first 100 warm up
    const auto t = Clock::now();
    if (!full(fd, buf, kMsg, false) || !full(fd, buf, kMsg, true)) die("ping-pong");
    if (i >= 100) lat.push_back(micros(Clock::now() - t));
  }
  ::close(fd);
  echo.join();
  ::close(lfd);
  return lat;
}

int usage() {
  std::fprintf(stderr, "usage: floor fsync DIR COUNT | floor tcp COUNT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string what = argv[1];
  const int count = std::atoi(argv[argc - 1]);
  if (count < 1 || count > 1000000) return usage();
  if (what == "fsync" && argc == 4) {
    const std::string dir = argv[2];
    nlohmann::ordered_json out;
    out["fdatasync_us"]["append"] = summary(sync_latencies(dir, false, count));
    out["fdatasync_us"]["prealloc"] = summary(sync_latencies(dir, true, count));
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  if (what == "tcp" && argc == 3) {
    nlohmann::ordered_json out;
    out["rtt_us"] = summary(round_trips(count));
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  return usage();
}
