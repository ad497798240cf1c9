// What every `paxlock` command shares: the cluster file and client options,
// the owner, name checks, exit codes, and the output helpers (docs/CLI.md).
#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/cli.h"
#include "common/text.h"
#include "tls/context.h"

namespace paxlock::cli {

namespace fs = std::filesystem;

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

void fail(const std::string& message) {
  std::cerr << "paxlock: " << message << "\n";
}

void note(const Global& g, const std::string& message) {
  if (!g.quiet && !g.json) std::cerr << "paxlock: " << message << "\n";
}

std::string default_owner() {
  if (const char* env = std::getenv("PAXLOCK_OWNER"); env && *env) return env;
  std::string user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) user = pw->pw_name;
  if (user.empty()) {
    const char* env = std::getenv("USER");
    user = env && *env ? env : fmt::format("uid{}", ::geteuid());
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

std::string cluster_file_path(const Global& g) {
  std::string file = g.cluster_file;
  if (file.empty()) {
    const char* env = std::getenv("PAXLOCK_CLUSTER");
    file = env && *env ? env : "cluster.toml";
  }
  std::error_code ec;
  if (fs::is_directory(file, ec)) return (fs::path(file) / "cluster.toml").string();
  return file;
}

namespace {

std::string flag_or_env(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* v = std::getenv(env);
  return v && *v ? v : "";
}

// The credentials of the flags (or the environment) for a TLS cluster.
bool client_credentials(const Global& g, ClientOptions& out) {
  const std::string cert = flag_or_env(g.cert, "PAXLOCK_CERT");
  const std::string key = flag_or_env(g.key, "PAXLOCK_KEY");
  if (cert.empty() != key.empty()) {
    fail("--cert and --key go together (or $PAXLOCK_CERT and $PAXLOCK_KEY)");
    return false;
  }
  const std::string token_file = flag_or_env(g.token_file, "PAXLOCK_TOKEN_FILE");
  // Credentials given here replace the cluster file's [tls] client_cert and
  // client_key (client_certificate() presents those only if none is set).
  out.tls_cert = cert;
  out.tls_key = key;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string token;
    if (!in || !std::getline(in, token)) {
      fail(fmt::format("cannot read a token from {}", token_file));
      return false;
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    out.token = token;
  }
  // Checked here, naming the file: the client would refuse them too.
  const auto [use_cert, use_key] = client_certificate(out);
  auto context = tls::make_client_context({out.tls_ca, use_cert, use_key});
  if (!context.ok()) {
    fail("TLS: " + context.status().message());
    return false;
  }
  return true;
}

}  // namespace

bool client_options(const Global& g, ClientOptions& out) {
  const std::string file = cluster_file_path(g);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    const fs::path p(file);
    if (p.filename() == "cluster.toml" &&
        fs::is_directory(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec)) {
      fail(
          fmt::format("no cluster file: {} does not exist (give --cluster FILE or a directory "
                      "holding cluster.toml, or set PAXLOCK_CLUSTER; `paxlock local up --dir "
                      "DIR` writes one)",
                      file));
    } else {
      fail(fmt::format("no cluster file: {} does not exist", file));
    }
    return false;
  }
  std::string error;
  if (!load_cluster_file(file, out, &error)) {
    fail(fmt::format("cannot use cluster file {}: {}", file, error));
    return false;
  }
  if (out.tls && !client_credentials(g, out)) return false;
  out.request_timeout = ms(g.timeout_s);
  out.attempt_timeout =
      std::min(out.attempt_timeout, std::max(ms(g.timeout_s / 3), std::chrono::milliseconds(50)));
  if (g.replica == "random") {
    out.choice = ReplicaChoice::kRandom;
  } else if (g.replica == "hash") {
    out.choice = ReplicaChoice::kHash;
  } else if (g.replica == "leader") {
    Client probe(out);
    const Reply r = probe.cluster_info().get();
    if (r.code != Code::kOk || r.cluster.leader == 0) {
      fail("no leader known: " + std::string(to_string(r.code)) + " " + printable(r.error));
      return false;
    }
    out.choice = ReplicaChoice::kFixed;
    out.fixed_replica = r.cluster.leader;
  } else {
    char* end = nullptr;
    const unsigned long id = std::strtoul(g.replica.c_str(), &end, 10);
    bool known = false;
    for (const Member& m : out.replicas)
      known |= m.id == id;
    if (*end != '\0' || !known) {
      fail("--replica must be random, hash, leader or a node id of the cluster");
      return false;
    }
    out.choice = ReplicaChoice::kFixed;
    out.fixed_replica = static_cast<uint32_t>(id);
  }
  return true;
}

std::chrono::milliseconds effective_wait(const Global& g, double max_wait_s) {
  const double s = g.timeout_given ? std::min(max_wait_s, g.timeout_s) : max_wait_s;
  return ms(s);
}

int exit_code(Code code) {
  switch (code) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalid:
    case Code::kBadRequest:
      return kExitUsage;
    case Code::kUnavailable:
      return kExitUnavailable;
    case Code::kTimeout:
      return kExitTimeout;
    case Code::kDeadlock:
      return kExitDeadlock;
    default:
      return kExitRefused;
  }
}

namespace {

std::optional<std::string> invalid_text(const std::string& what, const std::string& s, size_t max) {
  if (s.empty()) return fmt::format("{} cannot be empty", what);
  if (s.size() > max) {
    return fmt::format("{} is at most {} bytes; this one has {}", what, max, s.size());
  }
  if (auto why = text_problem(s)) return what + " " + *why;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> invalid_name(const std::string& name) {
  return invalid_text("a lock name", name, 512);
}

std::optional<std::string> invalid_owner(const std::string& owner) {
  return invalid_text("an owner", owner, 256);
}

std::string rfc3339(int64_t epoch_ms) {
  epoch_ms = std::max<int64_t>(epoch_ms, 0);
  const std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(epoch_ms % 1000));
}

Json json_head(const std::string& command, Code code, int exit) {
  return {
      {"v", kJsonVersion}, {"command", command}, {"result", to_string(code)}, {"exit_code", exit}};
}

void print_json(const Json& j) {
  std::cout << to_json_line(j) << std::endl;
}

}  // namespace paxlock::cli
