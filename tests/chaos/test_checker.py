"""The chaos checker on hand-made histories: valid ones pass, and each
invalid one is reported with the offending operations."""

import unittest

import checker

MS = 1_000_000  # nanoseconds


class H:
    """Builds a history: h.op(proc, f, lock, start_ms, end_ms, type, **result)."""

    def __init__(self):
        self.events = []

    def op(self, proc, f, lock, start, end, type="ok", owner=None, arg_token=0, inv=None,
           **result):
        owner = owner or proc.split("#")[0]
        e = {"t": start * MS, "proc": proc, "owner": owner, "type": "invoke", "f": f,
             "lock": lock, "token": arg_token}
        e.update(inv or {})
        self.events.append(e)
        if end is not None:
            e = {"t": end * MS, "proc": proc, "owner": owner, "type": type, "f": f, "lock": lock}
            e.update(result)
            self.events.append(e)
        return self

    def run(self):
        self.events.sort(key=lambda e: e["t"])
        return checker.check(self.events)


def ok_lock(h, proc, lock, s, e, token, req=None):
    return h.op(proc, "lock", lock, s, e, code="OK", token=token, holder=proc.split("#")[0],
                req=req or f"{proc}:{s}")


class ValidHistories(unittest.TestCase):
    def test_sequential_locking_passes_every_check(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        h.op("b#0", "lock", "L", 2, 3, type="fail", code="HELD", holder="a")
        h.op("a#0", "unlock", "L", 4, 5, code="OK")
        ok_lock(h, "b#0", "L", 6, 7, 2)
        h.op("c#0", "status", "L", 8, 9, code="OK", holder="b", token=2)
        h.op("b#0", "unlock", "L", 10, 11, code="OK")
        h.op("c#0", "status", "L", 12, 13, code="OK", holder="", token=0)
        r = h.run()
        for name in ("well_formed", "mutual_exclusion", "fencing_tokens", "linearizable"):
            self.assertEqual(r[name], [], name)

    def test_concurrent_operations_with_an_unknown_outcome_are_linearizable(self):
        h = H()
        # a's lock times out (info): it may have taken effect. b sees it held
        # by a, so it did.
        h.op("a#0", "lock", "L", 0, 50, type="info", code="UNAVAILABLE")
        h.op("b#0", "lock", "L", 10, 20, type="fail", code="HELD", holder="a")
        # a's new incarnation cleans up.
        h.op("a#1", "unlock", "L", 60, 70, code="OK")
        ok_lock(h, "b#0", "L", 80, 90, 5)
        r = h.run()
        self.assertEqual(r["linearizable"], [])
        self.assertEqual(r["well_formed"], [])


    def test_an_unknown_lock_may_take_effect_long_after_many_segments(self):
        h = H()
        h.op("a#0", "lock", "L", 0, 5, type="info", code="UNAVAILABLE")
        # Many quiet, sequential segments while L stays free...
        for k in range(200):
            t = 10 + 4 * k
            h.op(f"b#{k}", "lock", "M", t, t + 1, code="OK", token=k + 1, holder="b")
            h.op(f"b#{k}", "unlock", "M", t + 2, t + 3, code="OK")
            h.op("c#0", "status", "L", t + 1, t + 2, code="OK", holder="", token=0)
        # ...then a's old lock is applied at last: c sees a holding L.
        h.op("c#0", "status", "L", 1000, 1001, code="OK", holder="a", token=500)
        r = h.run()
        self.assertEqual(r["linearizable"], [])

    def test_interchangeable_unknown_operations_and_many_refusals_are_decided_fast(self):
        h = H()
        # 40 clients time out on lock at once, 8 of them twice (same owner, two
        # incarnations), while 60 refusals name the holder z.
        ok_lock(h, "z#0", "L", 0, 1, 1)
        for c in range(40):
            h.op(f"c{c}#0", "lock", "L", 2, 3, type="info", code="UNAVAILABLE")
            if c < 8:
                h.op(f"c{c}#1", "lock", "L", 4, 5, type="info", code="UNAVAILABLE",
                     owner=f"c{c}")
        for k in range(60):
            h.op(f"r{k}#0", "lock", "L", 6, 400, type="fail", code="HELD", holder="z")
        h.op("z#0", "unlock", "L", 401, 402, code="OK")
        # One of the timed-out locks took effect after z let go.
        h.op("s#0", "status", "L", 403, 404, code="OK", holder="c7", token=9)
        verdict, _ = checker.wgl([o for o in checker.pair_ops(
            sorted(h.events, key=lambda e: e["t"]))[0]], budget_s=5)
        self.assertIs(verdict, True)


class InvalidHistories(unittest.TestCase):
    def test_a_refusal_naming_the_wrong_holder_is_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        h.op("b#0", "unlock", "L", 2, 3, type="fail", code="NOT_OWNER", holder="c")
        r = h.run()
        self.assertTrue(r["linearizable"])
        self.assertIn("b#0 unlock(L)", r["linearizable"][0])

    def test_two_holders_at_once_are_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        ok_lock(h, "b#0", "L", 2, 3, 2)  # a never released it
        h.op("a#0", "unlock", "L", 4, 5, code="OK")
        r = h.run()
        self.assertTrue(r["mutual_exclusion"])
        self.assertIn("a and b held it at once", r["mutual_exclusion"][0])
        self.assertIn("b#0 lock(L)", r["mutual_exclusion"][0])
        self.assertTrue(r["linearizable"])

    def test_a_lost_unlock_is_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        h.op("a#0", "unlock", "L", 2, 3, code="OK")
        # After an acknowledged unlock, the lock is still held by a.
        h.op("c#0", "status", "L", 4, 5, code="OK", holder="a", token=1)
        r = h.run()
        self.assertTrue(r["linearizable"])
        self.assertIn("status(L)", r["linearizable"][0])

    def test_a_token_going_backwards_is_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 7)
        h.op("a#0", "unlock", "L", 2, 3, code="OK")
        ok_lock(h, "b#0", "L", 4, 5, 3)
        r = h.run()
        self.assertTrue(r["fencing_tokens"])
        self.assertIn("token went backwards", r["fencing_tokens"][0])
        self.assertTrue(r["linearizable"])

    def test_one_request_with_two_tokens_is_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 4, req="9:1")
        h.op("a#0", "unlock", "L", 2, 3, code="OK")
        ok_lock(h, "a#1", "L", 4, 5, 6, req="9:1")
        r = h.run()
        self.assertTrue(any("yielded two tokens" in p for p in r["fencing_tokens"]))

    def test_a_non_linearizable_read_is_reported(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        # A read strictly after the grant says the lock is free.
        h.op("c#0", "status", "L", 2, 3, code="OK", holder="", token=0)
        r = h.run()
        self.assertTrue(r["linearizable"])
        self.assertIn("c#0 status(L)", r["linearizable"][0])

    # Issue 13, item 6: after an unknown-outcome (info) grant the holder's
    # token is unknown, but it is above every earlier grant's; an answer that
    # reveals it (a grant, a status, an unlock) must agree.
    @staticmethod
    def token_after_an_unknown_grant(last):
        """a gets L with token 5 and lets go; b's lock times out (info), then
        b's next incarnation reports the holder's token as `last`."""
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 5)
        h.op("a#0", "unlock", "L", 2, 3, code="OK", token=5)
        h.op("b#0", "lock", "L", 4, 5, type="info", code="UNAVAILABLE")
        return h

    def test_a_grant_below_an_earlier_grant_after_an_unknown_grant_is_reported(self):
        for token, valid in ((5, False), (4, False), (6, True), (9, True)):
            h = self.token_after_an_unknown_grant(token)
            ok_lock(h, "b#1", "L", 10, 11, token)  # idempotent: b already holds it
            h.op("b#1", "unlock", "L", 12, 13, code="OK", token=token)
            r = h.run()
            if valid:
                self.assertEqual(r["linearizable"], [], token)
            else:
                self.assertTrue(r["linearizable"], token)
                self.assertIn("b#1 lock(L)", r["linearizable"][0])

    def test_a_status_revealing_a_token_below_an_earlier_grant_is_reported(self):
        for token, valid in ((5, False), (2, False), (6, True)):
            h = self.token_after_an_unknown_grant(token)
            h.op("c#0", "status", "L", 10, 11, code="OK", holder="b", token=token)
            r = h.run()
            self.assertEqual(r["linearizable"] == [], valid, token)
            if not valid:
                self.assertIn("c#0 status(L)", r["linearizable"][0])

    def test_an_unlock_revealing_a_token_below_an_earlier_grant_is_reported(self):
        for token, valid in ((5, False), (3, False), (7, True)):
            # OK carries the released token...
            h = self.token_after_an_unknown_grant(token)
            h.op("b#1", "unlock", "L", 10, 11, code="OK", token=token)
            self.assertEqual(h.run()["linearizable"] == [], valid, token)
            # ...and STALE_TOKEN the current one.
            h = self.token_after_an_unknown_grant(token)
            h.op("b#1", "unlock", "L", 10, 11, type="fail", code="STALE_TOKEN", arg_token=99,
                 token=token)
            h.op("b#1", "unlock", "L", 12, 13, code="OK", token=token)
            self.assertEqual(h.run()["linearizable"] == [], valid, token)

    def test_malformed_histories_are_reported(self):
        h = H()
        h.op("a#0", "lock", "L", 0, None)
        h.op("a#0", "lock", "M", 1, 2, code="OK", token=1, holder="a")  # a still had L open
        h.events.append({"t": 5 * MS, "proc": "z#0", "owner": "z", "type": "ok", "f": "lock",
                         "lock": "L"})  # a completion without an invocation
        h.op("b#0", "lock", "L", 6, 7, type="info", code="UNAVAILABLE")
        h.op("b#0", "lock", "L", 8, 9, type="fail", code="HELD", holder="x")  # after info
        r = h.run()
        problems = "\n".join(r["well_formed"])
        self.assertIn("while lock is open", problems)
        self.assertIn("without an invocation", problems)
        self.assertIn("after an info", problems)

    def test_counter_with_a_lost_increment_is_reported(self):
        h = H()
        h.op("a#0", "write", "L", 0, 1, value=1, token=1)
        h.op("b#0", "write", "L", 2, 3, value=2, token=2)
        r = checker.check(sorted(h.events, key=lambda e: e["t"]),
                          server_log={"values": {"L": 1}, "accepted": {"L": [1, 2]}})
        self.assertTrue(r["counter"])
        r = checker.check(sorted(h.events, key=lambda e: e["t"]),
                          server_log={"values": {"L": 2}, "accepted": {"L": [2, 1]}})
        self.assertTrue(any("accepted token 1 after 2" in p for p in r["counter"]))

    def test_a_durable_lock_lost_after_restart_is_reported(self):
        h = H()
        h.op("durable#0", "lock", "D1", 0, 1, code="OK", token=3, holder="durable")
        h.op("final#0", "status", "D1", 100, 101, code="OK", holder="", token=0)
        r = h.run()
        self.assertTrue(r["durable_locks"])
        self.assertTrue(r["linearizable"])


SAFETY = ("well_formed", "mutual_exclusion", "fencing_tokens", "linearizable", "fenced_writes",
          "sessions", "deadlocks", "fifo")


def problems(r):
    return {k: r[k] for k in SAFETY if r[k]}


def session(h, proc, sid, s, e, ttl=1000, type="ok"):
    """open_session by proc's owner: session `sid` with a TTL of `ttl` ms."""
    return h.op(proc, "open_session", "", s, e, type=type, code="OK", session=sid, ttl_ms=ttl,
                inv={"ttl_ms": ttl})


class TheWholeApi(unittest.TestCase):
    """Sessions (leases), blocking waits, deadlocks and check: a valid history
    passes every check, and each broken one is reported."""

    # ---------------------------------------------------------- sessions
    def lease_history(self, renew_at=None, grant=(1100, 1200)):
        """a holds L under session 7 (TTL 1000 ms, opened at 0) and stops
        renewing; b is granted L at `grant`."""
        h = H()
        session(h, "a#0", 7, 0, 1)
        h.op("a#0", "lock", "L", 2, 3, code="OK", token=1, holder="a", session=7,
             inv={"session": 7})
        if renew_at is not None:
            h.op("a.ka#0", "keep_alive", "", renew_at, renew_at + 1, owner="a", code="OK",
                 inv={"session": 7})
        ok_lock(h, "b#0", "L", grant[0], grant[1], 2)
        return h

    def test_a_lease_that_ran_out_releases_its_lock(self):
        # The lease can end at 0 + 1000 - 700 (margin) = 300 ms: b's grant fits.
        self.assertEqual(problems(self.lease_history().run()), {})
        self.assertEqual(problems(self.lease_history(renew_at=400).run()), {})

    def test_a_lock_taken_over_before_the_lease_can_have_ended_is_reported(self):
        # Renewed at 1000 ms: the lease lives until 1300 at least.
        r = self.lease_history(renew_at=1000).run()
        self.assertIn("a and b held it at once", "\n".join(r["mutual_exclusion"]))
        self.assertTrue(r["linearizable"])

    def late_grant_history(self, renew_at=None, close_at=None):
        """The chaos failure of 2026-12-03 (seed 20261127, 5 nodes; hot-0,
        tokens 6111 and 6113), times in ms: b0 queues for L under session 6
        (TTL 2 s, last renewal sent at 0) while w4 holds it; w4's unlock hands
        L to b0, then every replica loses power. b0's next keep-alive (sent at
        700) is not applied in time, the lease runs out, and the first batch
        after the restart ends session 6 and grants L to w5's try-lock. Both
        answers reach their clients only after the restart, w5's first; b0's
        arrives 950 ms after b0's own lease deadline (0 + 2000 - 700)."""
        h = H()
        session(h, "b0#0", 6, 0, 1, ttl=2000)
        ok_lock(h, "w4#0", "L", 10, 11, 1)
        h.op("w5#0", "lock", "L", 100, 2248, code="OK", token=3, holder="w5",
             inv={"wait_ms": 0})
        h.op("b0#0", "lock", "L", 200, 2250, code="OK", token=2, holder="b0", session=6,
             inv={"session": 6, "wait_ms": 627})
        h.op("w4#0", "unlock", "L", 380, 2249, code="OK", token=1)
        if renew_at is not None:
            h.op("b0.ka#6.0", "keep_alive", "", renew_at, renew_at + 5, owner="b0", code="OK",
                 inv={"session": 6})
        h.op("b0.ka#6.1", "keep_alive", "", 1500, 2253, owner="b0", type="fail",
             code="SESSION_EXPIRED", inv={"session": 6})
        if close_at is not None:
            h.op("b0.c#0", "close_session", "", close_at, 2255, owner="b0", code="OK",
                 inv={"session": 6})
        h.op("w5#0", "unlock", "L", 2251, 2254, code="OK", token=3)
        return h.run()

    def test_a_grant_answered_after_its_lease_ran_out_was_never_held(self):
        # b0 must treat L as lost when the answer arrives (docs/LOCKS.md), so
        # it held L at no time, not even at the answer's instant.
        self.assertEqual(problems(self.late_grant_history()), {})
        # Renewed at 1000 (the lease lasts until 2300 at least) but closed
        # by b0 at 2200, before the answer: never held either. (Only
        # mutual_exclusion: the linearizability search places a close that
        # changes nothing at once, and its model does not remember ended
        # sessions, so a close racing a blocking grant under the same session
        # is beyond it; the chaos clients never send one.)
        r = self.late_grant_history(renew_at=1000, close_at=2200)
        self.assertEqual(r["mutual_exclusion"], [])
        # Renewed at 1000: the lease lasts until 2300 at least, so b0 may use
        # L from 2250 on while w5 holds it from 2248 on.
        r = self.late_grant_history(renew_at=1000)
        self.assertIn("w5 and b0 held it at once", "\n".join(r["mutual_exclusion"]))

    def relock_history(self, answered_session):
        """The chaos failure of 2026-12-03 (seed 20261127, 3 nodes; pause-0,
        tokens 12921 and 12930), times in ms: pp holds L under session 7,
        stops renewing it (a simulated crash) and opens session 8; its lock of
        L under 8 is answered OK with the same token and, as docs/LOCKS.md
        says, the session L is held under: 7. Session 7's lease ends and pv
        is granted L while session 8 still lives and pp has not unlocked."""
        h = H()
        session(h, "pp#0", 7, 0, 1, ttl=1500)
        h.op("pp#0", "lock", "L", 2, 3, code="OK", token=1, holder="pp", session=7,
             inv={"session": 7})
        session(h, "pp#0", 8, 10, 11, ttl=1500)
        h.op("pp#0", "lock", "L", 12, 900, code="OK", token=1, holder="pp",
             session=answered_session, inv={"session": 8})
        h.op("pp.ka#8.0", "keep_alive", "", 500, 501, owner="pp", code="OK",
             inv={"session": 8})
        ok_lock(h, "pv#0", "L", 901, 902, 2)
        h.op("pp#0", "unlock", "L", 910, 911, type="fail", code="NOT_OWNER", holder="pv",
             arg_token=1)
        return h.run()

    def test_a_lock_asked_again_under_a_new_session_lives_by_the_old_lease(self):
        # The lock is held under session 7, whose lease can have ended at
        # 0 + 1500 - 700 = 800 ms: pp's second answer (900) came after it, so
        # pp never held L under it, and pv's grant at 902 is no overlap.
        self.assertEqual(problems(self.relock_history(answered_session=7)), {})
        # Had the answer said session 8 (renewed at 500, alive until 1300),
        # pp would have held L until its unlock at 910: two holders.
        r = self.relock_history(answered_session=8)
        self.assertIn("pp and pv held it at once", "\n".join(r["mutual_exclusion"]))
        self.assertIn("session 8 (TTL 1500 ms)", "\n".join(r["mutual_exclusion"]))

    def test_session_expired_too_early_is_reported(self):
        for at, valid in ((100, False), (400, True)):
            h = H()
            session(h, "a#0", 7, 0, 1)
            h.op("a.ka#0", "keep_alive", "", at, at + 1, owner="a", type="fail",
                 code="SESSION_EXPIRED", inv={"session": 7})
            r = h.run()
            self.assertEqual(r["sessions"] == [], valid, at)
            if not valid:
                self.assertIn("before its lease can have ended", r["sessions"][0])

    def test_close_session_releases_its_locks(self):
        def history(holder):
            h = H()
            session(h, "a#0", 7, 0, 1, ttl=60000)
            h.op("a#0", "lock", "L", 2, 3, code="OK", token=1, holder="a", session=7,
                 inv={"session": 7})
            h.op("a#0", "close_session", "", 50, 51, code="OK", inv={"session": 7})
            h.op("c#0", "status", "L", 60, 61, code="OK", holder=holder, token=1 if holder else 0,
                 session=7 if holder else 0)
            return h.run()
        self.assertEqual(problems(history("")), {})
        r = history("a")  # still held after an acknowledged close
        self.assertTrue(r["linearizable"])
        self.assertIn("c#0 status(L)", r["linearizable"][0])

    def test_acknowledged_after_close_is_reported(self):
        h = H()
        session(h, "a#0", 7, 0, 1, ttl=60000)
        h.op("a#0", "close_session", "", 50, 51, code="OK", inv={"session": 7})
        h.op("a.ka#0", "keep_alive", "", 60, 61, owner="a", code="OK", inv={"session": 7})
        self.assertIn("acknowledged after it was closed", "\n".join(h.run()["sessions"]))

    # ----------------------------------------------------- blocking waits
    def test_a_blocking_lock_is_granted_when_the_holder_lets_go(self):
        def history(grant_end, unlock_at):
            h = H()
            ok_lock(h, "a#0", "L", 0, 1, 1)
            h.op("b#0", "lock", "L", 2, grant_end, code="OK", token=2, holder="b",
                 inv={"wait_ms": 1000})
            h.op("a#0", "unlock", "L", unlock_at, unlock_at + 1, code="OK", token=1)
            return h.run()
        self.assertEqual(problems(history(50, 40)), {})
        r = history(30, 40)  # granted before a let go
        self.assertTrue(r["mutual_exclusion"])
        self.assertTrue(r["linearizable"])

    def test_timeout_only_while_another_owner_holds_it(self):
        def history(unlock_at):
            h = H()
            ok_lock(h, "a#0", "L", 0, 1, 1)
            h.op("a#0", "unlock", "L", unlock_at, unlock_at + 1, code="OK", token=1)
            h.op("b#0", "lock", "L", 4, 500, type="fail", code="TIMEOUT", holder="a",
                 inv={"wait_ms": 400})
            return h.run()
        self.assertEqual(problems(history(600)), {})
        r = history(2)  # free for the whole wait
        self.assertIn("b#0 lock(L)", r["linearizable"][0])

    def test_an_abandoned_blocking_lock_may_be_granted_later(self):
        h = H()
        ok_lock(h, "a#0", "L", 0, 1, 1)
        h.op("b#0", "lock", "L", 2, 900, type="info", code="UNAVAILABLE", inv={"wait_ms": 500})
        h.op("a#0", "unlock", "L", 1000, 1001, code="OK", token=1)
        h.op("c#0", "status", "L", 1002, 1003, code="OK", holder="b", token=2)
        self.assertEqual(problems(h.run()), {})

    def test_waiters_are_served_in_queue_order(self):
        def history(waiters):
            h = H()
            ok_lock(h, "a#0", "L", 0, 1, 1)
            h.op("b#0", "lock", "L", 2, 120, code="OK", token=2, holder="b",
                 inv={"wait_ms": 1000})
            h.op("c#0", "lock", "L", 3, 140, code="OK", token=3, holder="c",
                 inv={"wait_ms": 1000})
            h.op("s#0", "status", "L", 10, 11, code="OK", holder="a", token=1,
                 waiters=waiters)
            h.op("a#0", "unlock", "L", 100, 101, code="OK", token=1)
            h.op("b#0", "unlock", "L", 130, 131, code="OK", token=2)
            h.op("c#0", "unlock", "L", 150, 151, code="OK", token=3)
            return h.run()
        self.assertEqual(problems(history(["b", "c"])), {})
        r = history(["c", "b"])  # b was served first, though queued behind c
        self.assertEqual(set(problems(r)), {"fifo"})
        self.assertIn("b was granted before c", r["fifo"][0])

    # ---------------------------------------------------------- deadlocks
    def deadlock_history(self, a_waits=True, a_unlocks_x_at=None):
        """a holds X, b holds Y; a waits for Y; b asks for X and is told
        DEADLOCK with the cycle b -X-> a -Y-> b."""
        h = H()
        ok_lock(h, "a#0", "X", 0, 1, 1)
        ok_lock(h, "b#0", "Y", 2, 3, 2)
        if a_waits:
            h.op("a#0", "lock", "Y", 4, 1004, type="fail", code="TIMEOUT", holder="b",
                 inv={"wait_ms": 1000})
        if a_unlocks_x_at is not None:
            t = a_unlocks_x_at
            h.op("a#1", "unlock", "X", t, t + 1, code="OK", token=1, owner="a")
        h.op("b#0", "lock", "X", 10, 11, type="fail", code="DEADLOCK", holder="a",
             cycle=[["b", "X", "a"], ["a", "Y", "b"]], inv={"wait_ms": 1000})
        return h.run()

    def test_a_deadlock_with_a_cycle_passes(self):
        self.assertEqual(problems(self.deadlock_history()), {})

    def test_a_deadlock_without_a_waiting_owner_is_reported(self):
        r = self.deadlock_history(a_waits=False)
        self.assertIn("a cannot have been waiting for Y", r["deadlocks"][0])

    def test_a_deadlock_on_a_free_lock_is_reported(self):
        r = self.deadlock_history(a_unlocks_x_at=5)
        self.assertIn("a cannot have held X", r["deadlocks"][0])
        self.assertIn("b#0 lock(X)", r["linearizable"][0])

    # -------------------------------------------------------------- check
    def test_check_answers_follow_the_holder(self):
        def history(after_unlock_code, stale_current):
            h = H()
            ok_lock(h, "a#0", "L", 0, 1, 3)
            h.op("c#0", "check", "L", 2, 3, code="OK", token=0, arg_token=3)
            h.op("c#0", "check", "L", 4, 5, type="fail", code="STALE_TOKEN", token=stale_current,
                 arg_token=2)
            h.op("a#0", "unlock", "L", 6, 7, code="OK", token=3)
            h.op("c#0", "check", "L", 8, 9, type="ok" if after_unlock_code == "OK" else "fail",
                 code=after_unlock_code, token=0, arg_token=3)
            return h.run()
        self.assertEqual(problems(history("STALE_TOKEN", 3)), {})
        self.assertIn("c#0 check(L)", history("OK", 3)["linearizable"][0])  # after the unlock
        self.assertTrue(history("STALE_TOKEN", 4)["linearizable"])  # the wrong current token

    # ------------------------------------------------------ fenced writes
    def test_a_paused_holders_write_must_be_refused(self):
        def history(victim_type):
            h = H()
            h.op("pv#0", "write", "P", 0, 1, value=1, arg_token=4)
            h.op("pp#0", "write", "P", 2000, 2001, value=2, arg_token=9)
            # The victim resumes and writes with its old token.
            h.op("pv#0", "write", "P", 2100, 2101, type=victim_type, value=2, arg_token=4,
                 code="OK" if victim_type == "ok" else "STALE")
            return h.run()
        self.assertEqual(history("fail")["fenced_writes"], [])
        self.assertIn("token 4 accepted after token 9", history("ok")["fenced_writes"][0])


if __name__ == "__main__":
    unittest.main()
