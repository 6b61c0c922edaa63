"""Divergence is a result, not a crash: status "diverged", the round, the last finite metrics.

Step sizes far too large make every algorithm blow up on a quadratic; the run must end with
``status == "diverged"``, ``diverged_at`` the first round with an iterate (any device's) or a
metric (loss, Delta_u, Delta_v) that is non-finite or beyond 1e100, whatever ``eval_every``, finite
metrics at every recorded round before it and NaN from it on. In a sweep (serial executor
and local process pool) the diverging cells are stored with status "diverged" and their message
while the other cells are "ok".
"""

from __future__ import annotations

import numpy as np
import pytest
from reliability_helpers import tiny_problem

from partialfed import simulators
from partialfed.experiments import config, store, sweep

ALGORITHMS = sorted(simulators.ALGORITHMS)
METRICS = ("loss", "grad_u_sq", "grad_v_sq")


def assert_clean_divergence(h: simulators.History) -> None:
    """Check the divergence contract of one History."""
    assert h.status == "diverged", h
    assert isinstance(h.diverged_at, int) and 1 <= h.diverged_at <= h.config.T
    assert str(h.diverged_at) in h.message and "\n" not in h.message
    before = h.rounds < h.diverged_at
    assert before.any(), "round 0 is always finite"
    for name in METRICS:
        values = getattr(h, name)
        assert np.all(np.isfinite(values[before])), (name, values)
        assert np.all(np.isnan(values[~before])), (name, values)
    assert h.clients.shape == (h.diverged_at, h.config.m)
    frame = h.to_frame()
    assert (frame["status"] == "diverged").all()


def _quick_like(alg: str, eval_every: int) -> simulators.History:
    """The shipped ``quick`` sweep's problem and run with gamma_u = 50 (reported: ``local`` ended
    at a gap of 3.5e+126 with status "ok" while the other algorithms diverged)."""
    from partialfed import synthetic

    p = synthetic.make(
        "quadratic", n=10, d_u=3, d_v=2, delta=1.0, chi=0.5, noise_u=0.1, noise_v=0.1, seed=0
    )
    cfg = simulators.RunConfig(
        algorithm=alg, T=50, m=3, tau_u=2, tau_v=2, gamma_u=50.0, gamma_v=0.1,
        eval_every=eval_every,
    )  # fmt: skip
    return simulators.run(p, cfg)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_bug_divergence_is_caught_for_every_algorithm_whatever_eval_every(alg):
    first = _quick_like(alg, 1)
    assert first.status == "diverged", first
    assert np.all(np.abs(first.loss[np.isfinite(first.loss)]) < 1e100)
    for every in (2, 3, 5, 7):
        h = _quick_like(alg, every)
        assert (h.status, h.diverged_at) == ("diverged", first.diverged_at), (every, h)
        assert_clean_divergence(h)


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("gamma", [1e2, 1e4, 1e6])
def test_every_algorithm_diverges_cleanly(alg, gamma):
    p = tiny_problem("quadratic", L_u=10.0, L_v=10.0)
    h = simulators.run(p, simulators.RunConfig(alg, T=60, m=3, gamma_u=gamma, gamma_v=gamma))
    assert_clean_divergence(h)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_small_step_same_problem_is_ok(alg):
    p = tiny_problem("quadratic", L_u=10.0, L_v=10.0)
    h = simulators.run(p, simulators.RunConfig(alg, T=20, m=3, gamma_u=0.01, gamma_v=0.01))
    assert h.status == "ok" and h.diverged_at is None and np.all(np.isfinite(h.loss))


def test_bug_representation_metrics_overflow_before_diverged_at():
    """Iterates below the 1e100 threshold can already give inf gradient norms (bilinear model)."""
    p = tiny_problem("representation")
    h = simulators.run(p, simulators.RunConfig("fedalt", T=30, m=3, gamma_u=1e4, gamma_v=1e4))
    assert_clean_divergence(h)


GRID = {
    "name": "diverging",
    "family": "quadratic",
    "seeds": [0, 1],
    "problem": {"n": 6, "d_u": 3, "d_v": 2, "L_u": 10.0, "L_v": 10.0},
    "run": {"algorithm": ALGORITHMS, "T": 40, "m": 3, "gamma_u": [0.01, 1e4], "gamma_v": 0.01},
}


@pytest.mark.parametrize("scheduler", ["serial", "local"])
def test_sweep_survives_diverging_cells(tmp_path, scheduler):
    s = config.from_dict(GRID)
    report = sweep.run_sweep(s, tmp_path, scheduler=scheduler, workers=2, progress=False)
    n_bad = len(ALGORITHMS) * 2
    assert report.total == report.computed == len(s) == 2 * n_bad
    assert report.statuses == {"ok": n_bad, "diverged": n_bad}, report.statuses
    assert report.lost == 0
    problems: list = []
    df = store.load(tmp_path, errors=problems)
    assert problems == []
    per_run = df.groupby("hash").agg(
        status=("status", "first"), gamma_u=("gamma_u", "first"), message=("message", "first")
    )
    assert set(per_run.loc[per_run.gamma_u == 1e4, "status"]) == {"diverged"}
    assert set(per_run.loc[per_run.gamma_u == 0.01, "status"]) == {"ok"}
    diverged = per_run[per_run.status == "diverged"]
    assert diverged.message.str.contains("round").all()
    rows = df[df.status == "diverged"]
    finite = np.isfinite(rows["loss"].to_numpy(dtype=float))
    assert finite.any() and (~finite).any()  # last finite metrics kept, then NaN
