"""`paxlock-demo` (`make demo`) on real processes: --help, --version and
usage errors exit at once without starting a cluster; the demo refuses a
directory it did not make (and leaves its files alone), uses an empty one,
and reuses (wipes) one it made; a short run ends with the verdict OK and
stops its nodes; and the demo's source runs nothing through a shell.

Every test gives --dir inside its own temporary directory, so that a broken
demo never touches /tmp/paxlock-demo (another `make demo` may be using it),
and tearDown stops any nodes a broken demo left running there."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN

DEMO = os.path.join(BIN, "paxlock-demo")
PAXLOCK = os.path.join(BIN, "paxlock")
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools/demo/demo.cc")
MARKER = ".paxlock-demo"
QUICK = 15  # seconds for anything that must not start a cluster
# A whole run: --duration 20 (the shortest) plus starting and stopping five
# nodes of the dev build on a shared machine.
SHORT_RUN = ["--duration", "20"]
RUN_TIMEOUT = 120


class DemoTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="paxlock-demo-it-")
        self.dir = os.path.join(self.tmp, "cluster")

    def tearDown(self):
        # A demo that ran when it should not have leaves nodes behind
        # (they run in their own sessions): stop them before deleting.
        for root, _, files in os.walk(self.tmp):
            if "cluster.toml" in files:
                subprocess.run([PAXLOCK, "local", "down", "--dir", root], capture_output=True,
                               timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def demo(self, *args, timeout=QUICK):
        try:
            return subprocess.run([DEMO, *args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            self.fail(f"paxlock-demo {' '.join(args)} still running after {timeout} s; "
                      f"its output:\n{out[:1000]}")

    def assertNoCluster(self, path):
        self.assertFalse(os.path.exists(os.path.join(path, "cluster.toml")),
                         f"a cluster was started in {path}")

    def test_help_prints_usage_and_starts_nothing(self):
        r = self.demo("--dir", self.dir, "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Usage", r.stdout)
        for flag in ("--dir", "--duration", "--clients", "--locks", "--version"):
            self.assertIn(flag, r.stdout)
        self.assertFalse(os.path.exists(self.dir), "--help created the cluster directory")

    def test_unknown_flag_is_a_usage_error(self):
        r = self.demo("--dir", self.dir, "--no-such-flag")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--no-such-flag", r.stderr)
        self.assertFalse(os.path.exists(self.dir))

    def test_stray_argument_is_a_usage_error(self):
        r = self.demo("--dir", self.dir, "stray")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("stray", r.stderr)
        self.assertFalse(os.path.exists(self.dir))

    def test_too_short_duration_is_refused_not_stretched(self):
        r = self.demo("--dir", self.dir, "--duration", "3")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--duration", r.stderr)
        self.assertFalse(os.path.exists(self.dir))

    def test_version_prints_the_version_line(self):
        r = self.demo("--dir", self.dir, "--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^paxlock-demo \d+\.\d+\.\d+ \(git \S+, \w+\)$")
        self.assertFalse(os.path.exists(self.dir))

    def test_refuses_a_non_empty_directory_it_did_not_make(self):
        os.mkdir(self.dir)
        precious = os.path.join(self.dir, "precious.txt")
        with open(precious, "w") as f:
            f.write("not the demo's\n")
        r = self.demo("--dir", self.dir, *SHORT_RUN)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(self.dir, r.stderr)
        self.assertIn(MARKER, r.stderr)
        with open(precious) as f:
            self.assertEqual(f.read(), "not the demo's\n")
        self.assertEqual(os.listdir(self.dir), ["precious.txt"])

    def test_refuses_a_path_that_is_not_a_directory(self):
        path = os.path.join(self.tmp, "a-file")
        with open(path, "w") as f:
            f.write("keep\n")
        r = self.demo("--dir", path, *SHORT_RUN)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(path, r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "keep\n")

    def test_runs_in_an_empty_directory_then_reuses_it(self):
        os.mkdir(self.dir)  # empty, not made by the demo: it may be used
        first = self.run_demo()
        self.assertIn(f"history in {self.dir}/history.jsonl", first.stdout)
        # Its own directory, with a file left over: the next run wipes it.
        leftover = os.path.join(self.dir, "leftover.txt")
        with open(leftover, "w") as f:
            f.write("from the first run\n")
        self.run_demo()
        self.assertFalse(os.path.exists(leftover), "the reused directory was not wiped")

    def run_demo(self):
        """One whole run in self.dir: verdict OK, marker left, nodes stopped."""
        r = self.demo("--dir", self.dir, *SHORT_RUN, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertIn("mutual exclusion: OK", r.stdout)
        self.assertIn("cluster stopped", r.stdout)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, MARKER)), "no marker left")
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "history.jsonl")))
        self.assertEqual([f for f in os.listdir(self.dir) if f.endswith(".pid")], [],
                         "nodes still running")
        return r

    def test_source_runs_nothing_through_a_shell(self):
        with open(SOURCE) as f:
            text = f.read()
        self.assertIsNone(re.search(r"\b(system|popen)\s*\(", text),
                          "tools/demo/demo.cc calls system() or popen()")


if __name__ == "__main__":
    unittest.main()
