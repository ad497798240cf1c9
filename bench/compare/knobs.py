"""The knobs of bench/compare/run, each defined once (KNOBS), and the run's
configuration built from them.

Every knob is a flag (--name-with-dashes) and an environment variable
(NAME_IN_CAPITALS); the flag wins over the environment, the environment over
the default. QUICK=1 (--quick) switches to the quick defaults. The help text,
the configuration and results.json's "config" all come from this table.
"""

import argparse
import os
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Optional


def _words(text):
    return str(text).replace(',', ' ').split()


def _ints(text):
    return [int(x) for x in _words(text)]


def _systems(text):
    return ['zookeeper' if s in ('zk', 'zookeeper') else s for s in _words(text)]


def _flag(text):
    return str(text) not in ('', '0', 'False')


@dataclass
class Knob:
    name: str                  # attribute of the configuration; flag --name, env NAME
    parse: Callable[[str], Any]
    default: Any
    help: str
    quick: Any = None          # the default under QUICK=1, if it differs
    check: Optional[Callable[[Any], bool]] = None
    rule: str = ''             # what check requires, for the error message

    @property
    def env(self):
        return self.name.upper()

    @property
    def flag(self):
        return '--' + self.name.replace('_', '-')

    def default_for(self, quick):
        return self.quick if quick and self.quick is not None else self.default


SYSTEMS = ('paxlock', 'etcd', 'zookeeper')

# In this order in --help and in results.json's "config".
KNOBS = [
    Knob('quick', _flag, 0, 'smoke run: 1 run, 2 s windows, 1 and 16 clients'),
    Knob('runs', int, 3, 'rounds over all cells (round robin within one cluster)', quick=1,
         check=lambda v: 1 <= v <= 20, rule='1-20'),
    Knob('duration', float, 10.0, 'seconds of each measured window', quick=2.0,
         check=lambda v: 0 < v <= 300, rule='> 0 and <= 300'),
    Knob('warmup', float, 2.0, 'seconds of load before each window', quick=1.0,
         check=lambda v: v >= 0, rule='>= 0'),
    Knob('zk_warmup', float, 5.0, 'the warm-up for ZooKeeper (its JIT)', quick=2.0,
         check=lambda v: v >= 0, rule='>= 0'),
    Knob('clients', _ints, '1 16 64', 'uncontended cells: clients, each on its own lock names',
         quick='1 16', check=lambda v: v and all(1 <= c <= 1024 for c in v), rule='1-1024'),
    Knob('contended', int, 1, '1: also 64 clients on 8 shared names, try-lock + back-off'),
    Knob('systems', _systems, 'paxlock etcd zookeeper', 'which systems, one at a time',
         check=lambda v: v and all(s in SYSTEMS for s in v), rule='from ' + ' '.join(SYSTEMS)),
    Knob('paxlock_nodes', _ints, '3', '"3 5": also a 5-node paxlock cluster',
         check=lambda v: v and all(n >= 1 for n in v), rule='>= 1'),
    Knob('paxlock_leader', int, 1, '1: also run paxlock with --replica leader (3 nodes)'),
    Knob('etcd_v3lock', int, 0, "1: also etcd's server-side v3 lock API (uncontended cells)"),
    Knob('tls', int, 0, '1: paxlock and etcd with mutual TLS 1.3 on every port (certificates '
         'from paxlock certs); ZooKeeper is not run (its TLS needs Java keystores)'),
    Knob('paxlock_tuning', _words, '',
         "key=value ... for the paxlock clusters' [tuning] (local up --tuning), "
         'e.g. "pipeline_window=8"'),
    Knob('settle', float, 15.0, 'seconds of untimed load after a cluster starts', quick=2.0,
         check=lambda v: v >= 0, rule='>= 0'),
    Knob('lock_sm', int, 1,
         'also run build/release/bench/lock_sm_bench (1,000 vs 1,000,000 names)', quick=0),
    Knob('out', lambda p: os.path.abspath(p), '/tmp/paxlock-bench-compare',
         'results.json, tables.md, plots, data, logs'),
    Knob('no_install', _flag, 0, 'skip scripts/install-deps'),
]

# Fixed parameters of the matrix (not knobs), with their quick values.
FIXED = {'contended_clients': 64, 'contended_locks': 8, 'locks': 100,
         'max_cycles': 5_000_000, 'zk_heap': '1g'}
FIXED_QUICK = {'fsync_count': (5000, 1000), 'rtt_count': (50000, 5000)}


def _show(v):
    if isinstance(v, float):
        return f'{v:g}'
    return f'"{v}"' if ' ' in str(v) else str(v)


def knobs_help():
    """The knob list of --help: environment name, default (quick default)."""
    lines = ['Knobs (environment, or the flags of the same name; a flag wins):']
    for k in KNOBS:
        d = f'{k.env}={_show(k.default)}'
        if k.quick is not None:
            d += f' (quick {_show(k.quick)})'
        text = textwrap.wrap(k.help, 76 - 33)
        lines.append(f'  {d:31} {text[0]}')
        lines += [' ' * 34 + t for t in text[1:]]
    return '\n'.join(lines)


def config(description, epilog, argv=None, environ=None):
    """The run's configuration (an argparse.Namespace) from the flags in
    argv and the environment: one attribute per knob, the fixed parameters,
    and the directories under OUT (data, bin)."""
    environ = os.environ if environ is None else environ
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=epilog + '\n\n' + knobs_help())
    for k in KNOBS:
        if k.parse is _flag:
            ap.add_argument(k.flag, action='store_const', const='1', default=None, help=k.help)
        else:
            ap.add_argument(k.flag, default=None, metavar=k.env, help=k.help)
    args = ap.parse_args(argv)

    def raw(k, quick):
        given = getattr(args, k.name)
        if given is not None:
            return given
        if environ.get(k.env, '') != '':
            return environ[k.env]
        return k.default_for(quick)

    cfg = argparse.Namespace()
    quick_knob = KNOBS[0]
    cfg.quick = _flag(raw(quick_knob, False))
    bad = []
    for k in KNOBS[1:]:
        text = raw(k, cfg.quick)
        try:
            value = k.parse(text)
        except ValueError:
            ap.error(f'{k.env} ({k.flag}): cannot read {text!r}')
        if k.check and not k.check(value):
            bad.append(f'{k.env} {k.rule}')
        setattr(cfg, k.name, value)
    if bad:
        ap.error('; '.join(bad))
    for name, value in FIXED.items():
        setattr(cfg, name, value)
    for name, (full, quick) in FIXED_QUICK.items():
        setattr(cfg, name, quick if cfg.quick else full)
    cfg.data = os.path.join(cfg.out, 'data')
    cfg.bin = os.path.join(cfg.out, 'bin')
    return cfg
