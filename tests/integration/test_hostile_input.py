"""Hostile input on real paxlockd processes (issue 16): the HTTP endpoint's
limits (observation 9), names with invalid UTF-8 or control characters
(observation 10) and a data directory started with a cluster file it does not
belong to (observation 12). Each test is an attack as a client on the same
network would make it, against 127.0.0.1 only, with bounded waits.

Run: python3 -m unittest -v test_hostile_input  (in tests/integration; PAXLOCK_BIN=build dir of the tools)
"""

import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import BIN, Cluster, connect, frame, free_port, pb_field, read_frame, wait_for

# net::kProtocolVersion, the client protocol.
CLIENT_PROTOCOL_VERSION = 2
# pb::Code values (proto/lock.proto).
OK, HELD, INVALID = 0, 1, 8
LOCK, STATUS, LIST, OPEN_SESSION = 1, 4, 5, 6


def rss_bytes(pid):
    """VmRSS of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def http_connect(address, timeout=5):
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def http_answer(sock, timeout=5):
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return data


class HttpLimitsTest(unittest.TestCase):
    """Observation 9: a 400 MiB POST was buffered before the 404; 40 half-sent
    requests made /status time out for 10 s. Default limits throughout."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(nodes=3)
        cls.c.wait_leader()
        cls.http = cls.c.members[1]["http"]
        cls.pid = cls.c.pid(1)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def refusals(self, reason):
        return self.c.metric(1, f'paxlock_http_refusals_total{{reason="{reason}"}}')

    def timed_status(self):
        """Seconds /status takes to answer (it must answer)."""
        start = time.monotonic()
        with urllib.request.urlopen(f"http://{self.http}/status", timeout=10) as r:
            self.assertEqual(r.status, 200)
            r.read()
        return time.monotonic() - start

    def test_a_400_mib_post_is_refused_before_its_body_is_read(self):
        before = self.refusals("body_too_large")
        base = rss_bytes(self.pid)
        peak = base
        total = 400 << 20
        s = http_connect(self.http, timeout=10)
        s.sendall(b"POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
        chunk = b"x" * (1 << 20)
        sent = 0
        try:
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
                if sent % (8 << 20) == 0:
                    peak = max(peak, rss_bytes(self.pid))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            s.close()
        peak = max(peak, rss_bytes(self.pid))
        # The server closed the connection long before the body was through,
        # and its memory did not follow the body.
        self.assertLess(sent, total // 4, "the whole body was taken")
        self.assertLess(peak - base, 32 << 20, f"RSS {base} -> {peak}")
        wait_for(lambda: self.refusals("body_too_large") > before, 5, "body_too_large counted")

    def test_an_announced_body_over_the_limit_gets_413_unread(self):
        s = http_connect(self.http)
        s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n")
        self.assertTrue(http_answer(s).startswith(b"HTTP/1.1 413 "))

    def test_a_body_of_unknown_length_gets_411(self):
        s = http_connect(self.http)
        s.sendall(b"POST /status HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.assertTrue(http_answer(s).startswith(b"HTTP/1.1 411 "))

    def test_headers_over_the_limit_get_431_and_memory_stays_put(self):
        before = self.refusals("header_too_large")
        # Many headers, each of them short.
        s = http_connect(self.http)
        head = b"GET /status HTTP/1.1\r\nHost: t\r\n" + b"X-Pad: %s\r\n" % (b"p" * 100) * 1000
        try:
            s.sendall(head + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertTrue(http_answer(s).startswith(b"HTTP/1.1 431 "))
        # One header line that never ends: the server stops reading at the
        # limit instead of buffering the line whole.
        base = rss_bytes(self.pid)
        s = http_connect(self.http)
        sent = 0
        try:
            s.sendall(b"GET /status HTTP/1.1\r\nX-Long: ")
            while sent < 64 << 20:
                s.sendall(b"a" * (1 << 20))
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            s.close()
        self.assertLess(sent, 16 << 20, "the endless header was read on")
        self.assertLess(rss_bytes(self.pid) - base, 16 << 20)
        wait_for(lambda: self.refusals("header_too_large") >= before + 2, 5, "counted twice")

    def test_status_answers_at_once_while_40_requests_are_half_sent(self):
        tasks = threads(self.pid)
        socks = []
        try:
            for _ in range(40):
                s = http_connect(self.http)
                s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\n")  # no blank line: never ends
                socks.append(s)
            for _ in range(3):
                self.assertLess(self.timed_status(), 1.0)
            self.assertEqual(threads(self.pid), tasks, "a thread per connection")
        finally:
            for s in socks:
                s.close()

    def test_more_half_sent_requests_than_connections_evict_the_oldest(self):
        # The default limit is 64 connections: 150 requests that never end.
        before = self.refusals("evicted")
        base = rss_bytes(self.pid)
        socks = []
        try:
            for _ in range(150):
                s = http_connect(self.http)
                s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 8000)
                socks.append(s)
            self.assertLess(self.timed_status(), 1.0)
            wait_for(lambda: self.refusals("evicted") >= before + 150 - 64, 5, "evictions")
            self.assertLessEqual(self.c.metric(1, "paxlock_http_connections"), 64)
            self.assertLess(rss_bytes(self.pid) - base, 16 << 20)
        finally:
            for s in socks:
                s.close()

    def test_a_request_that_does_not_arrive_in_time_is_closed_with_408(self):
        before = self.refusals("request_timeout")
        s = http_connect(self.http, timeout=10)
        s.sendall(b"GET /status HTTP/1.1\r\n")
        start = time.monotonic()
        answer = http_answer(s, timeout=10)
        # http_request_timeout_ms, 5 s by default, counted from the accept.
        self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
        self.assertLess(time.monotonic() - start, 6.0)
        wait_for(lambda: self.refusals("request_timeout") > before, 5, "request_timeout counted")

    def test_normal_requests_still_work(self):
        with urllib.request.urlopen(f"http://{self.http}/chosen?from=1&to=2", timeout=5) as r:
            self.assertEqual(r.status, 200)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://{self.http}/nothing-here", timeout=5)
        self.assertEqual(e.exception.code, 404)


# ------------------------------------------------------------ raw protocol

def read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


def pb_decode(data):
    """A protobuf message as {field number: [values]} (varints as ints,
    length-delimited fields as bytes)."""
    fields = {}
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        kind = key & 7
        if kind == 0:
            value, i = read_varint(data, i)
        elif kind == 2:
            n, i = read_varint(data, i)
            value, i = data[i:i + n], i + n
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        fields.setdefault(key >> 3, []).append(value)
    return fields


def lock_command(op, name=b"", owner=b"", ttl_ms=0):
    cmd = pb_field(2, op)
    if name:
        cmd += pb_field(3, name)
    if owner:
        cmd += pb_field(4, owner)
    if ttl_ms:
        cmd += pb_field(9, ttl_ms)
    return cmd


class RawClient:
    """The client protocol by hand, so that a request can carry any bytes (the
    CLI and the library refuse bad names before sending). Reconnects when the
    replica closes the connection."""

    def __init__(self, address, cluster_id, client_id=77):
        self.address, self.cluster_id, self.client_id = address, cluster_id, client_id
        self.sock = None
        self.seq = 0

    def request(self, command):
        """(code, error) of the answer, or None if the replica closed instead."""
        if self.sock is None:
            self.sock = connect(self.address, timeout=5)
            self.sock.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) +
                                    pb_field(2, self.cluster_id)))
            read_frame(self.sock)  # the server's hello
        self.seq += 1
        try:
            self.sock.sendall(frame(pb_field(1, self.seq) + pb_field(2, self.client_id) +
                                    pb_field(3, self.seq) + pb_field(14, command)))
            answer = pb_decode(read_frame(self.sock))
        except (ConnectionError, OSError):
            self.close()
            return None
        result = pb_decode(answer.get(14, [b""])[0])
        return result.get(2, [OK])[0], answer.get(13, [b""])[0].decode("utf-8", "replace")

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def log_lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def raw_controls(data):
    """The control bytes a terminal would act on: C0 but tab and newline, DEL,
    and C1 (UTF-8 C2 80 to C2 9F)."""
    found = [hex(b) for b in data if (b < 0x20 and b not in (0x09, 0x0A)) or b == 0x7F]
    found += [data[i:i + 2].hex() for i in range(len(data) - 1)
              if data[i] == 0xC2 and 0x80 <= data[i + 1] <= 0x9F]
    return found


class NamesTest(unittest.TestCase):
    """Observation 10: invalid UTF-8 in a name logged one libprotobuf ERROR
    line per request; names with NUL, newline or terminal escapes were taken."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(nodes=3)
        cls.c.wait_leader()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_a_thousand_invalid_utf8_requests_log_at_most_a_few_lines(self):
        log = os.path.join(self.c.dir, "n2.log")
        client = RawClient(self.c.members[2]["client"], self.c.cluster_id)
        before = log_lines(log)
        answers = [client.request(lock_command(LOCK, b"bad-\xff\xfe-%d" % i, b"mallory"))
                   for i in range(1000)]
        client.close()
        # Hellos are parsed by protobuf too: a cluster id that is no UTF-8.
        for _ in range(1000):
            s = connect(self.c.members[2]["client"])
            s.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) + pb_field(2, b"\xff\xfe")))
            try:
                read_frame(s, timeout=5)
            except (ConnectionError, OSError):
                pass
            s.close()
        self.assertLessEqual(log_lines(log) - before, 4, "log lines for 2,000 bad messages")
        self.assertEqual({a[0] if a else None for a in answers}, {INVALID})
        self.assertIn("must be valid UTF-8 (bad byte 0xff at offset 4)", answers[0][1])

    def test_names_and_owners_with_control_characters_are_invalid_with_the_reason(self):
        client = RawClient(self.c.members[1]["client"], self.c.cluster_id)
        try:
            cases = [
                (lock_command(LOCK, b"nul\x00x", b"o"), "the lock name", "0x00 at offset 3"),
                (lock_command(LOCK, b"new\nline", b"o"), "the lock name", "0x0a at offset 3"),
                (lock_command(LOCK, b"\x1b]0;pwned\x07", b"o"), "the lock name", "0x1b at offset 0"),
                (lock_command(LOCK, b"del\x7f", b"o"), "the lock name", "0x7f at offset 3"),
                (lock_command(LOCK, b"csi\xc2\x9b2J", b"o"), "the lock name", "0xc2 at offset 3"),
                (lock_command(LOCK, b"fine", b"\x1b[31mmallory"), "the owner", "0x1b at offset 0"),
                (lock_command(OPEN_SESSION, owner=b"o\r\n", ttl_ms=5000), "the owner",
                 "0x0d at offset 1"),
            ]
            for command, what, where in cases:
                code, error = client.request(command)
                self.assertEqual(code, INVALID, command)
                self.assertIn(f"{what} cannot contain control characters (byte {where})", error)
            # Nothing was taken; good names still are.
            self.assertEqual(client.request(lock_command(LOCK, "jobs/n\u00e4chtlich", b"o"))[0], OK)
        finally:
            client.close()
        states = self.c.wait_converged()
        self.assertEqual({s["locks_held"] for s in states}, {1})
        self.assertEqual({s["sessions"] for s in states}, {0})


class FakeReplica:
    """A replica that speaks the client protocol and answers every command
    with `answer(op)` (a LockResult's bytes and an error text): what the CLI
    prints of text a service sends, whatever the service holds."""

    def __init__(self, cluster_id, answer):
        self.cluster_id, self.answer = cluster_id, answer
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                read_frame(conn, timeout=10)
                conn.sendall(frame(pb_field(1, CLIENT_PROTOCOL_VERSION) +
                                   pb_field(2, self.cluster_id) + pb_field(3, 1)))
                while True:
                    req = pb_decode(read_frame(conn, timeout=10))
                    op = pb_decode(req[14][0]).get(2, [0])[0] if 14 in req else 0
                    result, error = self.answer(op)
                    conn.sendall(frame(pb_field(1, req[1][0]) + pb_field(14, result) +
                                       (pb_field(13, error) if error else b"")))
            except (ConnectionError, OSError):
                pass

    def close(self):
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


# Text no terminal should get raw: ESC sequences (a title change, clearing
# the screen), BEL, DEL, a C1 CSI (U+009B), a newline; and, apart, a byte that
# is no UTF-8.
EVIL_NAME = b"x\x1b]0;pwned\x07\x7f\xc2\x9b2J\nmore"
EVIL_OWNER = b"\x1b[2J\xc2\x9bevil\x7f"
EVIL_ERROR = b"bad \x1b[31mname\x7f\xc2\x9b"
NOT_UTF8 = b"caf\xe9-\xff"


def lock_info(name, holder):
    waiter = pb_field(1, holder) + pb_field(2, 3)
    return pb_field(1, name) + pb_field(2, holder) + pb_field(3, 9) + pb_field(6, waiter)


def evil_answer(name):
    def answer(op):
        if op == LIST:
            return pb_field(9, lock_info(name, EVIL_OWNER)) + pb_field(10, name), b""
        if op == STATUS:
            return pb_field(2, OK) + pb_field(4, EVIL_OWNER) + pb_field(3, 9) + \
                pb_field(9, lock_info(b"n", EVIL_OWNER)), b""
        if op == LOCK:
            return pb_field(2, HELD) + pb_field(4, EVIL_OWNER), b""
        return pb_field(2, INVALID), EVIL_ERROR
    return answer


class CliEscapesTest(unittest.TestCase):
    """The CLI never prints raw control bytes from the service, in text or
    JSON, on stdout or stderr (observation 10: `paxlock list` printed them)."""

    def start(self, name):
        fake = FakeReplica("fake", evil_answer(name))
        self.addCleanup(fake.close)
        d = tempfile.mkdtemp(prefix="paxlock-fake-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        self.config = os.path.join(d, "cluster.toml")
        with open(self.config, "w") as f:
            f.write(f'cluster_id = "fake"\ninsecure = true\n[[node]]\nid = 1\npeer = "127.0.0.1:9"\n'
                    f'client = "127.0.0.1:{fake.port}"\nhttp = "127.0.0.1:10"\n')

    def check_clean(self, *args, stdout_has=None, stderr_has=None):
        """Runs the CLI; no raw control byte may come out. Returns its exit code."""
        r = subprocess.run([os.path.join(BIN, "paxlock"), "--cluster", self.config,
                            "--timeout", "3", *args], capture_output=True, timeout=30)
        self.assertEqual(raw_controls(r.stdout), [], f"{args}: stdout {r.stdout!r}")
        self.assertEqual(raw_controls(r.stderr), [], f"{args}: stderr {r.stderr!r}")
        if stdout_has:
            self.assertIn(stdout_has, r.stdout, args)
        if stderr_has:
            self.assertIn(stderr_has, r.stderr, args)
        return r.returncode

    def test_list_escapes_names_and_holders(self):
        self.start(EVIL_NAME)
        self.assertEqual(self.check_clean("list", stdout_has=b"x\\x1b]0;pwned\\x07\\x7f"), 0)
        self.check_clean("--json", "list",
                         stdout_has=b"x\\u001b]0;pwned\\u0007\\u007f\\u009b2J\\nmore")

    def test_status_and_refusals_escape_holders(self):
        self.start(EVIL_NAME)
        self.check_clean("status", "n", stdout_has=b"\\x1b[2J\\xc2\\x9bevil\\x7f")
        self.check_clean("--json", "status", "n", stdout_has=b"\\u001b[2J\\u009bevil\\u007f")
        self.assertEqual(self.check_clean("lock", "n", "--owner", "me",
                                          stdout_has=b"held by \\x1b[2J"), 1)
        self.check_clean("--json", "lock", "n", "--owner", "me", stdout_has=b"\\u009bevil")

    def test_the_reason_of_an_invalid_answer_is_escaped(self):
        self.start(EVIL_NAME)
        self.assertEqual(self.check_clean("unlock", "n", "--owner", "me",
                                          stderr_has=b"bad \\x1b[31mname\\x7f"), 2)
        self.check_clean("--json", "unlock", "n", "--owner", "me",
                         stdout_has=b"bad \\u001b[31mname\\u007f\\u009b")

    def test_a_name_that_is_no_utf8_is_shown_escaped(self):
        # A proto3 string failed the whole answer's parse (the CLI said
        # UNAVAILABLE); names are bytes now.
        self.start(NOT_UTF8)
        self.assertEqual(self.check_clean("list", stdout_has=b"caf\\xe9-\\xff"), 0)
        self.check_clean("--json", "list", stdout_has="caf\ufffd-\ufffd".encode())


# ------------------------------------------------------- data directories


def file_digests(directory):
    """{relative path: sha256} of every file under `directory`."""
    import hashlib
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


class MembershipTest(unittest.TestCase):
    """Observation 12: a copy of a node's data directory, started with a
    one-member cluster file, elected itself and appended instances."""

    def setUp(self):
        self.c = Cluster(nodes=3)
        self.addCleanup(self.c.close)
        self.c.wait_leader()
        for i in range(5):
            self.assertEqual(self.c.cli("lock", f"m-{i}", owner="o")[0], 0)
        self.c.wait_converged()

    def paxlockd(self, config, node, data_dir, *args, timeout=15):
        """Runs paxlockd until it exits (or kills it after `timeout`);
        (exit code or None if it kept running, stderr)."""
        p = subprocess.Popen([os.path.join(BIN, "paxlockd"), "--config", config, "--id",
                              str(node), "--data-dir", data_dir, *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=timeout)
            return p.returncode, err
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            return None, err

    def write_config(self, text):
        path = os.path.join(self.c.dir, f"other-{len(os.listdir(self.c.dir))}.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_a_copied_data_directory_with_a_one_member_cluster_file_refuses_to_start(self):
        self.c.kill9(2)
        copy = os.path.join(tempfile.mkdtemp(prefix="paxlock-copy-"), "n2")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", os.path.dirname(copy)]))
        subprocess.run(["cp", "-a", os.path.join(self.c.dir, "n2"), copy], check=True)
        before = file_digests(copy)
        alone = self.write_config(
            f'cluster_id = "{self.c.cluster_id}"\ninsecure = true\n[[node]]\nid = 2\n'
            f'peer = "127.0.0.1:{free_port()}"\nclient = "127.0.0.1:{free_port()}"\n'
            f'http = "127.0.0.1:{free_port()}"\n')
        code, err = self.paxlockd(alone, 2, copy)
        self.assertIsNotNone(code, "the copy started, alone: " + err[-2000:])
        self.assertNotEqual(code, 0)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(f"data directory {copy} belongs to cluster '{self.c.cluster_id}' with "
                      f"members 1 ({self.c.members[1]['peer']}), 2 ({self.c.members[2]['peer']}), "
                      f"3 ({self.c.members[3]['peer']})", lines[0])
        self.assertIn("members 1, 3 are not in it", lines[0])
        self.assertIn("membership changes are not supported", lines[0])
        self.assertEqual(file_digests(copy), before, "the copy's files changed")

    def test_membership_is_recorded_and_an_old_directory_gets_it_at_its_next_start(self):
        record = os.path.join(self.c.dir, "n1", "MEMBERSHIP")
        with open(record) as f:
            text = f.read()
        for n, m in self.c.members.items():
            self.assertIn(f'"id": {n}', text)
            self.assertIn(f'"peer": "{m["peer"]}"', text)
        # A data directory of the release before has none: it gets one.
        self.c.kill9(1)
        os.remove(record)
        self.c.restart(1)
        with open(record) as f:
            self.assertEqual(f.read(), text)

    def test_moved_peers_are_refused_unless_accepted(self):
        self.c.kill9(3)
        moved_peer = f"127.0.0.1:{free_port()}"
        with open(self.c.config) as f:
            moved = self.write_config(f.read().replace(self.c.members[1]["peer"], moved_peer))
        data = os.path.join(self.c.dir, "n3")
        before = file_digests(data)
        code, err = self.paxlockd(moved, 3, data)
        self.assertIsNotNone(code, "started with a moved peer: " + err[-2000:])
        self.assertNotEqual(code, 0)
        self.assertIn(f"member 1's peer address is {moved_peer}, not {self.c.members[1]['peer']}",
                      err)
        self.assertIn("--accept-peer-address-change", err)
        self.assertEqual(file_digests(data), before)
        # Said so, it starts, serves, and has recorded the new address.
        p = subprocess.Popen([os.path.join(BIN, "paxlockd"), "--config", moved, "--id", "3",
                              "--data-dir", data, "--accept-peer-address-change"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: self.c.status(3)["node_id"] == 3, 10, "node 3 serving")
        finally:
            p.terminate()
            p.wait(timeout=15)
        with open(os.path.join(data, "MEMBERSHIP")) as f:
            self.assertIn(moved_peer, f.read())
