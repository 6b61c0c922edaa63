"""Per-FedAvg: meta-gradient, exact quadratic closed forms, lemma looseness, Theorem 4.5 shape."""

import numpy as np
import pytest
import sympy as sp

from partialfed.theory import fallah2020 as F
from partialfed.theory.regimes import term_exponents
from partialfed.theory.symbols import K, beta, c_2, r, sigma_F, tau


def _instance(seed=0, n_=6, d=3):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(d, d))
    A = Q @ Q.T + 0.1 * np.eye(d)
    C = rng.normal(scale=2.0, size=(n_, d))
    return A, C


def meta_loss(A, c, alpha, w):
    g = A @ (w - c)
    x = w - alpha * g
    return 0.5 * (x - c) @ A @ (x - c)


def test_meta_gradient_matches_finite_differences():
    A, C = _instance()
    alpha = 0.3 / np.linalg.eigvalsh(A).max()
    w = np.array([0.5, -1.0, 2.0])
    g = F.meta_gradient(lambda x: A @ (x - C[0]), lambda x: A, w, alpha)
    h = 1e-6
    fd = np.array(
        [
            (meta_loss(A, C[0], alpha, w + h * e) - meta_loss(A, C[0], alpha, w - h * e)) / (2 * h)
            for e in np.eye(3)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_estimator_with_exact_oracles_is_exact():
    A, C = _instance(1)
    alpha = 0.2
    w = np.ones(3)
    ex = F.meta_gradient(lambda x: A @ (x - C[1]), lambda x: A, w, alpha)
    est = F.meta_gradient_estimate(
        lambda x: A @ (x - C[1]), lambda x: A @ (x - C[1]), lambda x: A, w, alpha
    )
    np.testing.assert_allclose(est, ex)


def test_quadratic_meta_objective_closed_form():
    A, C = _instance(2)
    alpha = 0.5 / np.linalg.eigvalsh(A).max()
    Aa = F.quadratic_meta_hessian(A, alpha)
    rng = np.random.default_rng(3)
    for _ in range(5):
        w = rng.normal(size=3)
        for c in C:
            assert meta_loss(A, c, alpha, w) == pytest.approx(0.5 * (w - c) @ Aa @ (w - c))


def test_quadratic_exact_constants_against_brute_force():
    A, C = _instance(4)
    alpha = 0.7 / np.linalg.eigvalsh(A).max()
    ex = F.quadratic_exact_constants(A, C, alpha)
    Aa = F.quadratic_meta_hessian(A, alpha)
    # L_F is the spectral norm of the (constant) meta-Hessian
    assert ex["L_F"] == pytest.approx(np.linalg.norm(Aa, 2), rel=1e-10)
    # dissimilarities are attained at every w (constant in w)
    rng = np.random.default_rng(5)
    for _ in range(3):
        w = rng.normal(size=3) * 3
        grads = np.stack([Aa @ (w - c) for c in C])
        gf = np.mean(np.sum((grads - grads.mean(axis=0)) ** 2, axis=1))
        assert gf == pytest.approx(ex["gamma_F_sq"], rel=1e-10)
        g0 = np.stack([A @ (w - c) for c in C])
        gg = np.mean(np.sum((g0 - g0.mean(axis=0)) ** 2, axis=1))
        assert gg == pytest.approx(ex["gamma_G_sq"], rel=1e-10)
    # F* is the value of the mean meta-loss at c_bar (its minimiser)
    cbar = C.mean(axis=0)
    Fbar = np.mean([0.5 * (cbar - c) @ Aa @ (cbar - c) for c in C])
    assert ex["F_star"] == pytest.approx(Fbar)
    w = cbar + 0.1
    assert np.mean([0.5 * (w - c) @ Aa @ (w - c) for c in C]) > ex["F_star"]


def test_lemma_looseness_on_scalar_hessian():
    # A = lam I: exact L_F = lam (1 - alpha lam)^2, recalled lemma 4 lam -> ratio 4/(1-alpha lam)^2;
    # exact gamma_F^2 = (1 - alpha lam)^4 gamma_G^2, recalled 192 gamma_G^2.
    lam, alpha = 2.0, 0.25
    A = lam * np.eye(2)
    C = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 3.0]])
    lo = F.lemma_looseness(A, C, alpha)
    q = 1 - alpha * lam
    assert lo["L_F"] == pytest.approx(4 / q**2)
    assert lo["gamma_F_sq"] == pytest.approx(192 / q**4)
    assert lo["L_F"] >= 1 and lo["gamma_F_sq"] >= 1


def test_lemmas_are_flagged_unverified():
    for c in F.LEMMAS.values():
        assert c.provenance == "unverified" and "recalled" in c.source


def test_theorem_4_5_shape():
    b = F.THEOREM_4_5
    assert b.provenance == "reconstructed" and "Theorem 4.5" in b.source
    assert {s.name for s in b.free_constants} == {"c_0", "c_1", "c_2", "c_3", "c_4"}
    assert term_exponents(b, K) == [sp.Integer(-1)]
    # the bias term does not vanish with K, tau or beta
    assert not sp.limit(b.rhs, K, sp.oo).subs(beta, 0).is_zero
    assert term_exponents(b.rhs, tau) == [sp.Integer(2), sp.Integer(2), sp.Integer(-1)]
    # full participation removes the sampling term
    assert c_2 in b.rhs.free_symbols and c_2 not in b.rhs.subs(r, 1).free_symbols
    vals = dict(
        Delta_F0=1.0,
        beta=0.001,
        tau=10,
        K=100,
        L_F=2.0,
        sigma_F=1.0,
        gamma_F=1.0,
        r=0.2,
        n=50,
        alpha=0.01,
        L=1.0,
        sigma_G=1.0,
        D_in=10,
        c_0=4,
        c_1=1,
        c_2=1,
        c_3=1,
        c_4=1,
    )
    assert np.isfinite(b.evaluate(**vals))
    with pytest.raises(ValueError, match=r"beta <= 1/\(10 tau L_F\)"):
        b.evaluate(**{**vals, "beta": 0.1})
    assert sigma_F in b.rhs.free_symbols
