"""`paxlock-demo` (`make demo`) on real processes: --help, --version and
usage errors exit at once without starting a cluster.

Every test gives --dir inside its own temporary directory, so that a broken
demo never touches /tmp/paxlock-demo (another `make demo` may be using it),
and tearDown stops any nodes a broken demo left running there."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN

DEMO = os.path.join(BIN, "paxlock-demo")
PAXLOCK = os.path.join(BIN, "paxlock")
QUICK = 15  # seconds for anything that must not start a cluster


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

if __name__ == "__main__":
    unittest.main()
