"""Referee checks of the Split LBI derivation (docs/derivations/split_lbi_kl.md), each able to fail.

- The exact Lipschitz constant of grad Lbar is ``l* = (Lip + 2/nu + sqrt(Lip^2 + 4/nu^2))/2``,
  strictly below (K4)'s ``Lip + 2/nu`` when ``Lip > 0``: (K6) is sufficient, not sharp; the
  sharp condition on quadratics with a filled support is ``kappa alpha < 2/l*`` (eq. (K4a)).
- While ``Gamma = 0`` the iteration is gradient descent on ``L + ||W||^2/(2 nu)``: its stability
  condition is the recalled ``kappa alpha < 2/(Lip + 1/nu)`` (the condition depends on the support).
- (K7): with the sign pattern fixed, one step of the solver is gradient descent with step
  ``kappa alpha`` on the restricted lifted loss, the shrink's offset included.
- (K12) and (K14): the exponent and the slow manifold's amplitude ``((m-1) eta k)^{-1/(2(m-1))}``.
- The check is blind to the shrink threshold (a property of the theorem, not of the check).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from partialfed import simulators
from partialfed.experiments.checks import split_lbi_objectives as O
from partialfed.experiments.checks.split_lbi import LBIStudy, lbi_check
from partialfed.theory import split_lbi as T

M = importlib.import_module("partialfed.simulators.split_lbi")


def sharp_lip(lip, nu):
    return 0.5 * (lip + 2 / nu + np.sqrt(lip**2 + 4 / nu**2))


def lifted_hessian(H, nu):
    d = H.shape[0]
    return T.restricted_hessian(H, np.ones(d, bool), np.ones(d, bool), nu)


def test_lifted_gradient_lipschitz_constant_is_below_K4():
    rng = np.random.default_rng(1)
    for lip, nu in [(0.1, 1.0), (2.0, 1.0), (5.0, 0.2)]:
        # Worst case H = Lip I attains l*; any H with spectrum in [-Lip, Lip] stays below.
        top = np.linalg.eigvalsh(lifted_hessian(lip * np.eye(3), nu)).max()
        assert np.isclose(top, sharp_lip(lip, nu), rtol=1e-12)
        assert top < lip + 2 / nu - 1e-3 * lip  # (K4) is not attained for Lip > 0
        for _ in range(5):
            Q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
            H = Q @ np.diag(rng.uniform(-lip, lip, 3)) @ Q.T
            assert np.linalg.eigvalsh(lifted_hessian(H, nu)).max() <= sharp_lip(lip, nu) + 1e-12
    # (K6) is conservative by at most 2(2 - sqrt 2), at Lip nu = 2.
    x = np.linspace(0.01, 100, 20001)
    ratio = (x + 2) / sharp_lip(x, 1.0)
    assert np.isclose(ratio.max(), 2 * (2 - np.sqrt(2)), rtol=1e-6)


def _full_support_run(h, nu, kappa, eta, iters):
    """Split LBI on h/2 ||W - c||^2 started inside the support (Z_0 = 5 sign(c), W_0 = c + 0.1)."""
    c = np.array([3.0, -2.0])

    def quad(w):
        r = w - c
        return 0.5 * h * float(r @ r), h * r

    p = simulators.split_lbi(
        quad, c + 0.1, kappa=kappa, alpha=eta / kappa, nu=nu, iters=iters, z0=5 * np.sign(c)
    )
    return p, c


@pytest.mark.parametrize("factor,converges", [(0.99, True), (1.01, False)])
def test_sharp_step_condition_on_a_filled_support(factor, converges):
    h, nu, kappa = 0.1, 1.0, 10.0
    eta = factor * 2 / sharp_lip(h, nu)
    assert eta > 2 / (h + 2 / nu)  # both runs violate (K6)
    p, c = _full_support_run(h, nu, kappa, eta, 1500)
    stable = np.all(p.Gamma[-1] != 0) and np.max(np.abs(p.W[-1] - c)) < 1e-3
    assert stable == converges


def test_empty_support_phase_is_stable_under_the_recalled_condition():
    """c = 0: nothing enters; W follows GD on h/2 ||W||^2 + ||W||^2/(2 nu), stable exactly for
    kappa alpha < 2/(h + 1/nu) -- the recalled condition -- although (K6) fails."""
    h, nu, kappa = 0.1, 1.0, 10.0

    def quad(w):
        return 0.5 * h * float(w @ w), h * w

    for factor, converges in [(0.97, True), (1.03, False)]:
        eta = factor * 2 / (h + 1 / nu)
        assert not T.step_condition_holds(
            T.STEP_DERIVED, kappa=kappa, alpha=eta / kappa, nu=nu, Lip=h
        )
        p = simulators.split_lbi(
            quad, np.full(2, 1e-3), kappa=kappa, alpha=eta / kappa, nu=nu, iters=300
        )
        empty = not np.any(p.Gamma != 0)
        assert (empty and np.max(np.abs(p.W[-1])) < 1e-6) == converges


def test_fixed_sign_step_is_gradient_descent_on_the_restricted_loss():
    """Eq. (K7): in (W, Gamma_S) one step is x - kappa alpha grad f_S(x), whatever the offset
    kappa s of Gamma = kappa (Z - s); Z off S moves but does not act."""
    rng = np.random.default_rng(2)
    A = rng.normal(size=(4, 4))
    H = A @ A.T / 4 + 0.3 * np.eye(4)
    c = np.array([1.0, -0.7, 0.2, 0.4])
    kappa, alpha, nu = 4.0, 0.05, 0.5
    z0 = np.array([6.0, -6.0, 0.0, 0.0])  # S = {0, 1}, signs (+, -)
    S = z0 != 0

    def quad(w):
        r = w - c
        return 0.5 * float(r @ H @ r), H @ r

    p = simulators.split_lbi(quad, c + 0.2, kappa=kappa, alpha=alpha, nu=nu, iters=20, z0=z0)
    assert np.all(np.sign(p.Gamma) == np.sign(z0))  # the sign pattern stays fixed
    x = np.r_[p.W[0], p.Gamma[0, S]]
    for k in range(20):
        W, G = x[:4], np.zeros(4)
        G[S] = x[4:]
        gW = quad(W)[1] + (W - G) / nu
        x = x - kappa * alpha * np.r_[gW, -(W - G)[S] / nu]
        np.testing.assert_allclose(x, np.r_[p.W[k + 1], p.Gamma[k + 1, S]], atol=1e-12)
    # Step alpha (not kappa alpha) on Gamma_S is a different iteration.
    y = np.r_[p.W[0], p.Gamma[0, S]]
    W, G = y[:4], np.where(S, 0.0, 0.0)
    G[S] = y[4:]
    y_bad = np.r_[W - kappa * alpha * (quad(W)[1] + (W - G) / nu), G[S] + alpha * (W - G)[S] / nu]
    assert np.max(np.abs(y_bad - np.r_[p.W[1], p.Gamma[1, S]])) > 1e-3


@pytest.mark.parametrize("m", [2, 3])
def test_kl_exponent_of_the_even_power_is_attained_not_beaten(m):
    """(K12): sup f^theta/||grad f|| near x* stays bounded at theta = 1 - 1/(2m) over random
    directions and grows for theta - 0.05."""
    rng = np.random.default_rng(3)
    nu, th = 1.0, float(T.power_theta(m))
    dirs = rng.normal(size=(400, 2))
    dirs[0] = [1.0, 0.0]  # b = 0 (W = Gamma), the worst direction
    sup = {}
    for t in (th, th - 0.05):
        vals = []
        for r in (1e-1, 1e-5):
            a, b = r * dirs[:, 0], r * dirs[:, 1]
            f = a ** (2 * m) / (2 * m) + b**2 / (2 * nu)
            g = np.hypot(a ** (2 * m - 1) + b / nu, b / nu)
            vals.append(np.max(f**t / g))
        sup[t] = vals
    assert sup[th][1] < 2 * sup[th][0]  # bounded as r -> 0
    assert sup[th - 0.05][1] > 4 * sup[th - 0.05][0]  # a smaller exponent fails


def test_slow_manifold_amplitude_K14():
    """(K14) with its constant: a_k ~ ((m - 1) eta k)^{-1/(2(m-1))} for the quartic (m = 2), not
    the (eta k)^{-1/2}/sqrt(2) of plain GD on a^4/4 without the slow manifold's factor 1/2."""
    c = np.array([1.0])
    obj = O.even_power(c, 2)
    kappa, alpha, nu = 4.0, 0.025, 1.0
    eta = kappa * alpha
    p = simulators.split_lbi(
        obj.grad, np.zeros(1), kappa=kappa, alpha=alpha, nu=nu, iters=8000, record_every=100
    )
    k = p.steps[-20:].astype(float)
    a = np.abs(p.W[-20:, 0] - 1.0)
    ratio = a / (eta * k) ** -0.5
    assert np.all(np.abs(ratio - 1) < 0.05), ratio
    assert np.all(np.abs(ratio - 1 / np.sqrt(2)) > 0.2)


def test_check_is_blind_to_the_shrink_threshold(monkeypatch):
    """A solver with threshold 2 in (S4) still 'agrees': with the support fixed the threshold is
    an offset (eq. (K7)). Only the reference test (tests/reference/test_reference_lbi.py)
    can catch it; the entry times differ."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    H = A @ A.T / 4 + 0.3 * np.eye(4)
    study = LBIStudy(
        "q",
        O.quadratic(H, np.array([1.0, -0.7, 0.0, 0.4])),
        kappa=4.0,
        alpha=0.05,
        nu=0.5,
        iters=3000,
    )
    good = lbi_check(study)

    def thr2(W, Z, gW, diff, kappa, alpha, nu, mask):
        Zn = Z + (alpha / nu) * diff
        return W - kappa * alpha * gW, Zn, kappa * M.shrink(Zn, 2.0) * mask

    monkeypatch.setattr(M, "_step", thr2)
    bad = lbi_check(study)
    assert good.verdict == bad.verdict == "agrees"
    assert np.any(bad.path.entry != good.path.entry)
