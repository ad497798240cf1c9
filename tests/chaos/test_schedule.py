"""The chaos runner's nemesis schedule is a function of the seed alone: the
fault windows run against a fake test bed and a fake clock, once with a
leader that answers and once with none (the leader lookup falls back), and
every draw from the schedule's RNG must be the same."""

import argparse
import random
import tempfile
import unittest

import run


class RecordingRandom(random.Random):
    """A Random that records every draw the runner makes from it."""

    def __init__(self, seed):
        super().__init__(seed)
        self.draws = []

    def choice(self, seq):
        x = super().choice(seq)
        self.draws.append(("choice", list(seq), x))
        return x

    def sample(self, population, k):
        x = super().sample(population, k)
        self.draws.append(("sample", list(population), k, x))
        return x

    def randint(self, a, b):
        x = super().randint(a, b)
        self.draws.append(("randint", a, b, x))
        return x

    def uniform(self, a, b):
        x = super().uniform(a, b)
        self.draws.append(("uniform", a, b, x))
        return x


class FakeTestbed:
    """Records the faults; /status answers with node `leader` leading, or
    (leader None) no node answers at all."""

    def __init__(self, n, leader):
        self.n = n
        self.leader = leader
        self.paused = set()
        self.actions = []
        self.status_calls = 0

    def status(self, i, timeout=1.0):
        self.status_calls += 1
        if self.leader is None:
            raise OSError("connection refused")
        return {"role": "leader" if i == self.leader else "follower", "ballot": f"3.{self.leader}"}

    def alive(self, i):
        return True

    def pause(self, i):
        self.paused.add(i)
        self.actions.append(("pause", i))

    def resume(self, i):
        self.paused.discard(i)
        self.actions.append(("resume", i))

    def __getattr__(self, name):  # kill, start, power_loss, block, loss, heal_network
        if name not in ("kill", "start", "power_loss", "block", "loss", "heal_network"):
            raise AttributeError(name)
        return lambda *a: self.actions.append((name, *a))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def clock(self):
        return self.now

    def sleep(self, s):
        self.now += max(0.0, s)


def fault_windows(seed, nodes, leader, duration=600):
    """Runs the fault windows of a `duration`-second run on the fakes; returns
    (the schedule's draws, the nemeses logged, the fake test bed, the run)."""
    nemeses = [k for k in run.NEMESES if k != "client-pause"]
    with tempfile.TemporaryDirectory() as out:
        args = argparse.Namespace(seed=seed, nodes=nodes, duration=duration, out=out,
                                  nemeses=nemeses, api=False)
        tb = FakeTestbed(nodes, leader)
        r = run.Run(args, testbed=tb)
        rec = RecordingRandom(0)
        rec.setstate(r.rng.getstate())  # where __init__ left the schedule
        r.rng = rec
        fake = FakeClock()
        r.clock, r.sleep = fake.clock, fake.sleep
        logged = []
        r.log = lambda what, **kw: logged.append((what, kw.get("detail")))
        r.start = fake.clock()
        try:
            r.fault_windows(r.start + duration)
        finally:
            r.nemesis_log.close()
    return r.rng.draws, logged, tb, r


LEADER_KINDS = ("kill-leader", "pause-leader", "silence-leader")


class Schedule(unittest.TestCase):
    def test_same_schedule_whether_the_leader_answers_or_not(self):
        for nodes in (3, 5):
            for seed in (1, 7, 42):
                with self.subTest(nodes=nodes, seed=seed):
                    found = fault_windows(seed, nodes, leader=2)
                    lost = fault_windows(seed, nodes, leader=None)
                    # The lookup really failed and fell back in the second run.
                    self.assertGreater(lost[2].status_calls, 0)
                    kinds = [w for w, _ in lost[1] if w in LEADER_KINDS]
                    self.assertTrue(kinds, "no leader nemesis drawn: the test tests nothing")
                    self.assertEqual(found[0], lost[0])
                    self.assertEqual([w for w, _ in found[1]], [w for w, _ in lost[1]])
                    # Nemeses that do not target the leader did the same thing.
                    for (w, d1), (_, d2) in zip(found[1], lost[1]):
                        if w not in LEADER_KINDS:
                            self.assertEqual(d1, d2, w)

    def test_leader_nemeses_hit_the_leader_or_the_fallback(self):
        _, logged, _, _ = fault_windows(3, 5, leader=4)
        for w, d in logged:
            if w in LEADER_KINDS:
                self.assertTrue(d.endswith("leader 4"), d)
        _, logged, _, r = fault_windows(3, 5, leader=None)
        fallback = random.Random(f"observed-{3}")
        for w, d in logged:
            if w in LEADER_KINDS:
                self.assertTrue(d.endswith(f"leader {fallback.randint(1, 5)}"), d)

    def test_seed_fixes_the_schedule_and_seeds_differ(self):
        a = fault_windows(11, 5, leader=1)
        b = fault_windows(11, 5, leader=1)
        c = fault_windows(12, 5, leader=1)
        self.assertEqual(a[1], b[1])
        self.assertEqual(a[2].actions, b[2].actions)
        self.assertNotEqual(a[1], c[1])

    def test_every_kind_has_a_nemesis(self):
        self.assertEqual(set(run.NEMESES), set(run.NEMESIS))
        for kind in run.NEMESES:
            self.assertTrue(callable(run.NEMESIS[kind]), kind)


if __name__ == "__main__":
    unittest.main()
