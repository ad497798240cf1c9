#!/usr/bin/env python3
"""Shows that the chaos harness can fail: one run per planted bug, each against
the nemeses that expose it, asserting that the run reports a safety violation
within its budget. A planted bug that slips through fails this script.

    sudo tests/chaos/planted.py [--only small-quorum] [--out DIR]

Needs a dev build (mutations are compiled out of release builds). Which
nemesis catches which bug, and why, is in docs/TESTING.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (bug, extra daemon args, nemeses, nodes, seconds, seed, checks of which one must fail)
PLANTED = [
    # A quorum one short of a majority: two disjoint "majorities" choose
    # different commands in one instance when the cluster splits.
    ("small-quorum", "", "isolate-one,majority-minority", 5, 60, 11,
     {"mutual_exclusion", "linearizable", "fencing_tokens", "log_agreement", "durable_locks"}),
    # fdatasync skipped: acknowledged promises, acceptances and commands sit in
    # the page cache, and a power loss of every node erases them.
    ("skip-fsync", "", "power-loss-all", 3, 60, 12,
     {"durable_locks", "log_agreement", "linearizable", "fencing_tokens", "mutual_exclusion"}),
    # The acceptor takes prepares and accepts whatever their ballot: an old
    # leader resuming after a pause or a partition gets its stale accepts
    # taken over a newer leader's. Sticky leadership is switched off so that
    # proposers duel, as they may in any deployment.
    ("skip-ballot-check", "--no-sticky-leader", "pause-leader,silence-leader,majorities-ring",
     5, 90, 13,
     {"log_agreement", "linearizable", "mutual_exclusion", "fencing_tokens", "durable_locks"}),
    # Retries are not deduplicated: a command resent to another replica after
    # a lost reply is applied twice, so a client can lose its own lock.
    ("no-dedup", "", "pause-leader,silence-leader,loss", 5, 60, 14,
     {"linearizable", "mutual_exclusion", "fencing_tokens", "counter"}),
    # A lease lasts a third of its TTL: the service ends sessions that their
    # clients renewed in time, and hands their locks to others while the
    # holders may rightly think they still hold them.
    ("short-lease", "", "client-pause,kill-one", 3, 60, 15,
     {"sessions", "mutual_exclusion", "linearizable"}),
    # Not paxlockd's bug but the resource's: the fenced counter ignores
    # tokens, so the paused client's late writes get through (a harness
    # mutation: run.py's counter, not the daemon).
    ("stale-resource", "", "client-pause", 3, 40, 16, {"fenced_writes", "counter"}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="run just this planted bug")
    ap.add_argument("--out", default="/tmp/paxlock-planted")
    ap.add_argument("--bin", default=os.path.join(HERE, "../../build/dev/tools"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("planted: skipped: needs root (network namespaces, iptables, loop devices)")
        return 0
    results = []
    for bug, daemon_args, nemeses, nodes, secs, seed, expect in PLANTED:
        if args.only and bug != args.only:
            continue
        out = os.path.join(args.out, bug)
        cmd = [sys.executable, os.path.join(HERE, "run.py"), "--nodes", str(nodes), "--duration",
               str(secs), "--seed", str(seed), "--mutation", bug, "--nemeses", nemeses,
               "--out", out, "--bin", args.bin]
        if daemon_args:
            cmd.append(f"--daemon-args={daemon_args}")
        print(f"planted: {bug}: {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"{bug}.log"), "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        took = time.monotonic() - t0
        try:
            with open(os.path.join(out, "summary.json")) as f:
                checks = json.load(f)["checks"]
        except (OSError, ValueError) as e:
            checks = {"summary": f"missing: {e}"}
        failed = sorted(k for k, v in checks.items() if v != "OK")
        caught = rc == 1 and bool(expect & set(failed))
        results.append((bug, caught, failed, took))
        print(f"planted: {bug}: {'CAUGHT' if caught else 'MISSED'} in {took:.0f} s "
              f"(exit {rc}; failed checks: {', '.join(failed) or 'none'})", flush=True)
    missed = [r[0] for r in results if not r[1]]
    print("\nplanted bug          caught  failed checks")
    for bug, caught, failed, took in results:
        print(f"{bug:20} {'yes' if caught else 'NO':7} {', '.join(failed) or '-'}")
    if missed:
        print(f"\nplanted: MISSED {', '.join(missed)}; outputs in {args.out}")
        return 1
    print(f"\nplanted: every planted bug caught; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
