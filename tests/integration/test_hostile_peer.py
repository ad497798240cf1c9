"""Forged peer messages (issue 16, observations 1 to 4, and the framing and
field cases of the peer port), against a running 3-node cluster on
127.0.0.1.

The attacker connects to a replica's peer port from another loopback address
(127.0.0.x, x > 1, as from another host), sends a valid peer hello claiming
to be another member (the cluster id is what GET /status prints), then
forged PeerMessage frames, hand-encoded here (proto/paxlock.proto; the
mapping to the core's messages is src/net/codec.cc). A hello naming a member
whose connection is live is refused (observation 5's fix), so the member the
attacker claims to be is killed first (SIGKILL) and restarted after the
attack, as an attacker would wait for a member to go down.

Each test asserts that the attacked node stays up (same process), that its
peak RSS (VmHWM, reset through /proc/PID/clear_refs before the attack) stays
within a stated bound over its RSS before, that the refusal is counted where
the code counts it (/metrics), that nothing forged enters the agreed log
(GET /chosen, the lock's status on every replica), and afterwards that lock
and unlock work through every replica and every replica's state hash is
equal once caught up. Every wait is on a condition with a bounded timeout.

Run: python3 -m unittest -v test_hostile_peer  (in tests/integration; PAXLOCK_BIN=build dir of the tools)
"""

import json
import os
import re
import select
import socket
import time
import unittest
import urllib.request

# Under ASan freed memory sits in a 256 MB quarantine before reuse, so peak
# RSS would measure the quarantine, not what the daemon holds: the daemons
# started here (they inherit this environment) get none.
if "ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] += ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"

from harness import Cluster, frame, memory_kb, pb_field, read_frame, wait_for

PEER_PROTOCOL_VERSION = 4    # net::kPeerProtocolVersion (src/net/codec.h)
CLIENT_PROTOCOL_VERSION = 2  # net::kProtocolVersion (src/net/wire.h)
PEER_KEEPALIVE_TYPE = 64     # net::kPeerKeepaliveType
ACCEPT_AHEAD_MAX = 1 << 16   # paxos::Config::accept_ahead_max's default
MAX_FRAME_BYTES = 8 << 20    # Tuning::max_frame_bytes's default
MIB = 1 << 20
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
ROUND_MAX = 1 << 62          # paxos::Ballot::kRoundMax

# paxos::MessageType (src/paxos/message.h)
PREPARE, ACCEPT, COMMIT, LEARN_REPLY = 1, 3, 6, 9
# pb::Op (proto/lock.proto)
LOCK, UNLOCK = 1, 2

REFUSED = "paxlock_peer_messages_refused_total"
CONFLICTS = "paxlock_chosen_conflicts_total"
RECEIVED = "paxlock_peer_messages_received_total"
KEEPALIVES = "paxlock_peer_keepalives_received_total"


# ------------------------------------------------------------ encoding

def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def fnv1a(data):
    """common/hash.h's FNV-1a, as /chosen prints it (its offset basis is
    1469598103934665603, not FNV's usual 14695981039346656037)."""
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & U64_MAX
    return f"{h:016x}"


def lock_command(op, name, owner):
    """A pb::LockCommand: what the log holds as a command's payload."""
    return pb_field(2, op) + pb_field(3, name) + pb_field(4, owner)


def batch_value(payload, client=0x6D616C6C, seq=1, timestamp_ms=None):
    """A log value in the WAL's encoding (paxos/value_codec.cc): svarint
    timestamp, command count, then each command's client, seq and payload."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return (varint(ts << 1) + varint(1) + varint(client) + varint(seq) +
            varint(len(payload)) + payload)


assert fnv1a(b"a") == "44bd8ad473cd9906"  # hash.h's known answer

FORGED_VALUE = batch_value(lock_command(LOCK, b"forged-lock", b"mallory"))


def ballot(round_, node):
    return pb_field(1, round_) + pb_field(2, node)


def entry(instance, ballot_, value, chosen):
    e = pb_field(1, instance) + pb_field(2, ballot_) + pb_field(3, value)
    return e + (pb_field(4, 1) if chosen else b"")


def peer_message(type_, from_, to, ballot_=None, instance=0, commit=0, entries=(), extra=b""):
    """A pb::PeerMessage frame."""
    m = pb_field(1, type_) + pb_field(2, from_) + pb_field(3, to)
    if ballot_ is not None:
        m += pb_field(4, ballot_)
    if instance:
        m += pb_field(5, instance)
    if commit:
        m += pb_field(7, commit)
    for e in entries:
        m += pb_field(11, e)
    return frame(m + extra)


def peer_hello(cluster_id, node_id, version=PEER_PROTOCOL_VERSION):
    return frame(pb_field(1, version) + pb_field(2, cluster_id) + pb_field(3, node_id))


def peer_keepalive(from_id, to_id):
    return frame(pb_field(1, PEER_KEEPALIVE_TYPE) + pb_field(2, from_id) + pb_field(3, to_id))


def parse_ballot(text):
    """A ballot as /status prints it ("round.node") -> (round, node)."""
    r, n = text.split(".")
    return int(r), int(n)


# ------------------------------------------------------------ processes


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux 4.0+), so that the peak measured
    is this attack's, not an earlier test's. Returns the RSS then."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # the bound then also covers earlier peaks: stricter, not looser
    return memory_kb(pid)[0]


def connect_from(source, address, timeout=5):
    """A TCP connection to `address` ("ip:port") from the loopback address `source`."""
    host, port = address.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect((host, int(port)))
    return s


def closed_by_server(sock, timeout):
    """Whether the server closes `sock` (EOF or reset) within `timeout`.
    Closes it either way."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 0.05)
            if not r:
                continue
            try:
                if not sock.recv(65536):
                    return True
            except OSError:
                return True
        return False
    finally:
        sock.close()


class HostilePeerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(nodes=3)
        cls.c.wait_leader()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    # ------------------------------------------------------------ helpers

    def roles(self):
        """(leader, [followers]) once the cluster has a leader."""
        leader = self.c.wait_leader()
        return leader, [n for n in sorted(self.c.members) if n != leader]

    def errors(self, node, *reasons):
        return sum(self.c.metric(node, f'paxlock_connection_errors_total{{reason="{r}"}}')
                   for r in reasons)

    def wait_metric(self, node, name, at_least, timeout=10):
        return wait_for(lambda: self.c.metric(node, name) >= at_least, timeout,
                        f"node {node}: {name} >= {at_least}")

    def kill_member(self, claimed, victims):
        """Kills `claimed` and waits until each victim closed its connection
        from it, so that a hello in its name is accepted."""
        c = self.c
        c.kill9(claimed)
        for v in victims:
            wait_for(lambda: c.metric(v, 'paxlock_connections{port="peer"}') <= 1, 10,
                     f"node {v} to see node {claimed}'s connection closed")

    def attacker(self, source, victim, claimed):
        """A peer connection to `victim` whose hello claims to be `claimed`;
        returns it once a keepalive on it was counted (the hello was taken)."""
        c = self.c
        before = c.metric(victim, KEEPALIVES)
        s = connect_from(source, c.members[victim]["peer"])
        s.sendall(peer_hello(c.cluster_id, claimed) + peer_keepalive(claimed, victim))
        wait_for(lambda: c.metric(victim, KEEPALIVES) > before, 10,
                 f"node {victim} to take the hello as node {claimed}")
        return s

    def send_counted(self, sock, victim, frames):
        """Sends `frames` and waits until the victim's core received them all."""
        before = self.c.metric(victim, RECEIVED)
        sock.sendall(b"".join(frames))
        try:
            self.wait_metric(victim, RECEIVED, before + len(frames))
        except AssertionError:
            self.assertTrue(self.c.up(victim), f"node {victim} died: {self.log_tail(victim)}")
            raise

    def log_tail(self, node, lines=3):
        with open(os.path.join(self.c.dir, f"n{node}.log"), errors="replace") as f:
            return " | ".join(f.read().splitlines()[-lines:])

    def restore(self, claimed):
        """Brings the killed member back and waits until all agree."""
        self.c.restart(claimed)
        self.c.wait_converged(timeout=30)

    def memory_bound(self, node, pid, rss_before_kb, bound_mib, what):
        """The node is the same process, answers, and its peak RSS rose by
        less than `bound_mib` over its RSS before the attack."""
        self.assertEqual(self.c.pid(node), pid, f"node {node} restarted")
        self.assertTrue(self.c.up(node), f"node {node} does not answer")
        rss, hwm = memory_kb(pid)
        grew_mib = (hwm - rss_before_kb) / 1024
        print(f"\n  {what}: node {node} RSS {rss_before_kb / 1024:.1f} MiB before, peak "
              f"{hwm / 1024:.1f} MiB, now {rss / 1024:.1f} MiB (bound: +{bound_mib} MiB)")
        self.assertLess(grew_mib, bound_mib,
                        f"{what}: node {node}'s peak RSS grew by {grew_mib:.0f} MiB")

    def chosen(self, node, start=1):
        """{instance: value hash} of GET /chosen on `node`, from `start` to its
        first unchosen instance."""
        c = self.c
        out = {}
        first_unchosen = c.status(node)["first_unchosen"]
        while start < first_unchosen:
            url = (f"http://{c.members[node]['http']}/chosen?from={start}"
                   f"&to={min(first_unchosen, start + 10000)}")
            with urllib.request.urlopen(url, timeout=5) as r:
                page = json.loads(r.read())
            out.update({int(i): h for i, h in page["chosen"].items()})
            start = max(start + 10000, page["log_start"])
        return out

    def advance(self, past):
        """Commits lock/unlock commands through the leader until every replica's
        first unchosen instance is past `past` (at most 400 commands)."""
        c = self.c
        leader = c.wait_leader()
        s = connect_from("127.0.0.30", c.members[leader]["client"], timeout=10)
        try:
            s.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) + pb_field(2, c.cluster_id)))
            read_frame(s)
            client = time.monotonic_ns() & 0xFFFFFFFF
            for seq in range(1, 401):
                if c.status(leader)["first_unchosen"] > past:
                    break
                op = LOCK if seq % 2 else UNLOCK
                s.sendall(frame(pb_field(1, seq) + pb_field(2, client) + pb_field(3, seq) +
                                pb_field(14, lock_command(op, b"advance", b"advancer"))))
                read_frame(s, timeout=10)
        finally:
            s.close()
        wait_for(lambda: all(c.status(n)["first_unchosen"] > past for n in c.members), 20,
                 f"every replica past instance {past}")

    def nobody_holds_forged_lock(self, nodes=None):
        for n in nodes or self.c.members:
            code, out, err = self.c.cli("status", "forged-lock", replica=str(n))
            self.assertEqual(code, 0, err)
            self.assertFalse(out["held"], f"node {n}: forged-lock {out}")
            self.assertNotEqual(out["holder"], "mallory")

    def forged_value_nowhere(self, value=FORGED_VALUE, nodes=None):
        h = fnv1a(value)
        for n in nodes or self.c.members:
            self.assertNotIn(h, self.chosen(n).values(), f"node {n} chose the forged value")

    def works_on_every_replica(self):
        """Every node is up; a lock and an unlock through each replica
        succeed; then every replica has applied the same state."""
        c = self.c
        for n in c.members:
            self.assertTrue(c.up(n), f"node {n} is down")
        for n in c.members:
            name = f"after-{n}-{time.monotonic_ns()}"
            code, out, err = c.cli("lock", name, replica=str(n), owner="checker")
            self.assertEqual((code, out and out.get("result")), (0, "OK"), err)
            code, out, err = c.cli("unlock", name, replica=str(n), owner="checker")
            self.assertEqual((code, out and out.get("result")), (0, "OK"), err)
        st = c.wait_converged(timeout=30)
        self.assertEqual(len({s["state_hash"] for s in st}), 1)

    # ------------------------------------------------------------ 1

    def test_1_an_unsolicited_learn_reply_chooses_nothing(self):
        """A forged LearnReply marking first_unchosen + 25 chosen with `lock
        forged-lock owner mallory`, sent to a follower, made every node answer
        `forged-lock: held by mallory`. Now a LearnReply is taken only as the
        answer to the learn request outstanding to its sender: this one
        changes nothing."""
        c = self.c
        leader, (victim, claimed) = self.roles()
        pid = c.pid(victim)
        fu = c.status(victim)["first_unchosen"]
        b = ballot(*parse_ballot(c.status(leader)["ballot"]))
        self.kill_member(claimed, [victim])
        try:
            rss_before = reset_peak(pid)
            refused = c.metric(victim, REFUSED)
            s = self.attacker("127.0.0.2", victim, claimed)
            forged = [entry(fu + 25, b, FORGED_VALUE, True)]
            # As an answer to a request at first_unchosen (none is outstanding
            # to the claimed node), at the forged instance itself, and with
            # the value also at first_unchosen (what would be applied at once).
            frames = [peer_message(LEARN_REPLY, claimed, victim, instance=fu, entries=forged),
                      peer_message(LEARN_REPLY, claimed, victim, instance=fu + 25,
                                   entries=forged),
                      peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                                   entries=[entry(fu, b, FORGED_VALUE, True)] + forged),
                      # An entry below the requested instance, at the zero ballot.
                      peer_message(LEARN_REPLY, claimed, victim, instance=fu + 1,
                                   entries=[entry(fu, b"", FORGED_VALUE, True)])]
            self.send_counted(s, victim, frames * 5)
            self.memory_bound(victim, pid, rss_before, 32, "unsolicited LearnReply")
            # Nothing forged is chosen or applied on the two nodes up, and
            # the victim knows of nothing chosen past what the leader chose
            # (the leader proposes a time tick when idle, so the log moves
            # meanwhile).
            self.nobody_holds_forged_lock([leader, victim])
            self.forged_value_nowhere(nodes=[leader, victim])
            self.assertLessEqual(c.status(victim)["known_commit"],
                                 c.status(leader)["first_unchosen"],
                                 "the victim took a forged chosen entry")
            # Ignored, not refused: an unsolicited reply is what a late or
            # duplicate honest answer looks like (learner.cc, on_learn_reply).
            self.assertEqual(c.metric(victim, REFUSED), refused)
            s.close()
        finally:
            self.restore(claimed)
        # The real cluster chooses instances fu .. fu + 30: had the victim
        # taken the forged value, it would apply it there and diverge.
        self.advance(fu + 30)
        self.nobody_holds_forged_lock()
        self.forged_value_nowhere()
        self.assertEqual(c.pid(victim), pid)
        self.works_on_every_replica()

    # ------------------------------------------------------------ 2

    def test_2_a_conflicting_chosen_value_is_refused_not_fatal(self):
        """A forged chosen entry for instance 1 with another value killed the
        node on `two different values chosen for one instance`. Now:
        unsolicited (to a follower) it is ignored and counted nowhere; as the
        answer to a learn request the attacker provoked (the leader asks the
        member that announced a commit point past its own, learner.cc), it is
        refused and counted in paxlock_chosen_conflicts_total and
        paxlock_peer_messages_refused_total. Every node stays up and keeps
        its value for instance 1."""
        c = self.c
        self.advance(2)  # instance 1 is chosen everywhere
        leader, (follower, claimed) = self.roles()
        self.assertEqual(c.status(leader)["log_start"], 1, "instance 1 was compacted")
        one = {n: self.chosen(n)[1] for n in c.members}
        self.assertEqual(len(set(one.values())), 1)
        other = batch_value(lock_command(LOCK, b"forged-lock", b"mallory"), timestamp_ms=1)
        self.assertNotEqual(fnv1a(other), one[leader])
        pids = {n: c.pid(n) for n in (leader, follower)}
        b = ballot(*parse_ballot(c.status(leader)["ballot"]))
        self.kill_member(claimed, [leader, follower])
        try:
            counts = {n: (c.metric(n, CONFLICTS), c.metric(n, REFUSED))
                      for n in (leader, follower)}
            # Unsolicited, to the follower.
            s = self.attacker("127.0.0.4", follower, claimed)
            fu = c.status(follower)["first_unchosen"]
            self.send_counted(s, follower, [
                peer_message(LEARN_REPLY, claimed, follower, instance=fu,
                             entries=[entry(1, b, other, True)]),
                peer_message(LEARN_REPLY, claimed, follower, instance=1,
                             entries=[entry(1, b, other, True)])])
            self.assertEqual(c.pid(follower), pids[follower])
            self.assertEqual((c.metric(follower, CONFLICTS), c.metric(follower, REFUSED)),
                             counts[follower], "an unsolicited reply is ignored, not refused")
            s.close()
            # Solicited, to the leader: a first reply announces a commit point
            # one past the leader's (it asks the claimed node, learn_from =
            # its first unchosen); the second answers that request.
            s = self.attacker("127.0.0.5", leader, claimed)
            fu = c.status(leader)["first_unchosen"]
            self.send_counted(s, leader, [
                peer_message(LEARN_REPLY, claimed, leader, commit=fu + 1),
                peer_message(LEARN_REPLY, claimed, leader, instance=fu,
                             entries=[entry(1, b, other, True)])])
            self.wait_metric(leader, CONFLICTS, counts[leader][0] + 1)
            self.wait_metric(leader, REFUSED, counts[leader][1] + 1)
            print(f"\n  node {leader}: {CONFLICTS} {counts[leader][0]:.0f} -> "
                  f"{c.metric(leader, CONFLICTS):.0f}, {REFUSED} {counts[leader][1]:.0f} -> "
                  f"{c.metric(leader, REFUSED):.0f}")
            self.assertEqual(c.pid(leader), pids[leader])
            self.assertEqual(c.status(leader)["role"], "leader")
            s.close()
        finally:
            self.restore(claimed)
        for n in c.members:
            self.assertEqual(self.chosen(n)[1], one[n], f"node {n}'s instance 1 changed")
        for n, pid in pids.items():
            self.assertEqual(c.pid(n), pid, f"node {n} restarted")
        self.forged_value_nowhere(other)
        self.works_on_every_replica()

    # ------------------------------------------------------------ 3

    def last_recovery(self, node):
        """(log start, log end, first unchosen) of the last `recovered:` line
        in the node's log."""
        with open(os.path.join(self.c.dir, f"n{node}.log"), errors="replace") as f:
            found = re.findall(r"recovered: promised \S+, log (\d+)\.\.(\d+), first unchosen (\d+)",
                               f.read())
        return tuple(int(x) for x in found[-1]) if found else None

    def test_3_a_chosen_entry_far_ahead_grows_nothing(self):
        """A forged chosen entry at first_unchosen + 5,000,000 took RSS from
        122 MB to 1.06 GB; on its next election the node proposed 5M no-ops
        and /status answered `busy`; a restart recovered `log 1..5002033`.
        Now an entry past first_unchosen + accept_ahead_max is dropped: sent
        unsolicited to a follower and as a solicited answer to the leader,
        the peak RSS grows by less than 64 MiB, no index moves far, an
        election and a restart of each attacked node recover normally."""
        c = self.c
        leader, (follower, claimed) = self.roles()
        far = c.status(leader)["first_unchosen"] + 5_000_000
        b = ballot(*parse_ballot(c.status(leader)["ballot"]))
        pids = {n: c.pid(n) for n in (leader, follower)}
        self.kill_member(claimed, [leader, follower])
        try:
            rss_before = {n: reset_peak(pid) for n, pid in pids.items()}
            fu = c.status(follower)["first_unchosen"]
            s = self.attacker("127.0.0.6", follower, claimed)
            self.send_counted(s, follower, [
                peer_message(LEARN_REPLY, claimed, follower, instance=fu,
                             entries=[entry(far, b, FORGED_VALUE, True)]),
                peer_message(LEARN_REPLY, claimed, follower, instance=far, commit=far + 1,
                             entries=[entry(far, b, FORGED_VALUE, True)])])
            s.close()
            s = self.attacker("127.0.0.7", leader, claimed)
            fu = c.status(leader)["first_unchosen"]
            self.send_counted(s, leader, [
                peer_message(LEARN_REPLY, claimed, leader, commit=fu + 1),
                peer_message(LEARN_REPLY, claimed, leader, instance=fu,
                             entries=[entry(far, b, FORGED_VALUE, True),
                                      entry(fu + ACCEPT_AHEAD_MAX + 1, b, FORGED_VALUE, True)])])
            s.close()
            # Bound: nothing is allocated for the far instance. 5M slots of
            # the old log took +940 MB; 64 MiB is far below any of that.
            for n, pid in pids.items():
                self.memory_bound(n, pid, rss_before[n], 64, "a chosen entry 5M ahead")
                st = c.status(n)
                self.assertNotIn("error", st)
                self.assertLess(st["first_unchosen"], fu + 1000)
                self.assertLess(st["known_commit"], fu + ACCEPT_AHEAD_MAX + 1)
        finally:
            self.restore(claimed)
        # An election: the leader is killed and comes back as a follower.
        c.kill9(leader)
        new_leader = c.wait_leader(timeout=15, among=[follower, claimed])
        self.assertNotEqual(new_leader, leader)
        c.restart(leader)
        c.wait_converged(timeout=30)
        self.works_on_every_replica()
        for n in c.members:
            # The forged commit point (far + 1) raised the follower's known
            # commit point to the window's end at most.
            st = c.status(n)
            self.assertLess(st["first_unchosen"], fu + 1000, f"node {n}: {st}")
            self.assertLessEqual(st["known_commit"], fu + ACCEPT_AHEAD_MAX, f"node {n}: {st}")
        # A restart of each attacked node recovers a short log, not millions
        # of no-ops.
        for n in (follower, leader):
            c.kill9(n)
            c.restart(n)
            c.wait_converged(timeout=30)
            start, end, first_unchosen = wait_for(lambda: self.last_recovery(n), 10,
                                                  f"node {n}'s recovery line")
            print(f"  node {n} recovered: log {start}..{end}, first unchosen {first_unchosen}")
            self.assertLess(end, fu + 1000, f"node {n} recovered a log up to {end}")
        for n in c.members:
            st = c.status(n)
            self.assertLess(st["known_commit"], fu + 1000, f"node {n}: {st}")
        self.forged_value_nowhere()
        self.works_on_every_replica()

    # ------------------------------------------------------------ 4

    def test_4_ballots_out_of_range_are_refused(self):
        """A forged Accept with ballot 18446744073709551615.4294967295 made
        the victim's promise go backwards through unsigned overflow (ballot
        0.1, promised 0.1). Now every ballot over Ballot::kRoundMax (2^62),
        of a node that is not a member, or not the sender's own in a Prepare,
        Accept or Commit, is refused and counted; the promise stays where it
        was and the leader stays."""
        c = self.c
        leader, (victim, claimed) = self.roles()
        pid = c.pid(victim)
        promised = c.status(victim)["promised"]
        changes = {n: c.metric(n, "paxlock_leader_changes_total") for n in c.members}
        bad = [(U64_MAX, U32_MAX), (U64_MAX, claimed), (ROUND_MAX + 1, claimed),
               (ROUND_MAX + 1, U32_MAX), (1, U32_MAX), (3, 7), (U64_MAX, leader)]
        self.kill_member(claimed, [victim])
        try:
            rss_before = reset_peak(pid)
            refused = c.metric(victim, REFUSED)
            fu = c.status(victim)["first_unchosen"]
            s = self.attacker("127.0.0.8", victim, claimed)
            frames = []
            for r, n in bad:
                b = ballot(r, n)
                frames.append(peer_message(PREPARE, claimed, victim, b, instance=fu))
                frames.append(peer_message(ACCEPT, claimed, victim, b, commit=fu, entries=[
                    entry(fu, b, FORGED_VALUE, False)]))
                frames.append(peer_message(COMMIT, claimed, victim, b, commit=fu))
            self.send_counted(s, victim, frames)
            self.memory_bound(victim, pid, rss_before, 32, "ballots out of range")
            st = c.status(victim)
            self.assertEqual(st["promised"], promised, "the promise moved")
            self.assertEqual(st["leader"], leader)
            self.wait_metric(victim, REFUSED, refused + len(frames))
            print(f"  node {victim}: {REFUSED} {refused:.0f} -> "
                  f"{c.metric(victim, REFUSED):.0f} ({len(frames)} frames)")
            self.assertFalse(closed_by_server(s, 0.5), "the core's refusal closed the connection")
        finally:
            self.restore(claimed)
        self.assertEqual(c.wait_leader(), leader)
        for n in c.members:
            self.assertEqual(c.metric(n, "paxlock_leader_changes_total"), changes[n],
                             f"node {n} saw a leader change")
            r, _ = parse_ballot(c.status(n)["promised"])
            self.assertLess(r, 1000, f"node {n}: an absurd promise")
        self.assertEqual(c.status(victim)["promised"], promised)
        self.assertEqual(c.pid(victim), pid)
        self.forged_value_nowhere()
        self.works_on_every_replica()

    # ------------------------------------------------------------ framing

    def test_framing_and_fields_on_the_peer_port(self):
        """Frames and fields a broken or hostile peer sends after a valid
        hello (and hellos that are not valid): each closes the connection or
        is refused by the core, counted by reason, and the node stays up
        within 32 MiB, and serves afterwards."""
        c = self.c
        leader, (victim, claimed) = self.roles()
        pid = c.pid(victim)
        fu = c.status(victim)["first_unchosen"]
        self.kill_member(claimed, [victim])
        try:
            rss_before = reset_peak(pid)
            own = ballot(1, claimed)
            closing = [
                ("bad_frame", "not a PeerMessage", b"\xff\xff\xff\xff not protobuf"),
                ("bad_message", "message type 99", peer_message(99, claimed, victim)[4:]),
                ("bad_message", "message type 0", peer_message(0, claimed, victim)[4:]),
                ("bad_message", "addressed to another node",
                 peer_message(LEARN_REPLY, claimed, leader)[4:]),
                ("bad_message", "another sender than its hello",
                 peer_message(LEARN_REPLY, leader, victim)[4:]),
                ("bad_message", "a keepalive of another sender",
                 peer_keepalive(leader, victim)[4:]),
                ("bad_message", "a value whose command count runs past its end",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                              entries=[entry(fu, own, b"\x02\x7f\x01", True)])[4:]),
                ("bad_message", "an entry without a value",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                              entries=[pb_field(1, fu) + pb_field(4, 1)])[4:]),
                # 6 MiB of junk announcing 6M commands in one value: the
                # decoder once resized to the count first (+288 MB here).
                ("bad_message", "a value announcing more commands than it holds",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu, entries=[
                     entry(fu, own, varint(0) + varint(6 * MIB) + b"\xff" * (6 * MIB), True)
                 ])[4:]),
                # More than 2^20 entries, instances or commands announced
                # (2 MiB of empty ones, 1 MiB of packed varints): refused
                # before the frame is parsed (parsed, 2^20 empty commands
                # take about 130 MB; 4M in an 8 MiB frame took +488 MB).
                ("bad_message", "more than 2^20 commands",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                              extra=b"\x6a\x00" * ((1 << 20) + 1))[4:]),
                ("bad_message", "more than 2^20 instances",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                              extra=pb_field(12, b"\x01" * ((1 << 20) + 1)))[4:]),
                ("bad_message", "more than 2^20 entries",
                 peer_message(LEARN_REPLY, claimed, victim, instance=fu,
                              extra=b"\x5a\x00" * ((1 << 20) + 1))[4:]),
            ]
            for i, (reason, what, payload) in enumerate(closing):
                before = self.errors(victim, reason)
                s = self.attacker(f"127.0.1.{10 + i}", victim, claimed)
                try:
                    s.sendall(frame(payload))
                except OSError:
                    pass  # closed before all of it was sent
                self.assertTrue(closed_by_server(s, 10), f"{what}: left open")
                wait_for(lambda: self.errors(victim, reason) > before, 10,
                         f"{what}: {reason} counted")
            # A frame over max_frame_bytes (an entry of 9 MiB): closed at its
            # header, before its body is read.
            before = self.errors(victim, "frame_too_big")
            s = self.attacker("127.0.1.30", victim, claimed)
            big = entry(fu, own, b"x" * (9 * MIB), True)
            msg = peer_message(LEARN_REPLY, claimed, victim, instance=fu, entries=[big])
            self.assertGreater(len(msg) - 4, MAX_FRAME_BYTES)
            try:
                s.sendall(msg[:64 * 1024])
            except OSError:
                pass
            self.assertTrue(closed_by_server(s, 10), "a frame over the limit: left open")
            wait_for(lambda: self.errors(victim, "frame_too_big") > before, 10,
                     "frame_too_big counted")

            # Fields the core refuses (the connection stays): an entry for
            # instance 0, an Accept or a Commit at another node's ballot.
            refused = c.metric(victim, REFUSED)
            s = self.attacker("127.0.1.31", victim, claimed)
            leaders = ballot(*parse_ballot(c.status(leader)["ballot"]))
            self.send_counted(s, victim, [
                peer_message(ACCEPT, claimed, victim, own, entries=[
                    entry(0, own, FORGED_VALUE, False)]),
                peer_message(ACCEPT, claimed, victim, leaders, entries=[
                    entry(fu, leaders, FORGED_VALUE, False)]),
                peer_message(COMMIT, claimed, victim, leaders, commit=fu + 1)])
            self.wait_metric(victim, REFUSED, refused + 3)
            self.assertFalse(closed_by_server(s, 0.5), "the core's refusal closed the connection")

            # Hellos that are not valid: closed, by reason.
            hellos = [
                ("bad_frame", frame(b"\xff\xff\xff\xff")),
                ("bad_version", peer_hello(c.cluster_id, claimed, version=99)),
                ("wrong_cluster", peer_hello("not-" + c.cluster_id, claimed)),
                ("unknown_node", peer_hello(c.cluster_id, 7)),
                ("unknown_node", peer_hello(c.cluster_id, victim)),
            ]
            for i, (reason, hello) in enumerate(hellos):
                before = self.errors(victim, reason)
                s = connect_from(f"127.0.1.{40 + i}", c.members[victim]["peer"])
                s.sendall(hello + peer_keepalive(claimed, victim))
                self.assertTrue(closed_by_server(s, 10), f"hello {reason}: left open")
                wait_for(lambda: self.errors(victim, reason) > before, 10,
                         f"hello {reason} counted")
            # Bound: no case allocates for what it announces; the largest
            # frame here is 9 MiB, refused at its header.
            self.memory_bound(victim, pid, rss_before, 32, "framing and field cases")
            self.assertLessEqual(c.status(victim)["known_commit"], c.status(leader)["first_unchosen"])
        finally:
            self.restore(claimed)
        self.assertEqual(c.pid(victim), pid)
        self.forged_value_nowhere()
        self.works_on_every_replica()


if __name__ == "__main__":
    unittest.main()
