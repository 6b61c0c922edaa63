"""The kernel boundary: typed records, one algorithm encoding, the GIL released, cache hits."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np

from partialfed import simulators, synthetic
from partialfed.simulators._records import VARIANTS, Alg, Meta, Noise, Steps, Variant
from partialfed.simulators._tracking import full_tracked


def test_steps_carry_every_step_parameter_under_its_config_name():
    cfg = simulators.RunConfig(
        "fedsim", T=7, m=2, tau_u=3, tau_v=3, gamma_u=1, gamma_v=0.25, seed=5, eval_every=2
    )
    steps = Steps.of(cfg)
    config_fields = {f.name for f in dataclasses.fields(simulators.RunConfig)}
    # The step parameters travel in Steps, Per-FedAvg's and Ditto's in Meta.
    assert set(Steps._fields) | set(Meta._fields) == config_fields - {"algorithm"}
    assert not set(Steps._fields) & set(Meta._fields)
    for name in Steps._fields:
        assert getattr(steps, name) == getattr(cfg, name), name
    meta = Meta.of(simulators.RunConfig("perfedavg", alpha=0.3, variant="hf", hf_delta=0.5))
    assert (meta.alpha, meta.hf_delta) == (0.3, 0.5)
    assert meta.variant == VARIANTS["hf"] == Variant.HF
    meta = Meta.of(simulators.RunConfig("ditto", ditto_lam=2))
    assert meta.ditto_lam == 2.0 and type(meta.ditto_lam) is float
    # Typed as declared: an integer step size still reaches the kernel as a float.
    assert type(steps.gamma_u) is float and type(steps.T) is int


def test_noise_is_the_problems_additive_noise():
    p = synthetic.make("quadratic", n=4, noise_u=0.3, noise_v=0.2, seed=0)
    assert Noise.of(p) == (0.3, 0.2)


def test_one_algorithm_encoding():
    members = [a.alg for a in simulators.ALGORITHMS.values()]
    assert sorted(members) == sorted(Alg) and len(set(members)) == len(members)
    for name, a in simulators.ALGORITHMS.items():
        assert a.alg.name.lower() == name
    algs = simulators.ALGORITHMS
    assert {n for n, a in algs.items() if a.records_V_next} == {"fedalt", "fedrecon"}
    joint = {"fedsim", "fedavg", "perfedavg", "ditto"}
    assert {n for n, a in algs.items() if a.joint_steps} == joint
    assert {n for n, a in algs.items() if a.per_device_u} == {"local"}
    assert {n for n, a in algs.items() if a.stateless_v} == {"fedrecon"}
    assert {n for n, a in algs.items() if a.global_v} == {"fedavg", "perfedavg", "ditto"}
    assert {n for n, a in algs.items() if a.meta} == {"perfedavg", "ditto"}


def _kernel_call(p, T):
    """The round kernel's arguments for a stable FedAlt run of T rounds, and its ``rec``."""
    cfg = simulators.RunConfig("fedalt", T=T, m=2, gamma_u=0.1, gamma_v=0.1, seed=0)
    u0, V0 = p.init(0)
    rec = np.full((T + 1, 4), np.nan)
    clients = np.full((T, cfg.m), -1, dtype=np.int64)
    args = (
        Alg.FEDALT,
        Steps.of(cfg),
        Noise.of(p),
        p.data,
        p.sizes,
        p.batch,
        u0[None, :].copy(),
        V0.copy(),
        V0.copy(),
        rec,
        clients,
        False,
        full_tracked(),
        simulators._api.noise_lengths(p, cfg),
    )
    return args, rec


def test_round_kernel_releases_the_gil():
    """Another Python thread runs while the kernel runs (a Dask worker keeps its heartbeat).

    The kernel fills ``rec`` row by row: row 0 at round 0, the last row just before it returns.
    A watcher thread that sees row 0 written and the last row not yet written has executed
    Python code while the kernel was running, which is impossible if the kernel holds the GIL.
    No clock is involved: if the kernel finishes before the watcher was scheduled (a loaded
    machine), the run is repeated with more rounds.
    """
    p = synthetic.make("quadratic", n=4, d_u=2, d_v=1, seed=0)
    kernels = p.kernels(simulators._api.KERNEL_MODULES)
    kernels.run_rounds(*_kernel_call(p, 2)[0])  # compile (or load) outside the observed call
    T = 20_000
    for _ in range(4):
        args, rec = _kernel_call(p, T)
        seen = threading.Event()
        finished = threading.Event()
        iterations = [0]

        def watch(rec=rec, seen=seen, finished=finished, iterations=iterations):
            while not finished.is_set():
                iterations[0] += 1
                if not np.isnan(rec[0, 0]) and np.isnan(rec[-1, 0]):
                    seen.set()
                    return

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            kernels.run_rounds(*args)
        finally:
            finished.set()
            watcher.join()
        assert not np.isnan(rec[:, 0]).any()  # the kernel ran to the end
        if seen.is_set():
            break
        T *= 4
    assert seen.is_set(), f"no other thread ran during a {T}-round kernel ({iterations[0]} loops)"
    assert iterations[0] > 0


def test_cached_kernels_load_in_a_new_process():
    """Dispatch on the family's data type keeps numba's on-disk cache valid across processes."""
    script = textwrap.dedent(
        """
        from partialfed import simulators, synthetic
        p = synthetic.make("quadratic", n=4, d_u=2, d_v=1, seed=0)
        simulators.run(p, simulators.RunConfig("fedalt", T=2, m=2))
        k = p.kernels(simulators._api.KERNEL_MODULES).run_rounds
        print(sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))
        """
    )
    p = synthetic.make("quadratic", n=4, d_u=2, d_v=1, seed=0)
    simulators.run(p, simulators.RunConfig("fedalt", T=2, m=2))  # compiles or loads the cache
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    hits, misses = map(int, out.stdout.split()[-2:])
    assert (hits, misses) == (1, 0), out.stdout + out.stderr


def test_family_kernels_dispatch_and_user_objectives_get_generated_ones():
    """A family's problem runs the kernel modules themselves; the same data with other
    functions (a user's objective) gets kernels generated for those functions."""
    from partialfed.synthetic import _kernels as metric_kernels

    p = synthetic.make("quadratic", n=4, d_u=2, d_v=1, seed=0)
    assert p.kernels(metric_kernels) is metric_kernels
    q = synthetic._problem.Problem(
        name="q-again",
        n=p.n,
        d_u=p.d_u,
        d_v=p.d_v,
        data=p.data,
        loss_fn=p.loss_fn,
        grad_u_fn=p.grad_v_fn,  # swapped: must not be dispatched to quadratic's grad_u
        grad_v_fn=p.grad_u_fn,
        constants=p.constants,
        init=p.init,
    )
    assert q.kernels(metric_kernels) is not metric_kernels


def test_generated_kernels_are_renamed_when_partialfed_kernel_sources_change(monkeypatch, tmp_path):
    """A user objective's generated module imports the random generator and the records rather
    than copying them, so its cached machine code contains code from other files; numba's cache
    only watches the generated file. Its name must follow partialfed's kernel sources, else an
    upgraded partialfed would load kernels compiled from the old sources."""
    from partialfed import _cache, _codegen
    from partialfed.synthetic import _kernels as metric_kernels

    p = synthetic.make("quadratic", n=4, d_u=2, d_v=1, seed=0)
    monkeypatch.setattr(_codegen, "kernel_dir", lambda: tmp_path)
    names = set()
    for digest in ("a" * 64, "b" * 64):
        monkeypatch.setattr(_cache, "_SOURCE_DIGEST", digest)
        monkeypatch.setattr(_codegen, "_MEMO", {})
        module = _codegen.specialise((metric_kernels,), p.loss_fn, p.grad_u_fn, p.grad_v_fn)
        names.add(module.__name__)
    assert len(names) == 2, names


def test_the_cache_stamp_covers_the_records_the_kernels_take():
    """numba keys a cached kernel by its argument types, and a NamedTuple's type is its class and
    field types (not the field names), an IntEnum member's its class: reordering ``Steps`` or
    renumbering ``Alg`` would leave the key alone. So ``_records.py`` must enter the stamp of
    every cached kernel, as the family modules (with their data classes) do."""
    from pathlib import Path

    from partialfed import _cache
    from partialfed.simulators import _records
    from partialfed.synthetic import _quadratic_objective

    for module in (_records, _quadratic_objective):
        assert _cache._JITTED.search(Path(module.__file__).read_bytes()), module.__name__
