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


def netns_exec(name):
    """The command prefix that runs a program in network namespace `name`.
    nsenter, not "ip netns exec": the latter also makes a private mount
    namespace, and a process in one keeps every replica's file system
    mounted, so a power-lost disk could not really be unmounted (a fresh
    mount would get the shut-down file system back)."""
    return ["nsenter", f"--net=/run/netns/{name}"]


def setns(name):
    """Moves this process into network namespace `name`."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def probe(workdir):
    """What this machine supports: (netns problem or None, disk problem or
    None). Creates and removes one namespace and one loop device."""
    name = f"pxprobe{os.getpid() % 100000}"
    r = sh("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}", None
    try:
        r = sh(*netns_exec(name), "iptables", "-w", "-L", "INPUT", check=False)
        if r.returncode != 0:
            return f"iptables does not work in a namespace: {r.stderr.strip()}", None
    finally:
        sh("ip", "netns", "del", name, check=False)
    os.makedirs(workdir, exist_ok=True)
    image = os.path.join(workdir, "probe.img")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    try:
        r = sh("losetup", "-f", "--show", image, check=False)
        if r.returncode != 0:
            return None, f"no loop devices: {r.stderr.strip()}"
        sh("losetup", "-d", r.stdout.strip(), check=False)
        for tool in ("mkfs.ext4", "mount", "umount"):
            if subprocess.run(["which", tool], capture_output=True).returncode != 0:
                return None, f"{tool} not found"
    finally:
        os.unlink(image)
    return None, None


class Testbed:
    def __init__(self, nodes, workdir, bin_dir, daemon_args=(), tuning=None, use_disks=True):
        self.n = nodes
        self.use_disks = use_disks
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
                sh(*netns_exec(ns), "sysctl", "-qw",
                   f"net.ipv4.conf.{key}.route_localnet=1")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", v)
            sh("ip", "-n", ns, "link", "set", v, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for i in range(1, self.n + 1):
            self.make_disk(i)
        self.write_config()

    def make_disk(self, i):
        if not self.use_disks:  # plain directories: no power-loss nemeses
            mnt = os.path.join(self.dir, f"n{i}")
            os.makedirs(mnt, exist_ok=True)
            self.mounts[i] = mnt
            return
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
        # Explicitly insecure (issue 17): TLS for the chaos cluster comes with
        # certificates from `paxlock local up`.
        lines = [f'cluster_id = "{self.cluster_id}"', "insecure = true"]
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
            [*netns_exec(self.ns(i)), os.path.join(self.bin, "paxlockd"),
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
        assert self.use_disks, "power loss needs loop-device disks"
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
        # A file system still mounted somewhere else would come back shut
        # down; the test bed must notice rather than run on a dead disk.
        probe = os.path.join(mnt, ".powered")
        try:
            with open(probe, "w") as f:
                f.write("on")
            os.unlink(probe)
        except OSError as e:
            raise RuntimeError(f"node {i}: disk unusable after the power loss: {e}")

    # ------------------------------------------------------------ network
    def iptables(self, i, *rule):
        sh(*netns_exec(self.ns(i)), "iptables", "-w", *rule)

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
            if i in self.loops:
                sh("umount", "-l", mnt, check=False)
        for loop in self.loops.values():
            sh("losetup", "-d", loop, check=False)
        for ns in reversed(self.created):
            sh("ip", "netns", "del", ns, check=False)
        self.created = []
        self.mounts = {}
        self.loops = {}
