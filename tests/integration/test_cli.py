"""The `paxlock` CLI and launcher on real processes: exit codes and JSON for
every command, usage errors, an unreachable cluster, `hold` (and its lease
lost when the cluster stops answering), and a retry to another replica that
must not apply twice."""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Cluster, wait_for

PAXLOCK = os.path.join(BIN, "paxlock")


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(nodes=3, secure=True)  # TLS and auth, as local up runs by default

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def run_cli(self, *args, json_out=True, timeout=10):
        cmd = [PAXLOCK, "--cluster", self.c.config, "--timeout", str(timeout)]
        if json_out:
            cmd.append("--json")
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout + 20)
        out = json.loads(r.stdout.splitlines()[-1]) if json_out and r.stdout.strip() else None
        return r.returncode, out, r.stdout, r.stderr

    def test_lock_prints_token_then_held_names_the_holder(self):
        code, out, _, _ = self.run_cli("--owner", "alice", "lock", "cli-a")
        self.assertEqual((code, out["result"], out["command"]), (0, "OK", "lock"))
        self.assertGreater(out["token"], 0)
        code, out, _, _ = self.run_cli("--owner", "bob", "lock", "cli-a")
        self.assertEqual((code, out["result"], out["holder"]), (1, "HELD", "alice"))
        # Without --json: the token alone, and "held by" with exit 1.
        code, _, stdout, _ = self.run_cli("--owner", "alice", "lock", "cli-a", json_out=False)
        self.assertEqual(code, 0)
        self.assertRegex(stdout.strip(), r"^\d+$")
        code, _, stdout, _ = self.run_cli("--owner", "bob", "lock", "cli-a", json_out=False)
        self.assertEqual((code, stdout.strip()), (1, "held by alice"))

    def test_unlock_exit_codes(self):
        _, out, _, _ = self.run_cli("--owner", "alice", "lock", "cli-u")
        token = out["token"]
        code, out, _, _ = self.run_cli("--owner", "bob", "unlock", "cli-u")
        self.assertEqual((code, out["result"]), (1, "NOT_OWNER"))
        code, out, _, _ = self.run_cli("--owner", "alice", "unlock", "cli-u", "--token", str(token + 99))
        self.assertEqual((code, out["result"]), (1, "STALE_TOKEN"))
        code, out, _, _ = self.run_cli("--owner", "alice", "unlock", "cli-u", "--token", str(token))
        self.assertEqual((code, out["result"]), (0, "OK"))
        code, out, _, _ = self.run_cli("--owner", "alice", "unlock", "cli-u")
        self.assertEqual((code, out["result"]), (1, "NOT_HELD"))

    def test_acquire_waits_for_the_lock_in_its_queue(self):
        _, out, _, _ = self.run_cli("--owner", "alice", "lock", "cli-q")
        holder = subprocess.Popen([PAXLOCK, "--cluster", self.c.config, "--json", "--owner", "bob",
                                   "acquire", "cli-q", "--max-wait", "20"],
                                  stdout=subprocess.PIPE, text=True)
        # bob waits in the lock's queue while alice holds it.
        wait_for(lambda: self.run_cli("status", "cli-q")[1]["waiters"], 10, "bob queued")
        self.assertIsNone(holder.poll())
        self.run_cli("--owner", "alice", "unlock", "cli-q")
        stdout, _ = holder.communicate(timeout=20)
        out = json.loads(stdout.splitlines()[-1])
        self.assertEqual((holder.returncode, out["result"]), (0, "OK"))
        # A deadline while still held: TIMEOUT, exit 5.
        code, out, _, _ = self.run_cli("--owner", "carol", "acquire", "cli-q", "--max-wait", "0.3")
        self.assertEqual((code, out["result"]), (5, "TIMEOUT"))

    def test_check_status_list_and_cluster(self):
        _, out, _, _ = self.run_cli("--owner", "dave", "lock", "cli-s")
        token = out["token"]
        code, out, _, _ = self.run_cli("check", "cli-s", "--token", str(token))
        self.assertEqual((code, out["result"], out["current"]), (0, "OK", True))
        code, out, _, _ = self.run_cli("check", "cli-s", "--token", str(token - 1))
        self.assertEqual((code, out["result"]), (1, "STALE_TOKEN"))
        code, out, _, _ = self.run_cli("status", "cli-s")
        self.assertEqual((code, out["holder"], out["token"]), (0, "dave", token))
        code, out, _, _ = self.run_cli("status", "cli-free")
        self.assertEqual((code, out["result"]), (0, "NOT_HELD"))
        code, out, _, _ = self.run_cli("list", "--limit", "1000")
        self.assertEqual(code, 0)
        self.assertIn("cli-s", [l["name"] for l in out["locks"]])
        code, out, _, _ = self.run_cli("cluster")
        self.assertEqual((code, out["up"]), (0, 3))
        self.assertEqual(len({m["leader"] for m in out["members"]}), 1)

    def test_usage_errors_exit_2(self):
        for args in (["lock"], ["frobnicate"], ["unlock", "x", "--token", "abc"],
                     ["--replica", "42", "lock", "x"], ["bench", "--clients", "0"]):
            code, _, _, stderr = self.run_cli(*args, json_out=False)
            self.assertEqual(code, 2, f"{args}: {stderr}")
        code, _, _, stderr = self.run_cli("lock", "", json_out=False)
        self.assertEqual(code, 2, stderr)  # INVALID from the service

    def test_unreachable_cluster_exits_3(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "cluster.toml")
        with open(path, "w") as f:
            f.write('cluster_id = "x"\ninsecure = true\n[[node]]\nid = 1\npeer = "127.0.0.1:7"\n'
                    'client = "127.0.0.1:9"\nhttp = "127.0.0.1:13"\n')
        r = subprocess.run([PAXLOCK, "--cluster", path, "--timeout", "1", "--json", "lock", "x"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"], "UNAVAILABLE")
        r = subprocess.run([PAXLOCK, "--cluster", os.path.join(d, "missing.toml"), "lock", "x"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_hold_passes_token_and_exit_code_and_releases(self):
        r = subprocess.run([PAXLOCK, "--cluster", self.c.config, "--owner", "holder", "hold", "cli-h",
                            "--", "sh", "-c", 'echo "$PAXLOCK_LOCK $PAXLOCK_TOKEN"; exit 7'],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 7, r.stderr)
        name, token = r.stdout.split()
        self.assertEqual(name, "cli-h")
        self.assertGreater(int(token), 0)
        code, out, _, _ = self.run_cli("status", "cli-h")
        self.assertEqual(out["result"], "NOT_HELD", "hold must release when the command exits")


class LauncherAndRetryTest(unittest.TestCase):
    def test_kill_and_restart_through_the_launcher(self):
        c = Cluster(nodes=3)
        try:
            r = c.local("status")
            self.assertEqual(r.stdout.count("pid"), 3)
            c.kill9(3)
            r = c.local("status")
            self.assertIn("node 3: down", r.stdout)
            c.restart(3)
            self.assertTrue(c.up(3))
            c.wait_converged()
        finally:
            c.close()

    def test_retry_to_another_replica_after_an_unanswered_apply_does_not_apply_twice(self):
        c = Cluster(nodes=3)
        try:
            # Node 2 applies commands but never answers (a test option), and
            # is killed right after it applied the lock.
            c.kill9(2)
            r = subprocess.run([PAXLOCK, "local", "restart", "2", "--dir", c.dir,
                                "--daemon-args", "--withhold-replies"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            c.wait_leader()
            before = c.status(1)["last_token"]
            proc = subprocess.Popen([PAXLOCK, "--cluster", c.config, "--json", "--replica", "2",
                                     "--timeout", "20", "--owner", "once", "lock", "retry-x"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: c.status(2)["locks_held"] >= 1, 10, "node 2 to apply the lock")
            c.kill9(2)
            stdout, stderr = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, stderr)
            out = json.loads(stdout.splitlines()[-1])
            self.assertEqual(out["result"], "OK")
            self.assertNotEqual(out["served_by"], 2)
            self.assertGreaterEqual(out["attempts"], 2)
            # Granted exactly once: one new token, and it is the one answered.
            after = c.status(1)["last_token"]
            self.assertEqual(after, before + 1)
            self.assertEqual(out["token"], after)
            st = c.status(3)
            self.assertEqual(st["last_token"], after)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()


class SessionLossTest(unittest.TestCase):
    def test_hold_stops_its_command_by_ttl_minus_margin_when_the_cluster_stops_answering(self):
        """Bug F on real processes: every replica is stopped (SIGSTOP); the
        session's last acknowledged renewal was sent before that, so `hold`
        must stop its command by TTL - margin (3 s - 0.7 s) after the stop,
        before the service could expire the lease and grant the lock again.
        (The deterministic test is tests/unit/client_lease_test.cc.)"""
        c = Cluster(nodes=3)
        pids = [c.pid(n) for n in (1, 2, 3)]
        stamp = os.path.join(c.dir, "terminated-at")
        hold = subprocess.Popen(
            [PAXLOCK, "--cluster", c.config, "--owner", "h", "--session-ttl", "3", "hold", "cli-f",
             "--", "sh", "-c", f'trap "date +%s.%N > {stamp}; exit 143" TERM; '
                               'while :; do sleep 0.02; done'],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stopped = False
        try:
            def held():
                r = subprocess.run([PAXLOCK, "--cluster", c.config, "status", "cli-f"],
                                   capture_output=True, text=True, timeout=10)
                return "held by h" in r.stdout
            wait_for(held, 10, "hold to take the lock")
            t_stop = time.time()
            for p in pids:
                os.kill(p, signal.SIGSTOP)
            stopped = True
            _, err = hold.communicate(timeout=15)
            self.assertEqual(hold.returncode, 4, err)  # lost
            self.assertIn("was lost", err)
            with open(stamp) as f:
                terminated = float(f.read())
            # 2.3 s, plus the shell's 20 ms poll and scheduling slack.
            self.assertLess(terminated - t_stop, 2.3 + 0.4)
        finally:
            if hold.poll() is None:
                hold.kill()
                hold.communicate()
            if stopped:
                for p in pids:
                    os.kill(p, signal.SIGCONT)
            c.close()
