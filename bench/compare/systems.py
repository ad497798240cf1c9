"""The clusters under test: how to start and stop 3-node paxlock, etcd and
ZooKeeper clusters on 127.0.0.1, each with its data under OUT/data, and the
server processes we started (stopped by PID only)."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

from common import PAXLOCK, log

PACKAGES = ['etcd-server', 'zookeeper', 'golang-go', 'golang-etcd-server-dev',
            'openjdk-17-jdk-headless']
ZK_JAR = '/usr/share/java/zookeeper.jar'
ZK_SERVER_CP = [ZK_JAR, '/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar']

# Fixed ports on 127.0.0.1, below the kernel's ephemeral range (32768-) that
# paxlock's launcher draws its ports from.
ETCD_CLIENT = [32379, 32479, 32579]  # peer port = client port + 1
ZK_CLIENT = [32181, 32182, 32183]
ZK_QUORUM = [32281, 32282, 32283]
ZK_ELECTION = [32291, 32292, 32293]


# ----------------------------------------------------------------------------
# processes we start, stopped by PID only


class Servers:
    """The server processes of one cluster, by PID, stopped on close()."""

    def __init__(self, name):
        self.name = name
        self.procs = []  # subprocess.Popen we started ourselves
        self.pids = []   # plain PIDs (paxlock's launcher starts its daemons)
        self.down_cmd = None

    def all_pids(self):
        return [p.pid for p in self.procs] + list(self.pids)

    def close(self):
        # No signal may cut the clean-up short.
        old = {s: signal.signal(s, signal.SIG_IGN)
               for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self._close()
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _close(self):
        if self.down_cmd:
            try:
                subprocess.run(self.down_cmd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30, check=False)
            except (subprocess.SubprocessError, OSError):
                pass
        for pid in self.all_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        for pid in self.all_pids():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                log(f'{self.name}: pid {pid} did not stop on SIGTERM; SIGKILL')
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs, self.pids = [], []
        log(f'{self.name}: stopped')


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child of ours that exited but was not reaped yet
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Connections of an earlier run in TIME_WAIT do not keep the servers
    # (which set SO_REUSEADDR) from listening; only a listener does.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_ports(ports):
    busy = [p for p in ports if not port_free(p)]
    if busy:
        raise RuntimeError(f'ports in use on 127.0.0.1: {busy}')


def http_get(url, timeout=2.0, context=None):
    assert url.startswith('http://127.0.0.1:') or url.startswith('https://127.0.0.1:')
    with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
        return r.read().decode()


def tls_context(certs, name):
    """Trusts the CA in `certs` only and shows the client certificate
    client-<name> from it."""
    ctx = ssl.create_default_context(cafile=os.path.join(certs, 'ca.crt'))
    ctx.load_cert_chain(os.path.join(certs, f'client-{name}.crt'),
                        os.path.join(certs, f'client-{name}.key'))
    return ctx


def make_certs(d, cluster_id, nodes, client):
    """A CA, node-1..N (for 127.0.0.1) and client-<client> in d, by
    `paxlock certs` (what paxlock local up uses too)."""
    def certs(*args):
        subprocess.run([PAXLOCK, 'certs', args[0], '--dir', d] + list(args[1:]),
                       capture_output=True, text=True, timeout=60, check=True)
    certs('init', '--cluster-id', cluster_id)
    for n in range(1, nodes + 1):
        certs('node', '--id', str(n), '--host', '127.0.0.1')
    certs('client', '--name', client)


def four_letter(port, word, timeout=2.0):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(word.encode())
        out = b''
        while True:
            b = s.recv(4096)
            if not b:
                break
            out += b
    return out.decode(errors='replace')


# ----------------------------------------------------------------------------
# clusters


def paxlock_up(cfg, nodes):
    d = os.path.join(cfg.data, f'paxlock-{nodes}n')
    shutil.rmtree(d, ignore_errors=True)
    srv = Servers(f'paxlock {nodes} nodes')
    srv.down_cmd = [PAXLOCK, 'local', 'down', '--dir', d]
    try:
        tuning = ['--tuning'] + cfg.paxlock_tuning if cfg.paxlock_tuning else []
        # Plain unless TLS=1, as etcd runs here: a side by side of equals.
        # With TLS, local up's own: mutual TLS 1.3, the load as its admin.
        security = [] if cfg.tls else ['--insecure']
        r = subprocess.run([PAXLOCK, 'local', 'up', '--dir', d, '--nodes', str(nodes)] +
                           security + tuning,
                           capture_output=True, text=True, timeout=120, check=False)
    finally:  # whatever it started, we stop
        for n in range(1, nodes + 1):
            try:
                with open(os.path.join(d, f'n{n}.pid')) as f:
                    srv.pids.append(int(f.read().strip()))
            except (OSError, ValueError):
                pass
    if r.returncode != 0:
        srv.close()
        raise RuntimeError(f'paxlock local up failed: {r.stderr.strip()}')
    srv.cluster = os.path.join(d, 'cluster.toml')
    with open(srv.cluster) as f:
        srv.http = re.findall(r'^http = "(127\.0\.0\.1:\d+)"', f.read(), re.M)
    # /metrics: HTTPS for identified clients under TLS.
    srv.http_scheme = 'https' if cfg.tls else 'http'
    srv.http_tls = tls_context(os.path.join(d, 'certs'), 'admin') if cfg.tls else None
    log(f'paxlock: {nodes} nodes up, pids {srv.pids}, config {srv.cluster}')
    return srv


def etcd_up(cfg):
    peers = [p + 1 for p in ETCD_CLIENT]
    check_ports(ETCD_CLIENT + peers)
    d = os.path.join(cfg.data, 'etcd')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    # TLS=1: client and peer TLS, client certificates required on both,
    # the same kind of certificates as paxlock's (paxlock certs).
    scheme = 'https' if cfg.tls else 'http'
    certs = os.path.join(d, 'certs')
    tls_args = lambda i: []  # noqa: E731
    ctx = None
    if cfg.tls:
        make_certs(certs, 'etcdbench', 3, 'bench')
        ctx = tls_context(certs, 'bench')

        def tls_args(i):
            ca, crt, key = (os.path.join(certs, f) for f in
                            ('ca.crt', f'node-{i + 1}.crt', f'node-{i + 1}.key'))
            return ['--cert-file', crt, '--key-file', key, '--trusted-ca-file', ca,
                    '--client-cert-auth', '--peer-cert-file', crt, '--peer-key-file', key,
                    '--peer-trusted-ca-file', ca, '--peer-client-cert-auth']
    initial = ','.join(f'n{i + 1}={scheme}://127.0.0.1:{peers[i]}' for i in range(3))
    srv = Servers('etcd')
    try:
        for i in range(3):
            c, p = ETCD_CLIENT[i], peers[i]
            cmd = ['etcd', '--name', f'n{i + 1}', '--data-dir', os.path.join(d, f'n{i + 1}'),
                   '--listen-client-urls', f'{scheme}://127.0.0.1:{c}',
                   '--advertise-client-urls', f'{scheme}://127.0.0.1:{c}',
                   '--listen-peer-urls', f'{scheme}://127.0.0.1:{p}',
                   '--initial-advertise-peer-urls', f'{scheme}://127.0.0.1:{p}',
                   '--initial-cluster', initial, '--initial-cluster-token', 'paxbench',
                   '--initial-cluster-state', 'new',
                   '--logger', 'zap', '--log-level', 'warn',
                   '--log-outputs', os.path.join(d, f'n{i + 1}.log')] + tls_args(i)
            out = open(os.path.join(d, f'n{i + 1}.out'), 'w')
            srv.procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL,
                                              start_new_session=True))
        deadline = time.monotonic() + 60
        while True:
            ok = 0
            for c in ETCD_CLIENT:
                try:
                    if '"true"' in http_get(f'{scheme}://127.0.0.1:{c}/health', context=ctx):
                        ok += 1
                except OSError:
                    pass
            if ok == 3:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in srv.procs):
                raise RuntimeError(f'etcd cluster did not become healthy (logs in {d})')
            time.sleep(0.5)
    except BaseException:
        srv.close()
        raise
    srv.endpoints = ','.join(f'127.0.0.1:{c}' for c in ETCD_CLIENT)
    srv.tls_files = [os.path.join(certs, f) for f in ('ca.crt', 'client-bench.crt',
                                                      'client-bench.key')] if cfg.tls else []
    log(f'etcd: 3 nodes up{" with TLS" if cfg.tls else ""}, pids {srv.all_pids()}')
    return srv


def zk_up(cfg):
    check_ports(ZK_CLIENT + ZK_QUORUM + ZK_ELECTION)
    d = os.path.join(cfg.data, 'zookeeper')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'conf'))
    with open(os.path.join(d, 'conf', 'log4j.properties'), 'w') as f:
        f.write('log4j.rootLogger=WARN, F\n'
                'log4j.appender.F=org.apache.log4j.FileAppender\n'
                'log4j.appender.F.File=${zk.logfile}\n'
                'log4j.appender.F.layout=org.apache.log4j.PatternLayout\n'
                'log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n\n')
    cp = ':'.join([os.path.join(d, 'conf')] + ZK_SERVER_CP)
    servers = ''.join(f'server.{i + 1}=127.0.0.1:{ZK_QUORUM[i]}:{ZK_ELECTION[i]}\n'
                      for i in range(3))
    srv = Servers('zookeeper')
    try:
        for i in range(3):
            nd = os.path.join(d, f'n{i + 1}')
            os.makedirs(os.path.join(nd, 'data'))
            with open(os.path.join(nd, 'data', 'myid'), 'w') as f:
                f.write(f'{i + 1}\n')
            conf = os.path.join(nd, 'zoo.cfg')
            with open(conf, 'w') as f:
                f.write(f'tickTime=2000\ninitLimit=10\nsyncLimit=5\n'
                        f'dataDir={nd}/data\nclientPort={ZK_CLIENT[i]}\n'
                        f'clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n'
                        f'forceSync=yes\nadmin.enableServer=false\n'
                        f'4lw.commands.whitelist=srvr,mntr,ruok\n{servers}')
            cmd = ['java', f'-Xms{cfg.zk_heap}', f'-Xmx{cfg.zk_heap}',
                   f'-Dzk.logfile={nd}.log', '-Dzookeeper.jmx.log4j.disable=true',
                   '-cp', cp, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', conf]
            out = open(f'{nd}.out', 'w')
            srv.procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL,
                                              start_new_session=True))
        deadline = time.monotonic() + 90
        while True:
            modes = []
            for c in ZK_CLIENT:
                try:
                    m = re.search(r'Mode: (\w+)', four_letter(c, 'srvr'))
                    if m:
                        modes.append(m.group(1))
                except OSError:
                    pass
            if len(modes) == 3:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in srv.procs):
                raise RuntimeError(f'ZooKeeper ensemble did not come up (logs in {d})')
            time.sleep(0.5)
    except BaseException:
        srv.close()
        raise
    srv.endpoints = ','.join(f'127.0.0.1:{c}' for c in ZK_CLIENT)
    log(f'zookeeper: 3 nodes up ({", ".join(modes)}), pids {srv.all_pids()}')
    return srv


UP = {'paxlock': paxlock_up, 'etcd': lambda cfg, nodes: etcd_up(cfg),
      'zookeeper': lambda cfg, nodes: zk_up(cfg)}


def up(cfg, system, nodes):
    """Starts `system` (nodes: paxlock only); returns its Servers."""
    return UP[system](cfg, nodes)
