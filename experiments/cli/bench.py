"""The benchmark verb of ``partialfed``: ``bench`` (kernel speed against NumPy references).

The work is done by the library functions of :mod:`partialfed.experiments.bench`
(``run_benchmark``, ``memory_benchmark``, ``report``), for ``--cli`` of
:mod:`partialfed.experiments.bench_cli` (``cli_benchmark``, ``cli_report``), for
``--scale`` of :mod:`partialfed.experiments.bench_metrics` (``metrics_scale``,
``scale_memory``, ``scale_report``), for ``--noise`` of
:mod:`partialfed.experiments.bench_noise` (``noise_benchmark``, ``noise_report``) and, after the
default table or alone with ``--roofline``, of :mod:`partialfed.experiments.bench_roofline`
(``roofline_benchmark``, ``roofline_report``: the kernel against a hand-written micro-kernel),
for ``--threads`` of :mod:`partialfed.experiments.bench_threads` (``threads_benchmark``,
``threads_report``: 2 numba threads against 1) and for ``--compile`` of
:mod:`partialfed.experiments.bench_compile` (``compile_benchmark``, ``compile_report``: cold
compilation of what ``reproduce --quick`` compiles, per function); ``--profile-quick`` runs
:mod:`partialfed.experiments.bench_profile` in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import json

from partialfed.experiments.cli._common import UsageError

__all__ = ["BENCH_EXAMPLE", "add_bench", "bench"]

BENCH_EXAMPLE = """examples:
  partialfed bench --quick
  partialfed bench --cli      # --help and a small run, as ratios against references
  partialfed bench --scale    # metrics every round at n = 10^4..10^6: incremental vs full
  NUMBA_NUM_THREADS=1 partialfed bench --clock cpu --no-memory   # fair on a shared machine
  NUMBA_NUM_THREADS=1 partialfed bench --noise --clock cpu   # normals/s, noisy steps/s
  partialfed bench --roofline --clock cpu   # kernel speed / hand-written micro-kernel's
  partialfed bench --threads   # 2 numba threads against 1 at n = 10^4, 10^5 (wall clock)
  partialfed bench --profile-quick   # warm 'reproduce --quick': share of time in kernels
  partialfed bench --compile  # cold compile seconds per kernel, fresh interpreter and cache"""


def add_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="n=200, 20 rounds, no memory run")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="timer (cpu: this process's CPU time, fair on a shared machine with one numba thread)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the n = 10^6 memory run")
    p.add_argument(
        "--cli",
        action="store_true",
        help="time 'partialfed --help' and 'partialfed run quick' (serial, pool, auto) in "
        "fresh interpreters instead of the kernels",
    )
    p.add_argument(
        "--scale",
        action="store_true",
        help="ms per FedAlt round with metrics every round (eval_every=1), incremental and "
        "full, and thinned (eval_every=rounds), at n = 10^4, 10^5, 10^6 (--quick: 10^3, 10^4)",
    )
    p.add_argument(
        "--noise",
        action="store_true",
        help="time the Gaussian noise: normals/s of the generator (and of libm Box-Muller) and "
        "noisy coordinate-steps/s of FedAlt and FedSim",
    )
    p.add_argument(
        "--roofline",
        action="store_true",
        help="only the kernel's speed as a ratio of a hand-written micro-kernel's (same "
        "iterates), 1 and 2 threads (also part of the default output)",
    )
    # --threads (experiments.bench_threads)
    p.add_argument(
        "--threads",
        action="store_true",
        help="FedAlt and FedSim with 1 and 2 numba threads, interleaved, at n = m = 10^4 and "
        "n = 10^5, m = 10^4 (--quick: n = 2000, 10^4, m = 2000): the speedup (wall clock)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="seconds of cold compilation per kernel of 'reproduce --quick' (a fresh interpreter "
        "with an empty PARTIALFED_CACHE_DIR, then a warm one on the same cache), against the "
        "target of 20 s",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    # --profile-quick (experiments.bench_profile): where the warm report's time goes
    p.add_argument(
        "--profile-quick",
        action="store_true",
        help="run 'partialfed reproduce --quick' (fresh output folder, this kernel cache) in a "
        "fresh interpreter under a sampling profiler: share of time in kernels, sympy, "
        "matplotlib, Parquet, imports, other (target: kernels >= 50%% with a warm cache)",
    )


def bench(args: argparse.Namespace) -> int:
    """``partialfed bench``: time the kernels (``--quick``: n = 200, 20 rounds, no memory run)."""
    if getattr(args, "profile_quick", False):
        # A fresh interpreter, so that the report's imports are measured too.
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "partialfed.experiments.bench_profile"]
        return subprocess.call(cmd + (["--json"] if args.json else []))
    if args.compile:
        from partialfed.experiments.bench_compile import compile_benchmark, compile_report

        result = compile_benchmark()
        print(json.dumps(result, indent=2) if args.json else compile_report(result))
        return 0
    if args.cli:
        from partialfed.experiments.bench_cli import cli_benchmark, cli_report

        result = cli_benchmark()
        print(json.dumps(result, indent=2) if args.json else cli_report(result))
        return 0
    if args.scale:
        from partialfed.experiments.bench_metrics import metrics_scale, scale_memory, scale_report

        ns = (10**3, 10**4) if args.quick else (10**4, 10**5, 10**6)
        result = metrics_scale(ns=ns, clock=args.clock)
        memory = None if args.quick or args.no_memory else scale_memory()
        text = json.dumps({**result, "memory": memory}, indent=2)
        print(text if args.json else scale_report(result, memory))
        return 0
    if args.threads:  # --threads (experiments.bench_threads)
        from partialfed.experiments.bench_threads import threads_benchmark, threads_report

        if args.clock == "cpu":
            raise UsageError(
                "The '--clock' option must be 'wall' with --threads: CPU time adds up the "
                "threads, so it cannot show a speedup. Got 'cpu'."
            )
        sizes = dict(sizes=((2000, 2000), (10**4, 2000)), rounds=10) if args.quick else {}
        result = threads_benchmark(**sizes)
        print(json.dumps(result, indent=2) if args.json else threads_report(result))
        return 0
    if args.noise:
        from partialfed.experiments.bench_noise import noise_benchmark, noise_report

        sizes = dict(n=200, rounds=20) if args.quick else {}
        result = noise_benchmark(**sizes, clock=args.clock)
        print(json.dumps(result, indent=2) if args.json else noise_report(result))
        return 0
    from partialfed.experiments.bench import memory_benchmark, report, run_benchmark
    from partialfed.experiments.bench_roofline import roofline_benchmark, roofline_report

    sizes = dict(n=200, rounds=20) if args.quick else {}
    if args.roofline:
        roof = roofline_benchmark(**sizes, clock=args.clock)
        print(json.dumps(roof, indent=2) if args.json else roofline_report(roof))
        return 0
    result = run_benchmark(**sizes, clock=args.clock)
    roof = roofline_benchmark(**sizes, clock=args.clock)
    memory = None if args.quick or args.no_memory else memory_benchmark()
    if args.json:
        print(json.dumps({**result, "roofline": roof, "memory": memory}, indent=2))
    else:
        print(report(result, memory) + "\n" + roofline_report(roof))
    return 0
