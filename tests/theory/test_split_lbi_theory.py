"""``theory.split_lbi``: provenance labels, the step conditions, the rate classes, eq. (K13)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from partialfed.theory import split_lbi as T


def test_recalled_items_are_labelled_unverified():
    assert T.THEOREM.provenance == "unverified: recalled"
    assert T.STEP_RECALLED.provenance == "unverified: recalled"
    assert T.STEP_DERIVED.provenance == "derived" and "(K6)" in T.STEP_DERIVED.source
    assert all(a.provenance == "unverified: recalled" for a in T.ASSUMPTIONS.values())
    assert all("docs/references.md#fu2020-theorem" in a.source for a in T.ASSUMPTIONS.values())


def test_step_conditions_as_sympy():
    # The recalled bound on kappa alpha is 2/(Lip + 1/nu); the derived one 2/(Lip + 2/nu).
    k, a, n, L = T.kappa, T.alpha, T.nu, T.Lip
    assert T.STEP_RECALLED.expr.lhs == a and T.STEP_DERIVED.expr.lhs == a
    assert sp.simplify(T.STEP_RECALLED.expr.rhs - 2 / (k * (L + 1 / n))) == 0
    assert sp.simplify(T.STEP_DERIVED.expr.rhs - 2 / (k * (L + 2 / n))) == 0
    v = dict(kappa=10.0, nu=1.0, Lip=0.1)
    assert T.step_condition_holds(T.STEP_RECALLED, alpha=0.12, **v)
    assert not T.step_condition_holds(T.STEP_DERIVED, alpha=0.12, **v)
    with pytest.raises(ValueError, match="Lip"):
        T.step_condition_holds(T.STEP_DERIVED, alpha=0.1, kappa=1.0, nu=1.0)


def test_derived_condition_is_sharp_on_a_vanishing_hessian():
    """(K4) is attained: with H = 0 the restricted Hessian has norm 2/nu, so gradient descent
    (eq. (K7)) is stable exactly for kappa alpha < nu = 2/(0 + 2/nu)."""
    nu = 0.5
    M = T.restricted_hessian(np.zeros((2, 2)), np.ones(2, bool), np.ones(2, bool), nu)
    assert np.isclose(np.linalg.eigvalsh(M).max(), 2 / nu)
    # The largest eigenvalue for H = h I: eq. of section 2.
    h = 0.1
    M = T.restricted_hessian(h * np.eye(1), np.ones(1, bool), np.ones(1, bool), 1.0)
    lam = 0.5 * (h + 2 + np.sqrt((h + 2) ** 2 - 4 * h))
    assert np.isclose(np.linalg.eigvalsh(M).max(), lam) and np.isclose(2 / lam, 0.9750, atol=1e-4)


@pytest.mark.parametrize(
    "theta,kind,exponent",
    [
        (sp.Rational(1, 2), "linear", None),
        (sp.Rational(1, 3), "linear", None),
        (sp.Rational(3, 4), "sublinear", sp.Rational(-1, 2)),
        (sp.Rational(5, 6), "sublinear", sp.Rational(-1, 4)),
        (0.9, "sublinear", sp.Rational(-1, 8)),
    ],
)
def test_rate_class(theta, kind, exponent):
    rc = T.rate_class(theta)
    assert rc.kind == kind and rc.exponent == exponent and rc.provenance == "derived"


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2])
def test_rate_class_refuses_theta_outside_0_1(bad):
    with pytest.raises(ValueError, match="'theta'"):
        T.rate_class(bad)


def test_power_theta():
    assert [T.power_theta(m) for m in (1, 2, 3)] == [
        sp.Rational(1, 2),
        sp.Rational(3, 4),
        sp.Rational(5, 6),
    ]
    # Composed with (K10): the exponent -1/(2(m-1)) of eq. (K14).
    for m in (2, 3, 4):
        assert T.rate_class(T.power_theta(m)).exponent == sp.Rational(-1, 2 * (m - 1))
    with pytest.raises(ValueError, match="'m'"):
        T.power_theta(0)


def test_linear_rate_leaves_out_zero_eigenvalues():
    # Zero Hessian: the factor comes from the penalty's eigenvalues (2/nu and 0), so 0 is left
    # out and q = |1 - kappa alpha 2/nu| < 1: a "linear" claim there is a wrong, checkable one.
    q = T.linear_rate(np.zeros((1, 1)), np.ones(1, bool), np.ones(1, bool), 2.0, 0.1, 1.0)
    assert np.isclose(q, abs(1 - 0.2 * 2))


def test_cited_equations_exist_in_the_derivation():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs/derivations/split_lbi_kl.md").read_text()
    tags = set(re.findall(r"\\tag\{(K\d+)\}", doc))
    assert tags == {f"K{i}" for i in range(1, 18)}
    text = (root / "theory/split_lbi.py").read_text()
    text += (root / "experiments/checks/split_lbi.py").read_text()
    cited = set(re.findall(r"\(K(\d+)\)", text))
    assert cited and {f"K{c}" for c in cited} <= tags
