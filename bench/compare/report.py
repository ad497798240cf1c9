"""The report: runs aggregated into medians and spreads, the markdown
tables with the ratios and the goals (tables.md), and the gnuplot plots."""

import os
import shutil
import statistics
import subprocess

from common import log
from measurement import cells

PCTS = ['p50', 'p90', 'p99', 'p999']


def aggregate(results):
    agg = {}
    for name, by_cell in results['raw'].items():
        for cell, runs in by_cell.items():
            a = {'runs': len(runs)}
            for key in ['cycles_per_s']:
                xs = [r[key] for r in runs]
                a[key] = {'median': statistics.median(xs), 'min': min(xs), 'max': max(xs)}
            for grp in ['cycle_ms', 'acquire_ms']:
                a[grp] = {}
                for p in PCTS:
                    xs = [r[grp][p] for r in runs]
                    a[grp][p] = {'median': statistics.median(xs), 'min': min(xs),
                                 'max': max(xs)}
            for key in ['server_cpu_pct', 'loadgen_cpu_pct', 'machine_busy_pct', 'retries']:
                a[key] = statistics.median([r.get(key, 0) for r in runs])
            ms = [r['metrics'] for r in runs if r.get('metrics')]
            if ms:
                a['metrics'] = {k: round(statistics.median([m[k] for m in ms if k in m]), 3)
                                for k in ms[0]}
            agg.setdefault(name, {})[cell] = a
    results['summary'] = agg
    return agg


def names_in(agg):
    """paxlock variants first (in the order they ran), then etcd, ZooKeeper."""
    return [n for n in agg if n.startswith('paxlock')] + \
        [n for n in ['etcd', 'etcd-v3lock', 'zookeeper'] if n in agg]


def fmt_n(x):
    return f'{x:,.0f}'


def fmt_ms(x):
    return f'{x:.3f}' if x < 10 else f'{x:.1f}' if x < 100 else f'{x:.0f}'


def spread(v, f):
    if v['min'] == v['max']:
        return f(v['median'])
    return f'{f(v["median"])} ({f(v["min"])}–{f(v["max"])})'


def ratio(a, b):
    return a / b if b else float('nan')


def report(cfg, results):
    agg = aggregate(results)
    lines = []
    out = lines.append
    order = names_in(agg)
    out('')
    out('Transport: ' + ('mutual TLS 1.3 on every port, paxlock and etcd (TLS=1; certificates '
                         'from paxlock certs, ZooKeeper not run)' if getattr(cfg, 'tls', 0)
                         else 'plain TCP for every system (TLS=1 runs paxlock and etcd with TLS)'))
    for cell, clients, contended in cells(cfg):
        names = [n for n in order if cell in agg[n]]
        if not names:
            continue
        what = (f'{clients} clients on {cfg.contended_locks} shared names, try-lock + back-off'
                if contended else f'{clients} client{"s" if clients > 1 else ""}, own names')
        runs = max(agg[n][cell]['runs'] for n in names)
        out('')
        out(f'### {what} — median of {runs} runs (min–max); latency in ms')
        out('')
        out('| system | cycles/s | cycle p50 | p90 | p99 | p99.9 | acquire p50 | p90 | p99 | '
            'p99.9 | server CPU | loadgen CPU | machine busy |')
        out('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
        for n in names:
            a = agg[n][cell]
            row = [n, spread(a['cycles_per_s'], fmt_n)]
            row += [spread(a['cycle_ms'][p], fmt_ms) for p in PCTS]
            row += [fmt_ms(a['acquire_ms'][p]['median']) for p in PCTS]
            row += [f'{a["server_cpu_pct"]:.0f}%', f'{a["loadgen_cpu_pct"]:.0f}%',
                    f'{a["machine_busy_pct"]:.0f}%']
            out('| ' + ' | '.join(row) + ' |')
        others = [o for o in ['etcd', 'zookeeper'] if o in names]
        for px in [n for n in names if n.startswith('paxlock')]:
            p = agg[px][cell]
            for o in others:
                q = agg[o][cell]

                def r(*path):
                    a, b = p, q
                    for k in path:
                        a, b = a[k], b[k]
                    return f'{ratio(a["median"], b["median"]):.2f}x'

                out(f'- {px}/{o}: cycles/s {r("cycles_per_s")}, '
                    f'cycle p50 {r("cycle_ms", "p50")}, p99 {r("cycle_ms", "p99")}, '
                    f'acquire p50 {r("acquire_ms", "p50")}')
    goals = check_goals(agg)
    results['goals'] = goals
    if goals:
        out('')
        out('### Goals (against the better of etcd and ZooKeeper in each cell)')
        out('')
        out('| paxlock | goal | measured | better other | ratio | verdict |')
        out('|---|---|---|---|---|---|')
        for g in goals:
            out(f'| {g["system"]} | {g["goal"]} | {g["measured"]} | {g["other"]} | '
                f'{g["ratio"]:.2f}x | {"met" if g["met"] else "MISSED"} |')
    if results.get('lock_sm_bench'):
        out('')
        out('### Lock state machine alone (build/release/bench/lock_sm_bench)')
        out('')
        out('```')
        lines.extend(results['lock_sm_bench'])
        out('```')
    fl = results.get('floor', {}).get('summary')
    if fl:
        out('')
        out('### Physical floor (same run)')
        out('')
        out(f'- fdatasync of a 256-byte write, preallocated file (like the WAL): p50 '
            f'{fl["fdatasync_prealloc_p50_us"]:.0f} us, '
            f'p99 {fl["fdatasync_prealloc_p99_us"]:.0f} us; '
            f'appending file: p50 {fl["fdatasync_append_p50_us"]:.0f} us, '
            f'p99 {fl["fdatasync_append_p99_us"]:.0f} us')
        out(f'- loopback TCP round trip (128 B, TCP_NODELAY): p50 {fl["rtt_p50_us"]:.1f} us, '
            f'p99 {fl["rtt_p99_us"]:.1f} us')
        out(f'- floor of a lock+unlock cycle = 2 fdatasync + 1 round trip = '
            f'{fl["floor_cycle_ms"]:.3f} ms')
        fe = results.get('floor_end', {}).get('summary')
        if fe:
            out(f'- again after the clusters stopped: fdatasync (preallocated) p50 '
                f'{fe["fdatasync_prealloc_p50_us"]:.0f} us, '
                f'p99 {fe["fdatasync_prealloc_p99_us"]:.0f} us; '
                f'round trip p50 {fe["rtt_p50_us"]:.1f} us; floor {fe["floor_cycle_ms"]:.3f} ms')
        for n in order:
            if 'c1' in agg[n]:
                p50 = agg[n]['c1']['cycle_ms']['p50']['median']
                out(f'- {n} 1-client cycle p50 {p50:.3f} ms = {p50 / fl["floor_cycle_ms"]:.1f}x '
                    f'the floor (+{p50 - fl["floor_cycle_ms"]:.3f} ms)')
    met = [n for n in order if n.startswith('paxlock') and agg[n].get('c64', {}).get('metrics')]
    if met:
        out('')
        out('### paxlock /metrics per cell (all nodes summed, median of runs)')
        out('')
        for n in met:
            for cell in agg[n]:
                if agg[n][cell].get('metrics'):
                    out(f'- {n} {cell}: {agg[n][cell]["metrics"]}')
    text = '\n'.join(lines)
    print(text, flush=True)
    with open(os.path.join(cfg.out, 'tables.md'), 'w') as f:
        f.write(text.lstrip() + '\n')


def check_goals(agg):
    goals = []
    for px in [n for n in names_in(agg) if n.startswith('paxlock') and '-5n' not in n]:
        def best(cell, key, pct=None, lower=False):
            cands = []
            for o in ['etcd', 'zookeeper']:
                if cell in agg.get(o, {}):
                    a = agg[o][cell]
                    v = a[key][pct]['median'] if pct else a[key]['median']
                    cands.append((v, o))
            if not cands:
                return None
            return min(cands) if lower else max(cands)

        for cell, need in [('c64', 3.0), ('c16', 2.0)]:
            b = best(cell, 'cycles_per_s')
            if b and cell in agg[px]:
                v = agg[px][cell]['cycles_per_s']['median']
                goals.append({'system': px, 'goal': f'cycles/s at {cell[1:]} clients >= {need:g}x',
                              'measured': f'{v:,.0f}/s', 'other': f'{b[1]} {b[0]:,.0f}/s',
                              'ratio': v / b[0], 'met': v >= need * b[0]})
        b = best('c1', 'cycle_ms', 'p50', lower=True)
        if b and 'c1' in agg[px]:
            v = agg[px]['c1']['cycle_ms']['p50']['median']
            goals.append({'system': px, 'goal': 'cycle p50 at 1 client <= 0.5x',
                          'measured': f'{v:.3f} ms', 'other': f'{b[1]} {b[0]:.3f} ms',
                          'ratio': v / b[0], 'met': v <= 0.5 * b[0]})
        b = best('c64', 'cycle_ms', 'p50', lower=True)
        if b and 'c64' in agg[px]:
            v = agg[px]['c64']['cycle_ms']['p99']['median']
            goals.append({'system': px, 'goal': 'cycle p99 at 64 clients < their p50',
                          'measured': f'p99 {v:.3f} ms', 'other': f'{b[1]} p50 {b[0]:.3f} ms',
                          'ratio': v / b[0], 'met': v < b[0]})
    return goals


def plot(cfg, results):
    agg = results.get('summary', {})
    names = names_in(agg)
    series = []
    for n in names:
        rows = []
        for c in cfg.clients:
            a = agg[n].get(f'c{c}')
            if a:
                rows.append((c, a))
        if rows:
            series.append((n, rows))
    if not series or shutil.which('gnuplot') is None:
        log('no plots (no data or no gnuplot)')
        return
    dat = {}
    for n, rows in series:
        path = os.path.join(cfg.out, f'plot-{n}.dat')
        with open(path, 'w') as f:
            f.write('# clients cps cps_min cps_max p50 p90 p99 p999 acq_p50 acq_p99\n')
            for c, a in rows:
                cm = a['cycle_ms']
                f.write(f'{c} {a["cycles_per_s"]["median"]} {a["cycles_per_s"]["min"]} '
                        f'{a["cycles_per_s"]["max"]} {cm["p50"]["median"]} {cm["p90"]["median"]} '
                        f'{cm["p99"]["median"]} {cm["p999"]["median"]} '
                        f'{a["acquire_ms"]["p50"]["median"]} {a["acquire_ms"]["p99"]["median"]}\n')
        dat[n] = path
    colors = {'paxlock': '#1b9e77', 'paxlock-leader': '#66a61e', 'paxlock-5n': '#7570b3',
              'etcd': '#d95f02', 'etcd-v3lock': '#a6761d', 'zookeeper': '#e7298a'}
    xt = 'set xtics (' + ', '.join(f'"{c}" {c}' for c in cfg.clients) + ')\n'
    head = ('set terminal pngcairo size 960,600 font "sans,11"\n'
            'set logscale x 2\nset grid\nset key top left\nset xlabel "concurrent clients"\n'
            + xt + f'set xrange [{min(cfg.clients) / 1.5}:{max(cfg.clients) * 1.5}]\n')
    tp = os.path.join(cfg.out, 'throughput.png')
    gp = head + (f'set output "{tp}"\nset ylabel "lock+unlock cycles/s"\n'
                 f'set title "Lock+unlock cycles/s on one 2-core machine '
                 f'(median of runs, min-max bars)"\nset yrange [0:*]\nplot ')
    col = {n: colors.get(n, '#666666') for n, _ in series}
    gp += ', '.join(f'"{dat[n]}" using 1:2:3:4 with yerrorlines lw 2 pt {i + 5} '
                    f'lc rgb "{col[n]}" title "{n}"' for i, (n, _) in enumerate(series))
    gp += '\n'
    lp = os.path.join(cfg.out, 'latency.png')
    gp += (f'set output "{lp}"\nset logscale y\nset yrange [*:*]\nset ylabel "ms"\n'
           'set title "Lock+unlock cycle latency: p50 (solid), p99 (dashed) (median of runs)"\n'
           'plot ')
    gp += ', '.join(f'"{dat[n]}" using 1:5 with linespoints lw 2 pt {i + 5} lc rgb "{col[n]}" '
                    f'title "{n} p50", "{dat[n]}" using 1:7 with linespoints lw 2 dt 2 '
                    f'pt {i + 5} lc rgb "{col[n]}" title "{n} p99"'
                    for i, (n, _) in enumerate(series))
    gp += '\n'
    script = os.path.join(cfg.out, 'plots.gp')
    with open(script, 'w') as f:
        f.write(gp)
    r = subprocess.run(['gnuplot', script], capture_output=True, text=True, timeout=60,
                       check=False)
    if r.returncode != 0:
        log(f'gnuplot failed: {r.stderr.strip()}')
        return
    results['plots'] = [tp, lp]
    log(f'plots: {tp} {lp}')
