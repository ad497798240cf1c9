#include "sim/sim_flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <variant>

namespace paxlock::sim {
namespace {

// A field of Options: a number, a bool, or a name (enums and the lock
// mutations, through get/set functions).
struct Named {
  std::function<std::string(const Options&)> get;
  std::function<bool(Options&, const std::string&)> set;
  std::vector<std::string> names;  // the allowed values
};
using Field = std::variant<uint64_t Options::*, int Options::*, int64_t Options::*,
                           double Options::*, bool Options::*, Named>;

struct Flag {
  const char* name;
  const char* help;
  Field field;
  bool always = false;    // printed even at its default value
  bool inverted = false;  // a bool flag that sets the field to false (--fixed-faults)
  const char* group = nullptr;
};

std::vector<std::string> paxos_mutation_names() {
  std::vector<std::string> v;
  for (const auto& n : paxos::kMutationNames)
    v.push_back(n.name);
  return v;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"--seed", "first seed", &Options::seed, true},
      {"--nodes", "replicas (3, 5, 7, ...)", &Options::nodes, true},
      {"--clients", "concurrent clients", &Options::clients, true},
      {"--commands", "commands per client", &Options::commands_per_client, true},
      {"--fault-ms", "length of the fault window (simulated ms)", &Options::fault_ms, true},
      {"--liveness-ms", "after healing, everything must finish within this", &Options::liveness_ms},
      {"--tick-ms", "replica tick period", &Options::tick_ms},
      {"--max-events", "more events than this is a message storm", &Options::max_events},
      {"--workload", "register or locks",
       Named{[](const Options& o) {
               return std::string(o.workload == Workload::kLocks ? "locks" : "register");
             },
             [](Options& o, const std::string& v) {
               o.workload = v == "locks" ? Workload::kLocks : Workload::kRegister;
               return true;
             },
             {"register", "locks"}}},
      {"--lock-names", "hot lock names (locks workload)", &Options::lock_names},
      {"--mutation", "plant a protocol bug",
       Named{[](const Options& o) { return std::string(paxos::to_string(o.mutation)); },
             [](Options& o, const std::string& v) {
               auto m = paxos::parse_mutation(v);
               if (m) o.mutation = *m;
               return m.has_value();
             },
             paxos_mutation_names()}},
      {"--lock-mutation", "plant a bug in the lock machine",
       Named{[](const Options& o) {
               return std::string(o.lock_mutation_no_dedup                ? "no-dedup"
                                  : o.lock_mutation_sessions_before_waits ? "sessions-before-waits"
                                                                          : "none");
             },
             [](Options& o, const std::string& v) {
               o.lock_mutation_no_dedup = v == "no-dedup";
               o.lock_mutation_sessions_before_waits = v == "sessions-before-waits";
               return true;
             },
             {"none", "no-dedup", "sessions-before-waits"}}},
      {"--client-mutation", "plant a bug in the client core",
       Named{[](const Options& o) { return std::string(client::to_string(o.client_mutation)); },
             [](Options& o, const std::string& v) {
               auto m = client::client_mutation_from_string(v);
               if (m) o.client_mutation = *m;
               return m.has_value();
             },
             {"none", "new-seq-on-retry"}}},
      {"--client-request-timeout-ms", "clients give up on a request after this (0: never)",
       &Options::client_request_timeout_ms},
      {"--verbose", "log crashes and other faults", &Options::verbose},
      // The fault mix: drawn per seed unless --fixed-faults.
      {"--fixed-faults", "use the rates below instead of drawing them", &Options::randomize_faults,
       false, true, "faults"},
      {"--loss", "message loss rate", &Options::loss, false, false, "faults"},
      {"--duplicate", "message duplication rate", &Options::duplicate, false, false, "faults"},
      {"--delay-max-ms", "largest message delay", &Options::delay_max_ms, false, false, "faults"},
      {"--spike", "share of messages delayed 100-1000 ms", &Options::spike, false, false, "faults"},
      {"--nack-loss", "extra loss for Nacks", &Options::nack_loss, false, false, "faults"},
      {"--partitions", "partition the network", &Options::partitions, false, false, "faults"},
      {"--crashes", "crash and restart nodes", &Options::crashes, false, false, "faults"},
      {"--campaigns-per-s", "forced elections per second", &Options::campaign_per_s, false, false,
       "faults"},
      {"--sticky", "sticky leader rule", &Options::sticky_leader, false, false, "faults"},
      {"--crash-gap-max-ms", "next crash within this", &Options::crash_gap_max_ms, false, false,
       "faults"},
      {"--restart-max-ms", "a crashed node restarts within this", &Options::restart_max_ms, false,
       false, "faults"},
      {"--crash-after-promise", "chance of a crash after a durable promise",
       &Options::crash_after_promise, false, false, "faults"},
      {"--crash-after-append", "chance of a power loss after a segment-opening append",
       &Options::crash_after_append, false, false, "faults"},
      {"--minority-restarts", "crash a minority at once", &Options::minority_restarts, false, false,
       "faults"},
      {"--stale-leader-faults", "keep a deposed leader in the dark", &Options::stale_leader_faults,
       false, false, "faults"},
      {"--isolate-one", "cut a follower off until the heal; no leader change allowed after it",
       &Options::isolate_one, false, false, "faults"},
      {"--isolate-at-ms", "when to cut it off", &Options::isolate_at_ms, false, false, "faults"},
      {"--restart-leader", "kill the leader this many times, restart it while another leads",
       &Options::restart_leader, false, false, "faults"},
      {"--restart-leader-at-ms", "when to kill the first", &Options::restart_leader_at_ms, false,
       false, "faults"},
      {"--run-at-least-ms", "the run lasts at least this", &Options::run_at_least_ms, false, false,
       "faults"},
      {"--snapshot-every", "instances between snapshots", &Options::snapshot_every, false, false,
       "faults"},
      {"--segment-bytes", "WAL segment size", &Options::wal_segment_bytes, false, false, "faults"},
      {"--preallocate", "preallocate WAL segments", &Options::wal_preallocate, false, false,
       "faults"},
      {"--read-flip-rate", "share of disk reads with one flipped bit", &Options::read_flip_rate,
       false, false, "faults"},
      {"--batch-commands-max", "commands per batch", &Options::batch_commands_max, false, false,
       "faults"},
      {"--outage-node", "a node down from --outage-from-ms until the heal (-1: none)",
       &Options::outage_node, false, false, "faults"},
      {"--outage-from-ms", "", &Options::outage_from_ms, false, false, "faults"},
      {"--disk-full-node", "a node whose disk is full during a window (-1: none)",
       &Options::disk_full_node, false, false, "faults"},
      {"--disk-full-from-ms", "", &Options::disk_full_from_ms, false, false, "faults"},
      {"--disk-full-until-ms", "", &Options::disk_full_until_ms, false, false, "faults"},
  };
  return table;
}

// A bool flag with a false default is a bare flag; one that defaults to true
// takes a value ("--sticky false").
bool bare(const Flag& f) {
  auto* b = std::get_if<bool Options::*>(&f.field);
  return b && (f.inverted || !(Options{}.**b));
}

}  // namespace

void add_option_flags(CLI::App& app, Options& o) {
  std::map<std::string, CLI::Option_group*> groups;
  for (const Flag& f : flags()) {
    CLI::App* target = &app;
    if (f.group) {
      auto& g = groups[f.group];
      if (!g) g = app.add_option_group(f.group, "fixed fault mix (otherwise drawn per seed)");
      target = g;
    }
    std::visit(
        [&](auto&& field) {
          using T = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<T, Named>) {
            target
                ->add_option_function<std::string>(
                    f.name,
                    [&o, field, name = std::string(f.name)](const std::string& v) {
                      if (!field.set(o, v)) throw CLI::ValidationError(name, "unknown " + v);
                    },
                    f.help)
                ->check(CLI::IsMember(field.names));
          } else if constexpr (std::is_same_v<T, bool Options::*>) {
            if (f.inverted) {
              target->add_flag_callback(
                  f.name, [&o, field] { o.*field = false; }, f.help);
            } else if (bare(f)) {
              target->add_flag(f.name, o.*field, f.help);
            } else {
              target->add_option(f.name, o.*field, f.help);
            }
          } else {
            target->add_option(f.name, o.*field, f.help);
          }
        },
        f.field);
  }
  app.get_option("--seed")->required();
}

bool parse_options(const std::vector<std::string>& args, Options& o, std::string* error) {
  CLI::App app{"paxlock-sim"};
  add_option_flags(app, o);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (error) *error = e.what();
    return false;
  }
  return true;
}

std::string replay_command(const Options& o) {
  const Options d;
  std::string cmd = "tests/sim/paxlock-sim";
  for (const Flag& f : flags()) {
    std::visit(
        [&](auto&& field) {
          using T = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<T, Named>) {
            if (f.always || field.get(o) != field.get(d)) {
              cmd += fmt::format(" {} {}", f.name, field.get(o));
            }
          } else if constexpr (std::is_same_v<T, bool Options::*>) {
            if (!f.always && o.*field == d.*field) return;
            if (f.inverted) {
              if (!(o.*field)) cmd += fmt::format(" {}", f.name);
            } else if (bare(f)) {
              if (o.*field) cmd += fmt::format(" {}", f.name);
            } else {
              cmd += fmt::format(" {} {}", f.name, o.*field ? "true" : "false");
            }
          } else {
            if (f.always || o.*field != d.*field) cmd += fmt::format(" {} {}", f.name, o.*field);
          }
        },
        f.field);
  }
  return cmd;
}

}  // namespace paxlock::sim
