"""Per-FedAvg's checks can fail: the lemma looseness table and Theorem 4.5's exponent studies,
each with wrong variants (mutants) that must be caught."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from partialfed.experiments import perfedavg_exponents as pe
from partialfed.experiments import perfedavg_lemmas as pl
from partialfed.theory import fallah2020
from partialfed.theory import symbols as S


def test_recalled_lemmas_hold_on_every_instance_and_every_mutant_is_caught():
    rows = pl.lemma_rows()
    assert {r.lemma for r in rows} == {"L_F", "gamma_F_sq", "grad_F"}
    assert all(r.verdict == "holds" and r.ratio >= 1 for r in rows)
    # Lemma 4.2 on the quadratic: 4L over the exact max_j lambda_j (1 - alpha lambda_j)^2.
    q = next(
        r for r in rows if r.lemma == "L_F" and r.setting.startswith("quadratic d=4, alpha=0.1")
    )
    assert q.recalled == 4.0 and q.exact == pytest.approx(0.81)
    caught = pl.lemma_mutation()
    assert len(caught) == len(pl.MUTANTS) and all(m["caught"] for m in caught)
    assert all(m["worst_ratio"] < 1 for m in caught)


def test_a_too_small_lemma_is_reported_violated():
    small = fallah2020.LemmaConstant("L_F", S.L / 2, "half of L", "mutant", "test")
    rows = [r for r in pl.lemma_rows({"L_F": small}) if r.lemma == "L_F"]
    assert any(r.verdict == "violated" for r in rows)


def test_term_exponents_are_read_from_the_bound():
    b = fallah2020.THEOREM_4_5
    assert pe.term_exponent(b, "c_0", S.K) == -1.0
    assert pe.term_exponent(b, "c_1", S.sigma_G) == 2.0  # through Lemma 4.3's sigma_F^2
    assert pe.term_exponent(b, "c_2", S.gamma_F) == 2.0
    assert pe.term_exponent(pe.mutant_bound("descent ~ K^-1/2"), "c_0", S.K) == -0.5
    assert pe.term_exponent(pe.mutant_bound("variance ~ sigma_F"), "c_1", S.sigma_G) == 1.0
    with pytest.raises(ValueError, match="c_9"):
        pe.term_exponent(b, "c_9", S.K)


def test_paired_slope_removes_seed_levels():
    rng = np.random.default_rng(0)
    xs = np.repeat([1.0, 2.0, 4.0, 8.0], 4)
    level = np.tile(rng.lognormal(0, 1.0, 4), 4)  # a large per-seed factor
    y = level * xs**2 * rng.lognormal(0, 0.01, xs.size)
    paired = pe.paired_slope(xs, y, 4)
    plain = pe.fit_slope(xs, y)
    assert paired.low < 2 < paired.high and paired.high - paired.low < 0.05
    assert plain.high - plain.low > 5 * (paired.high - paired.low)


@pytest.fixture(scope="module")
def measured():
    """The K and sigma_G studies at a small but meaningful size (three values, two seeds)."""
    k, sig, gam = pe.studies(True)
    k = replace(k, xs=(400, 800, 1600))
    sig = replace(sig, xs=(0.5, 1.0, 2.0), seeds=(0, 1), cell=sig.cell.with_run(T=800))
    out = []
    for st in (k, sig):
        m = pe.measure(st)
        out.append((m, pe.thm45_check(m)))
    return out


def test_theorem_exponents_agree_and_its_mutants_contradict(measured):
    for _, r in measured:
        assert r.verdict == "agrees", (r.label, r.fit)
    muts = pe.mutation(measured)
    assert {m["mutant"] for m in muts} == {"descent ~ K^-1/2", "variance ~ sigma_F"}
    assert all(m["caught"] for m in muts)
