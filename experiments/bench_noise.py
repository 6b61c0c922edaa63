"""Speed of the kernels' Gaussian noise (``partialfed bench --noise``).

Two measurements, in one process:

- **generator**: standard normals per second drawn as the round kernels draw them, one block of
  ``tau d_u`` normals per (device, phase) (``_rng.fill_normals``), against the same counters
  pushed through the libm Box-Muller transform (``np.log``, ``np.cos``, ``np.sin`` per pair: the
  generator before issue 12), so the ratio is free of the machine's load;
- **kernel**: noisy coordinate-steps per second of FedAlt and FedSim on the benchmark problem
  (``experiments.bench.make_problem``, full participation): ``n (tau_u d_u + tau_v d_v)``
  coordinate updates per round over the time per round, with the deterministic round beside it.

Target (GitHub issue 12): >= 150 M noisy coordinate-steps per second per core
(``NUMBA_NUM_THREADS=1``, ``--clock cpu`` on a shared machine).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

from partialfed import simulators
from partialfed.experiments.bench import _best, _kernel_config, make_problem
from partialfed.simulators import _rng

TARGET_COORD_STEPS = 150e6  # per second per core (issue 12)


@njit(cache=True, nogil=True, error_model="numpy")
def _libm_pair(kk, p):
    """Box-Muller with libm's ``log``, ``cos``, ``sin`` on the uniforms of pair ``p``."""
    rad = np.sqrt(-2.0 * np.log(_rng.uniform(kk, 2 * p)))
    a = 2.0 * np.pi * _rng.uniform(kk, 2 * p + 1)
    return rad * np.cos(a), rad * np.sin(a)


@njit(cache=True, nogil=True, error_model="numpy")
def draw_blocks_libm(buf, blocks, seed):
    """``blocks`` blocks of ``len(buf)`` normals through ``_libm_pair``; returns a checksum."""
    total = 0.0
    for b in range(blocks):
        kk = _rng.noise_key(seed, _rng.STREAM_NOISE_U, 0, b)
        for p in range(buf.shape[0] // 2):
            buf[2 * p], buf[2 * p + 1] = _libm_pair(kk, p)
        total += buf[0]
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def draw_blocks(buf, blocks, seed):
    """``blocks`` blocks of ``len(buf)`` normals, as the kernels draw a phase; a checksum."""
    total = 0.0
    for b in range(blocks):
        _rng.fill_normals(buf, 1.0, _rng.noise_key(seed, _rng.STREAM_NOISE_U, 0, b), 0)
        total += buf[0]
    return total


def noise_benchmark(n=1000, d_u=40, d_v=10, tau=10, rounds=50, repeats=3, clock="wall") -> dict:
    """Normals per second (new and libm) and noisy coordinate-steps per second of the kernels.

    Parameters are those of ``experiments.bench.run_benchmark``; the generator draws
    ``n * rounds`` blocks of ``tau * d_u`` normals (an even block).
    """
    block = tau * d_u + (tau * d_u) % 2
    buf = np.empty(block)
    blocks = max(1, n * rounds // 10)
    gen = {}
    for name, fn in (("new", draw_blocks), ("libm", draw_blocks_libm)):
        fn(buf, 1, 0)  # compile
        gen[name] = blocks * block / _best(lambda fn=fn: fn(buf, blocks, 1), repeats, clock)
    rows = []
    work = n * tau * (d_u + d_v)
    for alg in ("fedalt", "fedsim"):
        cfg = _kernel_config(alg, rounds, tau, 0.2, n)
        per_round = {}
        for noisy in (False, True):
            p = make_problem(n, d_u, d_v, noisy)
            simulators.run(p, cfg)  # compile and warm up
            run = partial(simulators.run, p, cfg)
            per_round[noisy] = _best(run, repeats, clock) / rounds
        rows.append(
            dict(
                algorithm=alg,
                noisy_ms_per_round=1e3 * per_round[True],
                deterministic_ms_per_round=1e3 * per_round[False],
                noisy_coord_steps_per_s=work / per_round[True],
                noise_share=1.0 - per_round[False] / per_round[True],
            )
        )
    import numba

    setup = dict(
        n=n, d_u=d_u, d_v=d_v, tau=tau, rounds=rounds, block=block, repeats=repeats, clock=clock
    )
    setup["threads"] = numba.get_num_threads()
    return {"setup": setup, "generator": gen, "kernels": rows}


def noise_report(result) -> str:
    """A plain-text summary of ``noise_benchmark``."""
    s, g = result["setup"], result["generator"]
    lines = [
        f"separable n={s['n']} d_u={s['d_u']} d_v={s['d_v']} tau={s['tau']} m=n, "
        f"{s['rounds']} rounds, best of {s['repeats']}, {s['threads']} numba threads, "
        f"{s['clock']} clock",
        f"generator (blocks of {s['block']}): {g['new'] / 1e6:.0f} M normals/s, libm Box-Muller "
        f"{g['libm'] / 1e6:.0f} M normals/s (x{g['new'] / g['libm']:.2f})",
        f"{'algorithm':9} {'noisy ms/rd':>11} {'det ms/rd':>9} {'M coord-steps/s':>15} "
        f"{'noise share':>11}",
    ]
    for r in result["kernels"]:
        lines.append(
            f"{r['algorithm']:9} {r['noisy_ms_per_round']:11.3f} "
            f"{r['deterministic_ms_per_round']:9.3f} {r['noisy_coord_steps_per_s'] / 1e6:15.0f} "
            f"{r['noise_share']:11.0%}"
        )
    met = min(r["noisy_coord_steps_per_s"] for r in result["kernels"]) >= TARGET_COORD_STEPS
    lines.append(
        f"target: >= {TARGET_COORD_STEPS / 1e6:.0f} M noisy coordinate-steps/s per core: "
        f"{'met' if met else 'NOT met'}"
    )
    return "\n".join(lines)
