"""Reproducibility: same seed, same bits, for any thread count, executor and process.

Histories of every algorithm on noisy tiny problems are compared bit for bit between this
process and fresh processes with ``NUMBA_NUM_THREADS`` = 1 and 2; a small sweep gives exactly the
same stored DataFrame (timings dropped) on the serial executor, the local process pool and a
Dask ``LocalCluster`` (processes, 2 workers). Different seeds give different histories.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from partialfed.experiments import config, store, sweep

HERE = Path(__file__).resolve().parent
FIELDS = ("rounds", "loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next", "clients", "u", "V")


def histories(seed: int) -> dict:
    """Every algorithm on noisy tiny quadratic and logistic problems: ``{key: array}``."""
    from reliability_helpers import tiny_problem

    from partialfed import simulators

    out = {}
    problems = {
        "quadratic": tiny_problem("quadratic", n=12, noise_u=0.3, noise_v=0.2),
        "logistic": tiny_problem("logistic", n=12, batch=2, noise_u=0.1),
    }
    for family, p in problems.items():
        for alg in sorted(simulators.ALGORITHMS):
            cfg = simulators.RunConfig(
                alg, T=8, m=5, gamma_u=0.05, gamma_v=0.05, seed=seed, eval_every=3
            )
            h = simulators.run(p, cfg)
            for f in FIELDS:
                out[f"{family}/{alg}/{f}"] = np.asarray(getattr(h, f))
    return out


SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {here!r})
    from test_reliability_reproducible import histories
    np.savez(sys.argv[1], **histories(0))
    """
)


def assert_bitwise(a: dict, b: dict) -> None:
    """Equal keys, dtypes and bits (NaN equal to NaN)."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k], equal_nan=True), k


@pytest.fixture(scope="module")
def here0():
    return histories(0)


def test_same_seed_same_bits_other_seed_differs(here0):
    assert_bitwise(here0, histories(0))
    other = histories(1)
    differs = [
        k
        for k in here0
        if not k.endswith("/rounds")
        and not np.isnan(here0[k].astype(float)).all()
        and not np.array_equal(here0[k], other[k])
    ]
    assert len(differs) >= len(here0) // 2, "different seeds must give different runs"
    for k in here0:
        if k.endswith(("/loss", "/u")):
            assert not np.array_equal(here0[k], other[k]), k


@pytest.mark.parametrize("threads", [1, 2])
def test_new_process_any_thread_count_same_bits(here0, tmp_path, threads):
    path = tmp_path / f"h{threads}.npz"
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    subprocess.run(
        [sys.executable, "-c", SCRIPT.format(here=str(HERE)), str(path)],
        env=env,
        check=True,
        timeout=300,
    )
    with np.load(path) as data:
        assert_bitwise(here0, {k: data[k] for k in data.files})


GRID = {
    "name": "bits",
    "family": "quadratic",
    "seeds": 2,
    "problem": {"n": 8, "d_u": 3, "d_v": 2, "noise_u": 0.2, "noise_v": 0.1},
    "run": {"algorithm": ["fedalt", "fedsim", "local"], "T": 10, "m": 3, "gamma_u": 0.1},
}


def _frame(directory: Path):
    df = store.load(directory).drop(columns=["elapsed_s"])
    return df.sort_values(["hash", "round"]).reset_index(drop=True)


def test_executors_give_identical_frames(tmp_path):
    s = config.from_dict(GRID)
    frames = {}
    for scheduler in ("serial", "local", "dask-local"):
        out = tmp_path / scheduler
        report = sweep.run_sweep(s, out, scheduler=scheduler, workers=2, progress=False)
        assert report.computed == len(s) == 6 and report.lost == 0, report
        frames[scheduler] = _frame(out)
    assert (frames["serial"]["status"] == "ok").all()
    assert_frame_equal(frames["serial"], frames["local"], check_exact=True)
    assert_frame_equal(frames["serial"], frames["dask-local"], check_exact=True)
