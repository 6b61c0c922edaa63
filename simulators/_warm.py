"""Whether a run of a problem would compile its round kernel first (for progress messages).

Numba compiles ``run_rounds`` once per argument types, i.e. once per family's data type (the
algorithm, steps and sizes are typed alike for every run). The first call in a process either
finds that variant in memory, loads it from the on-disk cache (``partialfed._cache``; about a
second), or compiles it (tens of seconds). :func:`kernel_state` tells the three apart *before*
the call, from the dispatcher's compiled signatures and the cache's index file, so a caller can
say "compiling kernels" while it happens. Per-FedAvg and Ditto have a kernel of their own
(``run_meta_rounds``), asked about with ``kernel_state(problem, algorithm)``. It reads numba's
cache index the way numba's own ``Cache.load_overload`` does; when that is not possible
(caching disabled, another numba layout) the answer is ``"cold"`` unless the variant is in
memory.
"""

from __future__ import annotations

import numpy as np

from partialfed.simulators._records import Alg, Meta, Noise, Steps

__all__ = ["kernel_state"]


def _arguments(problem) -> tuple:
    """Arguments of the types ``run`` passes ``run_rounds`` for ``problem`` (tiny arrays)."""
    from partialfed.simulators._api import RunConfig
    from partialfed.simulators._tracking import full_tracked

    U = np.zeros((1, problem.d_u))
    V = np.zeros((problem.n, problem.d_v))
    rec = np.full((1, 4), np.nan)
    clients = np.full((1, 1), -1, dtype=np.int64)
    steps = Steps.of(RunConfig())
    return (
        Alg.FEDALT,
        steps,
        Noise.of(problem),
        problem.data,
        problem.sizes,
        problem.batch,
        U,
        V,
        V.copy(),
        rec,
        clients,
        False,
        full_tracked(),
        np.zeros(2, dtype=np.int64),
    )


def _meta_arguments(problem) -> tuple:
    """Arguments of the types ``run`` passes ``run_meta_rounds`` for ``problem``."""
    from partialfed.simulators._api import RunConfig

    U = np.zeros((1, problem.d_u))
    V = np.zeros((problem.n, problem.d_v))
    config = RunConfig("perfedavg")
    return (
        Alg.PERFEDAVG,
        Steps.of(config),
        Meta.of(config),
        Noise.of(problem),
        problem.data,
        problem.sizes,
        problem.batch,
        U,
        V,
        np.zeros((0, problem.d_u)),
        np.zeros((0, problem.d_v)),
        np.full((1, 4), np.nan),
        np.full((1, 2), np.nan),
        np.full((1, 1), -1, dtype=np.int64),
        False,
    )


def _on_disk(dispatcher, signature) -> bool:
    cache = getattr(dispatcher, "_cache", None)
    try:
        index = cache._cache_file._load_index()
        key = cache._index_key(signature, dispatcher.targetctx.codegen())
    except Exception:  # noqa: BLE001 - no cache, or a numba without this layout
        return False
    return key in index


def kernel_state(problem, algorithm: str = "fedalt") -> str:
    """Where the round kernel for ``problem`` would come from on the next run in this process.

    Parameters
    ----------
    problem : synthetic.Problem
    algorithm : str
        A key of ``simulators.ALGORITHMS``: ``perfedavg`` and ``ditto`` share a kernel of their
        own, the others ``run_rounds``.

    Returns
    -------
    str
        ``"memory"`` (compiled or loaded already in this process), ``"disk"`` (in the on-disk
        cache: loaded in about a second) or ``"cold"`` (it will be compiled).
    """
    from partialfed._constraints import Options, validate
    from partialfed.simulators._api import ALGORITHMS, KERNEL_MODULES, META_KERNEL_MODULES

    validate(algorithm, "algorithm", "kernel_state", Options(str, ALGORITHMS))
    if ALGORITHMS[algorithm].meta:
        dispatcher = problem.kernels(META_KERNEL_MODULES).run_meta_rounds
        arguments = _meta_arguments(problem)
    else:
        dispatcher = problem.kernels(KERNEL_MODULES).run_rounds
        arguments = _arguments(problem)
    signature = tuple(dispatcher.typeof_pyval(a) for a in arguments)
    if signature in dispatcher.overloads:
        return "memory"
    return "disk" if _on_disk(dispatcher, signature) else "cold"
