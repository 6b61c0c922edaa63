"""A bound is scored only on runs of the setting its proof covers (theory/settings.py).

The referee's case: a strict check of ``fedalt_tauv_full`` (proved for ``m = n``) on
``quadratic n=10, m=2`` said "violated"; it must say "outside assumptions", naming the condition
and the run's value, while the setting-blind checker (the old behaviour, here the bound with its
setting removed) still says "violated" on the same runs, so the tests below tell them apart.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from partialfed import simulators, theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import (
    Check,
    cell_setting_reasons,
    lemma_check,
    strict_check,
)
from partialfed.experiments.checks.exact import exact_lhs
from partialfed.experiments.steps import MaxStep
from partialfed.experiments.studies import plan
from partialfed.theory import derived
from partialfed.theory.settings import SETTINGS, declare

OUTSIDE = "outside assumptions"
SEEDS = (0, 1, 2, 3)


def _blind(bound: theory.Bound) -> theory.Bound:
    """The mutant "setting-blind checker": the bound with no declared setting."""
    return replace(bound, simulators=(), setting=())


def _check(name: str, knobs: dict, **run) -> Check:
    cell = Cell.of("quadratic", {"n": 10, **knobs}, dict(T=100, **run))
    return Check(name, cell, SEEDS, MaxStep(0.5))


@pytest.mark.parametrize(
    "name, run",
    [
        ("fedalt_tauv_full", dict(algorithm="fedalt", m=2, tau_u=1)),
        ("fedsim_tau1_full", dict(algorithm="fedsim", m=2)),
    ],
)
def test_full_participation_bound_at_m_2_of_10_is_outside_not_violated(name, run):
    check = _check(name, {}, **run)
    r = strict_check(check, exact=True)
    assert r.verdict == OUTSIDE
    assert r.reasons[0] == (
        f"{name} is proved for full participation (m = n); this run samples m = 2 of n = 10"
    )
    assert r.exact is not None and r.exact.verdict == OUTSIDE
    lemma = lemma_check(r, derived.LEMMAS[name])
    assert lemma["verdict"] == OUTSIDE and lemma["reasons"] == list(r.reasons)
    # the setting-blind mutant scores the same runs, and wrongly: "violated"
    blind = strict_check(check, bound=_blind(theory.get_bound(name)), exact=True)
    assert blind.verdict == "violated" and blind.ratio > 1.5, blind.ratio
    assert blind.exact.verdict == "violated"
    assert exact_lhs(blind.cell, _blind(theory.get_bound(name))).verdict == "violated"
    assert exact_lhs(blind.cell, theory.get_bound(name)).verdict == OUTSIDE


def test_referee_case_tau_u_2_names_both_conditions():
    """``quadratic n=10, m=2, tau_u=2`` with ``MaxStep(0.5)``: tau_u = 1 and m = n both fail."""
    r = strict_check(_check("fedalt_tauv_full", {}, algorithm="fedalt", m=2, tau_u=2))
    assert r.verdict == OUTSIDE
    assert any("(tau_u = 1); this run has tau_u = 2" in x for x in r.reasons), r.reasons
    assert any("m = 2 of n = 10" in x for x in r.reasons), r.reasons


@pytest.mark.parametrize(
    "name, run, why",
    [
        (
            "fedalt_tau1_partial",
            dict(algorithm="fedalt", m=3, tau_u=3),
            "fedalt_tau1_partial is proved for one local u-step per round (tau_u = 1); this run "
            "has tau_u = 3",
        ),
        (
            "fedsim_tau1_partial",
            dict(algorithm="fedalt", m=3),
            "fedsim_tau1_partial is about fedsim, run on fedsim; this run is fedalt",
        ),
    ],
)
def test_wrong_local_steps_or_algorithm_is_outside(name, run, why):
    """On a problem whose constants cover the proof (chi = 0), the setting alone decides: the
    blind mutant gives a verdict ("holds") where the bound makes no claim."""
    check = _check(name, {"chi": 0.0}, **run)
    r = strict_check(check)
    assert r.verdict == OUTSIDE and r.reasons == (why,)
    blind = strict_check(check, bound=_blind(theory.get_bound(name)))
    assert blind.verdict != OUTSIDE and blind.reasons == ()


def test_step_selection_never_sees_the_setting():
    """``fedalt_local_full`` at m = 2 of 10: MaxStep picks steps from the step conditions (m is
    no input of them) and the verdict is outside, without raising."""
    b = theory.get_bound("fedalt_local_full")
    assert "m" not in b.required
    r = strict_check(_check("fedalt_local_full", {"chi": 0.0}, algorithm="fedalt", m=2, tau_u=2))
    assert r.verdict == OUTSIDE and "m = 2 of n = 10" in r.reasons[0]
    assert r.cell.run.gamma_u > 0 and r.cell.run.gamma_v > 0


@pytest.mark.parametrize("gamma_u", [0.01, 5.0])
def test_outside_with_no_admissible_step_says_outside_without_raising(gamma_u):
    """Outside the setting (m = 2 of 4) and no step selection possible (``MaxStep`` on a field
    ``gd_tight`` has no condition on): the runs keep the cell's own steps, which violate
    ``gamma = 1/L`` (0.01) or diverge (5.0); the verdict is still "outside assumptions" with the
    setting's reasons, not an error from evaluating the bound outside its conditions."""
    cell = Cell.of(
        "quadratic",
        {"n": 4, "d_v": 0, "chi": 0.0, "noise_u": 0.0},
        dict(T=10, m=2, algorithm="fedalt", gamma_u=gamma_u, tau_u=1),
    )
    check = Check("gd_tight", cell, (0, 1), MaxStep(1.0, fields=("gamma_v",)))
    r = strict_check(check)
    assert r.verdict == OUTSIDE
    assert any("m = 2 of n = 4" in x for x in r.reasons), r.reasons
    # inside the setting the same failed step selection is an error, as before
    inside = replace(check, cell=cell.with_run(m=4, gamma_v=0.0))
    with pytest.raises(ValueError, match="no condition on it"):
        strict_check(inside)


def test_outside_with_steps_that_break_the_conditions_says_outside_without_raising():
    """``Eta`` steps ignore the bound's conditions: at m = 2 of 10 with eta = 2.5 (above the
    gamma < 2/L of ``fedalt_tauv_full``) the strict check and its lemma say "outside
    assumptions"; at m = n the same steps are an error (no bound outside its conditions)."""
    from partialfed.experiments.steps import Eta

    cell = Cell.of("quadratic", {"n": 10}, dict(T=20, algorithm="fedalt", m=2, tau_u=1))
    check = Check("fedalt_tauv_full", cell, (0, 1), Eta(2.5))
    r = strict_check(check, exact=True)
    assert r.verdict == OUTSIDE and "m = 2 of n = 10" in r.reasons[0], r.reasons
    assert r.exact is not None and r.exact.verdict == OUTSIDE
    lemma = lemma_check(r, derived.LEMMAS["fedalt_tauv_full"])
    assert lemma["verdict"] == OUTSIDE and lemma["reasons"] == list(r.reasons)
    with pytest.raises(ValueError, match="condition"):
        strict_check(replace(check, cell=cell.with_run(m=10)))


def test_every_registered_bound_declares_its_setting():
    assert set(SETTINGS) == set(theory.BOUNDS)
    for name, b in theory.BOUNDS.items():
        assert b.simulators, name
        assert set(b.simulators) <= set(simulators.ALGORITHMS), (name, b.simulators)
        assert all(c.checkable for c in b.setting), name
        assert "setting:     runs of" in b.describe(), name
    with pytest.raises(KeyError, match="declares no setting"):
        declare({"not_a_bound": theory.get_bound("gd_tight")})


def test_shipped_instances_are_in_their_bounds_setting():
    """Every shipped strict instance and exponent study is a run its bound is about: none of
    them changes verdict through the setting (evaluated here on the cells, no simulation)."""
    p = plan(quick=True)
    assert len(p.strict) > 50
    for c in p.strict:
        assert cell_setting_reasons(theory.get_bound(c.bound), c.cell) == [], (c.bound, c.label)
        assert cell_setting_reasons(_blind(theory.get_bound(c.bound)), c.cell) == []
    for s in p.exponents:
        for cell in s.swept():
            assert cell_setting_reasons(theory.get_bound(s.bound), cell) == [], s.label
    # the check can fail on them: the same instances at m = n - 1 (full bounds) are outside
    full = [c for c in p.strict if c.bound.endswith("_full") and c.cell.problem().n >= 2]
    assert len(full) >= 3
    for c in full:
        moved = c.cell.with_run(m=c.cell.problem().n - 1)
        why = cell_setting_reasons(theory.get_bound(c.bound), moved)
        assert any("full participation" in x for x in why), c.bound


def test_cli_check_says_outside_with_the_setting_reason(capsys):
    """``partialfed check fedalt_tauv_full --set m=2``: exit 5, the reason printed and in --json
    (at m = 10, the shipped instance's m, the same command scores the runs)."""
    from partialfed.experiments.cli import main

    args = ["check", "fedalt_tauv_full", "--set", "T=40", "--set", "m=2", "--seeds", "2"]
    assert main(args) == 5
    text = capsys.readouterr().out
    assert "-> outside assumptions" in text
    assert "  - fedalt_tauv_full is proved for full participation (m = n)" in text
    assert main([*args, "--json"]) == 5
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == OUTSIDE and "m = 2 of n = 10" in out["reasons"][0]
    assert main(["check", "fedalt_tauv_full", "--set", "T=40", "--seeds", "2", "--json"]) != 5
    assert json.loads(capsys.readouterr().out)["verdict"] != OUTSIDE


def test_exponent_study_on_another_algorithm_is_outside():
    """``fedalt_main`` (Pillutla et al. 2022, FedAlt) swept on FedSim runs: "outside
    assumptions" with the reason, whatever the slope; on FedAlt runs the slope is scored."""
    from partialfed.experiments.checks import ExponentStudy, exponent_check
    from partialfed.experiments.report_exponents import findings

    cell = Cell.of(
        "quadratic",
        dict(n=4, d_u=2, d_v=2, chi=0.3, mu_u=0.5, mu_v=0.5, noise_u=0.0, noise_v=0.0),
        dict(algorithm="fedsim", m=4, tau_u=1, tau_v=1, gamma_u=0.5, gamma_v=0.5),
    )
    args = ("fedalt_main", cell, "T", (50, 100, 200, 400), "descent")
    study = ExponentStudy("sim", *args, seeds=(0,), absent=(("drift", "one local step"),))
    e = exponent_check(study)
    assert e.verdict == OUTSIDE
    assert e.reasons == ("fedalt_main is about fedalt, run on fedalt; this run is fedsim",)
    assert "outside the setting of `fedalt_main`" in findings([e])[0]
    alt = replace(study, cell=cell.with_run(algorithm="fedalt"))
    assert exponent_check(alt).verdict != OUTSIDE
