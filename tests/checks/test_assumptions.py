"""Strict checks refuse what a proof does not cover, and a diverged run is a violation.

Each test fails on the code before ``Bound.uses`` was read (commit 0f2ae04): there the partial
studies on quadratic chi = 0.5 said "holds" (or "violated" where the excess shows), the run that
leaves the representation ball was scored, and a diverged run was "inconclusive".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sympy as sp

from partialfed import synthetic, theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import (
    Check,
    assumption_reasons,
    lemma_check,
    strict_check,
)
from partialfed.experiments.steps import MaxStep
from partialfed.experiments.studies import plan
from partialfed.simulators import RunConfig
from partialfed.theory.derived import LEMMAS

OUTSIDE = "outside assumptions"


def _shipped(name: str, chi: float = 0.5) -> Check:
    """The first shipped strict check of ``name`` (its general, noisy instance), at ``chi``.

    The shipped partial-participation studies run at chi = 0 (inside A3, where the quadratic's
    delta is exact); at the chi = 0.5 they once used, they are outside A3.
    """
    check = next(c for c in plan(quick=True).strict if c.bound == name)
    knobs = {**dict(check.cell.knobs), "chi": chi}
    cell = Cell.of(check.cell.family, knobs, check.cell.run).with_run(T=60)
    return replace(check, cell=cell, seeds=(0, 1))


def test_shipped_partial_studies_are_inside_assumptions():
    for name in ("fedsim_tau1_partial", "fedalt_tau1_partial"):
        check = next(c for c in plan(quick=True).strict if c.bound == name)
        assert check.cell.problem().constants.kind["delta"] == "exact"
        assert strict_check(_shipped(name, chi=0.0)).verdict == "holds"


@pytest.mark.parametrize(
    ("name", "where"),
    [("fedsim_tau1_partial", "at the iterates"), ("fedalt_tau1_partial", "everywhere")],
)
def test_shipped_partial_studies_are_outside_assumptions_at_chi_half(name, where):
    """quadratic chi = 0.5: delta holds only at V = V*(u) (kind local). Main said "holds"."""
    check = _shipped(name)
    assert check.cell.problem().constants.kind["delta"] == "local"
    r = strict_check(check)
    assert r.verdict == OUTSIDE
    (reason,) = r.reasons
    assert reason.startswith("delta is local") and where in reason and name in reason
    out = r.as_dict()
    assert out["verdict"] == OUTSIDE and out["reasons"] == [reason]
    if name == "fedsim_tau1_partial":
        assert "round 0" in reason  # V^0 is random, so the iterates start outside
    lemma = lemma_check(r, LEMMAS[name])
    assert lemma["verdict"] == OUTSIDE and lemma["reasons"] == [reason]


def test_measured_excess_on_local_delta_is_not_called_violated():
    """The issue's instance, small: quadratic, delta = 0, n = 20, m = 1, chi = 0.5. The bound
    (whose delta term vanishes) is exceeded with 95% confidence (measured ~1.9x), because A3
    with the declared delta fails at the iterates; the verdict is "outside assumptions", not
    "violated" (main) and never "holds"."""
    cell = Cell.of(
        "quadratic", dict(n=20, delta=0.0, chi=0.5), dict(algorithm="fedsim", T=200, m=1)
    )
    check = Check("fedsim_tau1_partial", cell, tuple(range(8)), MaxStep(fraction=0.5))
    r = strict_check(check)
    assert r.measured.lower > 1.5 * r.bound_value  # the excess is real
    assert r.verdict == OUTSIDE
    # the same bound on chi = 0, where delta is exact everywhere, is scored (and holds)
    exact = replace(check, cell=Cell.of("quadratic", dict(n=20, delta=0.0, chi=0.0), cell.run))
    r0 = strict_check(replace(exact, seeds=(0, 1, 2)))
    assert r0.cell.problem().constants.kind["delta"] == "exact"
    assert r0.verdict == "holds" and r0.reasons == ()


def _representation(beta: float) -> Check:
    cell = Cell.of(
        "representation",
        dict(n=4, d=4, k=2, samples=20, beta_B=beta, beta_w=beta),
        dict(algorithm="fedsim", T=60, m=4),
    )
    return Check("fedsim_tau1_full", cell, (0, 1), MaxStep(fraction=0.5))


def test_representation_run_that_leaves_the_ball_is_flagged_not_scored():
    """The optimum has ||B*|| = ||w_i*|| = 1: with radii 0.8 the run must leave the ball, with
    radii 3 (start at norm 1.5) it stays, and is scored."""
    r = strict_check(_representation(0.8))
    assert r.verdict == OUTSIDE
    (reason,) = r.reasons
    assert reason.startswith("L_u, L_v, L_uv, L_vu are local") and "leave it at round" in reason
    first = int(reason.split("round ")[1].split(" ")[0])
    region = r.frames[0]["region"].to_numpy()
    assert region[0] <= 1.0 < region.max() and first > 0
    stays = strict_check(_representation(3.0))
    assert stays.verdict == "holds" and stays.frames[0]["region"].max() <= 1.0


def test_region_is_recorded_only_for_families_with_one():
    from partialfed import simulators

    p = synthetic.make("representation", n=3, d=3, k=1, samples=5)
    h = simulators.run(p, RunConfig(algorithm="fedalt", T=4, m=2))
    assert h.region.shape == (5,) and h.region[0] == pytest.approx(0.5)  # init at beta/2
    assert "region" in h.to_frame().columns
    q = simulators.run(synthetic.make("quadratic", n=3), RunConfig(T=4, m=2))
    assert q.region is None and "region" not in q.to_frame().columns


@pytest.mark.parametrize("k", [1, 2, 3])
def test_representation_region_value_is_the_ball_ratio(k):
    from partialfed.synthetic import _kernels

    p = synthetic.make("representation", n=5, d=4, k=k, samples=5, beta_B=1.5, beta_w=2.0)
    u, V = p.init(0)
    rng = np.random.default_rng(k)
    u, V = u + rng.standard_normal(u.shape), V * rng.uniform(0.5, 3.0, (5, 1))
    want = max(np.linalg.norm(u.reshape(4, k), 2) / 1.5, np.linalg.norm(V, axis=1).max() / 2.0)
    assert _kernels.population_region(p.data, u[None, :], V) == pytest.approx(want, rel=1e-12)


def test_divergence_under_the_bounds_conditions_is_violated():
    """A wrong bound that allows gamma <= 3/L: GD diverges on a quadratic with eigenvalue L. The
    measured mean is NaN (main: "inconclusive"); the run diverged with steps the bound allows."""
    good = theory.get_bound("sgd_nonconvex")
    L, gamma = theory.SYMBOLS["L"], theory.SYMBOLS["gamma"]
    wrong = replace(good, conditions=(theory.Condition("gamma <= 3/L", sp.Le(gamma, 3 / L)),))
    cell = Cell.of(
        "quadratic",
        dict(n=1, d_u=2, d_v=1, chi=0.0, delta=0.0, mu_u=0.5),
        dict(algorithm="fedalt", T=2000, m=1, gamma_v=0.0),
    )
    check = Check("sgd_nonconvex", cell, (0, 1), MaxStep(fields=("gamma_u",)))
    r = strict_check(check, bound=wrong)
    assert r.cell.run.gamma_u == pytest.approx(3.0)
    assert {x.status for x in r.results} == {"diverged"}
    assert r.verdict == "violated" and len(r.reasons) == 2 and "diverged" in r.reasons[0]
    assert strict_check(check).verdict == "holds"  # the right bound's step converges


# -- the rules, on a problem with chosen kinds (no simulation) ---------------------------------


def _problem(kind: dict, regions: dict | None = None):
    values = dict.fromkeys(synthetic.CONSTANT_NAMES, 1.0)
    kinds = dict.fromkeys(synthetic.CONSTANT_NAMES, "exact") | kind
    return SimpleNamespace(
        constants=synthetic.Constants(**values, kind=kinds, regions=regions or {})
    )


def _frame(values):
    return pd.DataFrame({"round": range(len(values)), "grad_v_sq": values})


def test_rules_for_each_kind_and_use():
    b = theory.get_bound("fedsim_tau1_partial")  # delta at the iterates, L_u at the iterates
    run = RunConfig(algorithm="fedsim", T=2, m=1)
    inside = [_frame([0.0, 0.0, 0.0])]
    assert assumption_reasons(b, _problem({}), inside, run) == []
    assert assumption_reasons(b, _problem({"delta": "certified"}), inside, run) == []
    (est,) = assumption_reasons(b, _problem({"L_u": "estimate"}), inside, run)
    assert est.startswith("L_u is estimate") and "no guarantee" in est
    local = _problem({"delta": "local"}, {"delta": synthetic.personal_optima()})
    assert assumption_reasons(b, local, inside, run) == []  # iterates inside the region
    (left,) = assumption_reasons(b, local, [_frame([0.0, 0.0, 1.0])], run, seeds=[7])
    assert "leave it at round 2 (seed 7)" in left
    (every,) = assumption_reasons(replace(b, uses=(theory.Uses("delta"),)), local, inside, run)
    assert "uses it everywhere" in every
    (sparse,) = assumption_reasons(b, local, inside, replace(run, eval_every=2))
    assert "recorded every 2" in sparse
    untested = _problem({"delta": "local"})  # a local constant without a test on a run
    assert untested.constants.regions["delta"].metric is None
    (unknown,) = assumption_reasons(b, untested, inside, run)
    assert "cannot be verified" in unknown
    # single-block names read the problem constant they take their value from
    (zeta,) = assumption_reasons(theory.get_bound("fedsgd_partial"), local, [_frame([1.0])], run)
    assert zeta.startswith("zeta (= delta) is local")


def test_regions_are_data():
    q = synthetic.make("quadratic", n=4, chi=0.5).constants
    assert set(q.regions) == {"delta"} and q.regions["delta"].metric == "grad_v_sq"
    assert synthetic.make("quadratic", n=4, chi=0.0).constants.regions == {}
    assert set(synthetic.make("separable", n=4, chi=0.5).constants.regions) == {"delta"}
    rep = synthetic.make("representation", n=2, d=3, k=1, samples=5).constants
    local = {k for k, v in rep.kind.items() if v == "local"}
    assert set(rep.regions) == local and {r.metric for r in rep.regions.values()} == {"region"}
    with pytest.raises(ValueError, match="'regions' parameter of Constants"):
        _problem({}, {"L_u": synthetic.personal_optima()})  # L_u is exact, not local


USER_DIR = Path(__file__).resolve().parents[1] / "synthetic"


def _wrong_L(n: int = 1, d_u: int = 2, d_v: int = 1):
    """``userobj_example``'s objective (true ``L_u = 2``) declaring ``L_u = 0.5``, certified."""
    import userobj_example as ex

    values = dict(L_u=0.5, L_v=1.0, L_uv=1.0, L_vu=1.0, sigma_u=0.0, sigma_v=0.0)
    constants = synthetic.Constants(
        **values,
        delta=0.0,
        rho=0.0,
        F_low=0.0,
        kind=dict.fromkeys(synthetic.CONSTANT_NAMES, "certified"),
    )
    c = np.zeros((n, d_u))
    return synthetic.custom(
        "wrong_L", n, d_u, d_v, ex.loss, ex.grad_u, ex.grad_v, data=(c,), constants=constants
    )


def test_a_wrongly_certified_constant_makes_a_run_diverge_and_is_violated(monkeypatch):
    """A user family whose true L exceeds the declared, certified one: the step 1/L allowed by
    the bound diverges. The check trusts 'certified', so this is "violated" (main:
    "inconclusive")."""
    monkeypatch.syspath_prepend(str(USER_DIR))
    monkeypatch.setattr(synthetic._registry, "_REGISTERED", {})
    synthetic.register("wrong_L", _wrong_L)
    cell = Cell.of("wrong_L", {}, dict(algorithm="fedalt", T=300, m=1, gamma_v=0.0))
    r = strict_check(Check("sgd_nonconvex", cell, (0,), MaxStep(fields=("gamma_u",))))
    assert r.cell.run.gamma_u == pytest.approx(2.0)
    assert r.results[0].status == "diverged"
    assert r.verdict == "violated" and "diverged" in r.reasons[0]
