"""Hostile input on real paxlockd processes (issue 16): the HTTP endpoint's
limits (observation 9), names with invalid UTF-8 or control characters
(observation 10) and a data directory started with a cluster file it does not
belong to (observation 12). Each test is an attack as a client on the same
network would make it, against 127.0.0.1 only, with bounded waits.

Run: python3 -m unittest -v test_hostile_input  (in tests/integration; PAXLOCK_BIN=build dir of the tools)
"""

import os
import socket
import time
import unittest
import urllib.error
import urllib.request

from harness import Cluster, wait_for


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
