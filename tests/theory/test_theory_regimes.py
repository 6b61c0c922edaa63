"""Regime boundaries and the (1 + chi^2)^{1/2} factor."""

import numpy as np
import pytest
import sympy as sp

from partialfed.theory import pillutla2022 as P
from partialfed.theory import regimes as R
from partialfed.theory.symbols import SYMBOLS, chi

BASE = dict(n=100.0, m=10.0, L_u=1.0, L_v=2.0, sigma_u=0.3, sigma_v=1.0, delta=0.5)


def _gap(**v):
    f = sp.lambdify(
        [SYMBOLS[k] for k in BASE], P.BOXED_CONDITION.rhs - P.BOXED_CONDITION.lhs, "numpy"
    )
    return f(*(np.asarray(v[k], dtype=float) for k in BASE))


@pytest.mark.parametrize("var", R.BOUNDARY_VARIABLES)
def test_boundary_zeroes_the_boxed_gap(var):
    base = dict(BASE)
    if var in ("n", "m"):
        base["sigma_v"] = 3.0  # so that a boundary with m < n/2 exists
    others = {k: v for k, v in base.items() if k != var}
    x = R.boundary(var, **others)
    assert np.isfinite(x), var
    gap = _gap(**{**others, var: x})
    scale = abs(_gap(**{**others, var: 2 * x})) + abs(_gap(**{**others, var: 0.5 * x}))
    assert abs(gap) <= 1e-9 * scale


def test_sigma_v_boundary_separates_the_regimes_on_a_grid():
    delta_ = np.linspace(0.0, 3.0, 7)
    sv = R.boundary("sigma_v", **{**BASE, "delta": delta_})
    assert sv.shape == (7,) and np.all(np.diff(sv) > 0)  # more heterogeneity, larger boundary
    v = {**BASE, "delta": delta_, "chi": 0.5}
    below = P.favoured(**{**v, "sigma_v": 0.9 * sv})
    above = P.favoured(**{**v, "sigma_v": 1.1 * sv + 1e-9})
    assert np.all(below.fedalt_better[1:]) and not np.any(above.fedalt_better)


def test_no_boundary_when_m_at_least_half_n():
    assert np.isnan(R.boundary("sigma_v", **{**BASE, "m": 60.0}))
    out = R.boundary("sigma_v", **{**BASE, "m": np.array([10.0, 50.0, 60.0])})
    assert np.isfinite(out[0]) and np.isnan(out[2])


def test_boundary_errors():
    with pytest.raises(ValueError, match="'var'"):
        R.boundary("chi", **BASE)
    with pytest.raises(ValueError, match="needs a value for 'delta'"):
        R.boundary("sigma_v", n=100, m=10, L_u=1, L_v=1, sigma_u=0)


def test_delta_dominated_factor():
    assert sp.simplify(R.DELTA_DOMINATED_FACTOR - sp.sqrt(1 + chi**2)) == 0
    np.testing.assert_allclose(R.delta_dominated_factor([0.0, 1.0]), [1.0, np.sqrt(2)])
    f = R.leading_factor(**{**BASE, "delta": 1e5, "chi": np.array([0.0, 0.5, 2.0])})
    np.testing.assert_allclose(f, np.sqrt(1 + np.array([0.0, 0.25, 4.0])), rtol=1e-6)


def test_grid_for_plotting():
    g = R.grid(
        "sigma_v",
        np.linspace(0, 5, 11),
        "delta",
        np.linspace(0, 2, 5),
        n=100,
        m=10,
        L_u=1.0,
        L_v=1.0,
        sigma_u=0.2,
        chi=0.7,
    )
    assert g["factor"].shape == (5, 11) and g["fedalt_better"].shape == (5, 11)
    assert g["boundary"].shape == (5,)
    # left of the boundary FedAlt is favoured, right of it FedSim
    for j, b in enumerate(g["boundary"]):
        row = g["X"][j]
        np.testing.assert_array_equal(g["fedalt_better"][j], row < b - 1e-12)


def test_term_exponents_generic():
    T = SYMBOLS["T"]
    assert R.term_exponents(3 / sp.sqrt(T) + T ** sp.Rational(-2, 3) + 5) == [
        sp.Rational(-1, 2),
        sp.Rational(-2, 3),
    ]
