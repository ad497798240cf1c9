#!/usr/bin/env python3
"""One chaos run: a paxlock cluster in network namespaces, clients recording
a history, nemeses from a seed, then healing, final reads and the checker.

  sudo tests/chaos/run.py --nodes 5 --duration 180 --seed 42 --out /tmp/chaos
  (make chaos does this for 3 and 5 nodes)

Writes into OUT: history-*.jsonl (one per client process), nemesis.jsonl
(every fault, with monotonic timestamps; the leader before an isolate-one,
at its heal and after it; each client pause's tokens and outcome),
counter.json (the resource server's log), summary.json and summary.txt,
node logs, and timeline.png if gnuplot is installed. Exits 1 if a safety
check failed.

  --nemeses isolate-one       repeated isolate-one nemeses only (the summary
                              counts leader changes on heal)
"""

import argparse
import glob
import json
import os
import random
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
from testbed import Testbed, probe  # noqa: E402

PAUSE_LOCK = "pause-0"
# Planted bugs of the harness itself (not of paxlockd): the resource server
# accepts any token, as a resource that ignores fencing would.
HARNESS_MUTATIONS = {"stale-resource"}


# ------------------------------------------------------- resource server

class Counter:
    """The fenced counter: rejects any token lower than the highest seen.
    "READ key token" is fenced too: refused below the highest token seen,
    and raises it, so that a holder whose lease ran out cannot write back a
    value it read before the next holder did."""

    def __init__(self, ignore_tokens=False):
        self.ignore_tokens = ignore_tokens
        self.lock = threading.Lock()
        self.values = {}
        self.max_token = {}
        self.accepted = {}

    def handle(self, line):
        parts = line.split()
        with self.lock:
            if parts[0] == "READ":
                key = parts[1]
                if len(parts) > 2:
                    token = int(parts[2])
                    if token < self.max_token.get(key, 0) and not self.ignore_tokens:
                        return f"STALE {self.max_token[key]}\n"
                    self.max_token[key] = max(token, self.max_token.get(key, 0))
                return f"OK {self.values.get(key, 0)} {self.max_token.get(key, 0)}\n"
            key, value, token = parts[1], int(parts[2]), int(parts[3])
            if token < self.max_token.get(key, 0) and not self.ignore_tokens:
                return f"STALE {self.max_token[key]}\n"
            self.max_token[key] = max(token, self.max_token.get(key, 0))
            self.values[key] = value
            self.accepted.setdefault(key, []).append(token)
            return "OK\n"


def serve_counter(counter, host, port):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline().decode().strip()
            if line:
                self.wfile.write(counter.handle(line).encode())

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --------------------------------------------------------------- the run

class Run:
    # The fault windows' clock (tests run them on a fake one).
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self, args, testbed=None):
        """testbed: a stand-in for Testbed (tests); by default a real one."""
        self.a = args
        self.rng = random.Random(args.seed)  # the schedule: locks, nemeses, windows
        # Draws that depend on what the cluster did (the leader fallback): their
        # own stream, so that the schedule of a seed is the same whatever happens.
        self.observed_rng = random.Random(f"observed-{args.seed}")
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        if testbed is None:
            self.work = tempfile.mkdtemp(prefix="paxlock-chaos-")
            daemon_args = []
            if args.mutation and args.mutation not in HARNESS_MUTATIONS:
                daemon_args += ["--mutation", args.mutation]
            daemon_args += args.daemon_args.split()
            testbed = Testbed(args.nodes, self.work, args.bin, daemon_args,
                              use_disks=args.disks)
        self.tb = testbed
        self.nemesis_log = open(os.path.join(self.out, "nemesis.jsonl"), "w")
        self.clients = []
        self.locks = [f"hot-{i}" for i in range(self.rng.randint(3, 8))]
        self.durable = [f"dur-{i}" for i in range(30)]
        self.healed_ns = None
        self.faults = 0
        self.kinds = {}
        self.victim = None  # the client-pause victim's process
        self.counter = None
        self.pauses = []     # results of the client-pause nemeses
        self.isolations = []  # leader before / at heal / after heal of each isolate-one

    def log(self, what, **kw):
        kw.update({"t": time.monotonic_ns(), "nemesis": what})
        self.nemesis_log.write(json.dumps(kw) + "\n")
        self.nemesis_log.flush()
        print(f"[{self.elapsed():6.1f}s] {what} {kw.get('detail', '')}", flush=True)

    def elapsed(self):
        return self.clock() - self.start

    # --------------------------------------------------------- replicas
    def wait_serving(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = set()
            up = 0
            for i in range(1, self.tb.n + 1):
                try:
                    st = self.tb.status(i, timeout=0.5)
                    up += 1
                    if st["role"] == "leader":
                        leaders.add(i)
                except OSError:
                    pass
            if up == self.tb.n and len(leaders) == 1:
                return leaders.pop()
            time.sleep(0.1)
        raise RuntimeError("the cluster did not come up with a leader")

    def leader_ballot(self):
        """(leader id, its ballot) as the nodes' /status say (the highest
        ballot of the nodes that call themselves leader), or (None, None)."""
        best = (None, None)
        key = None
        for i in range(1, self.tb.n + 1):
            try:
                st = self.tb.status(i, timeout=0.3)
            except OSError:
                continue
            if st.get("role") != "leader":
                continue
            try:
                k = tuple(int(x) for x in str(st.get("ballot", "0")).split("."))
            except ValueError:
                k = (0,)
            if key is None or k > key:
                key, best = k, (i, st.get("ballot"))
        return best

    def leader(self):
        for i in range(1, self.tb.n + 1):
            try:
                if self.tb.status(i, timeout=0.3)["role"] == "leader":
                    return i
            except OSError:
                pass
        # Not from self.rng: whether a leader answered must not move the schedule.
        return self.observed_rng.randint(1, self.tb.n)

    # ---------------------------------------------------------- clients
    def client(self, name, workload, replica, duration, locks, seed, extra=()):
        history = os.path.join(self.out, f"history-{name}.jsonl")
        p = subprocess.Popen(
            [os.path.join(self.a.bin, "paxlock-chaos-client"), "--cluster", self.tb.config,
             "--replica", str(replica), "--owner", name, "--workload", workload,
             "--duration", str(duration), "--seed", str(seed), "--history", history,
             "--locks", ",".join(locks), "--resource", f"{self.tb.CLIENT_IP}:7400",
             "--timeout", "3", *extra],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.out, f"client-{name}.err"), "w"))
        self.clients.append(p)
        return p

    # ---------------------------------------------------------- nemeses
    # One method per kind, in the table NEMESIS below the class. Each gets the
    # node ids and a minority drawn for it, and returns (detail, undo: the
    # callables that heal it besides the network). Every draw comes from the
    # schedule's RNG (self.rng), in an order that does not depend on what the
    # cluster does: a seed replays the same schedule. What the cluster did
    # (the leader) is looked up where needed; its fallback has its own RNG.
    def nemesis(self, kind):
        nodes = list(range(1, self.tb.n + 1))
        # Drawn for every kind, used or not: the schedules of recorded seeds stay.
        minority = self.rng.sample(nodes, (self.tb.n - 1) // 2)
        detail, undo = NEMESIS[kind](self, nodes, minority)
        if kind != "client-pause":  # client_pause counts the pauses it made
            self.faults += 1
        return detail, undo

    def _kill_one(self, nodes, minority):
        i = self.rng.choice(nodes)
        self.tb.kill(i)
        return f"kill -9 node {i}", [lambda: self.tb.start(i)]

    def _kill_leader(self, nodes, minority):
        leader = self.leader()
        self.tb.kill(leader)
        return f"kill -9 leader {leader}", [lambda: self.tb.start(leader)]

    def _kill_minority(self, nodes, minority):
        for i in minority:
            self.tb.kill(i)
        return f"kill -9 nodes {minority}", [lambda i=i: self.tb.start(i) for i in minority]

    def _kill_all(self, nodes, minority):
        for i in nodes:
            self.tb.kill(i)
        for i in nodes:
            self.tb.start(i)
        return "kill -9 all nodes, restart them", []

    def _power_loss_minority(self, nodes, minority):
        for i in minority:
            self.tb.power_loss(i)
        return f"power loss on nodes {minority}", [lambda i=i: self.tb.start(i) for i in minority]

    def _power_loss_all(self, nodes, minority):
        for i in nodes:
            self.tb.power_loss(i)
        for i in nodes:
            self.tb.start(i)
        return "power loss on all nodes, restart them", []

    def _pause_leader(self, nodes, minority):
        leader = self.leader()
        self.tb.pause(leader)
        return f"SIGSTOP leader {leader}", [lambda: self.tb.resume(leader)]

    def _isolate_one(self, nodes, minority):
        i = self.rng.choice(nodes)
        lead, ballot = self.leader_ballot()
        self.isolation = {"isolated": i, "leader_before": lead, "ballot_before": ballot}
        for j in nodes:
            if j != i:
                self.tb.block(i, j)
                self.tb.block(j, i)
        return f"isolate node {i}", []

    def _majority_minority(self, nodes, minority):
        for i in minority:
            for j in nodes:
                if j not in minority:
                    self.tb.block(i, j)
                    self.tb.block(j, i)
        return f"partition {minority} from the rest", []

    def _majorities_ring(self, nodes, minority):
        # Each node reaches only its ring neighbours within distance n//2:
        # every node sees a majority, and no two see the same one.
        n = len(nodes)
        order = self.rng.sample(nodes, n)
        for a in range(n):
            for b in range(n):
                d = min(abs(a - b), n - abs(a - b))
                if a != b and d > n // 2 - (1 if n % 2 else 0) and n > 3:
                    self.tb.block(order[a], order[b])
        if n == 3:
            self.tb.block(order[0], order[2])
            self.tb.block(order[2], order[0])
        return f"majorities ring {order}", []

    def _bridge(self, nodes, minority):
        order = self.rng.sample(nodes, len(nodes))
        half = len(nodes) // 2
        left, bridge, right = order[:half], order[half], order[half + 1:]
        for i in left:
            for j in right:
                self.tb.block(i, j)
                self.tb.block(j, i)
        return f"bridge: {left} <-> {bridge} <-> {right}", []

    def _one_way(self, nodes, minority):
        i, j = self.rng.sample(nodes, 2)
        self.tb.block(i, j)
        return f"node {i} stops hearing node {j}", []

    def _silence_leader(self, nodes, minority):
        # Nobody hears the leader, but it hears everyone: it keeps leading
        # in its own eyes while the others elect a new one.
        leader = self.leader()
        for j in nodes:
            if j != leader:
                self.tb.block(j, leader)
        return f"nobody hears leader {leader}", []

    def _loss(self, nodes, minority):
        p = self.rng.choice([0.05, 0.1, 0.2, 0.35, 0.5])
        for i in nodes:
            self.tb.loss(i, p)
        return f"drop {int(p * 100)}% of packets everywhere", []

    def _client_pause(self, nodes, minority):
        return self.client_pause(), []

    def client_pause(self):
        """SIGSTOP the pause victim while it holds PAUSE_LOCK under its
        session, until its lease has expired and another client (the pause
        peer) holds the lock and has used its newer token at the fenced
        counter; then SIGCONT. The victim goes on writing with its old token:
        every such write must be refused (STALE). Each wait is bounded."""
        state = os.path.join(self.out, "pause-victim.state")
        p = self.victim
        res = {"paused": False}
        deadline = time.monotonic() + 15
        token = None
        while time.monotonic() < deadline and p.poll() is None:
            try:
                with open(state) as f:
                    text = f.read().strip()
                if text:
                    token = int(text)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        if token is None:
            res["why"] = "the victim never held the lock within 15 s"
            self.pauses.append(res)
            return "client-pause: " + res["why"]
        os.kill(p.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        res.update(paused=True, token=token, stopped_ns=time.monotonic_ns())
        deadline = stopped + 30
        newer = None
        while time.monotonic() < deadline:
            with self.counter.lock:
                t = self.counter.max_token.get(PAUSE_LOCK, 0)
            if t > token:
                newer = t
                break
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGCONT)
        res.update(paused_s=round(time.monotonic() - stopped, 3), newer_token=newer,
                   resumed_ns=time.monotonic_ns())
        if newer is None:
            res["why"] = "no other client used the lock within 30 s"
        self.pauses.append(res)
        self.faults += 1
        return (f"client-pause: victim stopped holding {PAUSE_LOCK} with token {token} for "
                f"{res['paused_s']} s, until token {newer} was used at the counter")

    def pause_outcome(self, res, timeout=10):
        """After a resume: waits (bounded) for the victim's first write with
        its old token and records whether the counter refused it."""
        path = os.path.join(self.out, "history-pv.jsonl")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    invoked = set()  # writes invoked after the resume, by process
                    for line in f:
                        e = json.loads(line)
                        if e["t"] <= res["resumed_ns"] or e["f"] != "write":
                            continue
                        if e["type"] == "invoke":
                            if e.get("token") == res["token"]:
                                invoked.add(e["proc"])
                        elif e["proc"] in invoked:
                            res["first_write_after_resume"] = e.get("code", e["type"])
                            return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        res["first_write_after_resume"] = None

    def watch_heal(self, at_heal, window=2.0):
        """After healing an isolated node: samples the leader for `window`
        seconds; a leader (or ballot) other than the one at the heal means
        the rejoining node deposed it. Returns the seconds spent."""
        t0 = self.clock()
        seen = []
        while self.clock() - t0 < window:
            lb = self.leader_ballot()
            if lb[0] is not None and (not seen or seen[-1] != lb):
                seen.append(lb)
            self.sleep(0.1)
        rec = dict(self.isolation)
        rec.update(leader_at_heal=at_heal[0], ballot_at_heal=at_heal[1],
                   leader_after=seen[-1][0] if seen else None,
                   ballot_after=seen[-1][1] if seen else None,
                   leaders_seen=[list(x) for x in seen])
        rec["leader_changed"] = at_heal[0] is not None and any(x != at_heal for x in seen)
        self.isolations.append(rec)
        return self.clock() - t0

    def heal(self, undo):
        self.tb.heal_network()
        for i in list(self.tb.paused):
            self.tb.resume(i)
        for fn in undo:
            fn()
        for i in range(1, self.tb.n + 1):
            if not self.tb.alive(i):
                self.tb.start(i)

    def fault_windows(self, end):
        """Fault windows alternate with quiet windows until `end` (on
        self.clock). With client-pause in the schedule, the first window is
        always one (it runs while the cluster is healthy, so that the peer can
        take the lock)."""
        first = "client-pause" if self.victim and "client-pause" in self.a.nemeses else None
        while self.clock() < end - 5:
            kind = first or self.rng.choice(self.a.nemeses)
            first = None
            if kind == "client-pause" and self.victim is None:
                continue
            detail, undo = self.nemesis(kind)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.log(kind, detail=detail)
            if kind == "client-pause":
                self.pause_outcome(self.pauses[-1])
                self.log("heal", of=kind, **self.pauses[-1])
                self.sleep(min(self.rng.uniform(2, 5), max(0.0, end - self.clock())))
                continue
            self.sleep(min(self.rng.uniform(3, 10), max(0.5, end - self.clock())))
            at_heal = self.leader_ballot() if kind == "isolate-one" else None
            self.heal(undo)
            quiet = min(self.rng.uniform(2, 5), max(0.0, end - self.clock()))
            self.log("heal")
            if kind == "isolate-one":
                quiet -= self.watch_heal(at_heal)
                self.log("leader-after-heal", of=kind, **self.isolations[-1])
            self.sleep(max(0.0, quiet))

    # -------------------------------------------------------------- run
    def run(self):
        self.start = self.clock()
        self.tb.setup()
        self.tb.enter_client_namespace()
        counter = Counter(ignore_tokens=self.a.mutation == "stale-resource")
        self.counter = counter
        server = serve_counter(counter, self.tb.CLIENT_IP, 7400)
        try:
            for i in range(1, self.tb.n + 1):
                self.tb.start(i)
            self.log("start", detail=f"{self.tb.n} nodes, seed {self.a.seed}, locks {self.locks}")
            self.wait_serving()
            # W3: take the durable locks first.
            self.client("durable", "durable", "all", 30, self.durable, self.a.seed).wait(timeout=60)
            # W1 and W2: clients bound to one node each, plus two that roam.
            n_clients = self.a.clients
            total = self.a.duration + 10
            for c in range(n_clients):
                replica = "all" if c < 2 else str(1 + c % self.tb.n)
                workload = "counter" if c % 3 == 2 else "mutex"
                self.client(f"w{c}", workload, replica, total, self.locks, self.a.seed * 100 + c)
            # W4-W6 and the client-pause pair (docs/TESTING.md).
            if self.a.api:
                seed = self.a.seed * 100 + 50
                n = self.tb.n
                for c in range(2):  # W4 sessions, on the hot locks
                    self.client(f"s{c}", "session", str(1 + (c + 1) % n), total, self.locks,
                                seed + c, ["--ttl-ms", "1500"])
                for c in range(2):  # W5 blocking waits and will_retry, on the hot locks
                    self.client(f"b{c}", "blocking", "all" if c == 0 else str(1 + c % n), total,
                                self.locks, seed + 10 + c)
                for c, order in enumerate((["dl-a", "dl-b"], ["dl-b", "dl-a"])):  # W6
                    self.client(f"d{c}", "deadlock", "all", total, order, seed + 20 + c)
                self.victim = self.client("pv", "pause", "all", total, [PAUSE_LOCK], seed + 30,
                                          ["--ttl-ms", "1000", "--state",
                                           os.path.join(self.out, "pause-victim.state")])
                self.client("pp", "session", "all", total, [PAUSE_LOCK], seed + 31,
                            ["--ttl-ms", "1500"])
            self.fault_windows(self.start + self.a.duration)
            # The end: heal everything, restart every node, a quiet period.
            self.tb.heal_network()
            for i in range(1, self.tb.n + 1):
                self.tb.kill(i)
                self.tb.start(i)
            self.healed_ns = time.monotonic_ns()
            self.log("final-restart", detail="all healed, every node restarted")
            try:
                self.wait_serving(timeout=30)
            except RuntimeError as e:
                self.log("no-leader", detail=str(e))
            for p in self.clients:
                p.wait(timeout=60)
            # Final reads of every lock.
            self.client("final", "final", "all", 30, self.locks + self.durable,
                        self.a.seed).wait(timeout=120)
            self.log("end")
            logs = self.compare_logs()
        finally:
            server.shutdown()
            for p in self.clients:
                if p.poll() is None:
                    p.kill()
            for i in range(1, self.tb.n + 1):
                shutil.copy(os.path.join(self.work, f"n{i}.log"), self.out) if os.path.exists(
                    os.path.join(self.work, f"n{i}.log")) else None
            self.tb.teardown()
            shutil.rmtree(self.work, ignore_errors=True)
        with open(os.path.join(self.out, "counter.json"), "w") as f:
            json.dump({"values": counter.values, "accepted": counter.accepted}, f)
        return self.judge(counter, logs)

    def compare_logs(self):
        """Gray-box: every replica's chosen log agrees where they overlap."""
        seen = {}
        problems = []
        for i in range(1, self.tb.n + 1):
            try:
                st = self.tb.status(i)
                start = st["log_start"]
                while start < st["first_unchosen"]:
                    page = self.tb.chosen(i, start, start + 10000)
                    for inst, h in page["chosen"].items():
                        prev = seen.setdefault(int(inst), (i, h))
                        if prev[1] != h:
                            problems.append(f"instance {inst}: node {prev[0]} chose {prev[1]}, "
                                            f"node {i} chose {h}")
                    start += 10000
            except OSError as e:
                problems.append(f"node {i}: cannot read its log: {e}")
        return problems[:20]

    def judge(self, counter, log_problems):
        events = checker.load(glob.glob(os.path.join(self.out, "history-*.jsonl")))
        result = checker.check(events, {"values": counter.values, "accepted": counter.accepted},
                               self.healed_ns)
        result["log_agreement"] = log_problems
        safety = ["well_formed", "mutual_exclusion", "fencing_tokens", "linearizable", "counter",
                  "fenced_writes", "sessions", "deadlocks", "fifo", "durable_locks",
                  "log_agreement"]
        ops, _ = checker.pair_ops(events)
        by_type = {}
        for o in ops:
            by_type[o.type] = by_type.get(o.type, 0) + 1
        # Operations per workload (owner prefix), per request and answer.
        names = {"w": "mutex/counter (W1, W2)", "s": "sessions (W4)", "b": "blocking (W5)",
                 "d": "deadlock (W6)", "pv": "client-pause victim", "pp": "client-pause peer",
                 "durable": "durable (W3)", "final": "final reads"}
        by_workload = {}
        for o in ops:
            owner = o.owner
            key = owner if owner in names else owner.rstrip("0123456789")
            row = by_workload.setdefault(names.get(key, key), {})
            code = o.code if o.type != "info" else "info"
            row[f"{o.f} {code}"] = row.get(f"{o.f} {code}", 0) + 1
        heals = len(self.isolations)
        changed = sum(1 for r in self.isolations if r["leader_changed"])
        not_leader = [r for r in self.isolations if r["isolated"] != r["leader_before"]]
        isolate = {"heals": heals, "leader_changes_on_heal": changed,
                   "heals_of_a_follower": len(not_leader),
                   "leader_changes_on_heal_of_a_follower":
                       sum(1 for r in not_leader if r["leader_changed"])}
        pauses = {"pauses": sum(1 for r in self.pauses if r["paused"]),
                  "lease_expired_and_lock_taken": sum(1 for r in self.pauses
                                                      if r.get("newer_token")),
                  "old_token_write_refused": sum(1 for r in self.pauses
                                                 if r.get("first_write_after_resume") == "STALE"),
                  "old_token_write_accepted": sum(1 for r in self.pauses
                                                  if r.get("first_write_after_resume") == "OK")}
        lat = sorted((o.complete - o.invoke) / 1e6 for o in ops
                     if o.type == "ok" and o.f in ("lock", "unlock"))
        pct = lambda p: round(lat[int(p * (len(lat) - 1))], 2) if lat else None  # noqa: E731
        summary = {
            "seed": self.a.seed, "nodes": self.a.nodes, "duration_s": self.a.duration,
            "mutation": self.a.mutation, "operations": len(ops), "by_outcome": by_type,
            "faults_injected": self.faults, "faults_by_kind": self.kinds,
            "operations_by_workload": by_workload,
            "isolate_one": isolate, "client_pause": pauses,
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99),
                                                           "max": lat[-1] if lat else None},
            "checks": {k: ("OK" if not result[k] else f"{len(result[k])} problems") for k in safety},
            "linearizability_unknown": result["linearizability_unknown"],
            "liveness": result.get("liveness"),
            "first_success_after_heal_s": result.get("first_success_after_heal_s"),
            "replay": self.replay_command(),
        }
        failed = [k for k in safety if result[k]]
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(f"seed {self.a.seed}, {self.a.nodes} nodes, {self.a.duration} s; "
                    f"{len(ops)} operations {by_type}; {self.faults} faults {self.kinds}\n")
            for w, row in sorted(by_workload.items()):
                f.write(f"  {w}: " + ", ".join(f"{k} {v}" for k, v in sorted(row.items())) + "\n")
            f.write(f"isolate-one: {isolate['leader_changes_on_heal']} leader changes on "
                    f"{isolate['heals']} heals ({isolate['leader_changes_on_heal_of_a_follower']} "
                    f"of {isolate['heals_of_a_follower']} when the isolated node was a follower)\n")
            f.write(f"client-pause: {pauses['pauses']} pauses, lease expired and lock taken "
                    f"{pauses['lease_expired_and_lock_taken']}, old-token write refused "
                    f"{pauses['old_token_write_refused']}, accepted "
                    f"{pauses['old_token_write_accepted']}\n")
            for k in safety:
                f.write(f"{k}: {summary['checks'][k]}\n")
                for p in result[k][:3]:
                    f.write("  " + p.replace("\n", "\n  ") + "\n")
        print(json.dumps(summary, indent=2))
        print(f"isolate-one: {isolate['leader_changes_on_heal']} leader changes on "
              f"{isolate['heals']} heals of an isolated node")
        for k in failed:
            print(f"\n{k} FAILED; shortest excerpt:\n  " + result[k][0].replace("\n", "\n  "))
        if failed:
            print(f"\nreplay the schedule: {self.replay_command()}")
        self.timeline()
        return 1 if failed else 0

    def replay_command(self):
        cmd = f"sudo tests/chaos/run.py --nodes {self.a.nodes} --duration {self.a.duration} " \
              f"--seed {self.a.seed} --clients {self.a.clients}"
        if self.a.mutation:
            cmd += f" --mutation {self.a.mutation}"
        if self.a.daemon_args:
            cmd += f" --daemon-args='{self.a.daemon_args}'"
        if self.a.nemeses != NEMESES:
            cmd += " --nemeses " + ",".join(self.a.nemeses)
        if not self.a.api:
            cmd += " --no-api-workloads"
        return cmd

    def timeline(self):
        """timeline.png: operations completed per second by outcome, with the
        fault windows shaded and named."""
        if not shutil.which("gnuplot"):
            return
        events = checker.load(glob.glob(os.path.join(self.out, "history-*.jsonl")))
        ops, _ = checker.pair_ops(events)
        if not ops:
            return
        t0 = min(o.invoke for o in ops)
        buckets = {}
        for o in ops:
            end = o.complete if o.complete != checker.INF else o.invoke
            sec = int((end - t0) / 1e9)
            row = buckets.setdefault(sec, {"ok": 0, "fail": 0, "info": 0})
            row[o.type] = row.get(o.type, 0) + 1
        data = os.path.join(self.out, "timeline.dat")
        with open(data, "w") as f:
            for sec in range(max(buckets) + 1):
                row = buckets.get(sec, {})
                f.write(f"{sec} {row.get('ok', 0)} {row.get('fail', 0)} {row.get('info', 0)}\n")
        windows, start = [], None
        with open(os.path.join(self.out, "nemesis.jsonl")) as src:
            for line in src:
                e = json.loads(line)
                t = (e["t"] - t0) / 1e9
                if e["nemesis"] in ("start", "end", "final-restart", "no-leader",
                                    "leader-after-heal"):
                    continue
                if e["nemesis"] == "heal":
                    if start is not None:
                        windows.append((start[0], t, start[1]))
                    start = None
                else:
                    start = (t, e["nemesis"])
        peak = max(max(r.values()) for r in buckets.values()) or 1
        script = [f"set terminal png size 1600,500; set output '{self.out}/timeline.png'",
                  "set xlabel 'seconds'; set ylabel 'operations completed per second'",
                  f"set yrange [0:{peak * 1.35:.0f}]; set key outside bottom center horizontal",
                  f"set title 'paxlock chaos run: seed {self.a.seed}, {self.a.nodes} nodes'"]
        for k, (a, b, name) in enumerate(windows):
            script.append(f"set object {k + 1} rect from {a:.2f},0 to {b:.2f},{peak * 1.35:.0f} "
                          "behind fc rgb '#f4cccc' fs solid 0.6 noborder")
            script.append(f"set label {k + 1} '{name}' at {a:.2f},{peak * (1.05 + 0.1 * (k % 3)):.0f} "
                          "font ',7'")
        script.append(f"plot '{data}' using 1:2 with lines lw 1.5 title 'ok', "
                      f"'' using 1:3 with lines title 'fail (refused)', "
                      f"'' using 1:4 with impulses lw 2 title 'info (unknown)'")
        subprocess.run(["gnuplot", "-e", "; ".join(script)], capture_output=True)


# The nemesis kinds, in the order --nemeses draws from by default (the order
# is part of the schedule: changing it changes what a seed runs).
NEMESIS = {
    "kill-one": Run._kill_one,
    "kill-leader": Run._kill_leader,
    "kill-minority": Run._kill_minority,
    "kill-all": Run._kill_all,
    "power-loss-minority": Run._power_loss_minority,
    "power-loss-all": Run._power_loss_all,
    "pause-leader": Run._pause_leader,
    "isolate-one": Run._isolate_one,
    "majority-minority": Run._majority_minority,
    "majorities-ring": Run._majorities_ring,
    "bridge": Run._bridge,
    "one-way": Run._one_way,
    "silence-leader": Run._silence_leader,
    "loss": Run._loss,
    "client-pause": Run._client_pause,
}
NEMESES = list(NEMESIS)


def duration(text):
    """'180', '180s', '30m', '1h' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            value = int(text[:-1]) * units[text[-1]]
        else:
            value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 180, 90s, 30m or 1h)")
    if value < 10:
        raise argparse.ArgumentTypeError(f"duration {text!r} is under 10 s")
    return value


def main():
    ap = argparse.ArgumentParser(description="one paxlock chaos run (needs root)")
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--duration", type=duration, default=180,
                    help="time of faults: seconds, or with a unit: 90s, 30m, 1h")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--clients", type=int, default=12)
    ap.add_argument("--out", default="/tmp/paxlock-chaos")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "../../build/dev/tools"))
    ap.add_argument("--mutation", default="", help="plant a bug (dev builds)")
    ap.add_argument("--daemon-args", default="", help="extra paxlockd arguments (test options)")
    ap.add_argument("--nemeses", default=",".join(NEMESES),
                    help="comma-separated kinds to draw from, e.g. isolate-one for repeated "
                         "isolate-one nemeses only")
    ap.add_argument("--no-api-workloads", dest="api", action="store_false",
                    help="only W1-W3 (no sessions, blocking waits, deadlocks, client pause)")
    args = ap.parse_args()
    args.nemeses = args.nemeses.split(",")
    unknown = [k for k in args.nemeses if k not in NEMESES]
    if unknown:
        ap.error(f"unknown nemesis {', '.join(unknown)}; known: {', '.join(NEMESES)}")
    if not args.api and "client-pause" in args.nemeses:
        args.nemeses.remove("client-pause")  # it needs the pause victim and peer
        if not args.nemeses:
            ap.error("client-pause needs the API workloads")
    if not 3 <= args.nodes <= 9:
        ap.error("--nodes must be 3 to 9")
    if not 1 <= args.clients <= 64:
        ap.error("--clients must be 1 to 64")
    args.bin = os.path.abspath(args.bin)
    if os.geteuid() != 0:
        print("chaos: skipped: needs root (network namespaces, iptables, loop devices)")
        return 0
    net_problem, disk_problem = probe(tempfile.gettempdir())
    if net_problem:
        print(f"chaos: skipped: {net_problem}")
        return 0
    args.disks = disk_problem is None
    if disk_problem:
        dropped = [k for k in args.nemeses if k.startswith("power-loss")]
        args.nemeses = [k for k in args.nemeses if not k.startswith("power-loss")]
        print(f"chaos: WARNING: {disk_problem}; data on plain directories, "
              f"power-loss nemeses dropped: {', '.join(dropped) or 'none'}")
        if not args.nemeses:
            print("chaos: skipped: every requested nemesis needs loop-device disks")
            return 0
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    run = Run(args)

    def interrupted(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    print(f"chaos: seed {args.seed}, {args.nodes} nodes, {args.duration} s, output in {out}")
    try:
        return run.run()
    except KeyboardInterrupt:
        print("chaos: interrupted; cleaned up")
        return 2


if __name__ == "__main__":
    sys.exit(main())
