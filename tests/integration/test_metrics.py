"""/metrics and /status as a monitoring system sees them, on real paxlockd
processes (3 nodes on 127.0.0.1): every series there from the start, the
build, the leader and log positions, requests by op and result, snapshots,
the process, peers heard from regularly; and the sample dashboard and alert
rules in docs/ name only metrics that exist.

Run: python3 -m unittest -v test_metrics  (in tests/integration; PAXLOCK_BIN=build dir of the tools)
"""

import json
import os
import re
import subprocess
import time
import unittest

from harness import BIN, Cluster, wait_for

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))

# net::kConnectionErrorReasons (src/net/stats.h).
CONNECTION_ERROR_REASONS = [
    "wrong_cluster", "bad_version", "unknown_node", "frame_too_big", "bad_frame", "bad_message",
    "stalled", "connection_limit", "source_limit", "hello_rate", "duplicate_peer",
    "hello_timeout", "frame_timeout", "idle_timeout", "tls_handshake", "peer_certificate",
    "client_bad_hello", "client_wrong_cluster",
    "client_frame_too_big", "client_bad_frame", "client_slow_reader", "client_output_budget",
    "client_connection_limit", "client_source_limit", "client_handshake_rate",
    "client_hello_timeout",
    "client_frame_timeout", "client_idle_timeout", "client_tls_handshake",
    "client_unauthenticated"]
# service::RequestCounts (src/service/request_handler.h).
OPS = ["unknown", "lock", "unlock", "check", "status", "list", "open_session", "keep_alive",
       "close_session", "acl_grant", "acl_revoke", "acl_list", "acl_bootstrap", "cluster_info"]
RESULTS = ["ok", "held", "not_owner", "not_held", "stale_token", "timeout", "deadlock",
           "session_expired", "invalid", "too_many_waiters", "duplicate_ignored",
           "permission_denied", "busy", "bad_request", "shutting_down", "other"]
PROCESS_METRICS = ["process_cpu_seconds_total", "process_resident_memory_bytes",
                   "process_virtual_memory_bytes", "process_start_time_seconds",
                   "process_open_fds", "process_max_fds"]

LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Prometheus text: {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            families.setdefault(name, {"samples": []})["help"] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            families.setdefault(name, {"samples": []})["type"] = kind
        elif line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            family = name
            if family not in families:
                for suffix in ("_bucket", "_sum", "_count"):
                    if name.endswith(suffix) and name[:-len(suffix)] in families:
                        family = name[:-len(suffix)]
            if family not in families:
                raise AssertionError(f"sample {name} without a family")
            families[family]["samples"].append((name, dict(LABEL.findall(labels)), float(value)))
    return families


def value(families, name, **labels):
    """The one sample of `name` with exactly these labels."""
    family = families.get(name)
    for suffix in ("_bucket", "_sum", "_count"):
        if family is None and name.endswith(suffix):
            family = families.get(name[:-len(suffix)])
    if family is None:
        raise AssertionError(f"no family for {name}")
    found = [v for n, ls, v in family["samples"] if n == name and ls == labels]
    if len(found) != 1:
        raise AssertionError(f"{name}{labels}: {len(found)} samples")
    return found[0]


def metric_names(expr):
    return set(re.findall(r"\b((?:paxlock|process)_[a-z0-9_]+)", expr))


def known(families, name):
    """True if `name` is a family or a histogram's series."""
    if name in families:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
            return True
    return False


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Snapshots every 50 instances, so that one is taken within a test.
        cls.c = Cluster(nodes=3, tuning={"snapshot_every_instances": 50})
        cls.c.wait_leader()
        # What a scrape sees before any client did anything.
        cls.fresh = {n: parse(cls.c.metrics(n)) for n in cls.c.members}

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def scrape(self, node):
        return parse(self.c.metrics(node))

    def requests(self, op, result):
        return sum(value(self.scrape(n), "paxlock_requests_total", op=op, result=result)
                   for n in self.c.members)

    def test_every_family_has_samples_and_counters_start_at_zero(self):
        for n, fam in self.fresh.items():
            for name, f in fam.items():
                self.assertIn(f.get("type"), ("counter", "gauge", "histogram"), f"{n}: {name}")
                self.assertTrue(f["samples"], f"node {n}: {name} has no sample")
            # An alert on a rise needs a series before the first error.
            for reason in CONNECTION_ERROR_REASONS:
                self.assertEqual(value(fam, "paxlock_connection_errors_total", reason=reason), 0,
                                 f"node {n}: {reason}")
            for op in OPS:
                for result in RESULTS:
                    v = value(fam, "paxlock_requests_total", op=op, result=result)
                    if op != "cluster_info":  # the launcher may have asked for the cluster
                        self.assertEqual(v, 0, f"node {n}: {op} {result}")
            self.assertEqual(value(fam, "paxlock_snapshot_index"), 0)
            self.assertEqual(value(fam, "paxlock_snapshot_age_seconds"), -1)
            self.assertEqual(value(fam, "paxlock_snapshot_timestamp_seconds"), 0)
            self.assertEqual(value(fam, "paxlock_snapshot_save_failures_total"), 0)

    def test_build_info_names_this_build(self):
        out = subprocess.run([os.path.join(BIN, "paxlockd"), "--version"], capture_output=True,
                             text=True, timeout=10).stdout
        m = re.match(r"paxlockd (\S+) \(git (\S+), (\S+)\)", out)
        self.assertTrue(m, out)
        for n in self.c.members:
            fam = self.scrape(n)
            self.assertEqual(fam["paxlock_build_info"]["type"], "gauge")
            self.assertEqual(value(fam, "paxlock_build_info", version=m.group(1),
                                   revision=m.group(2), build_type=m.group(3)), 1)

    def test_leader_gauges_agree_with_status(self):
        def agreed():
            fams = {n: self.scrape(n) for n in self.c.members}
            ids = {value(f, "paxlock_leader_id") for f in fams.values()}
            leaders = [n for n, f in fams.items() if value(f, "paxlock_is_leader") == 1]
            return len(ids) == 1 and leaders == [int(ids.pop())] and leaders[0]
        leader = wait_for(agreed, 10, "one leader that every replica names")
        self.assertEqual(self.c.status(leader)["role"], "leader")

    def test_requests_counted_by_op_and_result_and_the_log_positions_move(self):
        name = f"req-{time.monotonic_ns()}"
        ok, held = self.requests("lock", "ok"), self.requests("lock", "held")
        not_owner = self.requests("unlock", "not_owner")
        applied = {n: value(self.scrape(n), "paxlock_applied_index") for n in self.c.members}
        code, out, err = self.c.cli("lock", name, owner="alice")
        self.assertEqual(code, 0, err)
        wait_for(lambda: self.requests("lock", "ok") == ok + 1, 5, "lock ok counted")
        code, out, err = self.c.cli("lock", name, owner="bob")
        self.assertEqual(out["result"], "HELD", (out, err))
        wait_for(lambda: self.requests("lock", "held") == held + 1, 5, "lock held counted")
        code, out, err = self.c.cli("unlock", name, owner="bob")
        self.assertEqual(out["result"], "NOT_OWNER", (out, err))
        wait_for(lambda: self.requests("unlock", "not_owner") == not_owner + 1, 5,
                 "unlock not_owner counted")

        def moved():
            for n in self.c.members:
                f = self.scrape(n)
                a = value(f, "paxlock_applied_index")
                if a < applied[n] + 3:
                    return False
                self.assertGreaterEqual(value(f, "paxlock_chosen_index"), a)
                self.assertEqual(value(f, "paxlock_first_unchosen"),
                                 value(f, "paxlock_chosen_index") + 1)
                self.assertGreaterEqual(value(f, "paxlock_known_commit_index"), a)
                # /status, read later, shows at least as much.
                self.assertGreaterEqual(self.c.status(n)["applied"], a)
            return True
        wait_for(moved, 10, "every replica applied the three commands")

    def test_peers_are_heard_from_regularly_followers_too(self):
        # Followers exchange no consensus messages; keepalives keep
        # last_heard_ms_ago meaningful between them.
        leader = self.c.wait_leader()
        followers = [n for n in self.c.members if n != leader]
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for n in self.c.members:
                st = self.c.status(n)
                self.assertEqual(len(st["peers"]), 2)
                for p in st["peers"]:
                    ago = p["last_heard_ms_ago"]
                    self.assertTrue(p["connected"], f"node {n}: {p}")
                    self.assertIsNotNone(ago, f"node {n} never heard node {p['id']}")
                    self.assertGreaterEqual(ago, 0)
                    self.assertLess(ago, 2000, f"node {n} about node {p['id']} "
                                               f"(leader {leader}): {st['peers']}")
            time.sleep(0.1)
        for n in followers:
            f = self.scrape(n)
            self.assertGreater(value(f, "paxlock_peer_keepalives_sent_total"), 0, f"node {n}")
            self.assertGreater(value(f, "paxlock_peer_keepalives_received_total"), 0, f"node {n}")

    def test_snapshot_index_and_age(self):
        code, out, err = self.c.cli("bench", "--clients", "2", "--locks", "5", "--duration", "1",
                                    "--warmup", "0", timeout=30)
        self.assertEqual(code, 0, err)

        def snapshotted():
            fams = {n: self.scrape(n) for n in self.c.members}
            return all(value(f, "paxlock_snapshot_index") > 0 for f in fams.values()) and fams
        fams = wait_for(snapshotted, 20, "a snapshot on every replica")
        now = time.time()
        for n, f in fams.items():
            # /status's "snapshot" is its first instance not covered (read later).
            self.assertLessEqual(value(f, "paxlock_snapshot_index") + 1,
                                 self.c.status(n)["snapshot"])
            self.assertLessEqual(value(f, "paxlock_snapshot_index"),
                                 value(f, "paxlock_applied_index"))
            age = value(f, "paxlock_snapshot_age_seconds")
            self.assertGreaterEqual(age, 0)
            self.assertLess(age, 60)
            self.assertAlmostEqual(value(f, "paxlock_snapshot_timestamp_seconds"), now - age,
                                   delta=5)

    def test_one_fsync_histogram_that_fills(self):
        for n in self.c.members:
            f = self.scrape(n)
            fsync = [name for name, fam in f.items() if "fsync" in name
                     and fam["type"] == "histogram"]
            self.assertEqual(fsync, ["paxlock_fsync_seconds"])
            # The election's promises and accepts were synced.
            self.assertGreater(value(f, "paxlock_fsync_seconds_count"), 0)
            self.assertEqual(value(f, "paxlock_fsync_seconds_bucket", le="+Inf"),
                             value(f, "paxlock_fsync_seconds_count"))

    def test_process_metrics_of_each_replica(self):
        with open("/proc/stat") as fh:
            btime = int(re.search(r"^btime (\d+)$", fh.read(), re.M).group(1))
        for n in self.c.members:
            f = self.scrape(n)
            for name in PROCESS_METRICS:
                self.assertIn(name, f, f"node {n}")
            self.assertEqual(f["process_cpu_seconds_total"]["type"], "counter")
            self.assertGreater(value(f, "process_resident_memory_bytes"), 1 << 20)
            self.assertGreaterEqual(value(f, "process_cpu_seconds_total"), 0)
            # The start time /proc gives for the daemon's pid.
            with open(f"/proc/{self.c.pid(n)}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
            start = btime + int(fields[22 - 3]) / os.sysconf("SC_CLK_TCK")
            self.assertAlmostEqual(value(f, "process_start_time_seconds"), start, delta=0.02)
            self.assertLess(start, time.time() + 2)
            # The daemon's own descriptors, as /proc shows them (give or take
            # a connection opening or closing meanwhile).
            fds = len(os.listdir(f"/proc/{self.c.pid(n)}/fd"))
            self.assertAlmostEqual(value(f, "process_open_fds"), fds, delta=8)
            self.assertGreaterEqual(value(f, "process_max_fds"), value(f, "process_open_fds"))

    def test_dashboard_alerts_and_operations_name_only_real_metrics(self):
        live = self.scrape(1)
        with open(os.path.join(ROOT, "docs/grafana/paxlock-dashboard.json")) as fh:
            dash = json.load(fh)
        exprs = []
        for panel in dash["panels"]:
            self.assertIn("gridPos", panel)
            for t in panel.get("targets", []):
                exprs.append(t["expr"])
        self.assertGreater(len(exprs), 15)
        names = set().union(*(metric_names(e) for e in exprs))
        for must in ("paxlock_leader_id", "paxlock_applied_index", "paxlock_chosen_index",
                     "paxlock_requests_total", "paxlock_client_request_seconds_bucket",
                     "paxlock_fsync_seconds_bucket", "paxlock_snapshot_age_seconds",
                     "process_resident_memory_bytes", "process_cpu_seconds_total"):
            self.assertIn(must, names)
        for name in names:
            self.assertTrue(known(live, name), f"dashboard: {name} is not in /metrics")

        with open(os.path.join(ROOT, "docs/prometheus/alerts.yml")) as fh:
            text = fh.read()
        rules = alert_rules(text)
        self.assertEqual(
            {r["alert"] for r in rules},
            {"PaxlockNoLeader", "PaxlockNodeDown", "PaxlockConnectionErrorsRising",
             "PaxlockWalBroken", "PaxlockDiskWritesFailing", "PaxlockFsyncSlow",
             "PaxlockAppliedIndexLagging", "PaxlockSnapshotTooOld",
             "PaxlockSnapshotSaveFailing"})
        for r in rules:
            self.assertTrue(r["expr"].strip(), r)
            self.assertIn(r["labels"]["severity"], ("warning", "critical"), r)
            self.assertTrue(r["annotations"]["summary"], r)
            for name in metric_names(r["expr"]):
                self.assertTrue(known(live, name), f"{r['alert']}: {name} is not in /metrics")

        # OPERATIONS.md lists every family /metrics exports.
        with open(os.path.join(ROOT, "docs/OPERATIONS.md")) as fh:
            ops = fh.read()
        for name in live:
            self.assertIn(f"`{name}`", ops, f"OPERATIONS.md does not list {name}")
        self.assertIn("docs/grafana/paxlock-dashboard.json", ops)
        self.assertIn("docs/prometheus/alerts.yml", ops)


def alert_rules(text):
    """The rules of a Prometheus rule file: with PyYAML if it is installed,
    otherwise from the file's layout (`- alert:` items with `expr:`, `labels:`
    and `annotations:` under them), which is how alerts.yml is written."""
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        doc = yaml.safe_load(text)
        rules = [r for g in doc["groups"] for r in g["rules"]]
        for r in rules:
            r["expr"] = str(r["expr"])
        return rules
    rules = []
    section = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" in line:
            raise AssertionError(f"a tab in YAML: {line!r}")
        m = re.match(r"^ *- alert: (\w+)$", line)
        if m:
            rules.append({"alert": m.group(1), "labels": {}, "annotations": {}})
            section = None
            continue
        if not rules:
            continue
        m = re.match(r"^ {8}(\w+):(?: (.*))?$", line)
        if m:
            key, val = m.groups()
            if key in ("labels", "annotations"):
                section = key
            else:
                rules[-1][key] = (val or "").strip()
                section = None
            continue
        m = re.match(r"^ {10}(\w+): (.*)$", line)
        if m and section:
            rules[-1][section][m.group(1)] = m.group(2).strip().strip('"')
            continue
        raise AssertionError(f"unexpected line in alerts.yml: {line!r}")
    return rules


if __name__ == "__main__":
    unittest.main()
