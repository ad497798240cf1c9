"""What every part of bench/compare uses: paths and the log line."""

import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PAXLOCK = os.path.join(ROOT, 'build', 'release', 'tools', 'paxlock')
LOCK_SM_BENCH = os.path.join(ROOT, 'build', 'release', 'bench', 'lock_sm_bench')


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)
