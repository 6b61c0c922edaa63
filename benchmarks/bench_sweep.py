"""Per-run overhead of a sweep beyond the simulation itself.

Runs a grid of tiny quadratic runs (n=8, T=20: about a millisecond of simulation each) three ways
and prints the overhead per run: serially in this process, on a warm local process pool (workers
already started), and on a fresh pool (start-up included, amortised over the runs).

    overhead per run = (wall time x workers - pure simulation time) / runs

where the pure simulation time is ``simulators.run`` on prebuilt problems in a plain loop, with
one Numba thread like each pool worker (the serial sweep also runs with one thread here). The
fresh-pool figure includes starting the workers (imports, loading compiled kernels). The
target (issue 4) is at most 50 ms per run on the local pool.

Usage::

    python benchmarks/bench_sweep.py [--runs 400] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from partialfed.experiments import config, sweep


def _cells(runs: int) -> list:
    seeds = max(1, math.ceil(runs / 8))
    data = {
        "name": "bench",
        "family": "quadratic",
        "seeds": seeds,
        "problem": {"n": 8, "d_u": 3, "d_v": 2, "delta": [0.0, 1.0]},
        "run": {"algorithm": ["fedalt", "fedsim", "fedavg", "local"], "T": 20, "m": 3},
    }
    return config.from_dict(data, source="bench").cells[:runs]


def _pure_simulation(cells: list) -> float:
    from partialfed import simulators

    problems = [c.problem() for c in cells]  # built before the clock starts
    simulators.run(problems[0], cells[0].run)  # load the compiled kernels
    start = time.perf_counter()
    for problem, cell in zip(problems, cells, strict=True):
        simulators.run(problem, cell.run)
    return time.perf_counter() - start


def _timed(cells, directory, **kwargs) -> float:
    shutil.rmtree(directory, ignore_errors=True)
    start = time.perf_counter()
    report = sweep.run_sweep(cells, directory, progress=False, **kwargs)
    wall = time.perf_counter() - start
    assert report.computed == len(cells), report.summary()
    return wall


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import numba

    numba.set_num_threads(1)  # like each pool worker, so the simulation times compare
    cells = _cells(args.runs)
    n, w = len(cells), args.workers
    sim = _pure_simulation(cells)
    tmp = Path(tempfile.mkdtemp(prefix="partialfed-bench-"))
    try:
        _timed(cells[:8], tmp / "warm", scheduler="serial")
        serial = _timed(cells, tmp / "serial", scheduler="serial")
        executor = sweep.make_executor("local", w)
        try:
            _timed(cells[: 4 * w], tmp / "warm-pool", executor=executor)
            warm = _timed(cells, tmp / "warm-pool", executor=executor)
        finally:
            executor.close()
        cold = _timed(cells, tmp / "cold-pool", scheduler="local", workers=w)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "runs": n,
        "workers": w,
        "simulation_ms_per_run": 1e3 * sim / n,
        "serial_overhead_ms_per_run": 1e3 * (serial - sim) / n,
        "pool_warm_overhead_ms_per_run": 1e3 * (warm * w - sim) / n,
        "pool_cold_overhead_ms_per_run": 1e3 * (cold * w - sim) / n,
        "pool_cold_wall_s": cold,
        "pool_startup_s": cold - warm,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{n} runs (quadratic n=8, T=20), {w} workers")
        print(f"  pure simulation             {result['simulation_ms_per_run']:7.2f} ms/run")
        print(f"  serial sweep overhead       {result['serial_overhead_ms_per_run']:7.2f} ms/run")
        print(
            f"  warm pool overhead          {result['pool_warm_overhead_ms_per_run']:7.2f} ms/run"
        )
        print(
            f"  fresh pool overhead         {result['pool_cold_overhead_ms_per_run']:7.2f} ms/run "
            f"(start-up {cold - warm:.1f} s included; wall {cold:.1f} s)"
        )
        print("  target: <= 50 ms/run on the local pool")
    return result


if __name__ == "__main__":
    main()
