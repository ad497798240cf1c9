// `paxlock hold NAME -- CMD...`: take a lock under a session, run a command
// while it is held, release it when the command ends. The command must not
// outlive the lock:
//
//  * it runs in a process group of its own, so every process it starts gets
//    the signals (SIGTERM, then SIGKILL after --kill-after);
//  * if the session is lost (no keep-alive acknowledged in time), the group
//    is stopped before the service can give the lock to someone else
//    (the client gives up a margin before the lease's end, docs/LOCKS.md);
//  * if `paxlock hold` itself dies, even by SIGKILL, a watchdog process stops
//    the group: it waits on a pipe whose only writer is this process, and
//    the kernel closes the pipe when this process dies. The command itself
//    also gets SIGTERM from PR_SET_PDEATHSIG;
//  * when the command exits, anything left in its group (background jobs)
//    is stopped too, before the lock is released.
//
// Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT to `paxlock hold` are passed
// on to the command's group. The command sees PAXLOCK_LOCK, PAXLOCK_TOKEN,
// PAXLOCK_OWNER, PAXLOCK_SESSION and PAXLOCK_CLUSTER.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "cli/cli.h"

extern char** environ;

namespace paxlock::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Written by signal handlers and the client's I/O thread, read by the main
// loop: one byte per event (the signal number, or kLostByte).
int g_events_w = -1;
std::atomic<bool> g_starting{false};  // set just before the command is forked
constexpr char kLostByte = 'L';
constexpr int kHandled[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
// Job control is not for `paxlock hold` itself: a stopped hold cannot renew
// its lock (the watchdog's dead-man timer covers SIGSTOP, which cannot be
// ignored).
constexpr int kIgnored[] = {SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

void on_signal(int sig) {
  if (!g_starting.load() && sig != SIGCHLD) {
    // Still waiting for the lock: stop here. A wait still queued on the
    // service ends with the session's lease.
    ::_exit(128 + sig);
  }
  const char b = static_cast<char>(sig);
  const int saved = errno;
  [[maybe_unused]] auto n = ::write(g_events_w, &b, 1);
  errno = saved;
}

bool group_alive(pid_t group) {
  return ::kill(-group, 0) == 0 || errno == EPERM;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// SIGTERM to the group, SIGKILL if anything is left after `grace`. Only
// async-signal-safe calls: the watchdog runs this in a forked child.
void stop_group(pid_t group, long grace_ms) {
  if (!group_alive(group)) return;
  ::kill(-group, SIGTERM);
  for (long waited = 0; waited < grace_ms && group_alive(group); waited += 20)
    sleep_ms(20);
  if (group_alive(group)) ::kill(-group, SIGKILL);
}

// The watchdog: exits when this process says "done" ('d') on the pipe;
// stops the group when the pipe closes without it (this process died), or
// when no heartbeat ('h', every ~100 ms) came for `deadman_ms` (this process
// is stopped, e.g. SIGSTOP, and cannot renew the lock).
[[noreturn]] void watchdog(int done_r, pid_t group, long grace_ms, int deadman_ms) {
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU})
    ::signal(s, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  ::setpgid(0, 0);  // out of the terminal's foreground group: Ctrl-C is not for us
  for (;;) {
    pollfd p{done_r, POLLIN, 0};
    const int r = ::poll(&p, 1, deadman_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) break;  // no heartbeat: paxlock hold is stopped
    char buf[64];
    const ssize_t n = ::read(done_r, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // paxlock hold died
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == 'd') ::_exit(0);
    }
  }
  stop_group(group, grace_ms);
  ::_exit(0);
}

struct Outcome {
  Code code = Code::kOk;
  int exit = kExitOk;
  std::optional<int> child_exit;
  std::optional<int> child_signal;
  bool lost = false;
  bool usage = false;  // refused before anything was sent
  std::string error;
};

}  // namespace

int cmd_hold(const Global& g, const std::string& name, const HoldOptions& h) {
  const auto start = Clock::now();
  uint64_t token = 0;
  uint64_t session_id = 0;
  Clock::time_point held_at{};
  Outcome out;
  std::vector<WaitEdge> cycle;
  std::string holder;

  auto report = [&]() {
    if (g.json) {
      Json j = json_head("hold", out.code, out.exit);
      if (out.usage) j["result"] = "USAGE";
      j["name"] = name;
      j["owner"] = g.owner;
      j["token"] = token;
      j["holder"] = holder;
      j["session"] = session_id;
      j["ttl_ms"] = ms(h.ttl_s).count();
      j["lost"] = out.lost;
      j["child_exit_code"] = out.child_exit ? Json(*out.child_exit) : Json();
      j["child_signal"] = out.child_signal ? Json(*out.child_signal) : Json();
      j["held_ms"] =
          held_at == Clock::time_point{}
              ? 0
              : std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - held_at)
                    .count();
      j["cycle"] = cycle_json(cycle);
      j["elapsed_ms"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      j["error"] = out.error;
      print_json(j);
    } else if (!out.error.empty()) {
      fail(out.error);
    }
    return out.exit;
  };
  auto usage = [&](const std::string& why) {
    out.code = Code::kInvalid;
    out.exit = kExitUsage;
    out.usage = true;
    out.error = why;
    if (g.json) {
      report();
      return kExitUsage;
    }
    fail(why);
    return kExitUsage;
  };

  if (h.command.empty()) return usage("hold needs a command after --: hold NAME -- CMD [ARGS...]");
  if (auto why = invalid_name(name)) return usage(*why);
  if (auto why = invalid_owner(g.owner)) return usage(*why);
  ClientOptions o;
  if (!client_options(g, o)) return usage("no usable cluster file");

  int events[2];
  if (::pipe2(events, O_CLOEXEC | O_NONBLOCK) != 0) {
    return usage(std::string("pipe: ") + std::strerror(errno));
  }
  g_events_w = events[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : kHandled)
    ::sigaction(s, &sa, nullptr);
  for (int s : kIgnored)
    ::signal(s, SIG_IGN);

  Client c(o);
  Reply opened;
  auto session = c.start_session(
      g.owner, ms(h.ttl_s),
      [] {
        const char b = kLostByte;
        [[maybe_unused]] auto n = ::write(g_events_w, &b, 1);
      },
      &opened);
  if (!session) {
    out.code = opened.code;
    out.exit = exit_code(opened.code);
    out.error = "opening a session: " + std::string(to_string(opened.code)) +
                (opened.error.empty() ? "" : ": " + printable(opened.error));
    return report();
  }
  session_id = session->id();
  AcquireOptions ao;
  ao.session = session_id;
  ao.max_wait = effective_wait(g, h.max_wait_s);
  ao.max_wait -= std::min(
      ao.max_wait, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
  const Reply r = c.acquire(name, g.owner, ao);
  token = r.token;
  holder = r.holder;
  cycle = r.cycle;
  if (r.code != Code::kOk) {
    out.code = r.code;
    out.exit = exit_code(r.code);
    out.error = refusal_text("hold", name, r);
    return report();
  }
  held_at = Clock::now();
  if (session->lost()) {
    out.code = Code::kSessionExpired;
    out.exit = kExitLost;
    out.lost = true;
    out.error = fmt::format("lock {} was lost before the command started", printable(name));
    return report();
  }

  // Everything the child needs, built before fork (only async-signal-safe
  // calls between fork and exec).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "PAXLOCK_", 8) != 0) env_strings.emplace_back(*e);
  }
  std::error_code ec;
  const std::string cluster_abs = std::filesystem::absolute(cluster_file_path(g), ec).string();
  env_strings.push_back("PAXLOCK_LOCK=" + name);
  env_strings.push_back("PAXLOCK_TOKEN=" + std::to_string(token));
  env_strings.push_back("PAXLOCK_OWNER=" + g.owner);
  env_strings.push_back("PAXLOCK_SESSION=" + std::to_string(session_id));
  env_strings.push_back("PAXLOCK_CLUSTER=" + cluster_abs);
  std::vector<char*> envp;
  for (std::string& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = h.command;
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const long grace_ms = static_cast<long>(h.kill_after_s * 1000);
  // After the lock is lost, or paxlock hold died, the service may give the
  // lock away within the lease's margin: SIGKILL follows SIGTERM sooner then.
  const long lost_grace_ms = std::min<long>(grace_ms, 500);
  const int deadman_ms = static_cast<int>(std::max<long>(1000, ms(h.ttl_s).count() / 3));
  // The terminal goes to the command if it is ours (an interactive command
  // must be able to read it), and comes back afterwards.
  const bool foreground = ::isatty(0) && ::tcgetpgrp(0) == ::getpgrp();
  int done[2];
  if (::pipe2(done, O_CLOEXEC) != 0) {
    out.code = Code::kUnavailable;
    out.exit = kExitUnavailable;
    out.error = std::string("pipe: ") + std::strerror(errno);
    return report();
  }
  const pid_t self = ::getpid();

  g_starting = true;  // from here a signal is passed on to the command, not fatal
  const pid_t child = ::fork();
  if (child < 0) {
    out.code = Code::kUnavailable;
    out.exit = kExitUnavailable;
    out.error = std::string("fork: ") + std::strerror(errno);
    return report();
  }
  if (child == 0) {
    ::setpgid(0, 0);
    if (foreground) ::tcsetpgrp(0, ::getpid());  // SIGTTOU is still ignored here
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != self) ::_exit(127);  // paxlock hold is already gone
    for (int s : kHandled)
      ::signal(s, SIG_DFL);
    for (int s : kIgnored)
      ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(argv[0], argv.data(), envp.data());
    const char msg[] = "paxlock: cannot run the command\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(child, child);  // also here: whichever runs first
  const pid_t dog = ::fork();
  if (dog == 0) {
    ::close(done[1]);
    watchdog(done[0], child, lost_grace_ms, deadman_ms);
  }
  ::close(done[0]);
  ::fcntl(done[1], F_SETFL, O_NONBLOCK);
  if (dog < 0) {
    // Without a watchdog the command could outlive the lock: do not run it.
    stop_group(child, 0);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (foreground) ::tcsetpgrp(0, ::getpgrp());
    out.code = Code::kUnavailable;
    out.exit = kExitUnavailable;
    out.error = std::string("fork (watchdog): ") + std::strerror(errno);
    return report();
  }

  // Wait for the command, passing on signals and stopping it on lock loss.
  constexpr Clock::time_point kNever = Clock::time_point::max();
  Clock::time_point kill_at = kNever;  // when SIGKILL follows a SIGTERM
  int status = 0;
  bool exited = false;
  while (!exited) {
    [[maybe_unused]] auto hb = ::write(done[1], "h", 1);  // the watchdog's heartbeat
    pollfd p{events[0], POLLIN, 0};
    ::poll(&p, 1, 100);
    char buf[64];
    ssize_t n;
    while ((n = ::read(events[0], buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i < n; ++i) {
        const int ev = buf[i];
        if (ev == kLostByte) {
          if (!out.lost) {
            out.lost = true;
            std::cerr << "paxlock: lock " << printable(name)
                      << " was lost (its session could not be renewed); stopping the command"
                      << std::endl;
            ::kill(-child, SIGTERM);
            kill_at = Clock::now() + std::chrono::milliseconds(lost_grace_ms);
          }
        } else if (ev != SIGCHLD) {
          ::kill(-child, ev);
          // Only SIGTERM escalates; SIGINT, SIGHUP and SIGQUIT are the command's to handle.
          if (ev == SIGTERM && kill_at == kNever) {
            kill_at = Clock::now() + std::chrono::milliseconds(grace_ms);
          }
        }
      }
    }
    if (kill_at != kNever && Clock::now() >= kill_at) {
      ::kill(-child, SIGKILL);
      kill_at = kNever;
    }
    const pid_t w = ::waitpid(child, &status, WNOHANG | WUNTRACED);
    if (w == child && WIFSTOPPED(status)) {
      // Suspending a command that holds a lock would hold it for ever:
      // hold does not support job control, the command goes on.
      ::kill(-child, SIGCONT);
      continue;
    }
    exited = w == child || (w < 0 && errno == ECHILD);
  }
  if (foreground) ::tcsetpgrp(0, ::getpgrp());
  // Whatever the command left in its group goes too, before the release.
  stop_group(child, grace_ms);
  [[maybe_unused]] auto n = ::write(done[1], "d", 1);
  ::close(done[1]);
  while (::waitpid(dog, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) out.child_exit = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.child_signal = WTERMSIG(status);
  const int child_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

  if (out.lost || session->lost()) {
    out.lost = true;
    out.code = Code::kSessionExpired;
    out.exit = kExitLost;
    out.error = fmt::format("lock {} was lost while the command ran", printable(name));
    return report();
  }
  const Reply u = c.unlock(name, g.owner, token).get();
  session.reset();  // closes the session
  out.code = Code::kOk;
  out.exit = child_code;
  if (u.code != Code::kOk) {
    out.error = fmt::format("releasing {}: {}{}", printable(name), to_string(u.code),
                            u.error.empty() ? "" : ": " + printable(u.error));
  }
  return report();
}

}  // namespace paxlock::cli
