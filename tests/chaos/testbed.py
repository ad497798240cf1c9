"""The chaos test bed: paxlockd replicas in their own network namespaces.

Layout (PREFIX is unique per run, e.g. "pxc4242"):
  PREFIXbr      a namespace holding only the bridge br0
  PREFIXn1..nN  one namespace per replica, joined to the bridge by a veth pair,
                address 127.77.0.(10+i)/24 (loopback range, route_localnet=1)
  PREFIXcl      the clients' namespace, 127.77.0.100/24; the harness itself
                moves into it after set-up, so that it reaches every replica
Each replica's data directory is an ext4 file system on its own loop device,
so that a "power loss" can be emulated: the shutdown ioctl without a log
flush discards everything not yet synced, as pulling the plug would.

Everything is created here and removed in teardown(), which runs on exit,
on failure and on SIGINT/SIGTERM. Nothing touches the host's namespace
besides creating and deleting these namespaces and loop devices.
"""

import ctypes
import fcntl
import json
import os
import signal
import struct
import subprocess
import time
import urllib.request

EXT4_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
CLONE_NEWNET = 0x40000000


def sh(*cmd, check=True, quiet=False):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def setns(name):
    """Moves this process into network namespace `name`."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


class Testbed:
    def __init__(self, nodes, workdir, bin_dir, daemon_args=(), tuning=None):
        self.n = nodes
        self.dir = workdir
        self.bin = bin_dir
        self.daemon_args = list(daemon_args)
        self.tuning = tuning or {}
        self.prefix = f"pxc{os.getpid() % 100000}"
        self.procs = {}    # node id -> Popen
        self.paused = set()
        self.loops = {}    # node id -> loop device
        self.mounts = {}   # node id -> mount point
        self.created = []  # namespaces
        self.cluster_id = f"chaos-{self.prefix}"

    # ------------------------------------------------------------ addresses
    def ns(self, i):
        return f"{self.prefix}n{i}"

    def ip(self, i):
        return f"127.77.0.{10 + i}"

    @property
    def client_ns(self):
        return f"{self.prefix}cl"

    CLIENT_IP = "127.77.0.100"

    def http(self, i):
        return f"{self.ip(i)}:7301"

    # ------------------------------------------------------------- set-up
    def setup(self):
        os.makedirs(self.dir, exist_ok=True)
        br = f"{self.prefix}br"
        sh("ip", "netns", "add", br)
        self.created.append(br)
        sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", br, "link", "set", "br0", "up")
        hosts = [(i, self.ns(i), self.ip(i)) for i in range(1, self.n + 1)]
        hosts.append((0, self.client_ns, self.CLIENT_IP))
        for i, ns, addr in hosts:
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            v, b = f"{self.prefix}v{i}", f"{self.prefix}b{i}"
            sh("ip", "link", "add", v, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", v, "netns", ns)
            sh("ip", "link", "set", b, "netns", br)
            sh("ip", "-n", br, "link", "set", b, "master", "br0")
            sh("ip", "-n", br, "link", "set", b, "up")
            for key in ("all", v):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw",
                   f"net.ipv4.conf.{key}.route_localnet=1")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", v)
            sh("ip", "-n", ns, "link", "set", v, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for i in range(1, self.n + 1):
            self.make_disk(i)
        self.write_config()

    def make_disk(self, i):
        image = os.path.join(self.dir, f"n{i}.img")
        with open(image, "wb") as f:
            f.truncate(512 << 20)
        loop = sh("losetup", "-f", "--show", image).stdout.strip()
        self.loops[i] = loop
        sh("mkfs.ext4", "-q", "-F", loop)
        self.mount(i)

    def mount(self, i):
        mnt = os.path.join(self.dir, f"n{i}")
        os.makedirs(mnt, exist_ok=True)
        sh("mount", self.loops[i], mnt)
        self.mounts[i] = mnt

    def write_config(self):
        lines = [f'cluster_id = "{self.cluster_id}"']
        for i in range(1, self.n + 1):
            lines += ["", "[[node]]", f"id = {i}", f'peer = "{self.ip(i)}:7101"',
                      f'client = "{self.ip(i)}:7201"', f'http = "{self.ip(i)}:7301"',
                      f'data_dir = "{self.dir}/n{i}/data"']
        tuning = {"wal_segment_bytes": 8 << 20, "snapshot_every_instances": 5000}
        tuning.update(self.tuning)
        lines += ["", "[tuning]"] + [f"{k} = {v}" for k, v in tuning.items()]
        self.config = os.path.join(self.dir, "cluster.toml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def enter_client_namespace(self):
        setns(self.client_ns)

    # ----------------------------------------------------------- replicas
    def start(self, i):
        log = open(os.path.join(self.dir, f"n{i}.log"), "a")
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(i), os.path.join(self.bin, "paxlockd"),
             "--config", self.config, "--id", str(i), *self.daemon_args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def status(self, i, timeout=1.0):
        with urllib.request.urlopen(f"http://{self.http(i)}/status", timeout=timeout) as r:
            return json.loads(r.read())

    def metrics(self, i, timeout=1.0):
        with urllib.request.urlopen(f"http://{self.http(i)}/metrics", timeout=timeout) as r:
            return r.read().decode()

    def chosen(self, i, start, end):
        url = f"http://{self.http(i)}/chosen?from={start}&to={end}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return
        if i in self.paused:
            os.kill(p.pid, signal.SIGCONT)
            self.paused.discard(i)
        os.kill(p.pid, sig)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=5)

    def pause(self, i):
        if self.alive(i) and i not in self.paused:
            os.kill(self.procs[i].pid, signal.SIGSTOP)
            self.paused.add(i)

    def resume(self, i):
        if i in self.paused and self.alive(i):
            os.kill(self.procs[i].pid, signal.SIGCONT)
        self.paused.discard(i)

    def power_loss(self, i):
        """Pulls the plug on replica i: its file system drops everything not
        yet synced, the process dies, the disk is mounted again."""
        mnt = self.mounts[i]
        fd = os.open(mnt, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)
        self.kill(i)
        for _ in range(50):
            if sh("umount", mnt, check=False).returncode == 0:
                break
            time.sleep(0.1)
        self.mount(i)

    # ------------------------------------------------------------ network
    def iptables(self, i, *rule):
        sh("ip", "netns", "exec", self.ns(i), "iptables", "-w", *rule)

    def block(self, i, j):
        """Replica i stops receiving from replica j (one way)."""
        self.iptables(i, "-A", "INPUT", "-s", self.ip(j), "-j", "DROP")

    def loss(self, i, probability):
        self.iptables(i, "-A", "INPUT", "-m", "statistic", "--mode", "random",
                      "--probability", f"{probability:.3f}", "-j", "DROP")

    def heal_network(self):
        for i in range(1, self.n + 1):
            self.iptables(i, "-F", "INPUT")

    # ----------------------------------------------------------- teardown
    def teardown(self):
        for i in list(self.procs):
            try:
                self.kill(i)
            except Exception:
                pass
        for i, mnt in list(self.mounts.items()):
            sh("umount", "-l", mnt, check=False)
        for loop in self.loops.values():
            sh("losetup", "-d", loop, check=False)
        for ns in reversed(self.created):
            sh("ip", "netns", "del", ns, check=False)
        self.created = []
        self.mounts = {}
        self.loops = {}
