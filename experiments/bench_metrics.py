"""Cost of the population metrics per round as n grows: incremental against full evaluation.

Every check records metrics at every round (``eval_every = 1``). Evaluated over all n devices
(``run(..., metrics="full")``) they cost O(n d) per round; maintained in the fixed reduction
tree of ``simulators._incremental`` (``metrics="incremental"``), O(m d + m log n). Problem:
``separable`` (chi = 0, whose objective splits exactly), FedAlt, ``m`` devices per round,
``tau_u = tau_v = tau``. Compared per round, in one process, the runs taking turns:

- **incremental**: ``eval_every = 1``, incremental metrics;
- **full**: ``eval_every = 1``, full metrics;
- **thinned**: ``eval_every = rounds`` (metrics at the first and last round only), full metrics:
  the rounds alone, what ``bench`` itself times.

A round's time is the difference of two runs (``T`` and ``2 T`` rounds) divided by ``T``, so
the O(n) set-up of a run (initial iterate, the tree's first build) is not counted; each run is
the best of ``repeats``. ``T = rounds`` for the full metrics and ``cheap * rounds`` for the
other two, whose rounds are short: their difference must stand above the set-up's jitter.
Peak memory of an incremental ``eval_every = 1`` run at the largest n is measured in a fresh
subprocess. Target (GitHub issue 12): <= 10 ms per round at n = 10^6, m = 1000 with metrics
every round, in <= 2 GB.

Usage::

    partialfed bench --scale
    NUMBA_NUM_THREADS=1 partialfed bench --scale --clock cpu
"""

from __future__ import annotations

import time

import numba
import numpy as np

from partialfed import simulators, synthetic
from partialfed.experiments.bench import _kernel_config, memory_benchmark

__all__ = ["MODES", "TARGETS", "metrics_scale", "scale_memory", "scale_report"]

#: ``(name, metrics, eval_every = 1?)`` of the timed variants.
MODES = (("incremental", "incremental", True), ("full", "full", True), ("thinned", "full", False))

TARGETS = {"ms_per_round": 10.0, "peak_rss_gb": 2.0}


def _config(rounds, m, tau, every_round):
    """The bench's FedAlt run (``bench._kernel_config``) with ``m`` devices per round, metrics at
    every round or thinned to the last."""
    return _kernel_config("fedalt", rounds, tau, 0.2, m, eval_every=1 if every_round else None)


def _timer(clock):
    return time.process_time if clock == "cpu" else time.perf_counter


def metrics_scale(
    ns=(10**4, 10**5, 10**6),
    m=1000,
    d_u=40,
    d_v=10,
    tau=10,
    rounds=4,
    cheap=100,
    repeats=3,
    clock="wall",
) -> dict:
    """Milliseconds per FedAlt round of each of ``MODES`` for each ``n`` (module docstring).

    Returns ``{"setup": {...}, "results": [row, ...]}``; a row has ``n``, ``mode`` and
    ``ms_per_round``.
    """
    timer = _timer(clock)
    rows = []
    for n in ns:
        p = synthetic.make("separable", n=n, d_u=d_u, d_v=d_v, seed=0)
        mm = min(m, n)
        length = {name: rounds if name == "full" else cheap * rounds for name, _, _ in MODES}
        best = {(name, k): np.inf for name, _, _ in MODES for k in (1, 2)}
        for _, metrics, every in MODES:  # compile or load, warm up
            simulators.run(p, _config(1, mm, tau, every), metrics=metrics)
        for _ in range(repeats):
            for name, metrics, every in MODES:
                for k in (1, 2):
                    cfg = _config(k * length[name], mm, tau, every)
                    t0 = timer()
                    simulators.run(p, cfg, metrics=metrics)
                    best[name, k] = min(best[name, k], timer() - t0)
        for name, _, _ in MODES:
            per_round = (best[name, 2] - best[name, 1]) / length[name]
            rows.append({"n": n, "mode": name, "ms_per_round": 1e3 * per_round})
    setup = dict(
        family="separable",
        algorithm="fedalt",
        m=m,
        d_u=d_u,
        d_v=d_v,
        tau_u=tau,
        tau_v=tau,
        rounds=rounds,
        cheap=cheap,
        repeats=repeats,
        threads=numba.get_num_threads(),
        clock=clock,
    )
    return {"setup": setup, "results": rows}


def scale_memory(n=10**6, d_u=40, d_v=10, m=1000, rounds=10) -> dict:
    """Peak resident memory of an incremental ``eval_every = 1`` FedAlt run, in a subprocess."""
    return memory_benchmark(n=n, d_u=d_u, d_v=d_v, m=m, rounds=rounds, every_round=True)


def scale_report(result, memory=None) -> str:
    """A plain-text table of ``metrics_scale`` (and ``scale_memory``) results."""
    s = result["setup"]
    lines = [
        f"separable FedAlt m={s['m']} d_u={s['d_u']} d_v={s['d_v']} tau_u=tau_v={s['tau_u']}, "
        f"ms per round from runs of T and 2T rounds (T={s['rounds']} full, "
        f"{s['cheap'] * s['rounds']} others), best of {s['repeats']}, {s['threads']} numba "
        f"threads, {s['clock']} clock",
        f"{'n':>9} {'incremental':>12} {'full':>10} {'thinned':>10} {'full/incr':>10}",
    ]
    by = {(r["n"], r["mode"]): r["ms_per_round"] for r in result["results"]}
    ns = sorted({r["n"] for r in result["results"]})
    for n in ns:
        inc, full, thin = by[n, "incremental"], by[n, "full"], by[n, "thinned"]
        lines.append(f"{n:9d} {inc:12.3f} {full:10.3f} {thin:10.3f} {full / max(inc, 1e-9):10.1f}")
    top = by[ns[-1], "incremental"]
    verdict = (
        f"incremental at n={ns[-1]}: {top:.3f} ms/round (target <= {TARGETS['ms_per_round']:g})"
    )
    lines.append(verdict + f", met: {'yes' if top <= TARGETS['ms_per_round'] else 'NO'}")
    if memory is not None:
        ok = memory["peak_rss_gb"] <= TARGETS["peak_rss_gb"]
        lines.append(
            f"memory: n={memory['n']} m={memory['m']} {memory['rounds']} rounds, eval_every=1, "
            f"incremental: peak RSS {memory['peak_rss_gb']:.3f} GB (target <= "
            f"{TARGETS['peak_rss_gb']:g} GB), {memory['seconds']:.2f} s, met: "
            f"{'yes' if ok else 'NO'}"
        )
    return "\n".join(lines)
