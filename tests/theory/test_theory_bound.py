"""The Bound data type: evaluation, validation, messages, substitution, display."""

import numpy as np
import pytest
import sympy as sp

from partialfed.theory.bound import Bound, Condition, Measured, Term, validate_values
from partialfed.theory.symbols import SYMBOLS, Delta_F0, L, T, c_1, gamma, sigma


def make_bound(**kw):
    args = dict(
        name="toy",
        rhs=2 * Delta_F0 / (gamma * T) + L * gamma * sigma**2,
        lhs=Measured((Term("grad_sq", 1, "(x_t)"),)),
        conditions=(Condition("gamma <= 1/L", sp.Le(gamma, 1 / L)),),
        source="test",
        provenance="derived",
    )
    args.update(kw)
    return Bound(**args)


def direct(Delta_F0, gamma, T, L, sigma):
    return 2 * Delta_F0 / (gamma * T) + L * gamma * sigma**2


def test_evaluate_scalar_matches_direct():
    b = make_bound()
    v = dict(Delta_F0=3.0, gamma=0.1, T=50, L=2.0, sigma=0.7)
    assert float(b.evaluate(**v)) == pytest.approx(direct(**v), rel=1e-14)
    assert b.evaluate(**v).shape == ()


def test_evaluate_vectorises_with_broadcasting():
    b = make_bound()
    rng = np.random.default_rng(1)
    T_ = np.arange(1, 11)[:, None]
    g = rng.uniform(0.01, 0.5, size=(1, 7))
    out = b.evaluate(Delta_F0=2.0, gamma=g, T=T_, L=2.0, sigma=0.3)
    assert out.shape == (10, 7)
    np.testing.assert_allclose(out, direct(2.0, g, T_, 2.0, 0.3), rtol=1e-14)


def test_rhs_free_of_an_array_input_still_broadcasts():
    b = make_bound(name="lin", rhs=L)
    out = b.evaluate(L=2.0, gamma=np.full(5, 0.1))
    assert out.shape == (5,)
    np.testing.assert_array_equal(out, 2.0)


def test_lambdify_is_cached():
    b = make_bound()
    v = dict(Delta_F0=3.0, gamma=0.1, T=50, L=2.0, sigma=0.7)
    b.evaluate(**v)
    first = b._compiled
    b.evaluate(**v)
    assert b._compiled is first


def test_missing_symbol_is_named():
    b = make_bound()
    with pytest.raises(ValueError, match=r"Bound 'toy' needs a value for 'sigma'; required: "):
        b.evaluate(Delta_F0=3.0, gamma=0.1, T=50, L=2.0)


def test_missing_free_constant_message():
    b = make_bound(rhs=c_1 * Delta_F0 / T, conditions=())
    assert b.has_free_constants and b.free_constants == frozenset({c_1})
    with pytest.raises(ValueError, match="has free constants c_1 that must be given or fitted"):
        b.evaluate(Delta_F0=1.0, T=3)
    assert float(b.evaluate(Delta_F0=1.0, T=4, c_1=2.0)) == 0.5


def test_unknown_key_did_you_mean():
    b = make_bound()
    with pytest.raises(
        ValueError,
        match=r"Unknown parameter 'gama' of Bound 'toy'; allowed: .* Did you mean 'gamma'\?",
    ):
        b.evaluate(Delta_F0=3.0, gama=0.1, T=50, L=2.0, sigma=0.7)


def test_extra_known_key_raises_unless_ignored():
    b = make_bound()
    v = dict(Delta_F0=3.0, gamma=0.1, T=50, L=2.0, sigma=0.7, rho=1.0)
    with pytest.raises(ValueError, match="does not use 'rho'"):
        b.evaluate(**v)
    assert np.isfinite(b.evaluate(v, ignore_extra=True))


def test_violated_condition_message_shows_both_sides():
    b = make_bound()
    with pytest.raises(ValueError) as e:
        b.evaluate(Delta_F0=3.0, gamma=0.5, T=50, L=4.0, sigma=0.7)
    msg = str(e.value)
    assert "condition gamma <= 1/L is violated" in msg
    assert "gamma=0.5" in msg and "1/L=0.25" in msg
    # check=False evaluates anyway
    assert np.isfinite(b.evaluate(Delta_F0=3.0, gamma=0.5, T=50, L=4.0, sigma=0.7, check=False))


def test_violated_condition_in_array_names_index():
    b = make_bound()
    with pytest.raises(ValueError, match=r"first at index \(2,\)"):
        b.evaluate(Delta_F0=3.0, gamma=np.array([0.1, 0.2, 0.9]), T=5, L=2.0, sigma=0.0)


def test_condition_boundary_is_allowed():
    b = make_bound()
    assert np.isfinite(b.evaluate(Delta_F0=1.0, gamma=1 / 3, T=5, L=3.0, sigma=0.1))


@pytest.mark.parametrize(
    "name,value,pattern",
    [
        ("sigma", -1.0, r"'sigma' parameter .* must be a finite real .* in \[0, inf\)\. Got -1\.0"),
        ("gamma", 0.0, r"'gamma' parameter .* must be a finite real .* in \(0, inf\)\. Got 0\.0"),
        ("L", np.nan, r"'L' parameter .* must be a finite real number .* Got nan\."),
        ("T", np.inf, r"'T' parameter .* must be a finite real number .* Got inf\."),
        ("Delta_F0", "abc", r"'Delta_F0' parameter .* must be a finite real number"),
        ("gamma", np.array([0.1, -0.1]), r"'gamma' parameter .* in \(0, inf\)\. Got -0\.1\."),
    ],
)
def test_invalid_values_name_the_parameter(name, value, pattern):
    b = make_bound()
    v = dict(Delta_F0=3.0, gamma=0.1, T=50, L=2.0, sigma=0.7)
    v[name] = value
    with pytest.raises(ValueError, match=pattern):
        b.evaluate(**v)


def test_validate_values_allows_zero_for_nonnegative_and_negative_F_low():
    out = validate_values({"sigma_u": 0.0, "F_low": -3.0, "chi": 0})
    assert out["F_low"] == -3.0


def test_substitute_returns_new_bound_and_drops_true_conditions():
    b = make_bound()
    b2 = b.substitute(L=2, gamma=0.25)
    assert b2 is not b and b.rhs.has(L)
    assert not b2.rhs.has(L) and not b2.rhs.has(gamma)
    assert b2.conditions == ()
    v = dict(Delta_F0=3.0, T=50, sigma=0.7)
    assert float(b2.evaluate(**v)) == pytest.approx(direct(gamma=0.25, L=2.0, **v))
    with pytest.raises(ValueError, match="condition gamma <= 1/L is violated"):
        b.substitute(L=4, gamma=0.5)
    with pytest.raises(ValueError, match="does not use 'rho'"):
        b.substitute(rho=1.0)


def test_substitute_free_constant_removes_it():
    b = make_bound(rhs=c_1 * Delta_F0 / T, conditions=())
    b2 = b.substitute(c_1=3)
    assert not b2.has_free_constants and b.has_free_constants


def test_bad_provenance_and_missing_source_rejected():
    with pytest.raises(ValueError, match="provenance"):
        make_bound(provenance="guessed")
    with pytest.raises(ValueError, match="needs a source"):
        make_bound(source="")
    with pytest.raises(ValueError, match="not declared"):
        make_bound(rhs=sp.Symbol("zzz", positive=True))
    with pytest.raises(ValueError, match="aggregate"):
        Measured((Term("grad_sq", 1, ""),), aggregate="median")


def test_display():
    b = make_bound()
    assert "toy" in repr(b) and "derived" in repr(b) and "gamma <= 1/L" in repr(b)
    tex = b.latex()
    assert r"\le" in tex and r"\gamma" in tex
    assert "parameters:" in b.describe()
    assert b.required == ("Delta_F0", "L", "T", "gamma", "sigma")
    assert b.free_symbols == frozenset(SYMBOLS[k] for k in b.required)


def test_weights():
    b = make_bound(
        lhs=Measured(
            (Term("Delta_u", 1 / L, "(u)"), Term("Delta_v", SYMBOLS["m"] / SYMBOLS["n"], ""))
        )
    )
    w = b.weights(L=4.0, m=2, n=8)
    assert float(w["Delta_u"]) == 0.25 and float(w["Delta_v"]) == 0.25
    with pytest.raises(ValueError, match="needs a value for 'L'"):
        b.weights(m=2, n=8)


def test_frozen():
    b = make_bound()
    with pytest.raises(AttributeError):
        b.name = "x"


def test_term_display_point_and_measured_point_must_agree():
    from partialfed.theory.bound_parts import At, Term

    Term("Delta_u", sp.Integer(1), "(u^t, V^{t+1})", At.V_NEXT)
    Term("Delta_v", sp.Integer(1), "(u^t, V^t)")
    with pytest.raises(ValueError, match="disagree"):
        Term("Delta_u", sp.Integer(1), "(u^t, V^{t+1})")  # would read the column at V^t
    with pytest.raises(ValueError, match="disagree"):
        Term("Delta_u", sp.Integer(1), "(u^t, V^t)", At.V_NEXT)
