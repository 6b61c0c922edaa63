"""theory.leading: a bound's terms as functions of eta, named, with their exponents."""

from __future__ import annotations

import pytest
import sympy as sp

from partialfed import theory
from partialfed.theory import leading as L
from partialfed.theory import pillutla2022 as P
from partialfed.theory.symbols import SYMBOLS, T, c_4, c_5, eta, gamma


@pytest.mark.parametrize("name", ["fedalt_main", "fedsim_main", "fedalt_main_w1"])
def test_main_theorems_use_the_pre_tuning_template(name):
    b = theory.get_bound(name)
    expr, labels = L.step_form(b)
    assert sp.simplify(expr - P.psi_template(b.algorithm)) == 0
    assert labels == P.PSI_TERMS
    terms = L.labelled_terms(expr, labels)
    assert sp.simplify(terms["descent"] - c_4 * SYMBOLS["Delta_F0"] / (eta * T)) == 0
    assert sp.simplify(terms["noise"] - c_5 * eta * P.sig1(b.algorithm)) == 0
    assert sp.simplify(sum(terms.values()) - expr) == 0


def test_an_explicit_step_is_replaced_by_the_parametrisation():
    b = theory.get_bound("local_sgd_canonical")
    expr, labels = L.step_form(b)
    assert set(labels) == {s.name for s in b.free_constants}
    b = theory.get_bound("sgd_nonconvex")
    assert b.rhs.has(gamma)
    expr, _ = L.step_form(b)
    assert not expr.has(gamma) and expr.has(eta)


def test_exponents_under_a_step_policy():
    x = sp.Symbol("x", positive=True)
    b = theory.get_bound("fedalt_main")
    # T = x, eta = x^(-1/2), every other symbol a number
    subs = {s: 1 for s in L.step_form(b)[0].free_symbols} | {T: x, eta: x ** sp.Rational(-1, 2)}
    for c in (*P.PSI_TERMS.values(), *(SYMBOLS[k] for k in ("a_alt_u", "a_alt_v", "a_alt_d"))):
        subs.pop(c)
    got = L.term_exponents_under(b, x, subs)
    assert got == {"descent": sp.Rational(-1, 2), "noise": sp.Rational(-1, 2), "drift": -1}


def test_a_term_with_two_labels_is_refused_and_zero_terms_have_no_exponent():
    a, b_ = sp.symbols("a b", positive=True)
    with pytest.raises(ValueError, match="carries the symbols"):
        L.labelled_terms(a * b_ + a, {"A": a, "B": b_})
    assert L.labelled_terms(a + 3, {"A": a}) == {"A": a, "other": 3}
    assert L.log_slope(sp.Integer(0), a) is None
    assert L.log_slope(5 * a**3, a) == 3
