"""Thread scaling of the round kernels (``partialfed bench --threads``): 2 threads against 1.

Problem: ``experiments.bench.make_problem`` without noise (``separable``, chi = 0), ``d_u = 40``,
``d_v = 10``, ``tau_u = tau_v = 10``, FedAlt and FedSim, at ``n = m = 10^4`` and at
``n = 10^5`` devices with ``m = 10^4`` sampled per round. The threaded kernel
(``simulators.run(..., parallel=True)``, a ``prange`` over the sampled devices) runs with
``numba.set_num_threads(1)`` and ``numba.set_num_threads(2)`` in turn, in one process
(interleaved A/B; the order of the two alternates from one repeat to the next), metrics thinned
(``eval_every = rounds``). A round's time is the difference of runs of ``T`` and ``2 T`` rounds
over ``T`` (the O(n) set-up of a run and its two metric evaluations are not counted), each run
the best of ``repeats``, by the **wall clock** (CPU time would add up the threads). The speedup
is the 1-thread time over the 2-thread time; the whole ``2 T``-round runs' ratio is given too.

Target (GitHub issue 12): two threads >= 1.7x one thread at n = 10^4 and above, on an idle
machine. The load average (``os.getloadavg``) before and after is part of the result: on a busy
machine the second thread shares a core and the speedup says little.

``numba.set_num_threads`` cannot exceed ``NUMBA_NUM_THREADS`` (fixed when numba starts, by
default the number of cores): with one thread available only the 1-thread rows are measured and
the report says so.

Usage::

    partialfed bench --threads
    NUMBA_NUM_THREADS=2 partialfed bench --threads --quick
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np

from partialfed import simulators
from partialfed.experiments.bench import _kernel_config, make_problem

__all__ = ["BUSY", "SIZES", "TARGET", "available_threads", "threads_benchmark", "threads_report"]

#: ``(n, m)`` of the issue: devices, and devices sampled per round.
SIZES = ((10**4, 10**4), (10**5, 10**4))
#: Speed with two threads over one (issue 12).
TARGET = 1.7
#: Load average (before the run) from which the report calls the machine busy.
BUSY = 1.0


def available_threads() -> int:
    """The most threads ``numba.set_num_threads`` accepts (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def _config(alg, rounds, m, tau):
    """The bench's run configuration (``bench._kernel_config``) with ``m`` devices per round."""
    return _kernel_config(alg, rounds, tau, 0.2, m)


def _layer():
    """numba's threading layer (known once a parallel region has run), or ``"unknown"``."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "unknown"


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return float("nan")


def _time_counts(p, alg, m, tau, rounds, repeats, counts):
    """``(threads, k) -> best wall seconds`` of ``k * rounds``-round runs, threads interleaved."""
    best = {(c, k): np.inf for c in counts for k in (1, 2)}
    for c in counts:  # compile (or load from the disk cache) and warm up each thread count
        numba.set_num_threads(c)
        simulators.run(p, _config(alg, 1, m, tau), parallel=True)
    for rep in range(repeats):
        for c in counts if rep % 2 == 0 else counts[::-1]:
            numba.set_num_threads(c)
            for k in (1, 2):
                cfg = _config(alg, k * rounds, m, tau)
                t0 = time.perf_counter()
                simulators.run(p, cfg, parallel=True)
                best[c, k] = min(best[c, k], time.perf_counter() - t0)
    return best


def threads_benchmark(sizes=SIZES, d_u=40, d_v=10, tau=10, rounds=40, repeats=5) -> dict:
    """Milliseconds per round with 1 and 2 numba threads, and the speedup (module docstring).

    Parameters
    ----------
    sizes : sequence of (int, int)
        ``(n, m)`` pairs: devices and devices sampled per round (``m <= n``).
    d_u, d_v, tau : int
        Block dimensions and ``tau_u = tau_v``.
    rounds : int
        ``T``: a round's time is that of ``2 T`` rounds less that of ``T``, over ``T``.
    repeats : int
        Each run is the best of this many.

    Returns
    -------
    dict
        ``{"setup": {...}, "results": [row, ...]}``; a row has ``algorithm``, ``n``, ``m``,
        ``ms_per_round_1_thread``, ``ms_per_round_2_threads`` (``None`` when only one thread
        is available), ``speedup`` and ``run_speedup`` (1-thread time
        over 2-thread time, per round and of the whole ``2 T``-round run; ``None`` when only
        one thread is available) and ``met`` (``speedup >= TARGET``, or ``None``).
    """
    for name, value in (("rounds", rounds), ("repeats", repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"The '{name}' parameter of threads_benchmark must be an integer >= 1. "
                f"Got {value!r}."
            )
    for n, m in sizes:
        if not 1 <= m <= n:
            raise ValueError(
                "The 'sizes' parameter of threads_benchmark must hold pairs (n, m) with "
                f"1 <= m <= n. Got {(n, m)!r}."
            )
    available = available_threads()
    counts = [1, 2] if available >= 2 else [1]
    before = numba.get_num_threads()
    load_before = _load()
    rows = []
    try:
        for n, m in sizes:
            p = make_problem(n, d_u, d_v, noisy=False)
            for alg in ("fedalt", "fedsim"):
                best = _time_counts(p, alg, m, tau, rounds, repeats, counts)
                ms = {c: 1e3 * (best[c, 2] - best[c, 1]) / rounds for c in counts}
                two = 2 in counts
                speedup = ms[1] / ms[2] if two else None
                rows.append(
                    {
                        "algorithm": alg,
                        "n": n,
                        "m": m,
                        "ms_per_round_1_thread": ms[1],
                        "ms_per_round_2_threads": ms.get(2),
                        "speedup": speedup,
                        "run_speedup": best[1, 2] / best[2, 2] if two else None,
                        "met": None if speedup is None else bool(speedup >= TARGET),
                    }
                )
    finally:
        numba.set_num_threads(before)
    setup = dict(
        family="separable",
        d_u=d_u,
        d_v=d_v,
        tau_u=tau,
        tau_v=tau,
        rounds=rounds,
        repeats=repeats,
        clock="wall",
        threads=counts,
        available_threads=available,
        cpu_count=os.cpu_count(),
        threading_layer=_layer(),
        load_before=load_before,
        load_after=_load(),
        target=TARGET,
    )
    return {"setup": setup, "results": rows}


def threads_report(result) -> str:
    """The rows of :func:`threads_benchmark` as lines for people."""
    s = result["setup"]
    two = 2 in s["threads"]
    lines = [
        f"threads: separable (deterministic) d_u={s['d_u']} d_v={s['d_v']} "
        f"tau_u=tau_v={s['tau_u']}, thinned metrics, ms per round from runs of T and 2T rounds "
        f"(T={s['rounds']}), 1 and 2 numba threads ({s.get('threading_layer', 'unknown')} "
        f"layer) interleaved, best of {s['repeats']}, wall clock; {s['cpu_count']} cores, "
        f"load average {s['load_before']:.2f} before, {s['load_after']:.2f} after (the target "
        "is for an idle machine)",
        f"{'algorithm':9} {'n':>7} {'m':>6} {'1 thread':>9} {'2 threads':>9} {'speedup':>7} "
        f"{'whole run':>9}",
    ]
    for r in result["results"]:
        line = f"{r['algorithm']:9} {r['n']:7d} {r['m']:6d} {r['ms_per_round_1_thread']:9.3f}"
        if two:
            line += (
                f" {r['ms_per_round_2_threads']:9.3f} {r['speedup']:6.2f}x "
                f"{r['run_speedup']:8.2f}x  target >= {s['target']:g}x: "
                f"{'met' if r['met'] else 'NO'}"
            )
        lines.append(line)
    if two and s["load_before"] >= BUSY:
        lines.append(
            f"busy machine (load average {s['load_before']:.2f} before the run, on "
            f"{s['cpu_count']} cores): the threads share cores with other work, so these are not "
            "the idle-machine speedups the target is about"
        )
    if not two:
        lines.append(
            f"only {s['available_threads']} numba thread available (NUMBA_NUM_THREADS="
            f"{s['available_threads']}): the 2-thread speedup (target >= {s['target']:g}x) is "
            "not measured; run with NUMBA_NUM_THREADS=2 or more on a machine with 2 cores"
        )
    return "\n".join(lines)
