"""Integration tests on real paxlockd processes (3 and 5 nodes on 127.0.0.1).

Run: python3 -m unittest tests/integration/test_cluster.py  (PAXLOCK_BIN=build dir of the tools)
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import (Cluster, closed_by_peer, connect, frame, pb_field, read_frame, wait_for)


# net::kPeerProtocolVersion (src/net/codec.h).
PEER_PROTOCOL_VERSION = 4
# net::kProtocolVersion, the client protocol.
CLIENT_PROTOCOL_VERSION = 2

class ServiceTest(unittest.TestCase):
    # Under TLS and authentication, as `paxlock local up` runs by default: the
    # cluster file's admin identity (which may act as any owner) drives them.
    def test_concurrent_clients_on_every_replica_leave_identical_state(self):
        c = Cluster(nodes=3, secure=True)
        try:
            code, out, err = c.cli("bench", "--clients", "8", "--locks", "20", "--duration", "2",
                                   "--warmup", "0.2", timeout=30)
            self.assertEqual(code, 0, err)
            self.assertGreater(out["cycles"], 100)
            self.assertEqual(out["errors"], {})
            # Some locks stay held, so that the states compared are not empty.
            for i in range(10):
                code, out, _ = c.cli("lock", f"kept-{i}", owner="keeper")
                self.assertEqual(code, 0)
            st = c.wait_converged()
            self.assertTrue(all(s["locks_held"] == 10 for s in st))
            # Every replica took requests: each applied client commands it was sent.
            for n in c.members:
                self.assertGreater(c.metric(n, "paxlock_client_requests_total"), 0, f"node {n}")
            # The first leader was elected after a pre-vote a majority granted.
            won = sum(c.metric(n, "paxlock_pre_votes_won_total") for n in c.members)
            started = sum(c.metric(n, "paxlock_pre_votes_total") for n in c.members)
            self.assertGreaterEqual(won, 1)
            self.assertGreaterEqual(started, won)
        finally:
            c.close()

    def test_leader_and_one_more_killed_of_five_service_continues_and_they_catch_up(self):
        c = Cluster(nodes=5, secure=True)
        try:
            leader = c.wait_leader()
            other = next(n for n in c.members if n != leader)
            for i in range(20):
                self.assertEqual(c.cli("lock", f"before-{i}", owner="o")[0], 0)
            c.kill9(leader)
            c.kill9(other)
            alive = [n for n in c.members if n not in (leader, other)]
            c.wait_leader(among=alive)
            for i in range(20):
                code, out, err = c.cli("lock", f"after-{i}", owner="o")
                self.assertEqual(code, 0, err)
            c.restart(leader)
            c.restart(other)
            st = c.wait_converged()
            self.assertTrue(all(s["locks_held"] == 40 for s in st))
        finally:
            c.close()

    def test_every_acknowledged_lock_and_unlock_survives_kill_of_all_nodes(self):
        c = Cluster(nodes=3, secure=True)
        try:
            tokens = {}
            for i in range(30):
                code, out, err = c.cli("lock", f"d-{i}", owner="durable")
                self.assertEqual(code, 0, err)
                tokens[f"d-{i}"] = out["token"]
            for i in range(0, 30, 3):
                code, out, err = c.cli("unlock", f"d-{i}", owner="durable")
                self.assertEqual(code, 0, err)
            for n in c.members:
                os.kill(c.pid(n), signal.SIGKILL)
            for n in c.members:
                wait_for(lambda: not c.up(n), 5, f"node {n} down")
            c.local("up")
            for i in range(30):
                code, out, err = c.cli("status", f"d-{i}")
                if i % 3 == 0:
                    self.assertEqual(out["result"], "NOT_HELD", f"d-{i}: acknowledged unlock lost")
                else:
                    self.assertEqual(out["result"], "OK", err)
                    self.assertEqual(out["token"], tokens[f"d-{i}"], f"d-{i}")
                    self.assertEqual(out["holder"], "durable")
        finally:
            c.close()

    def test_majority_down_fails_cleanly_and_service_resumes(self):
        c = Cluster(nodes=3, secure=True)
        try:
            self.assertEqual(c.cli("lock", "m", owner="a")[0], 0)
            c.kill9(1)
            c.kill9(2)
            code, out, err = c.cli("lock", "m2", owner="a", timeout=2)
            self.assertEqual(code, 3, f"expected 'outcome unknown', got {code} {out} {err}")
            self.assertEqual(out["result"], "UNAVAILABLE")
            c.restart(1)
            code, out, err = c.cli("lock", "m3", owner="a", timeout=15)
            self.assertEqual(code, 0, err)
            code, out, _ = c.cli("status", "m")
            self.assertEqual(out["holder"], "a")
        finally:
            c.close()

    def test_progress_with_20_percent_message_loss_on_every_node(self):
        c = Cluster(nodes=3, daemon_args="--drop-rate 0.2 --fault-seed 7", secure=True)
        try:
            code, out, err = c.cli("bench", "--clients", "4", "--locks", "5", "--duration", "20",
                                   "--warmup", "0", "--max-cycles", "40", timeout=60)
            self.assertEqual(code, 0, err)
            self.assertGreaterEqual(out["cycles"], 40)
            resent = sum(c.metric(n, "paxlock_retransmissions_total") for n in c.members)
            dropped = sum(c.metric(n, 'paxlock_peer_messages_dropped_total{reason="fault_injection"}')
                          for n in c.members)
            self.assertGreater(dropped, 0)
            self.assertGreater(resent, 0)
        finally:
            c.close()

    def test_clean_shutdown_on_sigterm(self):
        c = Cluster(nodes=3)
        try:
            pid = c.pid(2)
            os.kill(pid, signal.SIGTERM)
            def exited():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        return f.read().split()[2] == "Z"
                except FileNotFoundError:
                    return True
            wait_for(exited, 5, "node 2 to exit")
            with open(os.path.join(c.dir, "n2.log")) as f:
                log = f.read()
            self.assertIn("shutting down", log)
            self.assertIn("stopped", log)
        finally:
            c.close()


class BackupTest(unittest.TestCase):
    @staticmethod
    def read_backup(snap_dir):
        """The newest finished snapshot of a running replica: (name, bytes).
        Only "*.snap" files count (a "*.snap.tmp" may be mid-write), and a
        newer snapshot may replace (and delete) the one listed: read again."""
        def newest():
            names = sorted(n for n in os.listdir(snap_dir) if n.endswith(".snap"))
            if not names:
                return None
            with open(os.path.join(snap_dir, names[-1]), "rb") as f:
                return names[-1], f.read()
        return wait_for(newest, 10, f"a finished snapshot in {snap_dir}")

    def new_cluster_dirs(self, template):
        """Config, ports and (removed) data directories of a new 3-node cluster."""
        new = Cluster.__new__(Cluster)
        new.dir = tempfile.mkdtemp(prefix="paxlock-it-")
        new.nodes = 3
        new.daemon_args = ""
        new.paxlock = template.paxlock
        new.paxlockd = template.paxlockd
        new.config = os.path.join(new.dir, "cluster.toml")
        r = subprocess.run([new.paxlock, "local", "up", "--dir", new.dir, "--nodes", "3",
                            "--insecure"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        new.local("down")
        new.members = new._members()
        for n in (1, 2, 3):
            subprocess.run(["rm", "-rf", os.path.join(new.dir, f"n{n}")], check=True)
        return new

    def new_cluster_from_backup(self, template, snap_name, data, bump):
        """A new 3-node cluster (new ports, new data directories) whose replicas
        all start from the backup, following docs/OPERATIONS.md "Backups":
        `paxlockd --restore FILE --bump-tokens N` on every replica, then start."""
        new = self.new_cluster_dirs(template)
        backup = os.path.join(new.dir, snap_name)
        with open(backup, "wb") as f:
            f.write(data)
        digests = set()
        for n in (1, 2, 3):
            r = subprocess.run([new.paxlockd, "--config", new.config, "--id", str(n),
                                "--restore", backup, "--bump-tokens", str(bump)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            digests.add(r.stdout.split("digest ")[1].split()[0])
        self.assertEqual(len(digests), 1, "every replica restored the same state")
        new.local("up")
        return new

    def test_snapshot_of_one_replica_restores_a_new_cluster(self):
        # No idle time ticks (an entry every 200 ms otherwise): the instances
        # before the snapshot are then the 40 grants and a few of the start's,
        # whatever the machine's speed (a loaded ASan run had 32 of 45).
        old = Cluster(nodes=3, tuning={"snapshot_every_instances": 20, "idle_tick_ms": 600000})
        try:
            tokens = {}
            for i in range(40):
                code, out, err = old.cli("lock", f"b-{i}", owner="backup")
                self.assertEqual(code, 0, err)
                tokens[f"b-{i}"] = out["token"]
            # The backup: node 1's newest snapshot, copied while the cluster runs.
            snap, data = self.read_backup(os.path.join(old.dir, "n1", "snap"))
            # Grants after the backup point: the backup cannot cover them (it
            # was read before they were asked for), but resources may have
            # seen their tokens.
            later = {}
            for i in range(10):
                code, out, err = old.cli("lock", f"a-{i}", owner="late")
                self.assertEqual(code, 0, err)
                later[f"a-{i}"] = out["token"]
            old.local("down")
        finally:
            old.close()
        # The operator states how many grants the old cluster may have made
        # after the backup (here 10; more is fine).
        new = self.new_cluster_from_backup(old, snap, data, bump=1000)
        try:
            snapshot_next = int(snap[5:21], 16)
            restored = 0
            for name, token in tokens.items():
                code, out, _ = new.cli("status", name)
                # Everything the snapshot covers is there, with its token.
                if out["result"] == "OK":
                    self.assertEqual(out["token"], token)
                    restored += 1
            self.assertGreaterEqual(restored, min(40, snapshot_next - 5))
            for name in later:
                code, out, _ = new.cli("status", name)
                self.assertEqual(out["result"], "NOT_HELD", name)
            self.assertGreater(new.status(1)["first_unchosen"], snapshot_next - 1)
            # A fencing token never repeats: the new cluster's first grant is
            # above every token the old cluster handed out, before the backup
            # point or after it.
            code, out, err = new.cli("lock", "after-restore", owner="x")
            self.assertEqual(code, 0, err)
            self.assertGreater(out["token"], max(tokens.values()))
            self.assertGreater(out["token"], max(later.values()))
            # Restarting a restored replica is an ordinary restart.
            new.kill9(2)
            new.restart(2)
            wait_for(lambda: new.status(2)["applied"] >= new.status(1)["applied"] - 5, 20,
                     "node 2 back after a restart")
        finally:
            new.close()

    def test_a_snapshot_copied_by_hand_into_a_new_data_directory_is_refused(self):
        old = Cluster(nodes=3, tuning={"snapshot_every_instances": 20})
        try:
            for i in range(25):
                code, _, err = old.cli("lock", f"c-{i}", owner="copy")
                self.assertEqual(code, 0, err)
            snap, data = self.read_backup(os.path.join(old.dir, "n1", "snap"))
        finally:
            old.close()
        new = self.new_cluster_dirs(old)
        try:
            d = os.path.join(new.dir, "n1")
            os.makedirs(os.path.join(d, "snap"))
            with open(os.path.join(d, "snap", snap), "wb") as f:
                f.write(data)
            r = subprocess.run([new.paxlockd, "--config", new.config, "--id", "1"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("never started but holds a snapshot", r.stderr)
            self.assertIn("--restore", r.stderr)
            # Without --bump-tokens a restore is refused; with it, it completes
            # over the copied file (same name).
            backup = os.path.join(new.dir, "backup.snap")
            with open(backup, "wb") as f:
                f.write(data)
            base = [new.paxlockd, "--config", new.config, "--id", "1", "--restore", backup]
            r = subprocess.run(base, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--bump-tokens", r.stderr)
            r = subprocess.run(base + ["--bump-tokens", "100"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            # A second restore into the same, now used, directory is refused.
            r = subprocess.run(base + ["--bump-tokens", "100"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("is in use", r.stderr)
        finally:
            new.close()


class DiskFailureTest(unittest.TestCase):
    def test_failed_fdatasync_is_loud_stops_acknowledging_and_a_restart_recovers(self):
        c = Cluster(nodes=3)
        try:
            r = subprocess.run([c.paxlockd, "--help"], capture_output=True, text=True, timeout=10)
            if "--fail-fsync-after" not in r.stdout:
                self.skipTest("paxlockd built without test options (PAXLOCK_MUTATIONS off)")
            # Node 3 again, with its 6th fdatasync failing.
            c.kill9(3)
            r = subprocess.run([c.paxlock, "local", "restart", "3", "--dir", c.dir,
                                "--daemon-args", "--fail-fsync-after 5"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            n = 0

            def lock_one():
                nonlocal n
                n += 1
                code, _, err = c.cli("lock", f"d-{n}", owner="disk")
                self.assertEqual(code, 0, err)
                return c.status(3)["disk"]["broken"]
            status = wait_for(lambda: lock_one() and c.status(3), 30, "node 3's log to break")
            self.assertFalse(status["disk"]["ok"])
            self.assertIn("fdatasync", status["disk"]["error"])
            self.assertIn("injected", status["disk"]["error"])
            self.assertEqual(c.metric(3, "paxlock_wal_broken"), 1)
            self.assertEqual(c.metric(3, "paxlock_disk_ok"), 0)
            self.assertEqual(c.metric(1, "paxlock_wal_broken"), 0)
            # The service goes on with the other two; node 3 writes nothing
            # more, and says so once.
            failures = c.metric(3, "paxlock_write_failures_total")
            for _ in range(20):
                lock_one()
            self.assertEqual(c.metric(3, "paxlock_write_failures_total"), failures)
            with open(os.path.join(c.dir, "n3.log")) as f:
                log = f.read()
            self.assertEqual(log.count("DISK FAILURE"), 1, log[-3000:])
            self.assertIn("[error]", log[log.index("DISK FAILURE") - 40:log.index("DISK FAILURE")])
            # The remedy: a restart recovers from what is on disk.
            c.kill9(3)
            c.restart(3)
            wait_for(lambda: c.status(3)["disk"]["ok"], 10, "node 3 healthy after a restart")
            self.assertFalse(c.status(3)["disk"]["broken"])
            self.assertEqual(c.metric(3, "paxlock_wal_broken"), 0)
            lock_one()
            c.wait_converged()
        finally:
            c.close()


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(nodes=3)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def still_serves(self):
        code, out, err = self.c.cli("lock", f"alive-{time.monotonic_ns()}", owner="x")
        self.assertEqual(code, 0, err)
        self.assertTrue(all(self.c.up(n) for n in self.c.members))

    def errors(self, node, reason):
        return self.c.metric(node, f'paxlock_connection_errors_total{{reason="{reason}"}}')

    def test_http_endpoints_refuse_bad_parameters(self):
        http = self.c.members[1]["http"]
        for query in ("from=abc", "from=1&to=-5", "to=99999999999999999999999", "from="):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://{http}/chosen?{query}", timeout=2)
            self.assertEqual(e.exception.code, 400, query)
        with urllib.request.urlopen(f"http://{http}/chosen?from=1&to=3", timeout=2) as r:
            self.assertIn("chosen", json.loads(r.read()))
        self.still_serves()

    def test_peer_with_wrong_cluster_id_is_refused(self):
        before = self.errors(1, "wrong_cluster")
        s = connect(self.c.members[1]["peer"])
        s.sendall(frame(pb_field(1, PEER_PROTOCOL_VERSION) + pb_field(2, "other-cluster") +
                        pb_field(3, 2)))
        self.assertTrue(closed_by_peer(s))
        wait_for(lambda: self.errors(1, "wrong_cluster") > before, 5, "counter")
        self.still_serves()

    def test_peer_of_an_older_protocol_is_refused(self):
        # Peer protocol 1 knows no PreVote: a mixed cluster is refused at the hello.
        before = self.errors(1, "bad_version")
        s = connect(self.c.members[1]["peer"])
        s.sendall(frame(pb_field(1, 1) + pb_field(2, self.c.cluster_id) + pb_field(3, 2)))
        self.assertTrue(closed_by_peer(s))
        wait_for(lambda: self.errors(1, "bad_version") > before, 5, "bad_version counter")
        self.still_serves()

    def test_peer_garbage_oversized_truncated_and_unknown_types(self):
        peer = self.c.members[1]["peer"]
        # A hello naming a node whose connection is live is refused
        # (duplicate_peer, test_hostile_net.py): to reach the frames after a
        # hello, speak as node 3 while it is down.
        self.c.kill9(3)
        wait_for(lambda: self.c.metric(1, 'paxlock_connections{port="peer"}') == 1, 5,
                 "node 1 to see node 3's connection closed")
        hello = frame(pb_field(1, PEER_PROTOCOL_VERSION) + pb_field(2, self.c.cluster_id) +
                      pb_field(3, 3))
        # Garbage instead of a hello.
        s = connect(peer)
        s.sendall(frame(b"\xff\xfe\xfd garbage"))
        self.assertTrue(closed_by_peer(s))
        # A frame over the size limit.
        s = connect(peer)
        s.sendall(hello + b"\xff\xff\xff\x7f" + b"x" * 100)
        self.assertTrue(closed_by_peer(s))
        # An unknown message type.
        s = connect(peer)
        s.sendall(hello + frame(pb_field(1, 99)))
        self.assertTrue(closed_by_peer(s))
        # A truncated frame, then the connection drops.
        s = connect(peer)
        s.sendall(hello + b"\x64\x00\x00\x00" + b"short")
        s.close()
        wait_for(lambda: self.errors(1, "frame_too_big") > 0, 5, "frame_too_big counter")
        wait_for(lambda: self.errors(1, "bad_message") > 0, 5, "bad_message counter")
        self.c.restart(3)
        self.c.wait_converged()
        self.still_serves()

    def test_client_garbage_oversized_wrong_cluster_and_bad_requests(self):
        client = self.c.members[2]["client"]
        s = connect(client)
        s.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) + pb_field(2, "not-this-cluster")))
        self.assertTrue(closed_by_peer(s))
        s = connect(client)
        s.sendall(b"\x00\x00\x00\x7f" + b"garbage")
        self.assertTrue(closed_by_peer(s))
        s = connect(client)
        s.sendall(frame(b"\xff\xff\xff\xff"))
        self.assertTrue(closed_by_peer(s))
        # A well-formed request with an unknown op gets BAD_REQUEST, not a crash.
        s = connect(client)
        s.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) + pb_field(2, self.c.cluster_id)))
        s.sendall(frame(pb_field(1, 7) + pb_field(2, 5) + pb_field(3, 1) +
                        pb_field(14, pb_field(2, 77))))
        hello = read_frame(s)
        self.assertIn(self.c.cluster_id.encode(), hello)
        self.assertIn(b"unknown op", read_frame(s))
        s.close()
        wait_for(lambda: self.errors(2, "client_wrong_cluster") > 0, 5, "counter")
        self.still_serves()


class StartupTest(unittest.TestCase):
    def run_daemon(self, config_text, *args):
        d = tempfile.mkdtemp(prefix="paxlock-cfg-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        path = os.path.join(d, "cluster.toml")
        with open(path, "w") as f:
            f.write(config_text)
        from harness import BIN
        r = subprocess.run([os.path.join(BIN, "paxlockd"), "--config", path, *args],
                           capture_output=True, text=True, timeout=10)
        return r

    GOOD = ('cluster_id = "t"\ninsecure = true\n[[node]]\nid = 1\npeer = "127.0.0.1:1"\n'
            'client = "127.0.0.1:2"\nhttp = "127.0.0.1:3"\n')

    def test_bad_configs_stop_startup_with_one_clear_line(self):
        cases = {
            'cluster_id = "t"\n': "no [[node]] tables",
            self.GOOD + "bogus = 1\n": "unknown key 'bogus'",
            self.GOOD.replace('peer = "127.0.0.1:1"\n', ""): "has no 'peer' address",
            self.GOOD + '[[node]]\nid = 1\npeer = "127.0.0.1:4"\nclient = "127.0.0.1:5"\nhttp = "127.0.0.1:6"\n':
                "duplicate node id 1",
            self.GOOD + '[[node]]\nid = 2\npeer = "127.0.0.1:1"\nclient = "127.0.0.1:5"\nhttp = "127.0.0.1:6"\n':
                "used twice",
            self.GOOD + "[tuning]\nheartbeat_ms = -5\n": "out of range",
            self.GOOD.replace('"127.0.0.1:2"', '"nonsense"'): "not host:port",
            # Secure by default (issue 17): neither [tls] nor insecure = true.
            self.GOOD.replace("insecure = true\n", ""): "neither a [tls] table nor insecure = true",
            self.GOOD + '[tls]\nca = "ca.crt"\ncert = "c"\nkey = "k"\n': "contradict each other",
        }
        for text, expected in cases.items():
            r = self.run_daemon(text, "--id", "1", "--data-dir", tempfile.mkdtemp())
            self.assertNotEqual(r.returncode, 0, text)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(expected, lines[0])

    def test_id_not_in_config_and_second_daemon_on_one_directory_are_refused(self):
        r = self.run_daemon(self.GOOD, "--id", "9", "--data-dir", tempfile.mkdtemp())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("node id 9 is not in the config", r.stderr)
        c = Cluster(nodes=1)
        try:
            from harness import BIN
            r = subprocess.run([os.path.join(BIN, "paxlockd"), "--config", c.config, "--id", "1"],
                               capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("in use by another paxlockd", r.stderr)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
