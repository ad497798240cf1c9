// paxlockd's command line.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "common/version.h"
#include "daemon/daemon.h"
#include "daemon/restore.h"
#include "net/stats.h"

namespace paxlock::daemon {

namespace {

// libprotobuf reports through one global handler, and what it reports can be
// caused by the network: a proto3 `string` that is not UTF-8 (a hello's
// cluster id) logs an ERROR line per message. Its lines go to our log, at
// most one per line of libprotobuf's source every 5 s (with the count of
// those held back); a fatal one always.
void protobuf_log(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  static std::mutex mu;
  static net::RateLimiter limiter;
  uint64_t suppressed = 0;
  if (level < google::protobuf::LOGLEVEL_FATAL) {
    std::lock_guard lock(mu);
    if (!limiter.allow(fmt::format("{}:{}", file, line), suppressed)) return;
  }
  spdlog::log(level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::err : spdlog::level::warn,
              "libprotobuf {}:{}: {} ({} similar suppressed)", file, line, message, suppressed);
}

// paxlockd --restore: docs/OPERATIONS.md, Backups (server/restore.h).
int restore_main(const ClusterConfig& config, const DaemonOptions& opt, const std::string& backup,
                 uint64_t bump_tokens) {
  const Member* self = config.member(opt.id);
  if (self == nullptr) {
    spdlog::error("cannot restore: node id {} is not in the config", opt.id);
    return 2;
  }
  const std::string data_dir = !opt.data_dir.empty() ? opt.data_dir : self->data_dir;
  if (data_dir.empty()) {
    spdlog::error("cannot restore: no data directory (give --data-dir or data_dir in the config)");
    return 2;
  }
  if (bump_tokens == 0) {
    spdlog::error(
        "cannot restore without --bump-tokens N (N > 0): the old cluster may have granted locks "
        "after this snapshot was taken, and their fencing tokens must not be handed out again. "
        "N must be at least the number of such grants; the old cluster's last_token (/status) "
        "minus the snapshot's is enough; if unknown, use 1000000000000");
    return 2;
  }
  storage::PosixFs fs;
  Status s = storage::create_dirs(fs, data_dir);
  if (!s.ok()) {
    spdlog::error("cannot restore: {}", s.message());
    return 1;
  }
  auto lock = storage::DirectoryLock::acquire(data_dir);
  if (!lock.ok()) {
    spdlog::error("cannot restore: {}", lock.status().message());
    return 1;
  }
  auto r = restore_backup(fs, backup, data_dir, config.cluster_id, opt.id, bump_tokens);
  if (!r.ok()) {
    spdlog::error("cannot restore: {}", r.status().message());
    return 1;
  }
  std::printf(
      "restored %s into %s\n"
      "  log resumes at instance %llu; %llu locks held\n"
      "  fencing tokens: the snapshot's last was %llu; this cluster grants above %llu\n"
      "  digest %016llx (must be the same on every replica of the new cluster)\n",
      backup.c_str(), r->path.c_str(), static_cast<unsigned long long>(r->next),
      static_cast<unsigned long long>(r->locks), static_cast<unsigned long long>(r->snapshot_token),
      static_cast<unsigned long long>(r->next_token), static_cast<unsigned long long>(r->digest));
  return 0;
}

}  // namespace

int daemon_main(int argc, char** argv) {
  // SIGHUP reloads the TLS files (Daemon's signal set, which queues one that
  // comes during the start); until that set exists, one must not kill the
  // process with the default action (a rotation script racing a restart).
  std::signal(SIGHUP, SIG_IGN);
  // A write to a connection the other end closed must fail with EPIPE, not
  // end the process: OpenSSL's socket BIO (the HTTPS port) writes with
  // write(), which has no MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"paxlockd: one replica of a paxlock cluster"};
  std::string config_path;
  DaemonOptions opt;
  std::string log_level = "info";
  std::string mutation = "none";
  app.set_version_flag("--version", version_line("paxlockd"));
  app.add_option("--config", config_path, "cluster configuration (TOML)")->required();
  app.add_option("--id", opt.id, "this replica's node id in the config")->required();
  app.add_option("--data-dir", opt.data_dir, "data directory (overrides the config)");
  app.add_flag("--accept-peer-address-change", opt.accept_peer_address_change,
               "the replicas moved: take the cluster file's peer addresses in place of those the "
               "data directory recorded (node ids must still agree; docs/OPERATIONS.md)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string restore;
  uint64_t bump_tokens = 0;
  auto* restore_opt = app.add_option(
      "--restore", restore,
      "write this backup (a snapshot file) into the new, empty data directory and exit; "
      "see docs/OPERATIONS.md, Backups");
  app.add_option("--bump-tokens", bump_tokens,
                 "with --restore: raise the fencing-token counter by this much (at least the "
                 "grants the old cluster can have made after the snapshot)")
      ->needs(restore_opt);
  auto* test = app.add_option_group("test options", "fault injection for tests; off by default");
  test->add_option("--drop-rate", opt.drop_rate, "drop this share of outgoing peer messages")
      ->check(CLI::Range(0.0, 1.0));
  test->add_option("--fault-seed", opt.fault_seed, "seed for --drop-rate");
  test->add_flag("--withhold-replies", opt.withhold_replies,
                 "apply client commands but never answer them");
  test->add_flag("--no-sticky-leader", opt.no_sticky_leader,
                 "answer any higher prepare, even while a leader is alive (more duels)");
#if PAXLOCK_MUTATIONS
  // The core's mutations, and three the daemon plants outside the core.
  const std::vector<std::string> daemon_mutations = {"skip-fsync", "no-dedup", "short-lease"};
  test->add_option("--fail-fsync-after", opt.fail_fsync_after,
                   "after this many fdatasyncs, fail the next one with EIO (test builds only)");
  test->add_option("--mutation", mutation, "plant a protocol bug (test builds only)")
      ->check(CLI::IsMember([&] {
        std::vector<std::string> names = daemon_mutations;
        for (const auto& n : paxos::kMutationNames)
          names.push_back(n.name);
        return names;
      }()));
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
#if PAXLOCK_MUTATIONS
  opt.mutation = paxos::parse_mutation(mutation).value_or(paxos::Mutation::kNone);
  opt.skip_fsync = mutation == "skip-fsync";
  opt.lock_no_dedup = mutation == "no-dedup";
  opt.lock_short_lease = mutation == "short-lease";
#endif

  auto logger = spdlog::stderr_color_mt("paxlockd");
  logger->set_pattern(fmt::format("%Y-%m-%d %H:%M:%S.%e [node {}] [%l] %v", opt.id));
  logger->set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(logger);
  google::protobuf::SetLogHandler(&protobuf_log);

  auto config = load_config(config_path);
  if (!config.ok()) {
    spdlog::error("bad config: {}", config.status().message());
    return 2;
  }
  if (!restore.empty()) return restore_main(*config, opt, restore, bump_tokens);
  Daemon daemon(std::move(*config), opt);
  Status s = daemon.start();
  if (!s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    return 1;
  }
  if (opt.drop_rate > 0) spdlog::warn("TEST OPTION: dropping {} of peer messages", opt.drop_rate);
  if (opt.withhold_replies) spdlog::warn("TEST OPTION: client commands are never answered");
  if (opt.no_sticky_leader) spdlog::warn("TEST OPTION: sticky leader off");
  if (mutation != "none") spdlog::warn("TEST OPTION: planted bug '{}'", mutation);
  if (opt.fail_fsync_after >= 0) {
    spdlog::warn("TEST OPTION: fdatasync number {} will fail", opt.fail_fsync_after + 1);
  }
  daemon.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace paxlock::daemon
