"""The chaos checker: reads a recorded history and judges it.

A history is a list of events (dicts), one per JSON line:
  {"t": monotonic ns, "proc": "owner#incarnation", "owner": ..., "type":
   "invoke" | "ok" | "fail" | "info", "f": "lock" | "unlock" | "status" |
   "read" | "write", "lock": name, "token": n, "holder": h, "code": c,
   "req": "client:seq", "value": v}
ok: took effect with this answer; fail: certainly did not; info: unknown.

Checks, in order (each returns a list of problems, each naming the offending
operations):
  well_formed        invoke/complete alternate per process; nothing after info
  mutual_exclusion   no two owners' [grant answer, release invocation] intervals
                     on one lock overlap
  fencing_tokens     unique per lock, increasing in real-time order, never
                     reused; one request id never yields two tokens
  linearizable       per lock, Wing-Gong/Lowe search with memoisation against an
                     owner-aware mutex; an info operation may or may not have
                     taken effect (final reads included)
  counter            the fenced counter equals its acknowledged increments, and
                     no write with a stale token was accepted
  durable_locks      every acknowledged durable lock is still held at the end
Liveness is reported apart from safety.
"""

import collections
import json
import sys
import time

INF = float("inf")


class Op:
    __slots__ = ("proc", "owner", "f", "lock", "invoke", "complete", "type", "code", "token",
                 "holder", "req", "value", "arg_token", "index")

    def __init__(self, inv, comp, index):
        self.proc = inv["proc"]
        self.owner = inv.get("owner", "")
        self.f = inv["f"]
        self.lock = inv.get("lock", "")
        self.invoke = inv["t"]
        self.arg_token = inv.get("token", 0)
        self.index = index
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


# ------------------------------------------------------- mutual exclusion

def grants(ops):
    """Per lock, the known grants: (owner, token, from, to, op) with `to` the
    invocation of the owner's next release (or its next lock losing it)."""
    by_lock = collections.defaultdict(list)
    for op in ops:
        if op.f == "lock" and op.type == "ok":
            by_lock[op.lock].append(op)
    out = {}
    for lock, gs in by_lock.items():
        rel = [o for o in ops if o.lock == lock and o.f == "unlock"]
        items = []
        for g in gs:
            # The owner holds it until it invokes an unlock of it.
            end = INF
            for u in rel:
                if u.owner == g.owner and u.invoke >= g.complete and u.invoke < end:
                    end = u.invoke
            items.append((g.owner, g.token, g.complete, end, g))
        out[lock] = items
    return out


def mutual_exclusion(ops):
    problems = []
    for lock, items in grants(ops).items():
        items.sort(key=lambda x: x[2])
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                oa, ta, fa, ea, ga = items[a]
                ob, tb, fb, eb, gb = items[b]
                if fb >= ea:
                    break
                if oa != ob and fb < ea and fa < eb:
                    problems.append(f"{lock}: {oa} and {ob} held it at once:\n    "
                                    f"{ga.describe()}\n    {gb.describe()}")
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
        # Real-time order: a grant answered before another grant of a
        # different acquisition was invoked has the lower token.
        gs.sort(key=lambda o: o.complete)
        for a in gs:
            for b in gs:
                if a.complete < b.invoke and a.token > b.token and a.owner != b.owner:
                    problems.append(f"{lock}: token went backwards:\n    {a.describe()}\n"
                                    f"    {b.describe()}")
    return problems


# ---------------------------------------------------------- linearizable

class MutexModel:
    """State: (holder or None, token or None for 'unknown token', last token)."""

    @staticmethod
    def initial():
        return (None, 0, 0)

    @staticmethod
    def step(state, op):
        """Returns the next state if `op` (with its recorded result) can happen
        in `state`, else None. Info ops have no recorded result: any outcome."""
        holder, token, last = state
        info = op.type == "info"
        if op.f == "lock":
            if holder is None:
                if info:
                    return (op.owner, None, last)  # granted with a token we never saw
                if op.code == "OK" and op.token > last:
                    return (op.owner, op.token, op.token)
                return None
            if holder == op.owner:
                if info:
                    return state
                if op.code == "OK" and (token is None or op.token == token):
                    return (holder, op.token, max(last, op.token))
                return None
            if info:
                return state
            return state if op.code == "HELD" and op.holder == holder else None
        if op.f == "unlock":
            if holder is None:
                return state if info or op.code == "NOT_HELD" else None
            if holder != op.owner:
                return state if info or op.code == "NOT_OWNER" else None
            if op.arg_token and token is not None and op.arg_token != token:
                return state if info or op.code == "STALE_TOKEN" else None
            if info or op.code == "OK":
                return (None, 0, last)
            return None
        if op.f == "status":
            if info:
                return state
            if holder is None:
                return state if op.code == "OK" and op.holder == "" else None
            if op.holder != holder:
                return None
            if token is None:
                return (holder, op.token, max(last, op.token))
            return state if op.token == token else None
        return state


def linearizable(ops, budget_s=60.0):
    """Wing-Gong/Lowe search per lock, sharing `budget_s` seconds between the
    locks. Returns (problems, locks whose search ran out of budget)."""
    problems, unknown = [], []
    by_lock = collections.defaultdict(list)
    for op in ops:
        if op.f in ("lock", "unlock", "status"):
            by_lock[op.lock].append(op)
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
    """Depth-first search for a linearization (Wing & Gong, with Lowe's
    memoisation of (placed set, model state)). ok and fail operations must be
    placed, each between its invocation and completion, in an order that the
    model accepts with the results they got; info operations may be placed
    (taking effect) at any point after their invocation, or never.

    The placed set is kept small: `first`, the lowest unplaced required
    operation in invocation order (everything below it is placed), the set of
    required operations placed beyond it, and the set of info operations
    placed. Only operations invoked before the earliest completion among the
    unplaced required ones may go next.

    Returns (True, []), (False, the operations around where the deepest
    attempt got stuck) or (None, []) when `budget_s` seconds run out."""
    req = sorted((o for o in ops if o.type != "info"), key=lambda o: o.invoke)
    infos = sorted((o for o in ops if o.type == "info"), key=lambda o: o.invoke)
    n = len(req)
    deadline = time.monotonic() + budget_s
    empty = frozenset()
    cache = set()
    # Stack entries: (model state, first, extra required placed, info placed,
    # candidate index to resume from on backtrack).
    stack = [(MutexModel.initial(), 0, empty, empty, 0)]
    steps = 0
    best = (-1, 0, empty)
    while stack:
        state, first, extra, placed_info, resume = stack.pop()
        if first == n:
            return True, []
        steps += 1
        if steps & 1023 == 0 and time.monotonic() > deadline:
            return None, []
        # Candidates: required j >= first (not placed) invoked before the
        # running minimum completion, then info ops invoked before it.
        cands = []
        min_complete = INF
        j = first
        while j < n:
            o = req[j]
            if o.invoke > min_complete:
                break
            if j not in extra:
                cands.append(j)
                if o.complete < min_complete:
                    min_complete = o.complete
            j += 1
        for i, o in enumerate(infos):
            if o.invoke > min_complete:
                break
            if i not in placed_info:
                cands.append(-1 - i)
        for c in range(resume, len(cands)):
            j = cands[c]
            o = req[j] if j >= 0 else infos[-1 - j]
            nxt = MutexModel.step(state, o)
            if nxt is None:
                continue
            if j >= 0:
                if j == first:
                    nfirst, nextra = first + 1, extra
                    while nfirst in nextra:
                        nextra = nextra - {nfirst}
                        nfirst += 1
                else:
                    nfirst, nextra = first, extra | {j}
                ninfo = placed_info
            else:
                nfirst, nextra, ninfo = first, extra, placed_info | {-1 - j}
            key = (nfirst, nextra, ninfo, nxt)
            if key in cache:
                continue
            cache.add(key)
            stack.append((state, first, extra, placed_info, c + 1))  # resume on backtrack
            stack.append((nxt, nfirst, nextra, ninfo, 0))
            depth = nfirst + len(nextra)
            if depth > best[0]:
                best = (depth, nfirst, nextra)
            break
    _, bfirst, bextra = best
    placed_last = [req[j] for j in range(max(0, bfirst - 2), bfirst)]
    stuck = [req[j] for j in range(bfirst, n) if j not in bextra][:4]
    return False, placed_last + stuck


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
    lin, unknown = linearizable(ops)
    result = {
        "well_formed": wf,
        "mutual_exclusion": mutual_exclusion(ops),
        "fencing_tokens": fencing_tokens(ops),
        "linearizable": lin,
        "counter": counter(ops, server_log or {}),
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
