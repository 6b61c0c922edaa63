"""Speed of the FedAlt and FedSim round kernels against NumPy references.

Problem: ``synthetic.make("separable", n, d_u, d_v)`` (chi = 0, the benchmark family), full
participation ``m = n``, ``tau_u = tau_v = tau``, deterministic and with additive gradient noise.
Compared, per round:

- **kernel**: ``simulators.run`` (the Numba ``prange`` kernel, compiled and warmed up first);
  metrics recorded only at rounds 0 and T (``eval_every = rounds``), so rounds are timed (the
  cost of metrics at every round is ``bench --scale``, ``experiments.bench_metrics``);
- **vectorised**: NumPy over all clients at once, ``(m, d)`` arrays per local step;
- **loop**: a Python loop over clients, NumPy over the coordinates of one client.

The references use ``numpy.random.Generator.standard_normal`` for the noise (cheaper in NumPy
than the kernels' counter-based generator, so the noisy ratios are conservative) and run fewer
rounds (``ref_rounds``, ``loop_rounds``); every time is reported per round. Before timing, the
deterministic references are checked against the kernel (same iterates to 1e-9 relative).

Targets (GitHub issue 2): kernel >= 20x the vectorised reference and >= 200x the per-client
loop; <= 1 ms per deterministic round at n = 1000; n = 10^6 devices with d_v = 10, m = 1000 in
<= 2 GB peak resident memory (measured with ``resource.getrusage`` in a fresh subprocess).

Usage::

    partialfed bench                 # the issue's sizes
    partialfed bench --n 200 --rounds 20 --no-memory   # quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from functools import partial

import numpy as np

from partialfed import simulators, synthetic

TARGETS = {"vectorised": 20.0, "loop": 200.0, "ms_per_round": 1.0, "peak_rss_gb": 2.0}


# -- the problem and its NumPy gradients ------------------------------------------------------


def make_problem(n, d_u, d_v, noisy, seed=0):
    """The benchmark instance (``separable``; noise ``noise_u = noise_v = 0.5`` if noisy)."""
    sigma = 0.5 if noisy else 0.0
    return synthetic.make(
        "separable", n=n, d_u=d_u, d_v=d_v, noise_u=sigma, noise_v=sigma, seed=seed
    )


class SeparableNumpy:
    """``grad_u``/``grad_v`` of the separable family for a batch of devices, in NumPy.

    ``F_i(u, v) = sum_j phi(u_j - a_ij) + mu/2 ||u||^2 + 1/2 (v - b_i)^T R (v - b_i) + u^T Q v``
    with ``phi(t) = t^2 / (1 + t^2)`` (see ``synthetic.separable``).
    """

    def __init__(self, p):
        a, cl, r, b, Q, par = p.data
        self.a, self.cl, self.r, self.b, self.mu = a, cl, r, b, float(par[0])
        self.Q = Q if Q.size else None

    def grad_u(self, rows, U, V):
        t = U - self.a[self.cl[rows]]
        q = 1.0 + t * t
        g = 2.0 * t / (q * q) + self.mu * U
        if self.Q is not None:
            g += V @ self.Q.T
        return g

    def grad_v(self, rows, U, V):
        g = self.r * (V - self.b[self.cl[rows]])
        if self.Q is not None:
            g += U @ self.Q
        return g


# -- references -------------------------------------------------------------------------------


def vectorised_rounds(p, alg, rounds, tau, gamma, u, V, rng):
    """``rounds`` full-participation rounds of ``alg`` vectorised over all clients."""
    g = SeparableNumpy(p)
    n = p.n
    rows = np.arange(n)
    su = p.noise_u / np.sqrt(p.d_u) if p.noise_u else 0.0
    sv = p.noise_v / np.sqrt(p.d_v) if p.noise_v and p.d_v else 0.0
    V = V.copy()
    for _ in range(rounds):
        U = np.broadcast_to(u, (n, p.d_u)).copy()
        if alg == "fedalt":
            for _ in range(tau):
                G = g.grad_v(rows, U, V)
                if sv:
                    G += sv * rng.standard_normal(G.shape)
                V -= gamma * G
            for _ in range(tau):
                G = g.grad_u(rows, U, V)
                if su:
                    G += su * rng.standard_normal(G.shape)
                U -= gamma * G
        else:
            for _ in range(tau):
                Gu = g.grad_u(rows, U, V)
                Gv = g.grad_v(rows, U, V)
                if su:
                    Gu += su * rng.standard_normal(Gu.shape)
                if sv:
                    Gv += sv * rng.standard_normal(Gv.shape)
                U -= gamma * Gu
                V -= gamma * Gv
        u = U.mean(axis=0)
    return u, V


def loop_rounds(p, alg, rounds, tau, gamma, u, V, rng):
    """``rounds`` full-participation rounds of ``alg``: a Python loop over the clients."""
    g = SeparableNumpy(p)
    su = p.noise_u / np.sqrt(p.d_u) if p.noise_u else 0.0
    sv = p.noise_v / np.sqrt(p.d_v) if p.noise_v and p.d_v else 0.0
    V = V.copy()
    for _ in range(rounds):
        total = np.zeros(p.d_u)
        for i in range(p.n):
            row = np.array([i])
            ui, vi = u[None, :].copy(), V[i][None, :].copy()
            if alg == "fedalt":
                for _ in range(tau):
                    G = g.grad_v(row, ui, vi)
                    if sv:
                        G += sv * rng.standard_normal(G.shape)
                    vi -= gamma * G
                for _ in range(tau):
                    G = g.grad_u(row, ui, vi)
                    if su:
                        G += su * rng.standard_normal(G.shape)
                    ui -= gamma * G
            else:
                for _ in range(tau):
                    Gu = g.grad_u(row, ui, vi)
                    Gv = g.grad_v(row, ui, vi)
                    if su:
                        Gu += su * rng.standard_normal(Gu.shape)
                    if sv:
                        Gv += sv * rng.standard_normal(Gv.shape)
                    ui -= gamma * Gu
                    vi -= gamma * Gv
            total += ui[0]
            V[i] = vi[0]
        u = total / p.n
    return u, V


# -- timing -----------------------------------------------------------------------------------


def _best(fn, repeats, clock="wall"):
    """Best time of ``repeats`` calls: wall clock, or this process's CPU time (``"cpu"``, a fair
    measure on a shared machine when numba runs one thread)."""
    timer = time.process_time if clock == "cpu" else time.perf_counter
    best = np.inf
    for _ in range(repeats):
        t0 = timer()
        fn()
        best = min(best, timer() - t0)
    return best


def _kernel_config(alg, rounds, tau, gamma, n):
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


def _check_references(p, alg, tau, gamma):
    """Deterministic references reproduce the kernel's iterates (a few rounds)."""
    T = 3
    h = simulators.run(p, _kernel_config(alg, T, tau, gamma, p.n))
    u0, V0 = p.init(0)
    rng = np.random.default_rng(0)
    for name, fn in (("vectorised", vectorised_rounds), ("loop", loop_rounds)):
        u, V = fn(p, alg, T, tau, gamma, u0, V0, rng)
        for x, y in ((u, h.u), (V, h.V)):
            err = np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)
            if err > 1e-9:
                raise AssertionError(f"{name} reference disagrees with the {alg} kernel: {err}")


def run_benchmark(
    n=1000,
    d_u=40,
    d_v=10,
    tau=10,
    rounds=100,
    repeats=3,
    ref_rounds=None,
    loop_rounds_=2,
    check=True,
    clock="wall",
) -> dict:
    """Time FedAlt and FedSim kernels and both NumPy references; return a result dict.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (all sampled every round) and block dimensions.
    tau : int
        ``tau_u = tau_v``.
    rounds : int
        Rounds of each kernel run.
    repeats : int
        Timings are the best of this many runs.
    ref_rounds : int, optional
        Rounds of the vectorised reference (default ``max(1, rounds // 5)``).
    loop_rounds_ : int
        Rounds of the per-client loop (slow; scaled per round).
    check : bool
        First verify (deterministic) that both references compute the kernel's iterates.
    clock : {"wall", "cpu"}
        Wall-clock time, or CPU time of this process (use with ``NUMBA_NUM_THREADS=1`` on a
        machine shared with other jobs).

    Returns
    -------
    dict
        ``{"setup": {...}, "results": [row, ...]}``; each row has ``algorithm``, ``noise``,
        ``kernel_ms_per_round``, ``vectorised_ms_per_round``, ``loop_ms_per_round``,
        ``speedup_vectorised``, ``speedup_loop``.
    """
    ref_rounds = ref_rounds or max(1, rounds // 5)
    gamma = 0.2
    rows = []
    for noisy in (False, True):
        p = make_problem(n, d_u, d_v, noisy)
        u0, V0 = p.init(0)
        for alg in ("fedalt", "fedsim"):
            if check and not noisy:
                _check_references(p, alg, tau, gamma)
            cfg = _kernel_config(alg, rounds, tau, gamma, n)
            rng = np.random.default_rng(1)
            kernel = partial(simulators.run, p, cfg)
            vec = partial(vectorised_rounds, p, alg, ref_rounds, tau, gamma, u0, V0, rng)
            loop = partial(loop_rounds, p, alg, loop_rounds_, tau, gamma, u0, V0, rng)
            kernel()  # compile (or load from the disk cache) and warm up
            t_kernel = _best(kernel, repeats, clock) / rounds
            t_vec = _best(vec, repeats, clock) / ref_rounds
            t_loop = _best(loop, 1, clock) / loop_rounds_
            rows.append(
                {
                    "algorithm": alg,
                    "noise": noisy,
                    "kernel_ms_per_round": 1e3 * t_kernel,
                    "vectorised_ms_per_round": 1e3 * t_vec,
                    "loop_ms_per_round": 1e3 * t_loop,
                    "speedup_vectorised": t_vec / t_kernel,
                    "speedup_loop": t_loop / t_kernel,
                }
            )
    import numba

    setup = dict(
        family="separable",
        n=n,
        d_u=d_u,
        d_v=d_v,
        tau_u=tau,
        tau_v=tau,
        m=n,
        rounds=rounds,
        ref_rounds=ref_rounds,
        loop_rounds=loop_rounds_,
        repeats=repeats,
        threads=numba.get_num_threads(),
        clock=clock,
    )
    return {"setup": setup, "results": rows}


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    from partialfed import synthetic, simulators
    n, d_u, d_v, m, T, every_round = (int(x) for x in sys.argv[1:7])
    p = synthetic.make("separable", n=n, d_u=d_u, d_v=d_v, seed=0)
    cfg = simulators.RunConfig("fedalt", T=T, m=m, tau_u=10, tau_v=10, gamma_u=0.2,
                               gamma_v=0.2, seed=0, eval_every=1 if every_round else T)
    t0 = time.perf_counter()
    h = simulators.run(p, cfg, metrics="incremental" if every_round else "auto")
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak_rss_gb": rss / 2**30, "seconds": dt, "status": h.status}))
    """
)


def memory_benchmark(n=10**6, d_u=40, d_v=10, m=1000, rounds=10, every_round=False) -> dict:
    """Peak resident memory of one FedAlt run with ``n`` devices, in a fresh subprocess.

    ``every_round``: metrics at every round (``eval_every = 1``), incremental
    (``bench_metrics.scale_memory``); otherwise at rounds 0 and ``rounds`` only.
    """
    args = (n, d_u, d_v, m, rounds, int(bool(every_round)))
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(n=n, d_u=d_u, d_v=d_v, m=m, rounds=rounds)
    return res


def report(result, memory=None) -> str:
    """A plain-text table of ``run_benchmark`` (and ``memory_benchmark``) results."""
    s = result["setup"]
    lines = [
        f"separable n={s['n']} d_u={s['d_u']} d_v={s['d_v']} tau_u=tau_v={s['tau_u']} m=n, "
        f"{s['rounds']} kernel rounds ({s['ref_rounds']} vectorised, {s['loop_rounds']} loop), "
        f"best of {s['repeats']}, {s['threads']} numba threads, {s['clock']} clock",
        f"{'algorithm':9} {'noise':5} {'kernel ms/rd':>12} {'vec ms/rd':>10} {'loop ms/rd':>11} "
        f"{'x vec':>7} {'x loop':>8}",
    ]
    for r in result["results"]:
        lines.append(
            f"{r['algorithm']:9} {'yes' if r['noise'] else 'no':5} "
            f"{r['kernel_ms_per_round']:12.3f} {r['vectorised_ms_per_round']:10.2f} "
            f"{r['loop_ms_per_round']:11.1f} {r['speedup_vectorised']:7.1f} "
            f"{r['speedup_loop']:8.0f}"
        )
    t = TARGETS
    lines.append(
        f"targets: >= {t['vectorised']:g}x vectorised, >= {t['loop']:g}x loop, "
        f"<= {t['ms_per_round']:g} ms per deterministic round"
    )
    det = [r for r in result["results"] if not r["noise"]]
    verdict = {
        "x vectorised": min(r["speedup_vectorised"] for r in result["results"]) >= t["vectorised"],
        "x loop": min(r["speedup_loop"] for r in result["results"]) >= t["loop"],
        "ms/round": max(r["kernel_ms_per_round"] for r in det) <= t["ms_per_round"],
    }
    if memory is not None:
        verdict["memory"] = memory["peak_rss_gb"] <= t["peak_rss_gb"]
    lines.append("met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in verdict.items()))
    if memory is not None:
        lines.append(
            f"memory: n={memory['n']} d_v={memory['d_v']} m={memory['m']} "
            f"{memory['rounds']} rounds: peak RSS {memory['peak_rss_gb']:.3f} GB "
            f"(target <= {t['peak_rss_gb']:g} GB), {memory['seconds']:.2f} s"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line: print the benchmark table; ``--json`` prints the raw result instead."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d-u", type=int, default=40)
    ap.add_argument("--d-v", type=int, default=10)
    ap.add_argument("--tau", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-n", type=int, default=10**6)
    ap.add_argument("--no-memory", action="store_true", help="skip the n = 10^6 memory run")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run_benchmark(
        args.n, args.d_u, args.d_v, args.tau, args.rounds, args.repeats, clock=args.clock
    )
    memory = None if args.no_memory else memory_benchmark(n=args.memory_n, d_v=args.d_v)
    if args.json:
        print(json.dumps({**result, "memory": memory}, indent=2))
    else:
        print(report(result, memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
