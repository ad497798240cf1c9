# paxlock top-level driver: installs what is missing, configures CMake presets,
# builds and runs. `make test` and `make demo` are the two commands a fresh
# machine needs (README.md).

SHELL := /bin/bash
JOBS ?= $(shell nproc)
CTEST_FLAGS ?= --output-on-failure -j $(JOBS) --timeout 900

CXX_SOURCES = $(wildcard $(shell git ls-files --cached --others --exclude-standard \
                '*.cc' '*.h' '*.cpp' '*.hpp' 2>/dev/null))

.PHONY: all deps dev release asan test test-dev test-asan format format-check tidy clean bench-tls \
        soak bench bench-compare demo chaos chaos-planted explore fuzz fuzz-smoke

all: dev

deps:
	@scripts/install-deps

build/%/build.ninja: CMakeLists.txt CMakePresets.json | deps
	cmake --preset $* >/dev/null

dev release asan: %: deps build/%/build.ninja
	cmake --build --preset $* -j $(JOBS)

test-dev: dev
	ctest --test-dir build/dev $(CTEST_FLAGS)

test-asan: asan
	PAXLOCK_SIM_SCALE=0.25 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan $(CTEST_FLAGS)

# Every test suite, on the debug build and under ASan+UBSan, a 20-second pass
# of each fuzzer, then the short chaos runs on real processes (root only; they
# skip with a reason otherwise) with a fixed schedule seed.
test: test-dev test-asan
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory chaos SEED=$(TEST_CHAOS_SEED)
	@echo "make test: all suites passed (dev, asan, fuzz-smoke, chaos)"

# libFuzzer targets (tests/fuzz, docs/TESTING.md "Fuzzing"), built by clang-14
# into build/fuzz (preset fuzz), run one at a time: `make fuzz DURATION=600`
# runs each for DURATION seconds, `make fuzz-smoke` for 20 s (the corpus plus
# new inputs). Crashes go to build/fuzz/crashes/<target>/, a summary with
# executions/s to build/fuzz/summary.txt; any crash fails. FUZZ_TARGETS="a b"
# runs a subset.
FUZZ_TARGETS ?=
fuzz: deps
	@JOBS=$(JOBS) scripts/fuzz --duration $(DURATION) $(if $(FUZZ_TARGETS),--targets "$(FUZZ_TARGETS)")

fuzz-smoke: deps
	@JOBS=$(JOBS) scripts/fuzz --smoke $(if $(FUZZ_TARGETS),--targets "$(FUZZ_TARGETS)")

# Black-box chaos: a mixed-nemesis run per cluster size on the dev binaries
# in network namespaces (tests/chaos/run.py; docs/TESTING.md). Histories and
# summaries land in CHAOS_OUT/n3 and CHAOS_OUT/n5. NEMESES=isolate-one (a
# comma-separated list) draws the faults from those kinds only.
DURATION ?= 180
TEST_CHAOS_SEED ?= 20261127
CHAOS_OUT ?= /tmp/paxlock-chaos
CHAOS_TIMEOUT ?= 3600
chaos: dev
	@if [ "$$(id -u)" -ne 0 ]; then \
	  echo "make chaos: skipped: needs root (network namespaces, iptables, loop devices)"; \
	  exit 0; \
	fi; \
	for n in 3 5; do \
	  timeout --foreground --kill-after=30 $(CHAOS_TIMEOUT) \
	    python3 tests/chaos/run.py --nodes $$n --duration $(DURATION) --seed $(SEED) \
	      $(if $(NEMESES),--nemeses $(NEMESES)) \
	      --out $(CHAOS_OUT)/n$$n --bin build/dev/tools || exit 1; \
	done

# Shows the chaos harness can fail: one run per planted bug, each must be caught.
chaos-planted: dev
	@python3 tests/chaos/planted.py

format:
	clang-format -i $(CXX_SOURCES)

format-check:
	@bad=0; for f in $(CXX_SOURCES); do \
	  clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || { echo "not formatted: $$f"; bad=1; }; \
	done; \
	if [ $$bad -ne 0 ]; then echo "run 'make format' to fix"; exit 1; fi; \
	echo "format-check: all files formatted"

tidy: dev
	@files=$$(git ls-files 'src/*.cc' 'tools/*.cc'); \
	clang-tidy -p build/dev --quiet $$files

# Simulator soak: as many seeds as SOAK_SECONDS allow, per cluster size.
SOAK_SECONDS ?= 600
SEED ?= $(shell date +%s)
soak: release
	@for n in 3 5 7; do \
	  build/release/tests/sim/paxlock-sim --seed $(SEED) --seeds 0 --nodes $$n \
	    --budget $$(( $(SOAK_SECONDS) / 3 )) || exit 1; \
	done

# Bounded exhaustive explorer of the consensus core (docs/TESTING.md):
# SCENARIO = bug-a | pass-a | bug-b | pass-b | small | small5. Mutations
# (bug-a, bug-b) need the dev build; the failing trace lands in EXPLORE_OUT.
SCENARIO ?= pass-b
EXPLORE_OUT ?= /tmp/paxlock-explore-$(SCENARIO).txt
explore: dev
	build/dev/tests/explore/paxlock-explore --scenario $(SCENARIO) -v --out $(EXPLORE_OUT)

# The main job: a 5-node local cluster doing real work for a minute, with a
# live view, a leader kill and restarts, and a mutual-exclusion verdict.
DEMO_DIR ?= /tmp/paxlock-demo
DEMO_SECONDS ?= 60
demo: release
	build/release/tools/paxlock-demo --dir $(DEMO_DIR) --duration $(DEMO_SECONDS)

bench: release
	build/release/bench/core_bench
	build/release/bench/tls_bench

# paxlock, etcd and ZooKeeper side by side (3-node clusters on 127.0.0.1, one
# at a time): lock+unlock cycles/s and latency, the ratios, the fsync and
# loopback floor, results.json and plots in OUT (docs/PERFORMANCE.md). Knobs:
# RUNS DURATION WARMUP CLIENTS SYSTEMS PAXLOCK_NODES TLS QUICK OUT (bench/compare/run --help).
bench-compare: release
	bench/compare/run

# The cost of TLS: one build, a plain cluster (A) against a TLS one (B),
# alternating, at 1, 16 and 64 clients (bench/ab-compare). Knobs: ROUNDS BENCH_SECONDS.
ROUNDS ?= 3
BENCH_SECONDS ?= 10
bench-tls: release
	bench/ab-compare --a build/release/tools --b build/release/tools --b-tls \
	  --rounds $(ROUNDS) --duration $(BENCH_SECONDS) --clients 1 16 64

clean:
	rm -rf build
