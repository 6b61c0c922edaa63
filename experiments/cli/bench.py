"""The benchmark verb of ``partialfed``: ``bench`` (kernel speed against NumPy references).

The work is done by the library functions of :mod:`partialfed.experiments.bench`
(``run_benchmark``, ``memory_benchmark``, ``report``).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["BENCH_EXAMPLE", "add_bench", "bench"]

BENCH_EXAMPLE = """examples:
  partialfed bench --quick
  NUMBA_NUM_THREADS=1 partialfed bench --clock cpu --no-memory   # fair on a shared machine"""


def add_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="n=200, 20 rounds, no memory run")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="timer (cpu: this process's CPU time, fair on a shared machine with one numba thread)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the n = 10^6 memory run")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def bench(args: argparse.Namespace) -> int:
    """``partialfed bench``: time the kernels (``--quick``: n = 200, 20 rounds, no memory run)."""
    from partialfed.experiments.bench import memory_benchmark, report, run_benchmark

    sizes = dict(n=200, rounds=20) if args.quick else {}
    result = run_benchmark(**sizes, clock=args.clock)
    memory = None if args.quick or args.no_memory else memory_benchmark()
    if args.json:
        print(json.dumps({**result, "memory": memory}, indent=2))
    else:
        print(report(result, memory))
    return 0
