// `paxlock local`: a cluster of paxlockd processes on 127.0.0.1, managed by
// PID, with its config and data under one directory:
//   DIR/cluster.toml   the generated config (free ports; usable as --cluster)
//   DIR/n<ID>/         each node's data directory
//   DIR/n<ID>.log      each node's log
//   DIR/n<ID>.pid      each running node's process id
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cluster/cluster_file.h"
#include "tls/identity.h"
#include "tls/issue.h"

namespace paxlock::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string pid_file(const LocalOptions& l, uint32_t id) {
  return (fs::path(l.dir) / fmt::format("n{}.pid", id)).string();
}

pid_t read_pid(const LocalOptions& l, uint32_t id) {
  std::ifstream in(pid_file(l, id));
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// A live process that is a paxlockd (a recycled pid is not ours).
bool running(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream cmd(fmt::format("/proc/{}/cmdline", pid));
  std::string line;
  std::getline(cmd, line);
  // "paxlock" also matches a child between fork and exec of paxlockd.
  if (line.find("paxlock") == std::string::npos) return false;
  std::ifstream st(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  std::getline(st, stat);
  const size_t close = stat.rfind(')');
  return close == std::string::npos || stat.size() < close + 3 || stat[close + 2] != 'Z';
}

// Free TCP ports on 127.0.0.1, held open together so that none repeats.
std::vector<uint16_t> free_ports(size_t n) {
  asio::io_context io;
  std::vector<asio::ip::tcp::acceptor> held;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    held.emplace_back(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ports.push_back(held.back().local_endpoint().port());
  }
  return ports;
}

std::string daemon_path(const LocalOptions& l) {
  if (!l.build.empty()) return l.build;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "paxlockd").string();
}

bool start_node(const LocalOptions& l, const cluster::ClusterFile& cfg, uint32_t id) {
  const std::string exe = daemon_path(l);
  if (::access(exe.c_str(), X_OK) != 0) {
    fail("cannot run " + exe + " (build it first, or give --paxlockd PATH)");
    return false;
  }
  const std::string config = (fs::path(l.dir) / "cluster.toml").string();
  const std::string log = (fs::path(l.dir) / fmt::format("n{}.log", id)).string();
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::setsid();  // survive this command; not in our terminal's process group
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<std::string> args = {exe, "--config", config, "--id", std::to_string(id)};
    for (const std::string& a : l.extra_args)
      args.push_back(a);
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  std::ofstream(pid_file(l, id)) << pid << "\n";
  (void)cfg;
  return true;
}

std::string config_path_of(const LocalOptions& l);

// How the tools here reach the replicas' HTTP ports: the cluster file's
// client options (HTTPS with the file's admin credentials under [tls]).
ClientOptions http_options(const LocalOptions& l) {
  ClientOptions o;
  std::string error;
  load_cluster_file(config_path_of(l), o, &error);  // the caller loaded it already
  return o;
}

// The node's HTTP answer to /status, or nullopt if there is none. (Under
// [tls] it is 403 until the bootstrap admin exists.)
std::optional<HttpAnswer> node_http_status(const ClientOptions& o, uint32_t id) {
  HttpAnswer answer;
  if (!http_get(o, id, "/status", std::chrono::milliseconds(500), answer, nullptr)) {
    return std::nullopt;
  }
  return answer;
}

// The node's /status, or nullopt if it does not answer (with JSON).
std::optional<Json> node_status(const ClientOptions& o, uint32_t id) {
  const std::optional<HttpAnswer> answer = node_http_status(o, id);
  if (!answer || answer->status != 200) return std::nullopt;
  Json status = Json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
  if (status.is_discarded()) return std::nullopt;
  return status;
}

// A /status field as text: a string's content, anything else as JSON ("null").
std::string field_text(const Json& status, const char* key) {
  const auto it = status.find(key);
  if (it == status.end()) return "";
  return printable(it->is_string() ? it->get<std::string>() : to_json_line(*it));
}

bool wait_serving(const LocalOptions& l, const std::vector<uint32_t>& ids) {
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(l.wait_s * 1000));
  const ClientOptions o = http_options(l);
  for (uint32_t id : ids) {
    // Serving: the HTTP port answers (whatever it says).
    while (!node_http_status(o, id)) {
      // We forked it: waitpid tells for sure whether it exited (reading /proc
      // races with its exec).
      int wstatus = 0;
      const pid_t pid = read_pid(l, id);
      if (::waitpid(pid, &wstatus, WNOHANG) == pid || (::kill(pid, 0) != 0 && errno == ESRCH)) {
        fail(fmt::format("node {} exited; see {}/n{}.log", id, l.dir, id));
        return false;
      }
      if (Clock::now() > deadline) {
        fail(fmt::format("node {} does not serve after {} s; see {}/n{}.log", id, l.wait_s, l.dir,
                         id));
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return true;
}

bool stop_node(const LocalOptions& l, uint32_t id, int sig) {
  const pid_t pid = read_pid(l, id);
  if (running(pid)) {
    ::kill(pid, sig);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (running(pid) && Clock::now() < deadline) {
      ::waitpid(pid, nullptr, WNOHANG);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (running(pid)) {
      ::kill(pid, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::error_code ec;
  fs::remove(pid_file(l, id), ec);
  return true;
}

std::string config_path_of(const LocalOptions& l) {
  return (fs::path(l.dir) / "cluster.toml").string();
}

// The identity `local up` makes a certificate for and the replicas make the
// first admin: the cluster file names it as its clients' default, so that
// `paxlock --cluster DIR lock x` works as it is (an admin may act as any
// owner).
constexpr const char* kLocalAdmin = "admin";

// A CA for `cluster_id` in `certs`, each node's certificate (for 127.0.0.1
// and localhost) and the admin client's. An error names what failed.
Status make_local_certs(const std::string& certs, const std::string& cluster_id, int nodes) {
  std::error_code ec;
  fs::create_directories(certs, ec);
  if (ec) return Status::error(EIO, fmt::format("cannot create {}: {}", certs, ec.message()));
  auto ca = tls::make_ca(cluster_id);
  if (!ca.ok()) return ca.status();
  if (Status s = tls::write_issued(*ca, tls::ca_files(certs), /*overwrite=*/true); !s.ok()) {
    return s;
  }
  for (int i = 1; i <= nodes; ++i) {
    const auto id = static_cast<uint32_t>(i);
    auto node = tls::make_node_certificate(*ca, id, cluster_id, {"127.0.0.1", "localhost"});
    if (!node.ok()) return node.status();
    if (Status s = tls::write_issued(*node, tls::node_files(certs, id), true); !s.ok()) return s;
  }
  auto admin = tls::make_client_certificate(*ca, kLocalAdmin);
  if (!admin.ok()) return admin.status();
  return tls::write_issued(*admin, tls::client_files(certs, kLocalAdmin), true);
}

// A new cluster of l.nodes on free ports of 127.0.0.1, written to `path`
// with l.tuning as its [tuning] table. kExitOk or kExitUsage (it said why).
int write_new_config(const LocalOptions& l, const std::string& path) {
  if (l.nodes < 1 || l.nodes > 15) {
    fail("--nodes must be between 1 and 15");
    return kExitUsage;
  }
  cluster::ClusterFile cfg;
  cfg.cluster_id = fmt::format("local-{}", ::getpid());
  if (l.insecure) {
    cfg.insecure = true;
  } else {
    // Secure by default: TLS on the peer, client and HTTP ports, clients by
    // certificate, "admin" the first admin. Paths relative to the file.
    const Status made =
        make_local_certs((fs::path(l.dir) / "certs").string(), cfg.cluster_id, l.nodes);
    if (!made.ok()) {
      fail("local up: making the certificates: " + made.message());
      return kExitRefused;
    }
    cluster::TlsSettings t;
    t.ca = "certs/ca.crt";
    t.cert = "certs/node-{id}.crt";
    t.key = "certs/node-{id}.key";
    t.client_auth = cluster::ClientAuth::kCert;
    t.admin = kLocalAdmin;
    t.client_cert = fmt::format("certs/client-{}.crt", kLocalAdmin);
    t.client_key = fmt::format("certs/client-{}.key", kLocalAdmin);
    cfg.tls = t;
  }
  const auto ports = free_ports(static_cast<size_t>(3 * l.nodes));
  for (int i = 0; i < l.nodes; ++i) {
    cluster::Member m;
    m.id = static_cast<uint32_t>(i + 1);
    m.peer = {"127.0.0.1", ports[static_cast<size_t>(3 * i)], "127.0.0.1"};
    m.client = {"127.0.0.1", ports[static_cast<size_t>(3 * i + 1)], "127.0.0.1"};
    m.http = {"127.0.0.1", ports[static_cast<size_t>(3 * i + 2)], "127.0.0.1"};
    m.data_dir = fs::absolute(fs::path(l.dir) / fmt::format("n{}", m.id)).string();
    cfg.members.push_back(m);
  }
  std::string text = cluster::to_toml(cfg);
  if (!l.tuning.empty()) {
    text += "\n[tuning]\n";
    for (const std::string& kv : l.tuning) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        fail("--tuning takes key=value, not '" + kv + "'");
        return kExitUsage;
      }
      text += kv.substr(0, eq) + " = " + kv.substr(eq + 1) + "\n";
    }
  }
  std::ofstream(path) << text;
  return kExitOk;
}

std::vector<uint32_t> member_ids(const cluster::ClusterFile& cfg) {
  std::vector<uint32_t> ids;
  for (const cluster::Member& m : cfg.members)
    ids.push_back(m.id);
  return ids;
}

// The JSON object of `local`: the action, the directory and every node.
Json local_json(const LocalOptions& l, const cluster::ClusterFile& cfg, int exit,
                const std::string& config_path) {
  Json j = json_head("local", exit == kExitOk ? Code::kOk : Code::kUnavailable, exit);
  j["action"] = l.action;
  j["dir"] = l.dir;
  j["cluster"] = config_path;
  Json nodes = Json::array();
  for (const cluster::Member& m : cfg.members) {
    const pid_t pid = read_pid(l, m.id);
    const bool alive = running(pid);
    nodes.push_back({{"id", m.id},
                     {"running", alive},
                     {"pid", alive ? Json(pid) : Json()},
                     {"client", m.client.to_string()},
                     {"http", m.http.to_string()}});
  }
  j["nodes"] = std::move(nodes);
  return j;
}

// With [tls] and the admin's credentials in the file: waits until the
// replicas' acl_bootstrap is applied (the admin's acl_list is answered OK),
// so that the first command after `local up` acts with the admin's rights.
bool wait_admin(const LocalOptions& l, const cluster::ClusterFile& cfg,
                const std::string& config_path) {
  if (!cfg.tls || cfg.tls->client_cert.empty()) return true;
  ClientOptions o;
  std::string error;
  if (!load_cluster_file(config_path, o, &error)) {
    fail(fmt::format("cannot use {}: {}", config_path, error));
    return false;
  }
  o.request_timeout = std::chrono::milliseconds(1000);
  std::optional<Client> built;
  try {
    built.emplace(o);
  } catch (const std::invalid_argument& e) {  // the admin's files cannot be used
    fail(fmt::format("local up: cannot act as the admin of {}: {}", config_path, e.what()));
    return false;
  }
  Client& c = *built;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(l.wait_s * 1000));
  Reply r;
  while (Clock::now() < deadline) {
    r = c.acl_list("", "", 1).get();
    if (r.code == Code::kOk) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fail(fmt::format("the admin identity is not the admin after {} s: {} {}", l.wait_s,
                   to_string(r.code), printable(r.error)));
  return false;
}

// Starts every node that is not running and waits until all serve.
int local_up(const Global& g, const LocalOptions& l, const cluster::ClusterFile& cfg,
             const std::string& config_path) {
  const std::vector<uint32_t> all = member_ids(cfg);
  for (uint32_t id : all) {
    if (running(read_pid(l, id))) continue;
    if (!start_node(l, cfg, id)) return kExitUnavailable;
  }
  if (!wait_serving(l, all)) return kExitUnavailable;
  if (!wait_admin(l, cfg, config_path)) return kExitUnavailable;
  if (!g.json) {
    std::cout << fmt::format("{} nodes serving; use --cluster {}", all.size(), config_path)
              << std::endl;
  }
  return kExitOk;
}

int local_down(const Global& g, const LocalOptions& l, const cluster::ClusterFile& cfg) {
  for (uint32_t id : member_ids(cfg))
    stop_node(l, id, SIGTERM);
  if (!g.json) std::cout << "all nodes stopped" << std::endl;
  return kExitOk;
}

// One line per node; kExitOk while a majority runs.
int local_status(const Global& g, const LocalOptions& l, const cluster::ClusterFile& cfg) {
  int up = 0;
  const ClientOptions o = http_options(l);
  for (const cluster::Member& m : cfg.members) {
    const pid_t pid = read_pid(l, m.id);
    const bool alive = running(pid);
    up += alive ? 1 : 0;
    if (g.json) continue;
    const std::optional<Json> st = alive ? node_status(o, m.id) : std::nullopt;
    std::cout << fmt::format("node {}: {}", m.id, alive ? fmt::format("pid {}", pid) : "down");
    if (st) {
      std::cout << fmt::format(" role {} leader {} applied {}", field_text(*st, "role"),
                               field_text(*st, "leader"), field_text(*st, "applied"));
    }
    std::cout << std::endl;
  }
  return up * 2 > static_cast<int>(cfg.members.size()) ? kExitOk : kExitUnavailable;
}

int local_kill(const Global& g, const LocalOptions& l) {
  stop_node(l, l.id, SIGKILL);
  if (!g.json) std::cout << fmt::format("node {} killed", l.id) << std::endl;
  return kExitOk;
}

int local_restart(const Global& g, const LocalOptions& l, const cluster::ClusterFile& cfg) {
  if (running(read_pid(l, l.id))) {
    fail(fmt::format("node {} is running", l.id));
    return kExitRefused;
  }
  if (!start_node(l, cfg, l.id) || !wait_serving(l, {l.id})) return kExitUnavailable;
  if (!g.json) std::cout << fmt::format("node {} restarted", l.id) << std::endl;
  return kExitOk;
}

int local_action(const Global& g, const LocalOptions& l, const cluster::ClusterFile& cfg,
                 const std::string& config_path) {
  if (l.action == "up") return local_up(g, l, cfg, config_path);
  if (l.action == "down") return local_down(g, l, cfg);
  if (l.action == "status") return local_status(g, l, cfg);
  if (l.action == "kill" || l.action == "restart") {
    if (!cfg.member(l.id)) {
      fail(fmt::format("no node {} in {}", l.id, config_path));
      return kExitUsage;
    }
    return l.action == "kill" ? local_kill(g, l) : local_restart(g, l, cfg);
  }
  fail("local needs an action: up, down, status, kill ID or restart ID");
  return kExitUsage;
}

}  // namespace

int cmd_local(const Global& g, const LocalOptions& l) {
  if (l.dir.empty()) {
    fail("local needs --dir DIR");
    return kExitUsage;
  }
  std::error_code ec;
  fs::create_directories(l.dir, ec);
  const std::string config_path = config_path_of(l);
  if (l.action == "up" && !fs::exists(config_path)) {
    const int code = write_new_config(l, config_path);
    if (code != kExitOk) return code;
  }
  auto cfg = cluster::load_cluster_file(config_path);
  if (!cfg.ok()) {
    fail(cfg.status().message());
    return kExitUsage;
  }
  const int exit = local_action(g, l, *cfg, config_path);
  if (g.json) print_json(local_json(l, *cfg, exit, config_path));
  return exit;
}

}  // namespace paxlock::cli
