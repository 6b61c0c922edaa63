"""Mutation tests: the strict checks reject wrong bounds and accept the right ones.

At a small size (4 seeds, ``T = 60``, the tight instances of ``experiments.studies``): every
listed wrong variant (``experiments.mutation.MUTANTS``) that changes a strictly checked bound is
"violated" on some instance of that bound, the bounds themselves "hold" on the same instances
(so the suite is not simply biased towards "violated"), and every bound has an instance with
ratio measured/bound >= 0.95.
"""

from __future__ import annotations

import os

import pytest
import sympy as sp

from partialfed import theory
from partialfed.experiments import mutation, studies
from partialfed.experiments.checks import strict_check
from partialfed.theory import symbols as S

#: Applicable variants no instance inside the proofs' assumptions can reject. Under A3, with
#: chi > 0 the quadratic's delta holds only at the personal optima, which a run leaves ("outside
#: assumptions"), so the A3 partial-participation bounds are checked at chi = 0 only, where
#: chi_bar = 0 changes nothing. Under A3' (``*_kappa_partial``, global) FedSim's variant is
#: caught along the top eigenvector at m = n, but FedAlt's depends on L_uv only through c_err,
#: which vanishes at m = n; at m < n the instances tried reach ratios of at most 0.51 (bound) and
#: 0.51 (variant) (chi in {0.5, 0.9}, m in {1, 3} of 10).
#: FedSim with tau > 1 (``fedsim_local_*``): the A3 bound is checked at chi = 0 (as above); for
#: the A3' bound the coupling factor sits in O(gamma^2) terms next to drift terms of order
#: gamma^2.5, and along the top eigenvector of H = [[1, chi], [chi, 1]] (m = n = 2, tau = 2) the
#: variant's own steps give ratios of at most 0.94 (chi = 0.9) and 0.93 (chi = 0.5) at 0.1 of
#: the largest steps, 0.81-0.85 at 0.3, falling with larger steps: it holds everywhere tried.
KNOWN_MISSES = {
    (name, "chi_bar=0")
    for name in (
        "fedsim_local_partial",
        "fedsim_local_kappa_partial",
        "fedsim_tau1_partial",
        "fedalt_tau1_partial",
        "fedalt_tauv_partial",
        "fedalt_tau1_kappa_partial",
        "fedalt_tauv_kappa_partial",
        "fedalt_local_partial",
    )
}


#: Which variants change which bound (the rest are "n/a").
APPLIES = {
    "sgd_nonconvex": {"x0.9", "noise/2", "T^1.25"},
    "gd_tight": {"x0.9", "T^1.25"},
    "fedsgd_partial": {"x0.9", "noise/2", "T^1.25", "sigma_u^2/n", "delta=0"},
    "fedalt_tau1_full": {"x0.9", "noise/2", "T^1.25"},
    "fedalt_tauv_full": {"x0.9", "noise/2", "T^1.25"},
    "fedsim_tau1_full": {"x0.9", "noise/2", "T^1.25", "chi_bar=0"},
    "fedalt_tau1_partial": {m.name for m in mutation.MUTANTS},
    "fedalt_tauv_partial": {m.name for m in mutation.MUTANTS},
    "fedsim_tau1_partial": {m.name for m in mutation.MUTANTS},
    "fedsim_local_partial": {m.name for m in mutation.MUTANTS},
    "fedsim_local_kappa_partial": {m.name for m in mutation.MUTANTS},
    "fedalt_local_partial": {m.name for m in mutation.MUTANTS},
    "fedalt_local_full": {"x0.9", "noise/2", "T^1.25", "delta=0"},
}


@pytest.fixture(scope="module")
def small():
    checks = [
        c for c in studies.strict_checks((0, 1, 2, 3), 60) if c.label.startswith(("tight", "probe"))
    ]
    strict = [strict_check(c) for c in checks]
    return checks, strict, mutation.mutation_score(checks, strict=strict)


def test_every_applicable_mutant_is_caught(small):
    _, _, score = small
    assert score.total >= sum(len(v) for v in APPLIES.values())
    assert set(score.missed) <= KNOWN_MISSES, score.missed
    for r in score.applicable:
        if (r.bound, r.mutant) not in KNOWN_MISSES:
            assert r.caught_by and r.verdicts[-1][1] == "violated", r


def test_the_bounds_themselves_hold_on_the_same_instances(small):
    _, strict, score = small
    assert len(score.unmutated) == len(strict)
    assert [u[2] for u in score.unmutated] == ["holds"] * len(strict), score.unmutated


def test_every_strict_bound_has_a_tight_instance(small):
    _, strict, _ = small
    best: dict = {}
    for r in strict:
        best[r.check.bound] = max(best.get(r.check.bound, 0.0), r.ratio)
    assert set(APPLIES) <= set(best)
    assert all(v >= 0.95 for v in best.values()), best


def test_a_mutant_applies_exactly_where_it_changes_the_bound():
    for name, expected in APPLIES.items():
        bound = theory.get_bound(name)
        got = {m.name for m in mutation.MUTANTS if mutation.changes(bound, m.mutate(bound))}
        assert got == expected, (name, got)


def test_mutants_are_the_stated_variants():
    b = theory.get_bound("fedsgd_partial")
    by = {m.name: m.mutate(b) for m in mutation.MUTANTS}
    assert sp.simplify(by["x0.9"].rhs - sp.Rational(9, 10) * b.rhs) == 0
    d_rhs = sp.diff(b.rhs, S.Delta_F0) / sp.diff(by["T^1.25"].rhs, S.Delta_F0)
    assert sp.simplify(d_rhs - S.T ** sp.Rational(1, 4)) == 0
    noise = sp.diff(b.rhs, S.sigma, 2) / sp.diff(by["noise/2"].rhs, S.sigma, 2)
    assert sp.simplify(noise - 2) == 0
    over_n = sp.diff(by["sigma_u^2/n"].rhs, S.sigma, 2) / sp.diff(b.rhs, S.sigma, 2)
    assert sp.simplify(over_n - S.m / S.n) == 0
    assert S.zeta not in by["delta=0"].rhs.free_symbols
    sim = theory.get_bound("fedsim_tau1_full")
    chi0 = mutation.MUTANTS[-1].mutate(sim)
    assert not {S.L_uv, S.L_vu} & (chi0.free_symbols | chi0.lhs.free_symbols)


def test_identical_cells_run_once():
    calls = []

    def runner(cells):
        calls.append(len(cells))
        return [object() for _ in cells]

    run = mutation.memo_runner(runner)
    cells = studies.strict_checks((0, 1), 10)[0].cells()
    run(cells)
    run(cells)
    assert calls == [len(cells)]


@pytest.mark.slow
def test_every_shipped_instance_holds_and_the_mutants_are_caught():
    """All strict instances, the general (loose) ones included: the bounds hold on each, and
    the mutants are still caught. CI: 4 seeds, T = 40; ``PARTIALFED_FULL=1``: the shipped
    quick studies (``plan(quick=True)``)."""
    if os.environ.get("PARTIALFED_FULL") == "1":
        checks = studies.plan(True).strict
    else:
        checks = studies.strict_checks((0, 1, 2, 3), 40)
    score = mutation.mutation_score(checks)
    assert set(score.missed) <= KNOWN_MISSES, score.missed
    assert all(u[2] == "holds" for u in score.unmutated), score.unmutated


def test_an_instance_where_the_bound_itself_fails_catches_nothing(monkeypatch):
    """A "violated" mutant counts only where the bound itself holds: a check that says
    "violated" to everything (here a stub) must score 0, not every mutant."""
    from types import SimpleNamespace

    def always_violated(check, *, runner=None, bound=None):
        return SimpleNamespace(verdict="violated", ratio=2.0, cell=check.cell)

    monkeypatch.setattr(mutation, "strict_check", always_violated)
    checks = [c for c in studies.strict_checks((0, 1), 10) if c.bound == "fedsgd_partial"]
    score = mutation.mutation_score(checks)
    assert score.total == len(APPLIES["fedsgd_partial"])
    assert score.caught == 0, score.results
    assert all(u[2] == "violated" for u in score.unmutated)
