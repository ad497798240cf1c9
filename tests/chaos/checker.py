"""The chaos checker: reads a recorded history and judges it.

A history is a list of events (dicts), one per JSON line:
  {"t": monotonic ns, "proc": "owner#incarnation", "owner": ..., "type":
   "invoke" | "ok" | "fail" | "info", "f": "lock" | "unlock" | "status" |
   "read" | "write" | "check" | "open_session" | "keep_alive" | "close_session",
   "lock": name, "token": n, "holder": h, "code": c, "req": "client:seq",
   "value": v, "session": s, "wait_ms": w, "will_retry": b, "ttl_ms": t,
   "cycle": [[owner, lock, holder], ...], "waiters": [owner, ...]}
ok: took effect with this answer; fail: certainly did not; info: unknown.

Checks, in order (each returns a list of problems, each naming the offending
operations):
  well_formed        invoke/complete alternate per process; nothing after info
  mutual_exclusion   no two owners' [grant answer, release invocation] intervals
                     on one lock overlap
  fencing_tokens     unique per lock, increasing in real-time order, never
                     reused; one request id never yields two tokens
  linearizable       per lock, Wing-Gong/Lowe search with memoisation against an
                     owner-aware mutex (lock, blocking lock, unlock, status,
                     check, and the end of a session releasing its locks); an
                     info operation may or may not have taken effect (final
                     reads included)
  counter            the fenced counter equals its acknowledged increments, and
                     no write with a stale token was accepted
  fenced_writes      the same, as the clients saw it: no read or write accepted
                     with a token below one accepted before it was sent
  sessions           SESSION_EXPIRED only once the lease can have ended (TTL
                     minus the margin of docs/LOCKS.md after its last
                     acknowledged renewal); nothing acknowledged after a close
  deadlocks          every DEADLOCK answer names a wait-for cycle that can have
                     existed while the request was in flight
  fifo               owners a status read shows queued in one order are
                     granted in that order (when both are)
  durable_locks      every acknowledged durable lock is still held at the end
Sessions also bound mutual exclusion: a lock held under a session is the
holder's until it unlocks or until the lease can have ended.
Liveness is reported apart from safety.
"""

import bisect
import collections
import json
import sys
import time

INF = float("inf")
MS = 1_000_000  # nanoseconds


class Op:
    __slots__ = ("proc", "owner", "f", "lock", "invoke", "complete", "type", "code", "token",
                 "holder", "req", "value", "arg_token", "index", "session", "wait_ms",
                 "will_retry", "ttl_ms", "cycle", "rsession", "waiters", "held_under")

    def __init__(self, inv, comp, index):
        self.proc = inv["proc"]
        self.owner = inv.get("owner", "")
        self.f = inv["f"]
        self.lock = inv.get("lock", "")
        self.invoke = inv["t"]
        self.arg_token = inv.get("token", 0)
        self.index = index
        self.session = inv.get("session", 0)  # lock, keep_alive, close_session: the argument
        self.wait_ms = inv.get("wait_ms", 0)
        self.will_retry = inv.get("will_retry", False)
        self.ttl_ms = inv.get("ttl_ms", 0)
        self.cycle, self.rsession, self.waiters = None, 0, None
        # A lock: the session it is held under. An owner asking again for what
        # it holds gets OK with the session the lock is held under, which may
        # be another of its sessions (or none): that lease decides.
        self.held_under = self.session
        if comp is None:  # never completed: unknown
            self.complete, self.type, self.code = INF, "info", "PENDING"
            self.token, self.holder, self.req, self.value = 0, "", "", None
        else:
            self.complete = comp["t"] if comp["type"] != "info" else INF
            self.type = comp["type"]
            self.code = comp.get("code", "")
            self.token = comp.get("token", 0)
            self.holder = comp.get("holder", "")
            self.req = comp.get("req", "")
            self.value = comp.get("value", inv.get("value"))
            self.cycle = comp.get("cycle")
            self.rsession = comp.get("session", 0)  # lock, status: the lock's session
            self.waiters = comp.get("waiters")
            if self.f == "open_session":
                self.session = self.rsession
            if self.f == "lock" and self.type == "ok" and "session" in comp:
                self.held_under = self.rsession

    def describe(self):
        end = "?" if self.complete == INF else f"{self.complete / 1e9:.6f}"
        return (f"[{self.invoke / 1e9:.6f} .. {end}] {self.proc} {self.f}({self.lock}) -> "
                f"{self.type} {self.code} token={self.token} holder={self.holder!r}")


def load(paths):
    events = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    events.append(json.loads(line))
    events.sort(key=lambda e: e["t"])
    return events


# ------------------------------------------------------------ well formed

def pair_ops(events):
    """Pairs invocations with completions per process. Returns (ops, problems)."""
    problems = []
    open_inv = {}
    after_info = set()
    ops = []
    for e in events:
        p = e["proc"]
        if e["type"] == "invoke":
            if p in open_inv:
                problems.append(f"{p}: invoked {e['f']} while {open_inv[p]['f']} is open")
            if p in after_info:
                problems.append(f"{p}: invoked {e['f']} after an info (unknown) outcome")
            open_inv[p] = e
        else:
            inv = open_inv.pop(p, None)
            if inv is None:
                problems.append(f"{p}: {e['type']} {e['f']} without an invocation at {e['t']}")
                continue
            if inv["f"] != e["f"]:
                problems.append(f"{p}: invoked {inv['f']} but completed {e['f']}")
            ops.append(Op(inv, e, len(ops)))
            if e["type"] == "info":
                after_info.add(p)
    for p, inv in open_inv.items():
        ops.append(Op(inv, None, len(ops)))
    return ops, problems


def well_formed(events):
    return pair_ops(events)[1]


# --------------------------------------------------------------- sessions

# docs/LOCKS.md: a client must treat a lease as lost at (send time of the last
# acknowledged keep_alive) + TTL - margin, margin >= 2 x election timeout + D.
LEASE_MARGIN_NS = 700 * MS
RETRY_EDGE_NS = 2000 * MS  # a will_retry intent counts as a wait this long


class Sessions:
    """What the history says about each lease. A session ends once (expiry
    or close). It cannot end before `earliest_end`: every acknowledged
    renewal (open_session, keep_alive) was applied while it lived, and
    extended it to (apply time) + TTL >= (its invocation) + TTL - margin; and
    every acknowledged request under it (a lock, a close) was applied before
    its end."""

    def __init__(self, ops, margin_ns=LEASE_MARGIN_NS):
        self.ttl = {}
        self.earliest_end = {}
        self.closes = collections.defaultdict(list)  # session -> close_session ops
        for o in ops:
            if o.f == "open_session" and o.type == "ok" and o.session:
                self.ttl[o.session] = o.ttl_ms * MS
        alive_at = collections.defaultdict(lambda: -INF)
        renewed = collections.defaultdict(lambda: -INF)
        self.last_renewal = {}  # session -> the op behind `renewed`
        self.last_alive = {}    # session -> the op behind `alive_at`
        for o in ops:
            if not o.session and not o.held_under:
                continue
            if o.f == "close_session":
                self.closes[o.session].append(o)
            if o.type != "ok":
                continue
            if o.f in ("open_session", "keep_alive"):
                if o.invoke > renewed[o.session]:
                    renewed[o.session] = o.invoke
                    self.last_renewal[o.session] = o
            elif o.f in ("lock", "close_session"):
                # The session named lived when the request was applied; so did
                # the one an OK lock says the lock is held under.
                for sid in {o.session, o.held_under if o.f == "lock" else 0} - {0}:
                    if o.invoke > alive_at[sid]:
                        alive_at[sid] = o.invoke
                        self.last_alive[sid] = o
        for sid in set(alive_at) | set(renewed):
            ttl = self.ttl.get(sid)
            lease = renewed[sid] + ttl - margin_ns if ttl is not None else -INF
            self.earliest_end[sid] = max(lease, alive_at[sid])

    def end_bound(self, sid):
        """The earliest time session `sid` may have ended (-INF: any time)."""
        return self.earliest_end.get(sid, -INF)

    def explain(self, sid):
        """Why session `sid` cannot have ended before its bound, for a
        failure's excerpt: the renewal and the request that set it."""
        if not sid:
            return "no session: held until an unlock is sent"
        out = [f"session {sid} (TTL {self.ttl.get(sid, 0) / 1e6:.0f} ms) cannot have ended "
               f"before {self.end_bound(sid) / 1e9:.6f}"]
        if sid in self.last_renewal:
            out.append(f"last renewal: {self.last_renewal[sid].describe()}")
        if sid in self.last_alive:
            out.append(f"last request under it: {self.last_alive[sid].describe()}")
        return "\n      ".join(out)


def sessions_check(ops, sess):
    """A SESSION_EXPIRED answer only once the lease may have ended (or a
    close of it was sent); nothing acknowledged under a session after an
    acknowledged close of it."""
    problems = []
    for o in ops:
        if not o.session or o.f not in ("lock", "keep_alive", "close_session"):
            continue
        if o.code == "SESSION_EXPIRED" and o.type == "fail":
            if o.session not in sess.ttl:
                continue  # opened outside the history: nothing known
            closed = any(c.invoke < o.complete and c.type != "fail"
                         for c in sess.closes.get(o.session, ()))
            bound = sess.end_bound(o.session)
            if not closed and o.complete < bound:
                early_ms = (bound - o.complete) / 1e6
                problems.append(f"session {o.session}: SESSION_EXPIRED {early_ms:.0f} ms "
                                f"before its lease can have ended (TTL "
                                f"{sess.ttl[o.session] / 1e6:.0f} ms, margin "
                                f"{LEASE_MARGIN_NS / 1e6:.0f} ms):\n    {o.describe()}")
    closed = {}
    for sid, closes in sess.closes.items():
        done = [c.complete for c in closes if c.type == "ok"]
        if done:
            closed[sid] = min(done)
    for o in ops:
        first = closed.get(o.session) if o.session else None
        if (first is not None and o.type == "ok" and o.invoke > first
                and o.f in ("lock", "keep_alive", "close_session")):
            problems.append(f"session {o.session}: acknowledged after it was closed at "
                            f"{first / 1e9:.6f}:\n    {o.describe()}")
    return problems


# ------------------------------------------------------- mutual exclusion

def grants(ops, sess=None):
    """Per lock, the known grants: (owner, token, from, to, op) with `from`
    the answer and `to` the invocation of the owner's next release, or, for a
    lock held under a session, the earliest time the lease may have ended or
    a close of it was sent, if earlier. A grant whose answer comes at or
    after that end is left out: docs/LOCKS.md has the client treat a lock as
    lost once its lease may have run out (or it closed the session), so one
    answered later was never the client's to use, not even at the answer's
    instant. (That the service granted it only while the session lived is
    the linearizability check's business.)"""
    by_lock = collections.defaultdict(list)
    releases = collections.defaultdict(list)  # (lock, owner) -> unlock invocations
    for op in ops:
        if op.f == "lock" and op.type == "ok":
            by_lock[op.lock].append(op)
        elif op.f == "unlock":
            releases[(op.lock, op.owner)].append(op.invoke)
    for times in releases.values():
        times.sort()
    out = {}
    for lock, gs in by_lock.items():
        items = []
        for g in gs:
            # The owner holds it until it invokes an unlock of it.
            times = releases.get((lock, g.owner), [])
            k = bisect.bisect_left(times, g.complete)
            to = times[k] if k < len(times) else INF
            if g.held_under and sess is not None:
                to = min(to, sess.end_bound(g.held_under))
                for c in sess.closes.get(g.held_under, ()):
                    if c.type != "fail" and c.complete > g.invoke:
                        to = min(to, c.invoke)
                if to <= g.complete:
                    continue  # lost on arrival: never held
            items.append((g.owner, g.token, g.complete, to, g))
        out[lock] = items
    return out


def mutual_exclusion(ops, sess=None):
    problems = []
    for lock, items in grants(ops, sess).items():
        items.sort(key=lambda x: x[2])
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                oa, ta, fa, ea, ga = items[a]
                ob, tb, fb, eb, gb = items[b]
                if fb >= ea:
                    break
                if oa != ob and fb < ea and fa < eb:
                    text = (f"{lock}: {oa} and {ob} held it at once:\n    "
                            f"{ga.describe()}\n    {gb.describe()}")
                    if sess is not None:
                        text += (f"\n    {oa}'s {sess.explain(ga.held_under)}"
                                 f"\n    {ob}'s {sess.explain(gb.held_under)}")
                    problems.append(text)
    return problems


# --------------------------------------------------------- fencing tokens

def fencing_tokens(ops):
    problems = []
    by_lock = collections.defaultdict(list)
    by_req = {}
    for op in ops:
        if op.f == "lock" and op.type == "ok":
            by_lock[op.lock].append(op)
            if op.req:
                prev = by_req.get(op.req)
                if prev and prev.token != op.token:
                    problems.append(f"request {op.req} yielded two tokens:\n    {prev.describe()}\n"
                                    f"    {op.describe()}")
                by_req[op.req] = op
    seen = {}
    for lock, gs in by_lock.items():
        for g in gs:
            other = seen.get(g.token)
            if other and other.lock != g.lock:
                problems.append(f"token {g.token} granted for two locks:\n    {other.describe()}\n"
                                f"    {g.describe()}")
            seen[g.token] = g
        # Real-time order: a grant answered before another grant was invoked
        # has a token no higher (equal only for an owner's idempotent relock).
        by_complete = sorted(gs, key=lambda o: o.complete)
        highest, k = None, 0
        for b in sorted(gs, key=lambda o: o.invoke):
            while k < len(by_complete) and by_complete[k].complete < b.invoke:
                if highest is None or by_complete[k].token > highest.token:
                    highest = by_complete[k]
                k += 1
            if highest is not None and highest.token > b.token:
                problems.append(f"{lock}: token went backwards:\n    {highest.describe()}\n"
                                f"    {b.describe()}")
    return problems


# ---------------------------------------------------------- linearizable

class MutexModel:
    """State: (holder or None, token or None for 'unknown token', floor,
    session the holder holds it under or 0).

    `floor` is the highest token of a known grant on this lock so far: every
    later grant's token must exceed it. A grant with an unknown outcome
    (info) takes some token above the floor, and its holder's token stays
    unknown (None) until an answer reveals it: that answer's token must be
    above the floor too. (Tokens are integers, so a known grant after an
    unknown one must in fact exceed the floor by two; the model does not
    count that, which keeps a state in which an unknown grant came and went
    equal to one in which it never happened, and the search small.)

    Besides lock, unlock and status: `check` (OK only with the current
    token; STALE_TOKEN carries the current one, 0 if free); blocking locks (a
    grant is a grant, whenever it happens within the call; TIMEOUT, like
    HELD, names another owner holding it); DEADLOCK only while another owner
    holds the lock (the cycle itself is checked by `deadlocks`); and the end
    of a session (an `expire` pseudo-operation that may happen any time after
    the lease can have ended, or an acknowledged close_session), which
    releases a lock held under it."""

    @staticmethod
    def initial():
        return (None, 0, 0, 0)

    @staticmethod
    def reveal(state, token):
        """The holder's token is `token`: the state that says so, or None if
        that cannot be."""
        holder, known, floor, session = state
        if known is None:
            return (holder, token, token, session) if token > floor else None
        return state if token == known else None

    @staticmethod
    def step(state, op):
        """Returns the next state if `op` (with its recorded result) can happen
        in `state`, else None. Info ops have no recorded result: any outcome."""
        holder, token, floor, session = state
        info = op.type == "info"
        f = op.f
        if f == "lock":
            if not info and op.code in ("SESSION_EXPIRED", "INVALID"):
                return state  # refused before looking at the lock
            if holder is None:
                if info:
                    return (op.owner, None, floor, op.session)  # a token above the floor
                if op.code == "OK" and op.token > floor:
                    return (op.owner, op.token, op.token, op.session)
                return None
            if holder == op.owner:
                if info:
                    return state
                # Idempotent: the same token again.
                return MutexModel.reveal(state, op.token) if op.code == "OK" else None
            if info:
                return state
            if op.code in ("HELD", "TIMEOUT", "DEADLOCK"):
                return state if op.holder == holder else None
            return state if op.code == "TOO_MANY_WAITERS" else None
        if f == "unlock":
            if holder is None:
                return state if info or op.code == "NOT_HELD" else None
            if holder != op.owner:
                # The refusal names the holder.
                ok = info or (op.code == "NOT_OWNER" and op.holder in ("", holder))
                return state if ok else None
            if info:
                if not op.arg_token or MutexModel.reveal(state, op.arg_token) is not None:
                    return (None, 0, floor, 0)
                return state
            if op.code == "STALE_TOKEN":
                # The answer carries the current token, which is not the argument.
                if not op.arg_token or op.arg_token == (op.token or token):
                    return None
                return MutexModel.reveal(state, op.token) if op.token else state
            if op.code != "OK":
                return None
            if op.arg_token:
                state = MutexModel.reveal(state, op.arg_token)
            if state is not None and op.token:  # an OK answer carries the released token
                state = MutexModel.reveal(state, op.token)
            return None if state is None else (None, 0, state[2], 0)
        if f == "status":
            if info:
                return state
            if holder is None:
                return state if op.code == "OK" and op.holder == "" else None
            if op.holder != holder or op.rsession != session:
                return None
            return MutexModel.reveal(state, op.token)
        if f == "check":
            if info:
                return state
            if op.code == "OK":
                return None if holder is None else MutexModel.reveal(state, op.arg_token)
            if op.code != "STALE_TOKEN":
                return None
            if holder is None:
                return state if not op.token else None
            if not op.token or op.token == op.arg_token:
                return None
            return MutexModel.reveal(state, op.token)
        if f == "expire" or f == "close_session":
            if f == "close_session" and not info and op.code != "OK":
                return state
            if holder is not None and session == op.session:
                return (None, 0, floor, 0)
            return None if f == "expire" else state
        return state


class Expire:
    """The end of session `session` by expiry (or by a close with an unknown
    outcome), as a pseudo-operation on one lock: it may happen at any time
    from `invoke` (the earliest the lease can have ended) on, or never."""
    __slots__ = ("proc", "owner", "f", "lock", "invoke", "complete", "type", "code", "session",
                 "token", "arg_token")

    def __init__(self, lock, session, at, owner):
        self.proc, self.owner, self.f, self.lock = f"session-{session}", owner, "expire", lock
        self.invoke, self.complete, self.type, self.code = at, INF, "info", "PENDING"
        self.session, self.token, self.arg_token = session, 0, 0

    def describe(self):
        return f"[{self.invoke / 1e9:.6f} .. ?] end of session {self.session} ({self.owner})"


def linearizable(ops, budget_s=300.0, sess=None):
    """Wing-Gong/Lowe search per lock, sharing `budget_s` seconds between the
    locks. Returns (problems, locks whose search ran out of budget)."""
    problems, unknown = [], []
    sess = sess or Sessions(ops)
    by_lock = collections.defaultdict(list)
    used = collections.defaultdict(dict)  # lock -> {session: owner}
    for op in ops:
        if op.f in ("lock", "unlock", "status", "check"):
            by_lock[op.lock].append(op)
            if op.f == "lock" and op.session:
                used[op.lock][op.session] = op.owner
    # The end of each session used on a lock: an acknowledged close, or an
    # expiry (or a close with an unknown outcome) at any time after the lease
    # can have ended.
    for lock, sessions in used.items():
        for sid, owner in sorted(sessions.items()):
            at = sess.end_bound(sid)
            for c in sess.closes.get(sid, ()):
                if c.type == "ok":
                    by_lock[lock].append(c)
                elif c.type == "info":
                    at = min(at, c.invoke)
            by_lock[lock].append(Expire(lock, sid, at, owner))
    deadline = time.monotonic() + budget_s
    locks = sorted(by_lock.items(), key=lambda kv: len(kv[1]))  # small ones first
    for k, (lock, lops) in enumerate(locks):
        share = (deadline - time.monotonic()) / (len(locks) - k)
        verdict, stuck = wgl(lops, max(share, 0.5))
        if verdict is False:
            excerpt = "\n    ".join(o.describe() for o in stuck)
            problems.append(f"{lock}: not linearizable; no order explains these operations:"
                            f"\n    {excerpt}")
        elif verdict is None:
            unknown.append(lock)
    return problems, unknown


def wgl(ops, budget_s=60.0):
    """Is this one lock's history linearizable? A Wing-Gong search with Lowe's
    memoisation of (placed set, model state), run segment by segment. ok and
    fail operations must be placed, each between its invocation and
    completion, in an order the model accepts with the results they got; info
    operations may be placed (take effect) at any point after their
    invocation, or never.

    The history is cut wherever every earlier ok/fail operation completed
    before the next one was invoked: all operations before a cut take effect
    before any after it. Each segment is searched exhaustively from every
    configuration reachable at its start: the model state and which info
    operations were placed. These reductions keep that small:
      * an info operation is tried only where it changes the state (a lock
        when the lock is free, an unlock by the holder); a status with an
        unknown outcome changes nothing and is never tried;
      * info operations alike (same kind, owner, and session or token
        argument) are interchangeable once invoked, so they are placed in
        invocation order and a configuration records only how many of each
        class are placed;
      * of two configurations with one state, one that placed at least as many
        of every class is dropped (placing fewer leaves more choices later);
      * an operation that fits the current state and changes nothing (a
        refusal, a read, a check, an idempotent relock) is placed at once,
        without branching (placing it early only relaxes the real-time
        constraints on the rest);
      * the end of a session is a transition (release a lock held under it,
        once the lease can have ended), not a counted operation.
    So the cost grows with the history's length times the concurrency inside
    a segment, not exponentially with the length.

    Returns (True, []), (False, the operations of the segment that no order
    explains, with the two before it) or (None, []) when `budget_s` seconds
    run out."""
    req = sorted((o for o in ops if o.type != "info"), key=lambda o: o.invoke)
    n = len(req)
    # (f, owner, session or token arg) -> info ops by invoke
    classes = collections.defaultdict(list)
    # The end of a session is not counted among the placed operations: it
    # may release the lock whenever its holder holds it under that session
    # and the lease can have ended (a session ends once, so this allows more
    # than can happen, never less).
    expire_at = {}
    for o in sorted((o for o in ops if o.type == "info"), key=lambda o: o.invoke):
        if o.f == "lock":
            classes[("lock", o.owner, o.session)].append(o)
        elif o.f == "unlock":
            classes[("unlock", o.owner, o.arg_token)].append(o)
        elif o.f == "expire":
            expire_at[o.session] = min(expire_at.get(o.session, INF), o.invoke)
    keys = sorted(classes)
    lock_classes = [c for c, k in enumerate(keys) if k[0] == "lock"]
    unlock_classes = collections.defaultdict(list)  # holder -> its unlocks
    for c, k in enumerate(keys):
        if k[0] == "unlock":
            unlock_classes[k[1]].append(c)
    members = [classes[k] for k in keys]

    deadline = time.monotonic() + budget_s
    segments, start, max_complete = [], 0, -INF
    for k, o in enumerate(req):
        if k > start and o.invoke > max_complete:
            segments.append((start, k))
            start = k
        max_complete = max(max_complete, o.complete)
    if start < n:
        segments.append((start, n))

    def dominated(table, key, placed):
        """Records `placed` under `key` unless a recorded count vector is
        everywhere <= it (that configuration can do all this one can)."""
        vectors = table.setdefault(key, [])
        for v in vectors:
            if all(x <= y for x, y in zip(v, placed)):
                return True
        vectors[:] = [v for v in vectors if not all(x <= y for x, y in zip(placed, v))]
        vectors.append(placed)
        return False

    frontier = {MutexModel.initial(): [tuple(0 for _ in keys)]}
    steps = 0
    for a, b in segments:
        seg = req[a:b]
        m = len(seg)
        full = (1 << m) - 1
        by_complete = sorted(range(m), key=lambda j: seg[j].complete)
        ends, seen = {}, {}
        stack = [(state, placed, 0) for state, vs in frontier.items() for placed in vs]
        while stack:
            state, placed, mask = stack.pop()
            if mask == full:
                dominated(ends, state, placed)
                continue
            steps += 1
            if steps & 1023 == 0 and time.monotonic() > deadline:
                return None, []
            min_complete = next(seg[j].complete for j in by_complete if not mask >> j & 1)
            # The operations that may go next: not placed, and invoked before
            # every unplaced one completed (seg is in invocation order).
            enabled = []
            for j in range(((mask + 1) & ~mask).bit_length() - 1, m):
                if seg[j].invoke > min_complete:
                    break
                if not mask >> j & 1:
                    enabled.append(j)
            # An operation that fits the state and changes nothing (a refusal,
            # a read, an idempotent relock) is placed at once, without
            # branching: placing it now loses no order (the others only get
            # fewer real-time constraints, and the states they see are the
            # same).
            eager = next((j for j in enabled if MutexModel.step(state, seg[j]) == state), None)
            if eager is not None:
                if not dominated(seen, (state, mask | 1 << eager), placed):
                    stack.append((state, placed, mask | 1 << eager))
                continue
            for j in enabled:
                nxt = MutexModel.step(state, seg[j])
                if nxt is not None and not dominated(seen, (nxt, mask | 1 << j), placed):
                    stack.append((nxt, placed, mask | 1 << j))
            holder = state[0]
            if holder is not None and state[3] and expire_at.get(state[3], INF) <= min_complete:
                nxt = (None, 0, state[2], 0)
                if not dominated(seen, (nxt, mask), placed):
                    stack.append((nxt, placed, mask))
            for c in (lock_classes if holder is None else unlock_classes.get(holder, ())):
                k = placed[c]
                if k == len(members[c]) or members[c][k].invoke > min_complete:
                    continue
                nxt = MutexModel.step(state, members[c][k])
                if nxt is None or nxt == state:
                    continue
                more = placed[:c] + (k + 1,) + placed[c + 1:]
                if not dominated(seen, (nxt, mask), more):
                    stack.append((nxt, more, mask))
        if not ends:
            return False, req[max(0, a - 2):a] + seg[:6]
        frontier = ends
    return True, []


# ---------------------------------------------------------------- counter

def counter(ops, server_log):
    """The fenced counter: its final value per key equals the acknowledged
    increments, and every accepted write carried a token at least as high as
    any accepted before it."""
    problems = []
    acked = collections.Counter(o.lock for o in ops if o.f == "write" and o.type == "ok")
    maybe = collections.Counter(o.lock for o in ops if o.f == "write" and o.type == "info")
    for key, final in server_log.get("values", {}).items():
        lo, hi = acked[key], acked[key] + maybe[key]
        if not lo <= final <= hi:
            problems.append(f"counter {key}: final value {final}, but {lo} increments were "
                            f"acknowledged (and {maybe[key]} unknown)")
    for key, tokens in server_log.get("accepted", {}).items():
        for a, b in zip(tokens, tokens[1:]):
            if b < a:
                problems.append(f"counter {key}: accepted token {b} after {a}")
    return problems


# ----------------------------------------------------------- fenced writes

def fenced_writes(ops):
    """The fenced resource, as its clients saw it: an accepted (ok) read or
    write with token t, invoked after an accepted one with a higher token
    had completed, means the resource took a stale token (a paused or
    partitioned holder's write got through)."""
    problems = []
    by_key = collections.defaultdict(list)
    for o in ops:
        if o.f in ("read", "write") and o.type == "ok" and o.arg_token:
            by_key[o.lock].append(o)
    for key, xs in by_key.items():
        by_complete = sorted(xs, key=lambda o: o.complete)
        best, k = None, 0
        for o in sorted(xs, key=lambda o: o.invoke):
            while k < len(by_complete) and by_complete[k].complete < o.invoke:
                if best is None or by_complete[k].arg_token > best.arg_token:
                    best = by_complete[k]
                k += 1
            if best is not None and best.arg_token > o.arg_token:
                problems.append(f"counter {key}: token {o.arg_token} accepted after token "
                                f"{best.arg_token}:\n    {best.describe()}\n    {o.describe()}")
    return problems


# -------------------------------------------------------------- deadlocks

def deadlocks(ops, sess=None, margin_ns=LEASE_MARGIN_NS):
    """Every DEADLOCK answer names a cycle that can have existed while the
    request was in flight: it starts with the request (its owner waits for
    its lock), each edge's holder is the next edge's owner, the last holder
    is the requester; for every edge (x waits for lock l held by y), y may
    have held l then (a grant of l to y, acknowledged or unknown, invoked
    before the answer, and not certainly released before the request), and
    x may have been waiting for l (a blocking lock of l in flight, or a
    will_retry try-lock of l answered HELD less than 2 s (plus the margin)
    before)."""
    problems = []
    grants_of = collections.defaultdict(list)    # (owner, lock) -> grants (ok or info)
    unlocks_of = collections.defaultdict(list)   # (owner, lock) -> acknowledged unlocks
    waits_of = collections.defaultdict(list)     # (owner, lock) -> (invoke, waiting until)
    for o in ops:
        if o.f == "lock":
            if o.type == "info" or (o.type == "ok" and o.code == "OK"):
                grants_of[(o.owner, o.lock)].append(o)
            if o.wait_ms:
                waits_of[(o.owner, o.lock)].append((o.invoke, o.complete))
            elif o.will_retry and (o.type == "info" or o.code == "HELD"):
                waits_of[(o.owner, o.lock)].append(
                    (o.invoke, o.complete + RETRY_EDGE_NS + margin_ns))
        elif o.f == "unlock" and o.type == "ok":
            unlocks_of[(o.owner, o.lock)].append(o)

    def prefix_max(pairs):
        """pairs (key, value) -> (sorted keys, running max of the values)."""
        pairs.sort(key=lambda kv: kv[0])
        keys, best, m = [], [], -INF
        for k, v in pairs:
            m = max(m, v)
            keys.append(k)
            best.append(m)
        return keys, best

    # A grant that is not certainly over: the best candidate is the one
    # answered last among those invoked before the DEADLOCK answer (an info
    # grant counts as answered never); it is over if an acknowledged unlock
    # was invoked after it and answered before the request.
    held = {k: prefix_max([(g.invoke, g.complete) for g in gs]) for k, gs in grants_of.items()}
    unl = {}
    for k, us in unlocks_of.items():
        us.sort(key=lambda u: u.invoke)
        suffix, m = [], INF
        for u in reversed(us):
            m = min(m, u.complete)
            suffix.append(m)
        unl[k] = ([u.invoke for u in us], suffix[::-1])
    waiting = {k: prefix_max(ws) for k, ws in waits_of.items()}

    def latest(table, key, t1):
        keys, best = table.get(key, ((), ()))
        i = bisect.bisect_left(keys, t1)
        return best[i - 1] if i else -INF

    def may_hold(y, lock, t0, t1):
        answered = latest(held, (y, lock), t1)
        if answered == -INF:
            return False
        invokes, min_complete = unl.get((y, lock), ((), ()))
        i = bisect.bisect_right(invokes, answered)
        return i == len(invokes) or min_complete[i] >= t0

    def may_wait(x, lock, t0, t1):
        return latest(waiting, (x, lock), t1) > t0

    for d in ops:
        if d.f != "lock" or d.code != "DEADLOCK" or d.type != "fail":
            continue
        cycle = d.cycle or []
        why = None
        if not (d.wait_ms or d.will_retry):
            why = "a try-lock without wait or will_retry cannot deadlock"
        elif not cycle:
            why = "no cycle in the answer"
        elif cycle[0][0] != d.owner or cycle[0][1] != d.lock:
            why = "the cycle does not start with the request"
        elif cycle[-1][2] != d.owner:
            why = "the cycle does not end at the requester"
        elif any(a[2] != b[0] for a, b in zip(cycle, cycle[1:])):
            why = "the cycle's edges do not chain"
        else:
            for k, (x, lock, y) in enumerate(cycle):
                if x == y:
                    why = f"{x} waits for itself on {lock}"
                elif not may_hold(y, lock, d.invoke, d.complete):
                    why = f"{y} cannot have held {lock} then"
                elif k > 0 and not may_wait(x, lock, d.invoke, d.complete):
                    why = f"{x} cannot have been waiting for {lock} then"
                if why:
                    break
        if why:
            problems.append(f"{d.lock}: DEADLOCK without a cycle ({why}): cycle {cycle}\n    "
                            f"{d.describe()}")
    return problems


# ------------------------------------------------------------------- fifo

def fifo(ops):
    """Blocking waits are served in queue order: when a status read shows
    owners a before b in a lock's queue, and each has exactly one blocking
    lock of it in flight across the read (an unknown one counts, so an
    orphaned wait makes it ambiguous and skipped), and both were granted,
    a's token is below b's."""
    problems = []
    waits = collections.defaultdict(list)  # lock -> blocking locks
    for o in ops:
        if o.f == "lock" and o.wait_ms:
            waits[o.lock].append(o)
    for r in ops:
        if r.f != "status" or r.type != "ok" or not r.waiters or len(r.waiters) < 2:
            continue
        in_flight = collections.defaultdict(list)
        for w in waits.get(r.lock, ()):
            if w.invoke < r.complete and w.complete > r.invoke:
                in_flight[w.owner].append(w)
        order = [in_flight[o][0] if len(in_flight.get(o, ())) == 1 else None for o in r.waiters]
        if len(set(r.waiters)) != len(r.waiters):
            continue  # one owner queued twice: ambiguous
        for i, a in enumerate(order):
            for b in order[i + 1:]:
                if (a is not None and b is not None and a.type == "ok" and b.type == "ok"
                        and a.token > b.token):
                    problems.append(f"{r.lock}: {b.owner} was granted before {a.owner}, ahead "
                                    f"of it in the queue:\n    {r.describe()} waiters "
                                    f"{r.waiters}\n    {a.describe()}\n    {b.describe()}")
    return problems


# ---------------------------------------------------------- durable locks

def durable_locks(ops, final_owner="durable"):
    """Every lock the durability client was told it holds is still its own
    in the final reads (it never releases them)."""
    problems = []
    held = {o.lock: o for o in ops if o.owner == final_owner and o.f == "lock" and o.type == "ok"}
    finals = {}
    for o in ops:
        if o.f == "status" and o.type == "ok" and o.proc.startswith("final"):
            finals[o.lock] = o
    for lock, g in held.items():
        f = finals.get(lock)
        if f is None:
            problems.append(f"{lock}: no final read")
        elif f.holder != final_owner or f.token != g.token:
            problems.append(f"{lock}: acknowledged to {final_owner} with token {g.token}, but the "
                            f"final read says holder {f.holder!r} token {f.token}")
    return problems


# --------------------------------------------------------------- liveness

def liveness(ops, healed_ns, bound_s=10.0):
    """After healing, some lock operation must succeed within `bound_s`."""
    after = sorted(o.complete for o in ops if o.type == "ok" and o.invoke >= healed_ns)
    if not after:
        return [f"no successful operation after healing at {healed_ns / 1e9:.3f}s"], None
    first = (after[0] - healed_ns) / 1e9
    if first > bound_s:
        return [f"first success {first:.1f}s after healing (bound {bound_s}s)"], first
    return [], first


MAX_PROBLEMS = 1000  # per check: a broken build can produce millions


def check(events, server_log=None, healed_ns=None):
    """Runs every check; returns a dict of check name -> list of problems
    (at most MAX_PROBLEMS each, the earliest found)."""
    ops, wf = pair_ops(events)
    sess = Sessions(ops)
    lin, unknown = linearizable(ops, sess=sess)
    result = {
        "well_formed": wf,
        "mutual_exclusion": mutual_exclusion(ops, sess),
        "fencing_tokens": fencing_tokens(ops),
        "linearizable": lin,
        "counter": counter(ops, server_log or {}),
        "fenced_writes": fenced_writes(ops),
        "sessions": sessions_check(ops, sess),
        "deadlocks": deadlocks(ops, sess),
        "fifo": fifo(ops),
        "durable_locks": durable_locks(ops),
    }
    for k in result:
        del result[k][MAX_PROBLEMS:]
    result["linearizability_unknown"] = unknown
    if healed_ns is not None:
        result["liveness"], result["first_success_after_heal_s"] = liveness(ops, healed_ns)
    return result


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="check a paxlock chaos history")
    ap.add_argument("histories", nargs="+")
    ap.add_argument("--server-log")
    args = ap.parse_args(argv)
    server = {}
    if args.server_log:
        with open(args.server_log) as f:
            server = json.load(f)
    result = check(load(args.histories), server)
    if result["linearizability_unknown"]:
        print("linearizable: search ran out of time for "
              + ", ".join(result["linearizability_unknown"]))
    bad = False
    for name, problems in result.items():
        if name in ("linearizability_unknown", "first_success_after_heal_s", "liveness"):
            continue
        print(f"{name}: {'OK' if not problems else f'{len(problems)} problems'}")
        for p in problems[:5]:
            print("  " + p)
        bad |= bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
