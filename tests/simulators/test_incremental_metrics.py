"""Incremental population metrics (``run(..., metrics=...)``, ``simulators._incremental``).

The tree updated along the paths of the sampled devices must equal a tree rebuilt from scratch,
bit for bit, at every recorded round (``metrics="verify"`` raises otherwise); its metrics agree
with the full evaluation to rounding; the iterates do not depend on the option; wrong trees and
wrong splits are caught.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import config, tiny_problem

from partialfed import simulators, synthetic
from partialfed.simulators import _incremental, _tracking
from partialfed.simulators._records import Tree
from partialfed.synthetic import _kernels as metric_kernels
from partialfed.synthetic._separable_objective import _loss_u, _loss_v

RTOL = 1e-12
METRICS = ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next")
ITERATES = ("u", "V", "clients", "rounds")

# (family, algorithm): every case where the incremental metrics are exact.
EXACT = [
    ("separable", "fedalt"),
    ("separable", "fedsim"),
    ("separable", "fedrecon"),
    ("separable", "local"),
    ("quadratic", "local"),
]


def close(got, want):
    """``|got - want| <= RTOL * max|want|`` elementwise, NaN where ``want`` is NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    if ok.any():
        scale = max(np.max(np.abs(want[ok])), 1e-300)
        assert np.max(np.abs(got[ok] - want[ok])) <= RTOL * scale


@pytest.mark.parametrize(("family", "algorithm"), EXACT)
@pytest.mark.parametrize(("seed", "noisy", "m"), [(0, True, 4), (7, False, 9), (11, True, 1)])
def test_incremental_equals_rebuild_every_round(family, algorithm, seed, noisy, m):
    p = tiny_problem(family, noisy=noisy, n=9)
    cfg = config(p, algorithm, T=12, m=m, seed=seed, eval_every=1)
    checked = simulators.run(p, cfg, metrics="verify")  # raises at a differing round
    inc = simulators.run(p, cfg, metrics="incremental")
    full = simulators.run(p, cfg, metrics="full")
    assert checked.status == inc.status == full.status == "ok"
    for name in ITERATES:
        assert np.array_equal(getattr(inc, name), getattr(full, name)), name
    for name in METRICS:
        assert np.array_equal(getattr(inc, name), getattr(checked, name), equal_nan=True), name
        close(getattr(inc, name), getattr(full, name))
    assert np.isfinite(inc.grad_v_sq).all() and inc.grad_v_sq[-1] < inc.grad_v_sq[0]


def test_tree_bits_do_not_depend_on_eval_every_or_threads():
    p = synthetic.make("separable", n=37, d_u=3, d_v=2, noise_u=0.3, noise_v=0.2, seed=2)
    cfg = config(p, "fedalt", T=12, m=5, seed=4, eval_every=1)
    every = simulators.run(p, cfg, metrics="incremental", parallel=False)
    thinned = simulators.run(
        p, config(p, "fedalt", T=12, m=5, seed=4, eval_every=3), metrics="incremental"
    )
    # m * eval_every >= n: the tree is rebuilt at each recorded round instead of updated.
    rebuilt = simulators.run(
        p, config(p, "fedalt", T=12, m=5, seed=4, eval_every=8), metrics="verify"
    )
    threads = simulators.run(p, cfg, metrics="incremental", parallel=True)
    for other in (thinned, rebuilt):
        at = np.isin(every.rounds, other.rounds)
        for name in METRICS:
            a = getattr(every, name)
            assert np.array_equal(a[at], getattr(other, name), equal_nan=True), name
    for name in METRICS:
        assert np.array_equal(getattr(every, name), getattr(threads, name), equal_nan=True)


def test_auto_is_incremental_exactly_where_exact():
    alg = simulators.ALGORITHMS
    sep = synthetic.make("separable", n=8, d_u=3, d_v=2, seed=0)
    coupled = synthetic.make("separable", n=8, d_u=3, d_v=2, chi=0.3, seed=0)
    quad = synthetic.make("quadratic", n=8, d_u=3, d_v=2, seed=0)
    assert _tracking.exact_kind(sep, alg["fedalt"])[0] == Tree.SHARED
    assert _tracking.exact_kind(coupled, alg["fedalt"])[0] == Tree.FULL
    assert _tracking.exact_kind(quad, alg["fedsim"])[0] == Tree.FULL
    assert _tracking.exact_kind(quad, alg["local"])[0] == Tree.PER_DEVICE
    for name in ("fedavg", "perfedavg", "ditto"):
        assert _tracking.exact_kind(sep, alg[name])[0] == Tree.FULL, name
    for p, want in ((sep, "incremental"), (quad, "full")):
        cfg = config(p, "fedalt", T=5, m=3)
        auto, chosen = simulators.run(p, cfg), simulators.run(p, cfg, metrics=want)
        for name in METRICS:
            assert np.array_equal(getattr(auto, name), getattr(chosen, name), equal_nan=True)


@pytest.mark.parametrize("value", ["incremental ", "Full", 1, None])
def test_metrics_option_names_the_parameter_and_values(value):
    p = synthetic.make("separable", n=4, seed=0)
    with pytest.raises((ValueError, TypeError), match=r"'metrics' parameter of run.*'auto'"):
        simulators.run(p, config(p, "fedalt"), metrics=value)


@pytest.mark.parametrize("family, algorithm", [("quadratic", "fedalt"), ("separable", "fedavg")])
@pytest.mark.parametrize("value", ["incremental", "verify"])
def test_incremental_refused_where_not_exact(family, algorithm, value):
    p = tiny_problem(family, n=5)
    with pytest.raises(ValueError, match=r"'metrics' parameter of run must be one of 'auto', 'f"):
        simulators.run(p, config(p, algorithm), metrics=value)
    coupled = synthetic.make("separable", n=5, chi=0.3, seed=0)
    with pytest.raises(ValueError, match="does not split"):
        simulators.run(coupled, config(coupled, "fedalt"), metrics=value)


def test_separable_split_keeps_its_promise_and_coupling_breaks_it():
    """Where ``split_classes`` is not None: grad_u the same bits across a cluster and any v,
    grad_v the same for any u, and F_i = f_k(u) + h_i(v). With coupling the first two fail,
    which is why ``split_classes`` is None there."""
    rng = np.random.default_rng(0)

    def promise(p):
        cl = p.data.cl
        i, j = [np.flatnonzero(cl == cl[0])[:2][k] for k in (0, 1)]
        u, u2 = rng.normal(size=(2, p.d_u))
        v, v2 = rng.normal(size=(2, p.d_v))
        gu_same = np.array_equal(p.grad(i, u, v)[0], p.grad(j, u, v2)[0])
        gv_same = np.array_equal(p.grad(i, u, v)[1], p.grad(i, u2, v)[1])
        parts = _loss_u(p.data, i, u) + _loss_v(p.data, i, v)
        return gu_same, gv_same, abs(parts - p.loss(i, u, v)) <= 1e-14 * abs(p.loss(i, u, v))

    sep = synthetic.make("separable", n=20, d_u=4, d_v=3, clusters=3, seed=1)
    assert synthetic._objective.split_classes(sep.data) is not None
    assert promise(sep) == (True, True, True)
    coupled = synthetic.make("separable", n=20, d_u=4, d_v=3, clusters=3, chi=0.3, seed=1)
    assert synthetic._objective.split_classes(coupled.data) is None
    assert promise(coupled)[:2] == (False, False)


# -- mutants: a wrong tree or a wrong split is caught ----------------------------------------


def _state(n=13, seed=3):
    p = synthetic.make("separable", n=n, d_u=3, d_v=2, clusters=4, seed=seed)
    t = _tracking.plan(p, simulators.ALGORITHMS["fedalt"], "verify", 1)
    u, V = p.init(seed)
    U = u[None, :].copy()
    _incremental.rebuild(p.data, t.mode, U, V, t.tree)
    return p, t, U, V


def _after_round(p, t, U, V, S, mutant=None):
    """Change ``V[S]``, update the tree (correctly or as ``mutant``), return the number of tree
    entries that differ from a rebuild."""
    V[S] += 0.25
    work = np.empty(S.size, dtype=np.int64)
    root = t.tree[1].copy()
    _incremental.update(p.data, t.mode, U, V, S[:-1] if mutant == "skip" else S, t.tree, work)
    if mutant == "stale_root":
        t.tree[1] = root
    _incremental.rebuild(p.data, t.mode, U, V, t.spare)
    return _incremental.differing_nodes(t.tree, t.spare)


@pytest.mark.parametrize("mutant", [None, "skip", "stale_root"])
def test_tree_mutants_are_caught(mutant):
    p, t, U, V = _state()
    S = np.array([0, 5, 6, 12])
    bad = _after_round(p, t, U, V, S, mutant)
    assert (bad > 0) == (mutant is not None)


@pytest.mark.parametrize("mutant", [None, "weights", "reps"])
def test_split_mutants_disagree_with_full_metrics(mutant):
    p, t, U, V = _state()
    reps, weights = t.reps.copy(), t.weights.copy()
    if mutant == "weights":  # one device counted in the wrong cluster
        weights[0] += 1.0
        weights[1] -= 1.0
    if mutant == "reps":  # a representative from another cluster
        reps[0] = reps[1]
    out = np.empty(3)
    _incremental.tree_metrics(p.data, t.mode, U, V, reps, weights, t.tree, out)
    f, gnorm, _, vsq = metric_kernels.population_metrics(p.data, U, V, False)
    want = np.array([f, gnorm, vsq])
    ok = np.all(np.abs(out - want) <= RTOL * np.abs(want))
    assert ok == (mutant is None)


@pytest.mark.parametrize("mutant", [None, "count", "ulp"])
def test_check_verified_raises_on_any_difference(mutant):
    p, t, U, V = _state()
    rec = np.array([[1.0, 2.0, 3.0, np.nan]])
    t.check[0, :3] = rec[0, :3]
    if mutant == "count":
        t.check[0, 3] = 1
    if mutant == "ulp":
        t.check[0, 1] = np.nextafter(2.0, 3.0)
    if mutant is None:
        _tracking.check_verified(t, rec, np.array([0]))
    else:
        with pytest.raises(AssertionError, match="differ from a full tree rebuild at round 0"):
            _tracking.check_verified(t, rec, np.array([0]))


def test_user_objective_under_local_is_incremental(monkeypatch):
    """A user objective (generated kernels, ``partialfed._codegen``) has no split, so a shared
    u keeps the full metrics; one u per device (``local``) is incremental and verified."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "synthetic"))
    import userobj_example

    p = userobj_example.make(n=7, seed=2)
    assert _tracking.exact_kind(p, simulators.ALGORITHMS["fedalt"])[0] == Tree.FULL
    cfg = config(p, "local", T=8, m=3, seed=5)
    checked = simulators.run(p, cfg, metrics="verify")
    full = simulators.run(p, cfg, metrics="full")
    assert np.array_equal(checked.U, full.U)
    for name in ("loss", "grad_u_sq", "grad_v_sq"):
        close(getattr(checked, name), getattr(full, name))
