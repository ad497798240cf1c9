// The simulator's command line, defined once: every field of sim::Options has
// one row in a table (flag, help, field), from which paxlock-sim's parser and
// the printed replay command (replay_command in simulator.h) both come, so a
// printed replay reproduces the run exactly: parse(print(o)) == o.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "sim/simulator.h"

namespace paxlock::sim {

// Adds every Options flag to `app`, writing into `o`; --seed is required.
void add_option_flags(CLI::App& app, Options& o);

// Parses the arguments of a replay command (without the program name) into
// options; false with `error` set if they do not parse.
bool parse_options(const std::vector<std::string>& args, Options& o, std::string* error);

}  // namespace paxlock::sim
