"""The roofline reference of ``partialfed bench``: a hand-written micro-kernel of its rounds.

The benchmark problem of :mod:`partialfed.experiments.bench` is ``separable`` with ``chi = 0``,
full participation (``m = n``), ``tau_u = tau_v = tau`` and no noise. For exactly that case,
``roofline_rounds`` runs the rounds of FedAlt (``tau_v`` v-steps, then ``tau_u`` u-steps,
docs/references.md#pillutla2022-fedalt) and FedSim (``tau_u`` joint steps,
docs/references.md#pillutla2022-fedsim) as flat loops over plain float64 arrays: no records, no
dispatch on the data type, no helpers, no minibatch or noise machinery, one parallel region per
round. Each coordinate-step performs the floating-point operations of the shipped kernel
(``simulators._kernels`` with ``synthetic._separable_objective``'s gradients) in the same order,
and the server's mean of u sums the devices in increasing index as the shipped kernel does, so
the iterates agree bit for bit (``tests/experiments/test_bench_roofline.py``). Its time is thus
what the arithmetic of a round costs in practice, and ``roofline_benchmark`` reports the shipped
kernel's speed as a fraction of it (GitHub issue 12: target >= 0.8).

With ``chi = 0`` the u-gradient does not depend on v nor the v-gradient on u, so FedAlt and
FedSim produce the same iterates here; the two micro-kernel variants still follow each
algorithm's own loop structure (two phases, or one joint phase).

Usage::

    partialfed bench --roofline --clock cpu
"""

from __future__ import annotations

import time

import numba
import numpy as np
from numba import njit, prange

from partialfed import simulators, synthetic

__all__ = [
    "TARGET",
    "check_roofline",
    "mismatch",
    "roofline_benchmark",
    "roofline_report",
    "roofline_rounds",
]

#: Shipped kernel's speed over the micro-kernel's (GitHub issue 12).
TARGET = 0.8


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _rounds(joint, T, tau_u, tau_v, gamma_u, gamma_v, a, cl, r, b, mu, u, V, ul):
    """``T`` rounds in place on ``u (d_u,)`` and ``V (n, d_v)``; ``ul (n, d_u)`` is scratch."""
    n, d_u = ul.shape
    d_v = V.shape[1]
    for _ in range(T):
        for i in prange(n):
            k = cl[i]
            for c in range(d_u):
                ul[i, c] = u[c]
            if joint:
                # FedSim: tau_u joint steps; with chi = 0 the gradient of each block depends on
                # that block alone.
                for _s in range(tau_u):
                    for c in range(d_u):
                        t = ul[i, c] - a[k, c]
                        q = 1.0 + t * t
                        ul[i, c] -= gamma_u * (2.0 * t / (q * q) + mu * ul[i, c])
                    for c in range(d_v):
                        V[i, c] -= gamma_v * (r[c] * (V[i, c] - b[k, c]))
            else:
                # FedAlt: tau_v steps on v_i (gradient R (v - b_i)), then tau_u steps on u.
                for _s in range(tau_v):
                    for c in range(d_v):
                        V[i, c] -= gamma_v * (r[c] * (V[i, c] - b[k, c]))
                for _s in range(tau_u):
                    for c in range(d_u):
                        t = ul[i, c] - a[k, c]
                        q = 1.0 + t * t
                        # phi'(u_j - a_ij) + mu u_j, phi'(t) = 2t / (1 + t^2)^2
                        ul[i, c] -= gamma_u * (2.0 * t / (q * q) + mu * ul[i, c])
        # Server: plain mean of the devices' u, summed in increasing device index.
        for c in range(d_u):
            u[c] = 0.0
        for j in range(n):
            for c in range(d_u):
                u[c] += ul[j, c]
        for c in range(d_u):
            u[c] /= n


def _arrays(problem):
    """The plain arrays and ridge of a ``separable`` problem with ``chi = 0`` and no noise."""
    if problem.name != "separable" or problem.knobs.get("chi") != 0.0:
        raise ValueError(
            "The 'problem' parameter of roofline_rounds must be synthetic.make('separable') "
            f"with chi=0. Got {problem.name!r} with knobs {problem.knobs!r}."
        )
    if problem.noise_u or problem.noise_v:
        raise ValueError(
            "The 'problem' parameter of roofline_rounds must be deterministic "
            f"(noise_u = noise_v = 0). Got {problem.noise_u!r}, {problem.noise_v!r}."
        )
    a, cl, r, b, _Q, par = problem.data
    return a, cl, r, b, float(par[0])


def roofline_rounds(problem, algorithm, T, tau, gamma, u0, V0, out=None):
    """``T`` rounds of ``algorithm`` (``"fedalt"`` or ``"fedsim"``) from ``(u0, V0)``.

    Parameters
    ----------
    problem : Problem
        ``synthetic.make("separable", ..., chi=0)`` without noise.
    algorithm : {"fedalt", "fedsim"}
        Two phases (v, then u) or joint steps.
    T, tau : int
        Rounds, and ``tau_u = tau_v``.
    gamma : float
        ``gamma_u = gamma_v``.
    u0, V0 : arrays
        Initial iterates (not modified).
    out : (n, d_u) array, optional
        Scratch for the devices' local u (kept: its rows are the last round's local models).

    Returns
    -------
    (u, V)
        The server's u and the personal parameters after ``T`` rounds (all devices sampled).
    """
    if algorithm not in ("fedalt", "fedsim"):
        raise ValueError(
            f"The 'algorithm' parameter of roofline_rounds must be 'fedalt' or 'fedsim'. "
            f"Got {algorithm!r}."
        )
    a, cl, r, b, mu = _arrays(problem)
    u = np.array(u0, dtype=np.float64)
    V = np.array(V0, dtype=np.float64)
    ul = np.empty((problem.n, problem.d_u)) if out is None else out
    g = float(gamma)
    _rounds(algorithm == "fedsim", T, tau, tau, g, g, a, cl, r, b, mu, u, V, ul)
    return u, V


def _config(alg, rounds, tau, gamma, n):
    return simulators.RunConfig(
        alg,
        T=rounds,
        m=n,
        tau_u=tau,
        tau_v=tau,
        gamma_u=gamma,
        gamma_v=gamma,
        seed=0,
        eval_every=rounds,
    )


def mismatch(h, u, V) -> float:
    """0.0 when ``(u, V)`` equals the run ``h``'s final iterate bit for bit, else the largest
    difference relative to the largest entry of ``h``'s (``inf`` for a shape mismatch)."""
    worst = 0.0
    for x, y in ((np.asarray(u), h.u), (np.asarray(V), h.V)):
        if x.shape != y.shape:
            return np.inf
        if not np.array_equal(x, y):
            diff = float(np.max(np.abs(x - y)))
            worst = max(worst, diff / max(float(np.max(np.abs(y))), 1e-300), 5e-324)
    return worst


def check_roofline(problem, algorithm, tau, gamma, T=3):
    """Raise ``AssertionError`` unless the micro-kernel's iterates after ``T`` rounds equal
    ``simulators.run``'s bit for bit (full participation, threads as ``simulators.run``
    chooses them)."""
    h = simulators.run(problem, _config(algorithm, T, tau, gamma, problem.n))
    u, V = roofline_rounds(problem, algorithm, T, tau, gamma, *problem.init(0))
    err = mismatch(h, u, V)
    if err != 0.0:
        raise AssertionError(
            f"the roofline micro-kernel's {algorithm} iterates differ from the shipped "
            f"kernel's after {T} rounds (relative {err:.3g})"
        )


def _quartiles(x):
    q1, q2, q3 = np.percentile(np.asarray(x, dtype=float), [25, 50, 75])
    return float(q1), float(q2), float(q3)


def roofline_benchmark(n=1000, d_u=40, d_v=10, tau=10, rounds=200, repeats=15, clock="wall"):
    """Shipped kernel (``simulators.run``) against the micro-kernel, per round.

    The two take turns (interleaved A/B, ``repeats`` times) in this process, with
    ``numba.set_num_threads(1)`` and, when ``NUMBA_NUM_THREADS >= 2``, with 2 threads. The shipped
    time is that of ``simulators.run`` as ``bench`` times it (its two metric evaluations, at
    rounds 0 and T, and its set-up included); the micro-kernel's includes copying the initial
    iterates. A measurement of 100 rounds (~25 ms) varied by up to 30% from one to the next on
    a shared machine, the micro-kernel's as much as the kernel's, so the defaults take 200
    rounds, 15 times each (6 s of timed runs at 0.25 ms per round): the ratio is that of the
    best times, and each row also gives the quartiles of the 15 paired ratios (each kernel run
    over the micro-kernel run next to it) and how far each side's median lies above its best.

    Parameters
    ----------
    n, d_u, d_v, tau, rounds, repeats : int
        As in ``bench.run_benchmark``.
    clock : {"wall", "cpu"}
        Wall clock, or this process's CPU time (summed over its threads).

    Returns
    -------
    dict
        ``{"setup": {...}, "results": [row, ...]}``; each row has ``algorithm``, ``threads``,
        ``kernel_ms_per_round``, ``roofline_ms_per_round`` (best of ``repeats``), ``ratio``
        (roofline time over kernel time: the kernel's speed as a fraction of the
        micro-kernel's), ``met``, ``paired_ratio`` (the quartiles ``[q1, median, q3]`` of the
        paired ratios) and ``kernel_spread``, ``roofline_spread`` (median over best, minus 1).
    """
    p = synthetic.make("separable", n=n, d_u=d_u, d_v=d_v, seed=0)
    u0, V0 = p.init(0)
    gamma = 0.2
    for alg in ("fedalt", "fedsim"):
        check_roofline(p, alg, tau, gamma)
    timer = time.process_time if clock == "cpu" else time.perf_counter
    counts = [1] + ([2] if numba.config.NUMBA_NUM_THREADS >= 2 else [])
    before = numba.get_num_threads()
    rows = []
    try:
        for threads in counts:
            numba.set_num_threads(threads)
            for alg in ("fedalt", "fedsim"):
                cfg = _config(alg, rounds, tau, gamma, n)
                scratch = np.empty((n, d_u))
                calls = {
                    "kernel": lambda cfg=cfg: simulators.run(p, cfg),
                    "roofline": lambda alg=alg, s=scratch: roofline_rounds(
                        p, alg, rounds, tau, gamma, u0, V0, s
                    ),
                }
                for fn in calls.values():
                    fn()  # compile (or load from the disk cache) and warm up
                times = {name: [] for name in calls}
                for _ in range(repeats):
                    for name, fn in calls.items():
                        t0 = timer()
                        fn()
                        times[name].append(timer() - t0)
                # a coarse clock can read 0 for a tiny run: floor every time at 1 ns
                times = {name: [max(t, 1e-9) for t in ts] for name, ts in times.items()}
                best = {name: min(ts) for name, ts in times.items()}
                spread = {
                    name: float(np.median(ts)) / best[name] - 1.0 for name, ts in times.items()
                }
                paired = [m / k for m, k in zip(times["roofline"], times["kernel"], strict=True)]
                ratio = best["roofline"] / best["kernel"]
                rows.append(
                    {
                        "algorithm": alg,
                        "threads": threads,
                        "kernel_ms_per_round": 1e3 * best["kernel"] / rounds,
                        "roofline_ms_per_round": 1e3 * best["roofline"] / rounds,
                        "ratio": ratio,
                        "met": bool(ratio >= TARGET),
                        "paired_ratio": list(_quartiles(paired)),
                        "kernel_spread": spread["kernel"],
                        "roofline_spread": spread["roofline"],
                    }
                )
    finally:
        numba.set_num_threads(before)
    setup = dict(family="separable", n=n, d_u=d_u, d_v=d_v, tau=tau, rounds=rounds, repeats=repeats)
    return {"setup": {**setup, "clock": clock, "target": TARGET}, "results": rows}


def roofline_report(result) -> str:
    """The rows of :func:`roofline_benchmark` as lines for people."""
    s = result["setup"]
    lines = [
        f"roofline (hand-written micro-kernel, same iterates): separable n={s['n']} "
        f"d_u={s['d_u']} d_v={s['d_v']} tau={s['tau']}, {s['rounds']} rounds, interleaved, "
        f"best of {s['repeats']}, {s['clock']} clock; paired: quartiles of the {s['repeats']} "
        "run-by-run ratios; spread: median over best - 1 (kernel, micro)",
        f"{'algorithm':9} {'threads':>7} {'kernel ms/rd':>12} {'micro ms/rd':>11} {'ratio':>6}",
    ]
    for r in result["results"]:
        q1, q2, q3 = r["paired_ratio"]
        lines.append(
            f"{r['algorithm']:9} {r['threads']:7d} {r['kernel_ms_per_round']:12.3f} "
            f"{r['roofline_ms_per_round']:11.3f} {r['ratio']:6.2f}  "
            f"target >= {s['target']:g}x: {'met' if r['met'] else 'NO '}  "
            f"paired {q2:.2f} [{q1:.2f}, {q3:.2f}]  "
            f"spread {100 * r['kernel_spread']:.0f}%, {100 * r['roofline_spread']:.0f}%"
        )
    return "\n".join(lines)
