"""Bitwise reproducibility: any thread count, any process, same seed -> same run.

The kernels draw every random number from a counter-based generator and reduce in a fixed
order (docs/architecture.md#randomness-and-reproducibility), so histories must be equal bit for
bit, not merely close.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from sim_helpers import config, tiny_problem

from partialfed import simulators, synthetic

HERE = Path(__file__).resolve().parent
FAMILIES = sorted(synthetic.FAMILIES)
ALGORITHMS = sorted(simulators.ALGORITHMS)
FIELDS = ("rounds", "loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next", "clients", "u", "V")
N_REP = 12  # enough devices that m = 5 clients split over threads


#: Families also run with the threaded kernels (``parallel=True``; tiny runs default to the
#: thread-free ones). Two, because each costs one more cold compile.
THREADED = [f for f in ("quadratic", "separable") if f in FAMILIES]


def histories(seed):
    """Every algorithm on a noisy tiny instance of every family: ``{key: array}``."""
    out = {}
    runs = [(f, None) for f in FAMILIES] + [(f, True) for f in THREADED]
    for family, parallel in runs:
        p = tiny_problem(family, noisy=True, n=N_REP)
        for alg in ALGORITHMS:
            h = simulators.run(
                p, config(p, alg, T=6, m=5, eval_every=2, seed=seed), parallel=parallel
            )
            tag = f"{family}/{alg}/{'threads' if parallel else 'default'}"
            for f in FIELDS:
                out[f"{tag}/{f}"] = getattr(h, f)
            if h.U is not None:
                out[f"{tag}/U"] = h.U
    return out


SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {here!r})
    from test_simulators_reproducible import histories
    np.savez(sys.argv[1], **{{f"s{{s}}/{{k}}": v for s in (0, 1) for k, v in histories(s).items()}})
    """
)


def assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), k


@pytest.fixture(scope="module")
def here_seed0():
    """In-process histories (this also compiles and caches every family's kernel on disk, so
    the subprocesses below only load machine code)."""
    return histories(0)


def test_same_seed_same_history_different_seed_differs(here_seed0):
    assert_bitwise(here_seed0, histories(0))
    other = histories(1)
    for k in here_seed0:
        if k.endswith(("/rounds",)) or np.isnan(here_seed0[k]).all():
            continue
        assert not np.array_equal(here_seed0[k], other[k]), k


def test_thread_count_in_process(here_seed0):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = histories(0)
    finally:
        numba.set_num_threads(before)
    assert_bitwise(here_seed0, one)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_in_new_process(here_seed0, threads, tmp_path):
    if threads > os.cpu_count():
        pytest.skip(f"needs {threads} CPUs")
    out = tmp_path / "h.npz"
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    subprocess.run(
        [sys.executable, "-c", SCRIPT.format(here=str(HERE)), str(out)],
        env=env,
        check=True,
        timeout=600,
    )
    with np.load(out) as z:
        got = {k: z[k] for k in z.files}
    for s in (0, 1):
        prefix = f"s{s}/"
        mine = here_seed0 if s == 0 else histories(1)
        assert_bitwise(mine, {k[len(prefix) :]: v for k, v in got.items() if k.startswith(prefix)})
