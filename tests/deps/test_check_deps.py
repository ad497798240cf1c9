"""scripts/check-deps passes on the tree and fails on planted violations."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "check-deps")


def run(root):
    return subprocess.run([sys.executable, SCRIPT, "--root", root], capture_output=True, text=True)


class CheckDepsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="paxlock-deps-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        for d in ("src", "include", "tools"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(self.tmp, d))

    def plant(self, rel, line):
        with open(os.path.join(self.tmp, rel), "a") as f:
            f.write(line + "\n")

    def test_the_tree_passes(self):
        r = run(self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("paxlock_client -> ", r.stdout)

    def test_each_forbidden_edge_is_reported(self):
        cases = {
            "src/paxos/node.cc": '#include "storage/wal.h"',
            "src/lock/lock_machine.cc": '#include "driver/replica.h"',
            "src/client/client.cc": '#include "paxos/node.h"',
            "src/storage/wal.cc": '#include "net/codec.h"',
            "src/paxos/log.cc": '#include "paxlock.pb.h"',
        }
        for rel, line in cases.items():
            self.plant(rel, line)
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout)
        for rel in cases:
            self.assertIn(rel + ":", r.stdout)
        self.assertIn("5 violation(s)", r.stdout)

    def test_the_client_may_not_use_the_peer_codec(self):
        self.plant("src/client/client.cc", '#include "net/codec.h"')
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("client must not include net/codec.h", r.stdout)

    def test_a_client_library_that_links_the_core_is_reported(self):
        path = os.path.join(self.tmp, "src", "CMakeLists.txt")
        with open(path) as f:
            text = f.read()
        before = "target_link_libraries(paxlock_client PUBLIC "
        self.assertIn(before, text)
        text = text.replace(before, before + "paxlock_driver ")
        with open(path, "w") as f:
            f.write(text)
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("link: paxlock_client reaches", r.stdout)
        self.assertIn("paxlock_paxos", r.stdout)


if __name__ == "__main__":
    unittest.main()
