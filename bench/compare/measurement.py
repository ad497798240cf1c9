"""The measurements: the load generators (built, run, timed), paxlock's
/metrics scraped around each window, the matrix of cells run against one
system, the lock state machine alone, the physical floor (fdatasync and
loopback round trip) and the machine's description."""

import json
import os
import re
import statistics
import subprocess
import threading
import time

import systems
from common import HERE, LOCK_SM_BENCH, PAXLOCK, ROOT, log
from systems import ZK_JAR

ZK_CLIENT_CP = [ZK_JAR, '/usr/share/java/slf4j-nop.jar']
GOPATH = '/usr/share/gocode'
CLK_TCK = os.sysconf('SC_CLK_TCK')


# ----------------------------------------------------------------------------
# CPU use


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def machine_ticks():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return sum(v) - idle, sum(v)


# ----------------------------------------------------------------------------
# load generators


def build_tools(cfg):
    """floor (C++), the etcd load generator (Go) and the ZooKeeper one (Java)."""
    b = cfg.bin
    os.makedirs(b, exist_ok=True)
    subprocess.run(['g++', '-std=c++20', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread',
                    os.path.join(HERE, 'floor.cc'), '-o', os.path.join(b, 'floor')], check=True)
    if 'etcd' in cfg.systems:
        env = dict(os.environ, GO111MODULE='off', GOPATH=GOPATH, GOFLAGS='', GOPROXY='off',
                   GOCACHE=os.path.join(b, 'gocache'))
        subprocess.run(['go', 'build', '-o', os.path.join(b, 'etcdlockbench'), '.'],
                       cwd=os.path.join(HERE, 'etcd'), env=env, check=True)
    if 'zookeeper' in cfg.systems:
        subprocess.run(['javac', '-nowarn', '-d', os.path.join(b, 'java'), '-cp', ZK_JAR,
                        os.path.join(HERE, 'zk', 'ZkLockLoad.java')], check=True)
    log(f'built load generators in {b}')


def load_cmd(cfg, system, srv, variant, clients, contended, duration, warmup):
    locks = cfg.contended_locks if contended else cfg.locks
    common = ['--clients', str(clients), '--locks', str(locks), '--duration', str(duration),
              '--warmup', str(warmup), '--max-cycles', str(cfg.max_cycles)]
    if contended:
        common.append('--contended')
    if system == 'paxlock':
        return [PAXLOCK, '--json', '--cluster', srv.cluster, '--replica', variant,
                'bench'] + common
    if system == 'etcd':
        extra = ['--v3lock'] if variant == 'v3lock' else []
        tls = []
        if srv.tls_files:
            ca, crt, key = srv.tls_files
            tls = ['--cacert', ca, '--cert', crt, '--key', key]
        return [os.path.join(cfg.bin, 'etcdlockbench'), '--endpoints', srv.endpoints] + \
            common + extra + tls
    cp = ':'.join([os.path.join(cfg.bin, 'java')] + ZK_CLIENT_CP)
    return ['java', '-Xms512m', '-Xmx512m', '-cp', cp, 'ZkLockLoad',
            '--connect', srv.endpoints] + common


def run_load(cmd, srv, timeout, window=None):
    """Runs one load generator; returns its JSON result plus CPU use.

    window=(warmup, duration): also scrape paxlock's /metrics when the
    measured window starts and ends, into res['window_metrics']."""
    cpu0 = cpu_seconds(srv.all_pids())
    ru0 = os.times()
    m0 = machine_ticks()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    probes, prober = [], None
    if window:
        def probe():
            time.sleep(window[0])
            probes.append(scrape(srv))
            time.sleep(window[1])
            probes.append(scrape(srv))

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()  # by its PID: the generator we started
        p.communicate()
        raise RuntimeError(f'load generator timed out after {timeout} s: {" ".join(cmd)}')
    except BaseException:
        p.kill()
        p.wait()
        raise
    wall = time.monotonic() - t0
    if prober:  # the last scrape may still be under way when the generator ends
        prober.join(timeout=10)
    ru1 = os.times()
    cpu1 = cpu_seconds(srv.all_pids())
    m1 = machine_ticks()
    lines = [ln for ln in out.splitlines() if ln.startswith('{')]
    if not lines:
        raise RuntimeError(f'no result (exit {p.returncode}): {err.strip()[-400:]}')
    res = json.loads(lines[-1])
    res['wall_s'] = round(wall, 2)
    if len(probes) == 2:
        res['window_metrics'] = probes
    res['server_cpu_pct'] = round(100 * (cpu1 - cpu0) / wall, 1)
    res['machine_busy_pct'] = round(100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 1)
    res['loadgen_cpu_pct'] = round(
        100 * ((ru1.children_user - ru0.children_user) +
               (ru1.children_system - ru0.children_system)) / wall, 1)
    return res


def scrape(srv):
    """Summed counters of all paxlock nodes' /metrics (None where unreachable)."""
    tot = {}
    for addr in getattr(srv, 'http', []):
        try:
            text = systems.http_get(f'{srv.http_scheme}://{addr}/metrics',
                                    context=srv.http_tls)
        except OSError:
            continue
        for ln in text.splitlines():
            m = re.match(r'^(paxlock_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$', ln)
            if m:
                tot[m.group(1)] = tot.get(m.group(1), 0) + float(m.group(2))
    return tot


def metric_deltas(before, after, cycles):
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out = {}
    if cycles:
        out['client_requests_per_cycle'] = d.get('paxlock_client_requests_total', 0) / cycles
        out['fsyncs_per_cycle_all_nodes'] = d.get('paxlock_fsyncs_total', 0) / cycles
        out['peer_messages_per_cycle'] = d.get('paxlock_peer_messages_sent_total', 0) / cycles
    b = d.get('paxlock_batches_total', 0)
    if b:
        out['commands_per_batch'] = d.get('paxlock_batched_commands_total', 0) / b
    n = d.get('paxlock_fsync_seconds_count', 0)
    if n:
        out['fsync_mean_ms'] = 1000 * d.get('paxlock_fsync_seconds_sum', 0) / n
    n = d.get('paxlock_client_request_seconds_count', 0)
    if n:
        out['server_request_mean_ms'] = 1000 * d.get('paxlock_client_request_seconds_sum', 0) / n
    inst = d.get('paxlock_instances_chosen_total', 0)
    if inst:
        out['commands_per_instance'] = d.get('paxlock_commands_applied_total', 0) / inst
    return {k: round(v, 3) for k, v in out.items()}


# ----------------------------------------------------------------------------
# the matrix


def cells(cfg):
    out = [(f'c{c}', c, False) for c in cfg.clients]
    if cfg.contended:
        out.append((f'c{cfg.contended_clients}x{cfg.contended_locks}', cfg.contended_clients,
                    True))
    return out


def load_variants(cfg, system, nodes):
    """How the load reaches the system (load_cmd's variant); the first is
    the plain one (its results are named after the system)."""
    if system == 'paxlock':
        return ['random'] + (['leader'] if cfg.paxlock_leader and nodes == 3 else [])
    if system == 'etcd':
        return ['spread'] + (['v3lock'] if cfg.etcd_v3lock else [])
    return ['spread']


def bench_system(cfg, system, nodes, results):
    srv = systems.up(cfg, system, nodes)
    variants = load_variants(cfg, system, nodes)
    warmup = cfg.zk_warmup if system == 'zookeeper' else cfg.warmup
    try:
        # Untimed load first: JITs, connection set-up, a fresh ZooKeeper
        # ensemble's first-minutes stalls.
        if cfg.settle > 0:
            log(f'{system}: settling with {cfg.settle} s of untimed load')
            try:
                run_load(load_cmd(cfg, system, srv, variants[0], 16, False, cfg.settle, 0),
                         srv, cfg.settle + 120)
            except RuntimeError as e:
                log(f'{system}: settling load failed ({e}); going on')
        for r in range(cfg.runs):
            for cell, clients, contended in cells(cfg):
                for v in variants:
                    if v == 'v3lock' and contended:
                        continue  # the server-side lock API blocks: no try-lock
                    name = system if v in ('random', 'spread') else f'{system}-{v}'
                    if system == 'paxlock' and nodes != 3:
                        name = f'paxlock-{nodes}n'
                    if system == 'paxlock' and cfg.paxlock_tuning:
                        name += '[' + ','.join(cfg.paxlock_tuning) + ']'
                    cmd = load_cmd(cfg, system, srv, v, clients, contended, cfg.duration,
                                   warmup)
                    window = (warmup, cfg.duration) if system == 'paxlock' else None
                    try:
                        res = run_load(cmd, srv, cfg.duration + warmup + 180, window)
                    except RuntimeError as e:
                        log(f'{name} {cell} run {r + 1}: FAILED: {e}')
                        results['failures'].append({'system': name, 'cell': cell,
                                                    'run': r + 1, 'error': str(e)})
                        continue
                    wm = res.pop('window_metrics', None)
                    if wm:
                        res['metrics'] = metric_deltas(wm[0], wm[1], res.get('cycles', 0))
                    res['run'] = r + 1
                    results['raw'].setdefault(name, {}).setdefault(cell, []).append(res)
                    log(f'{name:16} {cell:7} run {r + 1}: {res["cycles_per_s"]:9.0f} cycles/s  '
                        f'p50 {res["cycle_ms"]["p50"]:7.3f}  p99 {res["cycle_ms"]["p99"]:8.3f} ms'
                        f'  acq p50 {res["acquire_ms"]["p50"]:6.3f}  '
                        f'srv cpu {res["server_cpu_pct"]:4.0f}%  '
                        f'gen cpu {res["loadgen_cpu_pct"]:4.0f}%  '
                        f'busy {res["machine_busy_pct"]:3.0f}%'
                        + (f'  errors {res["errors"]}' if res.get('errors') else '')
                        + (f'  {res["metrics"]}' if res.get('metrics') else ''))
    finally:
        srv.close()


def lock_machine(cfg, results):
    """The lock state machine alone at 1,000 and 1,000,000 names (lock_sm_bench)."""
    if not cfg.lock_sm or not os.access(LOCK_SM_BENCH, os.X_OK):
        return
    r = subprocess.run([LOCK_SM_BENCH], capture_output=True, text=True, timeout=600, check=False)
    results['lock_sm_bench'] = r.stdout.strip().splitlines()
    for ln in results['lock_sm_bench']:
        log(f'lock_sm_bench: {ln}')


def measure_floor(cfg, results, key='floor'):
    fl = {'fdatasync_us': [], 'rtt_us': []}
    floor = os.path.join(cfg.bin, 'floor')
    for _ in range(cfg.runs):
        r = subprocess.run([floor, 'fsync', cfg.data, str(cfg.fsync_count)], capture_output=True,
                           text=True, timeout=600, check=True)
        fl['fdatasync_us'].append(json.loads(r.stdout)['fdatasync_us'])
        r = subprocess.run([floor, 'tcp', str(cfg.rtt_count)], capture_output=True, text=True,
                           timeout=600, check=True)
        fl['rtt_us'].append(json.loads(r.stdout)['rtt_us'])

    def med(xs, *path):
        vals = []
        for x in xs:
            for k in path:
                x = x[k]
            vals.append(x)
        return statistics.median(vals)

    s = {'fdatasync_prealloc_p50_us': med(fl['fdatasync_us'], 'prealloc', 'p50'),
         'fdatasync_prealloc_p99_us': med(fl['fdatasync_us'], 'prealloc', 'p99'),
         'fdatasync_append_p50_us': med(fl['fdatasync_us'], 'append', 'p50'),
         'fdatasync_append_p99_us': med(fl['fdatasync_us'], 'append', 'p99'),
         'rtt_p50_us': med(fl['rtt_us'], 'p50'), 'rtt_p99_us': med(fl['rtt_us'], 'p99')}
    # paxlock's WAL overwrites preallocated segments: that is the sync it pays.
    s['floor_cycle_ms'] = round((2 * s['fdatasync_prealloc_p50_us'] + s['rtt_p50_us']) / 1000, 4)
    results[key] = {'summary': s, 'raw': fl}
    log(f'{key}: fdatasync p50 {s["fdatasync_prealloc_p50_us"]:.0f} us '
        f'(p99 {s["fdatasync_prealloc_p99_us"]:.0f}) preallocated, '
        f'{s["fdatasync_append_p50_us"]:.0f} us (p99 {s["fdatasync_append_p99_us"]:.0f}) '
        f'appending; loopback RTT p50 {s["rtt_p50_us"]:.1f} us (p99 {s["rtt_p99_us"]:.1f}); '
        f'two syncs + one round trip = {s["floor_cycle_ms"]:.3f} ms')


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.strip()
        except OSError:
            return ''

    def version(cmd, pat):
        m = re.search(pat, sh(cmd))
        return m.group(1) if m else None

    return {'nproc': os.cpu_count(), 'kernel': os.uname().release,
            'cpu': version(['lscpu'], r'Model name:\s*(.+)'),
            'mem': version(['free', '-g'], r'Mem:\s+(\d+)'),
            'etcd': version(['etcd', '--version'], r'etcd Version: (\S+)'),
            'zookeeper': sh(['dpkg-query', '-W', '-f', '${Version}', 'zookeeper']) or None,
            'git': sh(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])}
