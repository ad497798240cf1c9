"""Real-process test harness: local paxlock clusters on 127.0.0.1, driven
through the `paxlock` CLI and the replicas' /status and /metrics.

Everything waits on conditions with bounded timeouts, never on fixed sleeps.
"""

import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request

BIN = os.environ.get("PAXLOCK_BIN", os.path.join(os.path.dirname(__file__), "../../build/dev/tools"))


def wait_for(condition, timeout, what, interval=0.05):
    """Polls `condition` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
            if last:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def tls_context(ca, cert=None, key=None):
    """A client TLS context that trusts only the cluster's CA (the node
    certificates of `paxlock local up` and the tests name 127.0.0.1) and
    shows `cert` if given."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def http_get(url, context=None, token=None, timeout=5):
    """GET url: (status, body text), for any status (401, 403 too)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Cluster:
    scheme, tls = "http", None  # HTTP as an insecure cluster serves it

    def __init__(self, nodes=3, daemon_args="", tuning=None, secure=False):
        self.dir = tempfile.mkdtemp(prefix="paxlock-it-")
        self.nodes = nodes
        self.daemon_args = daemon_args
        self.paxlock = os.path.join(BIN, "paxlock")
        self.paxlockd = os.path.join(BIN, "paxlockd")
        self.config = os.path.join(self.dir, "cluster.toml")
        # Insecure unless asked: these suites send plain frames to the peer
        # and client ports on purpose (the hardening of issue 16 holds
        # without TLS too); test_security.py runs everything under TLS.
        args = ["up", "--nodes", str(nodes)] + ([] if secure else ["--insecure"])
        for k, v in (tuning or {}).items():
            args += ["--tuning", f"{k}={v}"]
        self.local(*args)
        self.members = self._members()
        # Under [tls], HTTP is HTTPS and /status is for admins: the cluster
        # file's own client credentials (local up's admin) read it.
        if secure:
            tls = self.file["tls"]
            path = lambda p: os.path.join(self.dir, p)  # noqa: E731 (relative to the file)
            self.scheme = "https"
            self.tls = tls_context(path(tls["ca"]), path(tls["client_cert"]),
                                   path(tls["client_key"]))

    def _members(self):
        """The [[node]] tables of the cluster file by id (cluster_id too)."""
        with open(self.config, "rb") as f:
            cfg = tomllib.load(f)
        self.file = cfg
        self.cluster_id = cfg["cluster_id"]
        return {n["id"]: {k: v for k, v in n.items() if k != "id"} for n in cfg["node"]}

    def local(self, *args, check=True):
        cmd = [self.paxlock, "local", *args, "--dir", self.dir]
        if self.daemon_args and args and args[0] in ("up", "restart"):
            cmd += ["--daemon-args", self.daemon_args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} failed: {r.stdout} {r.stderr}")
        return r

    def cli(self, *args, timeout=10, replica="random", owner=None):
        cmd = [self.paxlock, "--cluster", self.config, "--json", "--replica", replica,
               "--timeout", str(timeout)]
        if owner:
            cmd += ["--owner", owner]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout + 30)
        out = None
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                out = json.loads(line)
        return r.returncode, out, r.stderr

    def url(self, node_id, path):
        return f"{self.scheme}://{self.members[node_id]['http']}{path}"

    def status(self, node_id, hash=False):
        url = self.url(node_id, "/status" + ("?hash=1" if hash else ""))
        with urllib.request.urlopen(url, timeout=2, context=self.tls) as r:
            return json.loads(r.read())

    def metrics(self, node_id):
        with urllib.request.urlopen(self.url(node_id, "/metrics"), timeout=2,
                                    context=self.tls) as r:
            return r.read().decode()

    def metric(self, node_id, name):
        total = 0.0
        for line in self.metrics(node_id).splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def up(self, node_id):
        try:
            self.status(node_id)
            return True
        except OSError:
            return False

    def pid(self, node_id):
        with open(os.path.join(self.dir, f"n{node_id}.pid")) as f:
            return int(f.read())

    def leader(self, among=None):
        """The node that every answering replica agrees leads, if any."""
        seen = set()
        for n in among or self.members:
            try:
                s = self.status(n)
            except OSError:
                continue
            if s["role"] == "leader":
                seen.add(n)
        return seen.pop() if len(seen) == 1 else None

    def wait_leader(self, timeout=10, among=None):
        return wait_for(lambda: self.leader(among), timeout, "a leader")

    def kill9(self, node_id):
        self.local("kill", str(node_id))
        wait_for(lambda: not self.up(node_id), 5, f"node {node_id} down")

    def restart(self, node_id):
        self.local("restart", str(node_id))

    def wait_converged(self, nodes=None, timeout=20):
        """Every given node applied the same instance with the same state."""
        nodes = nodes or list(self.members)

        def same():
            st = [self.status(n, hash=True) for n in nodes]
            applied = {s["applied"] for s in st}
            hashes = {s["state_hash"] for s in st}
            return len(applied) == 1 and len(hashes) == 1 and st
        return wait_for(same, timeout, f"nodes {nodes} to converge", interval=0.02)

    def close(self):
        """Stops every node; fails if a sanitizer reported anything in a log."""
        self.local("down", check=False)
        reports = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text = f.read()
                for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                    if marker in text:
                        at = text.index(marker)
                        reports.append(f"{name}: {text[max(0, at - 200):at + 800]}")
        shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer reports:\n" + "\n".join(reports))


# ---------------------------------------------------------------- raw frames

def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def pb_field(num, value):
    """A protobuf field: ints as varints, str/bytes length-delimited."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def read_frame(sock, timeout=5):
    """Reads one length-prefixed frame; returns its payload."""
    sock.settimeout(timeout)
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    (n,) = struct.unpack("<I", exactly(4))
    return exactly(n)


def connect(address, timeout=2):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


def closed_by_peer(sock, timeout=5):
    """True if the other side closes the connection within `timeout`. Closes
    our end either way."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()


def free_port():
    """A port of 127.0.0.1 free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kb(pid):
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
