"""Classic anchors: tight GD constant on concrete functions, SGD and FedSGD exact expectations."""

import itertools

import numpy as np
import pytest
import sympy as sp

from partialfed.theory import classic as C
from partialfed.theory.regimes import term_exponents
from partialfed.theory.symbols import T, m, n, sigma, tau, zeta

# --- concrete L-smooth nonconvex functions: (f, grad, L, dim) --------------------------------


def _phi(x):
    return x**2 / (1 + x**2)


def _dphi(x):
    return 2 * x / (1 + x**2) ** 2


FUNCTIONS = {
    # phi'' in [-1/2, 2]  (docs/references.md#synthetic-separable)
    "phi_1d": (lambda x: _phi(x[..., 0]), lambda x: _dphi(x), 2.0, 1),
    # cos: |f''| <= 1
    "cos_1d": (lambda x: np.cos(x[..., 0]), lambda x: -np.sin(x), 1.0, 1),
    # sin(x) + 0.1 x^2: |f''| = |0.2 - sin x| <= 1.2
    "sin_quad_1d": (
        lambda x: np.sin(x[..., 0]) + 0.1 * x[..., 0] ** 2,
        lambda x: np.cos(x) + 0.2 * x,
        1.2,
        1,
    ),
    # phi(x) + cos(y) + 0.5 sin x sin y: ||Hessian|| <= 2 + 0.5 (see docstring of the test)
    "mixed_2d": (
        lambda z: _phi(z[..., 0]) + np.cos(z[..., 1]) + 0.5 * np.sin(z[..., 0]) * np.sin(z[..., 1]),
        lambda z: np.stack(
            [
                _dphi(z[..., 0]) + 0.5 * np.cos(z[..., 0]) * np.sin(z[..., 1]),
                -np.sin(z[..., 1]) + 0.5 * np.sin(z[..., 0]) * np.cos(z[..., 1]),
            ],
            axis=-1,
        ),
        2.5,
        2,
    ),
}


def run_gd(f, grad, L, x0, steps):
    """Gradient descent with step 1/L from many starting points at once (rows of x0)."""
    x = x0.copy()
    g2 = [np.sum(grad(x) ** 2, axis=-1)]
    f0 = f(x)
    for _ in range(steps):
        x = x - grad(x) / L
        g2.append(np.sum(grad(x) ** 2, axis=-1))
    return np.min(np.stack(g2), axis=0), f0 - f(x)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("steps", [1, 5, 40])
def test_gd_tight_holds_on_smooth_nonconvex_functions(name, steps):
    f, grad, L, dim = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-4, 4, size=(2000, dim))
    min_g2, dec = run_gd(f, grad, L, x0, steps)
    ok = dec > 0  # the bound needs f(x_0) > f(x_T) (Delta_FT > 0); else the gradient was 0
    bound = C.GD_TIGHT.evaluate(L=L, T=steps, gamma=1 / L, Delta_FT=dec[ok])
    assert np.all(min_g2[ok] <= bound * (1 + 1e-9))
    # the weaker descent-lemma bound holds too and is larger
    weak = C.GD_DESCENT_LEMMA.evaluate(L=L, T=steps, gamma=1 / L, Delta_FT=dec[ok])
    assert np.all(weak >= bound)


def test_gd_tight_halved_is_violated_on_a_linear_function():
    # f(x) = -x is L-smooth for every L; GD with step 1/L: g_t = -1, f drops by 1/L per step.
    # min g^2 = 1 and the bound is (4/3) L (T/L)/T = 4/3: ratio 3/4, so halving breaks it.
    L, steps = 3.0, 25
    f = lambda x: -x[..., 0]  # noqa: E731
    grad = lambda x: -np.ones_like(x)  # noqa: E731
    min_g2, dec = run_gd(f, grad, L, np.zeros((1, 1)), steps)
    bound = float(C.GD_TIGHT.evaluate(L=L, T=steps, gamma=1 / L, Delta_FT=dec[0]))
    assert min_g2[0] <= bound
    assert min_g2[0] / bound == pytest.approx(0.75)
    assert min_g2[0] > 0.5 * bound


def test_gd_tight_requires_step_one_over_L():
    with pytest.raises(ValueError, match="condition gamma = 1/L is violated"):
        C.GD_TIGHT.evaluate(L=2.0, T=10, gamma=0.4, Delta_FT=1.0)


def test_gd_tight_per_step_inequality_symbolically():
    # f(x_t) - f(x_{t+1}) >= (|g_t|^2/2 + |g_{t+1}|^2/4)/L follows from the interpolation
    # inequality with x - y = g_t/L: check the algebra of the docstring with sympy (1-D).
    g0, g1, L = sp.symbols("g0 g1 L", positive=True)
    dx = g0 / L
    rhs = g1 * dx + (g0 - g1) ** 2 / (4 * L) - L * dx**2 / 4 + (g0 - g1) * dx / 2
    assert sp.simplify(rhs - (g0**2 / 2 + g1**2 / 4) / L) == 0


# --- SGD: exact expectations on f(x) = (L/2)|x|^2 with additive noise --------------------------


def sgd_quadratic_exact(L, gamma, sigma, T_, x0_sq):
    """E||grad f(x_t)||^2 averaged over t < T for SGD on (L/2)|x|^2, exactly (recursion)."""
    e = x0_sq
    total = 0.0
    for _ in range(T_):
        total += L**2 * e
        e = (1 - gamma * L) ** 2 * e + gamma**2 * sigma**2
    return total / T_


@pytest.mark.parametrize("frac", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("T_", [1, 10, 200])
def test_sgd_bound_holds_exactly_on_quadratic(frac, T_):
    L, sigma_, x0_sq = 2.0, 0.7, 3.0
    gamma_ = frac / L
    lhs = sgd_quadratic_exact(L, gamma_, sigma_, T_, x0_sq)
    rhs = float(
        C.SGD_NONCONVEX.evaluate(Delta_F0=L / 2 * x0_sq, gamma=gamma_, T=T_, L=L, sigma=sigma_)
    )
    assert lhs <= rhs * (1 + 1e-12)


def test_sgd_bound_is_nearly_tight_at_gamma_one_over_L():
    # at gamma = 1/L the bound is L^2 x0^2/T + sigma^2 and the truth L^2 x0^2/T + (T-1)sigma^2/T
    L, sigma_, x0_sq, T_ = 2.0, 0.7, 3.0, 400
    lhs = sgd_quadratic_exact(L, 1 / L, sigma_, T_, x0_sq)
    rhs = float(
        C.SGD_NONCONVEX.evaluate(Delta_F0=L / 2 * x0_sq, gamma=1 / L, T=T_, L=L, sigma=sigma_)
    )
    assert lhs / rhs > 0.99
    assert lhs > 0.6 * rhs  # a bound 0.6x as large would be false


# --- FedSGD with partial participation ---------------------------------------------------------


@pytest.mark.parametrize("n_,m_", [(2, 1), (5, 2), (6, 3), (7, 7)])
def test_without_replacement_variance_factor_by_enumeration(n_, m_):
    rng = np.random.default_rng(n_ * 10 + m_)
    a = rng.normal(size=(n_, 3))
    abar = a.mean(axis=0)
    s2 = np.mean(np.sum((a - abar) ** 2, axis=1))
    subsets = list(itertools.combinations(range(n_), m_))
    var = np.mean([np.sum((a[list(S)].mean(axis=0) - abar) ** 2) for S in subsets])
    assert var == pytest.approx(C.sampling_variance_factor(n_, m_) * s2, rel=1e-12, abs=1e-15)


def fedsgd_quadratic_exact(L, gamma, sigma, centres, m_, T_, e0_sq):
    """Exact E||grad f||^2 averaged over t < T for FedSGD on f_i = (L/2)|x - c_i|^2."""
    n_ = centres.shape[0]
    s2 = np.mean(np.sum((centres - centres.mean(axis=0)) ** 2, axis=1))
    var_sample_mean = C.sampling_variance_factor(n_, m_) * s2
    e, total = e0_sq, 0.0
    for _ in range(T_):
        total += L**2 * e
        e = (1 - gamma * L) ** 2 * e + gamma**2 * L**2 * var_sample_mean + gamma**2 * sigma**2 / m_
    return total / T_, L**2 * s2  # zeta^2 = L^2 s2 (attained everywhere)


def test_fedsgd_exact_recursion_matches_monte_carlo():
    rng = np.random.default_rng(5)
    L, gamma_, sigma_, n_, m_, T_, d = 1.5, 0.4, 0.8, 8, 3, 6, 2
    centres = rng.normal(size=(n_, d))
    x0 = np.array([2.0, -1.0])
    runs = 40000
    x = np.tile(x0, (runs, 1))
    acc = np.zeros(runs)
    cbar = centres.mean(axis=0)
    for _ in range(T_):
        acc += L**2 * np.sum((x - cbar) ** 2, axis=1)
        S = np.argsort(rng.random((runs, n_)), axis=1)[:, :m_]
        noise = rng.normal(scale=sigma_ / np.sqrt(d), size=(runs, m_, d)).mean(axis=1)
        G = L * (x - centres[S].mean(axis=1)) + noise
        x = x - gamma_ * G
    mc = acc.mean() / T_
    exact, _ = fedsgd_quadratic_exact(L, gamma_, sigma_, centres, m_, T_, np.sum((x0 - cbar) ** 2))
    assert mc == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("n_,m_", [(10, 1), (10, 3), (10, 10), (50, 7)])
@pytest.mark.parametrize("frac", [0.2, 1.0])
def test_fedsgd_partial_bound_holds_exactly(n_, m_, frac):
    rng = np.random.default_rng(n_ + m_)
    L, sigma_, T_ = 2.0, 0.5, 100
    centres = rng.normal(scale=2.0, size=(n_, 4))
    e0 = 5.0
    lhs, zeta_sq = fedsgd_quadratic_exact(L, frac / L, sigma_, centres, m_, T_, e0)
    rhs = float(
        C.FEDSGD_PARTIAL.evaluate(
            Delta_F0=L / 2 * e0,
            gamma=frac / L,
            T=T_,
            L=L,
            sigma=sigma_,
            zeta=np.sqrt(zeta_sq),
            n=n_,
            m=m_,
        )
    )
    assert lhs <= rhs * (1 + 1e-12)
    if frac == 1.0:
        assert lhs / rhs > 0.95  # nearly tight at gamma = 1/L: the constants are not loose


def test_fedsgd_special_cases_reduce():
    rhs = C.FEDSGD_PARTIAL.rhs
    assert not sp.simplify(rhs.subs(m, n)).has(zeta)  # full participation: no sampling term
    sgd_like = sp.simplify(rhs.subs({m: n, sigma: sigma * sp.sqrt(n)}))
    assert sp.simplify(sgd_like - C.SGD_NONCONVEX.rhs) == 0  # = SGD with variance sigma^2/m
    assert not rhs.subs({sigma: 0, zeta: 0}).has(m)


def test_local_sgd_template_exponents_and_constants():
    b = C.LOCAL_SGD_CANONICAL
    assert term_exponents(b) == [
        sp.Rational(-1, 2),
        sp.Rational(-2, 3),
        sp.Rational(-2, 3),
        sp.Integer(-1),
    ]
    assert {s.name for s in b.free_constants} == {"c_1", "c_2", "c_3", "c_4"}
    assert b.provenance == "reconstructed"
    # sigma = 0: only the zeta drift term and the 1/T term remain
    assert term_exponents(b.rhs.subs(sigma, 0)) == [sp.Rational(-2, 3), sp.Integer(-1)]
    assert term_exponents(b.rhs, tau) == [sp.Rational(-1, 3), sp.Rational(-1, 2)]


def test_sgd_and_fedsgd_have_no_free_constants():
    for b in (C.SGD_NONCONVEX, C.GD_TIGHT, C.FEDSGD_PARTIAL, C.GD_DESCENT_LEMMA):
        assert not b.has_free_constants and b.provenance == "derived"
    assert term_exponents(C.SGD_NONCONVEX) == [sp.Integer(-1)]
    assert sp.diff(C.SGD_NONCONVEX.rhs, T).is_negative
