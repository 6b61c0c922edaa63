"""FedAlt/FedSim (Pillutla et al. 2022): symbolic facts, special cases, the slide-40 predicate."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from partialfed.theory import pillutla2022 as P
from partialfed.theory.regimes import term_exponents
from partialfed.theory.symbols import (
    SYMBOLS,
    L_u,
    L_uv,
    L_v,
    L_vu,
    T,
    chi,
    delta,
    eta,
    m,
    n,
    sigma_u,
    sigma_v,
)

A, B = P.A, P.B


def test_sig_difference_is_chi_sq_times_boxed_gap():
    # docs/references.md#pillutla2022-effective-variances:
    # simplify(sig_sim1 - sig_alt1) == chi^2 (A - (1-2m/n) B)
    assert sp.simplify(P.SIG_SIM1 - P.SIG_ALT1 - chi**2 * (A - (1 - 2 * m / n) * B)) == 0


def test_sig_difference_sign_is_the_boxed_condition():
    gap = P.BOXED_CONDITION.rhs - P.BOXED_CONDITION.lhs
    assert sp.simplify(P.SIG_SIM1 - P.SIG_ALT1 - chi**2 * gap) == 0


def test_ratio_tends_to_one_plus_chi_sq_as_sigma_v_vanishes():
    assert sp.simplify(sp.limit(P.SIG_SIM1 / P.SIG_ALT1, sigma_v, 0) - (1 + chi**2)) == 0
    assert sp.simplify((P.SIG_SIM1 / P.SIG_ALT1).subs(sigma_v, 0)) == 1 + chi**2


def test_chi_zero_makes_fedalt_and_fedsim_equal():
    assert sp.simplify((P.SIG_SIM1 - P.SIG_ALT1).subs(chi, 0)) == 0
    alt = P.BOUNDS["fedalt_main"].rhs.subs(chi, 0)
    sim = P.BOUNDS["fedsim_main"].rhs.subs(chi, 0)
    # the T^{-1/2} terms coincide; the T^{-2/3} coefficients are unrecovered (a_alt vs a_sim)
    same = {P.a_alt_u: P.a_sim_u, P.a_alt_v: P.a_sim_v, P.a_alt_d: P.a_sim_d}
    assert sp.simplify(alt.subs(same) - sim) == 0


def test_full_participation_removes_sampling_terms():
    a_full = sp.simplify(A.subs(m, n))
    assert a_full == sp.simplify(sigma_u**2 / (n * L_u))
    assert not a_full.has(delta)
    for s in (P.SIG_ALT1, P.SIG_SIM1):
        assert not sp.simplify(s.subs(m, n)).has(delta)
    # m = n: FedAlt's variance = A + B (no chi), FedSim's = (1 + chi^2)(A + B)
    assert sp.simplify(P.SIG_ALT1.subs(m, n) - (A + B).subs(m, n)) == 0


def test_zero_noise_removes_noise_terms():
    z = {sigma_u: 0, sigma_v: 0}
    for s in (P.SIG_ALT1, P.SIG_SIM1, P.SIG_ALT2, P.SIG_SIM2):
        assert not s.subs(z).has(sigma_u) and not s.subs(z).has(sigma_v)
    # only the delta (sampling) term remains, and it vanishes at m = n
    assert sp.simplify(P.SIG_ALT1.subs(z).subs(m, n)) == 0
    assert sp.simplify(P.SIG_SIM1.subs(z).subs(m, n)) == 0


@pytest.mark.parametrize("name", ["fedalt_main", "fedsim_main", "fedalt_main_w1", "fedsim_main_w1"])
def test_exponents_in_T(name):
    b = P.BOUNDS[name]
    assert term_exponents(b) == [sp.Rational(-1, 2), sp.Rational(-2, 3), sp.Integer(-1)]


@pytest.mark.parametrize("name", ["fedalt_main", "fedsim_main"])
def test_monotone_decreasing_in_T(name):
    rhs = P.BOUNDS[name].rhs
    # m <= n: write m = n/(1 + k), k >= 0, so that sympy sees 1 - m/n >= 0
    k = sp.Symbol("k", nonnegative=True)
    d = sp.diff(rhs, T).subs(m, n / (1 + k))
    # put every sum over a common denominator so that sympy can read off the signs
    d = d.replace(lambda e: e.is_Add, lambda e: sp.factor(sp.together(e)))
    assert d.is_negative is True
    # and the same derivative is not negative for a wrong sign (the test can fail)
    assert (-d).is_negative is False


def test_free_constants_and_provenance():
    b = P.BOUNDS["fedalt_main"]
    names = {s.name for s in b.free_constants}
    assert names == {"c_1", "c_2", "c_3", "a_alt_u", "a_alt_v", "a_alt_d"}
    assert b.provenance == "reconstructed" and "slide 35" in b.source
    assert "RECONSTRUCTED" in b.notes and "NOT RECOVERED" in b.notes


def test_lhs_weights_and_points():
    b = P.BOUNDS["fedalt_main"]
    assert b.lhs.weight("Delta_u") == 1 / L_u
    assert sp.simplify(b.lhs.weight("Delta_v") - m / (n * L_v)) == 0
    assert b.lhs.terms[0].at == "(u^t, V^{t+1})"
    assert P.BOUNDS["fedsim_main"].lhs.terms[0].at == "(u^t, V^t)"
    assert P.BOUNDS["fedalt_main_w1"].lhs.weight("Delta_v") == 1 / L_v
    assert P.main_bound("fedalt", w_v="symbol").lhs.weight("Delta_v") == SYMBOLS["w_v"] / L_v
    assert P.main_bound("fedalt", u_point="current").lhs.terms[0].at == "(u^t, V^t)"
    w = b.weights(L_u=2.0, L_v=4.0, m=5, n=20)
    assert float(w["Delta_u"]) == 0.5 and float(w["Delta_v"]) == pytest.approx(0.0625)
    with pytest.raises(ValueError, match="w_v"):
        P.main_bound("fedalt", w_v="2")
    with pytest.raises(ValueError, match="algorithm"):
        P.main_bound("fedavg")


def _values(rng, size):
    n_ = rng.integers(2, 200, size=size).astype(float)
    return dict(
        n=n_,
        m=np.floor(rng.uniform(0, 1, size=size) * n_) + 1,
        L_u=rng.lognormal(0, 1, size=size),
        L_v=rng.lognormal(0, 1, size=size),
        sigma_u=rng.exponential(1, size=size),
        sigma_v=rng.exponential(3, size=size),
        delta=rng.exponential(1, size=size),
        chi=rng.uniform(0.01, 3, size=size),
    )


def test_favoured_agrees_with_boxed_condition_on_random_draws():
    rng = np.random.default_rng(0)
    v = _values(rng, 5000)
    v["m"] = np.minimum(v["m"], v["n"])
    res = P.favoured(**v)
    f = sp.lambdify([SYMBOLS[k] for k in v], P.BOXED_CONDITION, "numpy")
    boxed = f(*v.values())
    decided = res.algorithm != "tie"
    assert decided.mean() > 0.95
    np.testing.assert_array_equal(res.algorithm[decided] == "fedalt", boxed[decided])
    np.testing.assert_array_equal(res.fedalt_better, boxed)
    np.testing.assert_array_equal(res.factor[decided] > 1, boxed[decided])
    assert {"fedalt", "fedsim"} <= set(np.unique(res.algorithm))


@settings(max_examples=60, deadline=None)
@given(
    n_=st.integers(2, 500),
    frac=st.floats(0, 1),
    su=st.floats(0, 10),
    sv=st.floats(0, 10),
    d=st.floats(0, 10),
    c=st.floats(0.05, 5),
    lu=st.floats(0.1, 10),
    lv=st.floats(0.1, 10),
)
def test_favoured_factor_is_sqrt_ratio_and_matches_sympy(n_, frac, su, sv, d, c, lu, lv):
    m_ = max(1, min(n_, int(round(frac * n_))))
    v = dict(n=n_, m=m_, L_u=lu, L_v=lv, sigma_u=su, sigma_v=sv, delta=d, chi=c)
    res = P.favoured(**v)
    subs = {SYMBOLS[k]: x for k, x in v.items()}
    s_alt = float(P.SIG_ALT1.subs(subs))
    s_sim = float(P.SIG_SIM1.subs(subs))
    if s_alt > 0:
        assert res.factor == pytest.approx(np.sqrt(s_sim / s_alt), rel=1e-9)
    if res.algorithm != "tie":
        assert (res.algorithm == "fedalt") == res.fedalt_better


def test_favoured_special_cases():
    base = dict(n=100, m=5, L_u=1.0, L_v=1.0, sigma_u=0.1, sigma_v=0.1, delta=3.0, chi=0.5)
    r = P.favoured(**base)
    assert r.algorithm == "fedalt" and r.fedalt_better
    assert P.favoured(**{**base, "chi": 0.0}).algorithm == "tie"
    r = P.favoured(**{**base, "sigma_v": 10.0, "delta": 0.0})
    assert r.algorithm == "fedsim" and r.factor < 1 and not r.fedalt_better
    # m > n/2: FedAlt never worse
    assert P.favoured(**{**base, "m": 60, "sigma_v": 100.0, "delta": 0.0}).algorithm == "fedalt"
    # deterministic, full participation: both leading terms vanish -> tie, factor 1
    r = P.favoured(**{**base, "m": 100, "sigma_u": 0.0, "sigma_v": 0.0})
    assert r.algorithm == "tie" and r.factor == 1.0
    # delta dominates: factor -> sqrt(1 + chi^2)
    r = P.favoured(**{**base, "delta": 1e6})
    assert r.factor == pytest.approx(np.sqrt(1.25), rel=1e-6)
    with pytest.raises(ValueError, match="m <= n"):
        P.favoured(**{**base, "m": 101})
    with pytest.raises(ValueError, match="needs a value for 'chi'"):
        P.favoured(**{k: x for k, x in base.items() if k != "chi"})


def test_favoured_vectorises_and_broadcasts():
    r = P.favoured(
        n=100,
        m=5,
        L_u=1.0,
        L_v=1.0,
        sigma_u=0.1,
        sigma_v=np.linspace(0, 10, 7)[:, None],
        delta=np.linspace(0, 3, 4),
        chi=0.5,
    )
    assert r.factor.shape == (7, 4) and r.algorithm.shape == (7, 4)


def test_boxed_condition_is_slide_40_form():
    lhs = sigma_v**2 / L_v * (1 - 2 * m / n)
    rhs = sigma_u**2 / (m * L_u) + delta**2 / (m * L_u) * (1 - m / n)
    assert isinstance(P.BOXED_CONDITION, sp.StrictLessThan)
    assert sp.simplify(P.BOXED_CONDITION.lhs - lhs) == 0
    assert sp.simplify(P.BOXED_CONDITION.rhs - rhs) == 0


def test_chi_definitions():
    assert P.CHI_DEF.subs(L_vu, L_uv) == P.CHI_SLIDE_DEF
    assert float(P.chi_from(4.0, 1.0, 1.0, 3.0)) == 1.5
    assert float(P.chi_from(4.0, 1.0, 1.0)) == 0.5
    with pytest.raises(ValueError, match="'L_u'"):
        P.chi_from(-1.0, 1.0, 1.0)


def test_step_sizes():
    assert P.STEP_SIZES["fedalt"][SYMBOLS["gamma_u"]] == eta / (L_u * SYMBOLS["tau_u"])
    g = P.step_sizes("fedalt", eta=0.1, L_u=2.0, L_v=1.0, tau_u=2, tau_v=5)
    assert float(g["gamma_u"]) == pytest.approx(0.025) and float(g["gamma_v"]) == pytest.approx(
        0.02
    )
    g = P.step_sizes("fedsim", eta=0.1, L_u=2.0, L_v=1.0, tau=4)
    assert float(g["gamma_v"]) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="'tau'"):
        P.step_sizes("fedsim", eta=0.1, L_u=2.0, L_v=1.0)


@pytest.mark.parametrize("algo", ["fedalt", "fedsim"])
def test_tuned_rate_bounds_psi_at_balanced_eta(algo):
    psi = P.psi_template(algo)
    eta_star = P.eta_balanced(algo)
    tuned = P.tuned_rate(algo)
    rng = np.random.default_rng(3)
    syms = sorted((psi.free_symbols | tuned.free_symbols) - {eta}, key=lambda s: s.name)
    f_psi = sp.lambdify(syms, psi.subs(eta, eta_star), "numpy")
    f_tuned = sp.lambdify(syms, tuned, "numpy")
    for _ in range(200):
        vals = {s: rng.lognormal(0, 1.5) for s in syms}
        nv = rng.integers(2, 100)
        vals[n] = nv
        vals[m] = rng.integers(1, nv + 1)
        a, b = f_psi(*vals.values()), f_tuned(*vals.values())
        assert a <= b * (1 + 1e-12)
    # exponents of the tuned rate are those of the main-text template
    assert term_exponents(tuned) == [sp.Rational(-1, 2), sp.Rational(-2, 3), sp.Integer(-1)]


def test_assumptions_as_data():
    assert set(P.ASSUMPTIONS) == {"A0", "A1", "A2", "A3"}
    for a in P.ASSUMPTIONS.values():
        assert a.provenance and a.source and a.definition
        assert set(a.algorithms) <= {"fedalt", "fedsim"}
        for c in a.constants:
            assert c in SYMBOLS
    assert "unverified" in P.ASSUMPTIONS["A3"].provenance  # the rho term


def test_evaluate_main_bound_numerically():
    b = P.BOUNDS["fedsim_main"]
    v = dict(
        n=100,
        m=5,
        L_u=1.0,
        L_v=2.0,
        sigma_u=0.1,
        sigma_v=0.5,
        delta=2.0,
        chi=0.5,
        Delta_F0=1.0,
        c_1=1.0,
        c_2=1.0,
        c_3=1.0,
        a_sim_u=1.0,
        a_sim_v=0.0,
        a_sim_d=1.0,
    )
    Tg = np.array([10.0, 100.0, 1000.0])
    out = b.evaluate(**v, T=Tg)
    A_ = 0.1**2 / 5 + 4 / 5 * 0.95
    s1 = 1.25 * (A_ + 0.05 * 0.25 / 2)
    s2 = 0.01 + 4.0
    np.testing.assert_allclose(out, np.sqrt(s1 / Tg) + (s2 / Tg**2) ** (1 / 3) + 1 / Tg, rtol=1e-12)
    with pytest.raises(ValueError, match="condition 1 <= m <= n"):
        b.evaluate(**{**v, "m": 200}, T=10)
