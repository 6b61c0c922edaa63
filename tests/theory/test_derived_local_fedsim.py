"""FedSim with tau >= 1 local steps (theory/derived_local_fedsim.py, fedsim_local_partial.md).

Sympy: the lemma's weights and noise are the sum of the proof's pieces (2), (9)-(11), and at
tau = 1 they are the tau = 1 bounds. Numbers, on small coupled quadratics with exact Gaussian
moments (no sampling error): the gradient errors (4), the drift lemma (6) and the per-round
lemma (12) in exact expectation over S_t (enumerated) and the noise; weights 15% larger fail on
the near-tight instance. (That the lemma without its drift terms fails is tested in
``test_local_fedsim_referee.py``.)
"""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest
import sympy as sp

from partialfed import theory
from partialfed.theory import derived, derived_diversity
from partialfed.theory import derived_local_fedsim as L
from partialfed.theory.symbols import SYMBOLS as S

NAMES = sorted(L.BOUNDS)
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "derivations"


def test_registry_sources_and_conditions():
    for name in NAMES:
        b = theory.get_bound(name)
        assert b.provenance == "derived" and not b.has_free_constants
        assert b.algorithm == "fedsim" and "fedsim_local_partial.md, eq. (14)" in b.source
        assert (DOCS / "fedsim_local_partial.md").read_text().count("\\tag{14}") == 1
        assert S["tau"] in b.free_symbols
        assert L.LEMMAS[name].pathwise is False
        assert {c.label.split(" ")[0] for c in b.conditions} >= {"a_u", "a_v"}
    assert "delta" in {u.constant for u in theory.get_bound(NAMES[1]).uses}
    assert "kappa" in {u.constant for u in theory.get_bound(NAMES[0]).uses}


@pytest.mark.parametrize(
    "new, old, module",
    [
        ("fedsim_local_partial", "fedsim_tau1_partial", derived),
        ("fedsim_local_kappa_partial", "fedsim_tau1_kappa_partial", derived_diversity),
    ],
)
def test_tau_one_is_the_tau1_bound(new, old, module):
    a, b = L.DESCENTS[new], module.DESCENTS[old]
    for part in ("a_u", "a_v", "noise"):
        assert sp.simplify(getattr(a, part).subs(S["tau"], 1) - getattr(b, part)) == 0, part


def _pieces(d_, r_, k_, Du, Dv):
    """E_t F_{t+1} - F_t bounded by the proof's pieces, assembled independently of the code."""
    D = L.drift()
    g_u, g_v, t = S["gamma_u"], S["gamma_v"], S["tau"]
    mn = S["m"] / S["n"]
    q = (S["n"] - S["m"]) / (S["m"] * (S["n"] - 1))
    chib = (S["L_uv"] + S["L_vu"]) / (2 * sp.sqrt(S["L_u"] * S["L_v"]))
    bu, bv = 1 + chib * mn, 1 + chib
    H = (1 + r_**2) * Du + d_**2 + k_**2 * Dv  # (7)
    Abar = S["L_u"] * g_u**2 * H + S["L_v"] * g_v**2 * Dv
    B = S["L_u"] * g_u**2 * S["sigma_u"] ** 2 + S["L_v"] * g_v**2 * S["sigma_v"] ** 2
    R = D.Lam * (2 * (1 + t) * Abar + B)
    EE = S["L_u"] * (1 + D.chi_1**2) * R
    Ee = mn * S["L_v"] * (1 + D.chi_2**2) * R
    pu, pv = D.phi_u, D.phi_v
    inner_u = -g_u * t * (1 - pu / 2) * Du + g_u * t / (2 * pu) * EE  # (9), line 1
    quad_u = (
        (bu * S["L_u"] / 2)
        * g_u**2
        * t**2
        * (
            (1 + pu)
            * ((1 + q * r_**2) * Du + q * d_**2 + q * k_**2 * Dv + S["sigma_u"] ** 2 / (S["m"] * t))
            + (1 + 1 / pu) * EE
        )
    )  # (9), line 2
    inner_v = -mn * g_v * t * (1 - pv / 2) * Dv + g_v * t / (2 * pv) * Ee  # (9), line 3
    quad_v = (
        (bv * S["L_v"] / 2)
        * g_v**2
        * t**2
        * (mn * (1 + pv) * (Dv + S["sigma_v"] ** 2 / t) + (1 + 1 / pv) * Ee)
    )  # (9), line 4
    return inner_u + quad_u + inner_v + quad_v


@pytest.mark.parametrize("name", NAMES)
def test_lemma_is_the_sum_of_the_proof_pieces(name):
    rng = np.random.default_rng(1)
    Du, Dv = sp.symbols("Du Dv", nonnegative=True)
    kappa_ = "kappa" in name
    d_, r_, k_ = (
        (S["delta_prime"], S["rho_prime"], S["kappa"])
        if kappa_
        else (S["delta"], S["rho"], sp.Integer(0))
    )
    d = L.DESCENTS[name]
    claimed = -d.a_u * Du - d.a_v * Dv + d.noise
    pieces = _pieces(d_, r_, k_, Du, Dv)
    for _ in range(5):
        n_ = int(rng.integers(2, 8))
        vals = {
            S["tau"]: int(rng.integers(2, 7)),
            S["n"]: n_,
            S["m"]: int(rng.integers(1, n_ + 1)),
            Du: rng.uniform(0, 2),
            Dv: rng.uniform(0, 2),
        }
        for k in ("L_u", "L_v", "L_uv", "L_vu", "sigma_u", "sigma_v", "gamma_u", "gamma_v"):
            vals[S[k]] = rng.uniform(0.05, 1.0)
        for s in (d_, r_, k_):
            if isinstance(s, sp.Symbol):
                vals[s] = rng.uniform(0, 1)
        a, b = float(claimed.subs(vals).evalf(30)), float(pieces.subs(vals).evalf(30))
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14)


# -- exact moments on small coupled quadratics ------------------------------------------------


def _problem(rng, n, du, dv, coupling=0.6, hetero=1.0):
    """F_i(z) = z^T H_i z/2 + c_i^T z, z = (u, v_i), random symmetric H_i; constants exact."""
    Hs, cs = [], []
    for _ in range(n):
        A = rng.normal(size=(du + dv, du + dv))
        H = (A + A.T) / 4 + np.eye(du + dv)
        H[:du, du:] *= coupling
        H[du:, :du] *= coupling
        Hs.append(H)
        cs.append(hetero * rng.normal(size=du + dv))
    nrm = lambda M: float(np.linalg.norm(M, 2))  # noqa: E731
    c = dict(
        L_u=max(nrm(H[:du, :du]) for H in Hs),
        L_v=max(nrm(H[du:, du:]) for H in Hs),
        L_uv=max(nrm(H[:du, du:]) for H in Hs),
    )
    c["L_vu"] = c["L_uv"]
    return Hs, cs, c


def _moments(H, c, z0, gu, gv, du, tau, su, sv):
    """Means and covariances of z_{i,k}, k = 0..tau (exact for Gaussian additive noise)."""
    dim = len(z0)
    G = np.diag([gu] * du + [gv] * (dim - du))
    Q = np.diag([su**2 / du] * du + [sv**2 / (dim - du)] * (dim - du))
    M = np.eye(dim) - G @ H
    mu, P = [z0.copy()], [np.zeros((dim, dim))]
    for _ in range(tau):
        mu.append(M @ mu[-1] - G @ c)
        P.append(M @ P[-1] @ M.T + G @ Q @ G)
    return mu, P


def _values(c, n, m, tau, gu, gv, su, sv, **extra):
    return dict(c, n=n, m=m, tau=tau, gamma_u=gu, gamma_v=gv, sigma_u=su, sigma_v=sv, **extra)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_errors_and_drift_lemma(seed):
    rng = np.random.default_rng(seed)
    du, dv, n = 2, 2, 3
    Hs, cs, c = _problem(rng, n, du, dv)
    D = L.drift()
    worst = 0.0
    for tau, scale in itertools.product((2, 3, 6), (0.02, 0.1)):
        gu, gv = scale / (c["L_u"] * tau), scale / (c["L_v"] * tau) * rng.uniform(0.5, 2)
        su, sv = rng.uniform(0, 1, size=2)
        vals = {S[k]: v for k, v in _values(c, n, n, tau, gu, gv, su, sv).items() if k in S}
        lam = float(D.Lam.subs(vals))
        chi1 = float(D.chi_1.subs(vals))
        for H, cc in zip(Hs, cs, strict=True):
            z0 = rng.normal(size=du + dv)
            mu, P = _moments(H, cc, z0, gu, gv, du, tau, su, sv)
            W = np.diag([c["L_u"]] * du + [c["L_v"]] * dv)
            drift = [
                (m_ - z0) @ W @ (m_ - z0) + np.trace(W @ p) for m_, p in zip(mu, P, strict=True)
            ]
            g0 = H @ z0 + cc
            A = c["L_u"] * gu**2 * g0[:du] @ g0[:du] + c["L_v"] * gv**2 * g0[du:] @ g0[du:]
            B = c["L_u"] * gu**2 * su**2 + c["L_v"] * gv**2 * sv**2
            lhs, rhs = np.mean(drift[:tau]), lam * (2 * (1 + tau) * A + B)  # (6)
            assert lhs <= rhs * (1 + 1e-12), (tau, lhs, rhs)
            worst = max(worst, lhs / rhs)
            # (4) on the mean path (a pointwise statement)
            for m_ in mu:
                eps = (H @ m_ - H @ z0)[:du]
                Dk = (m_ - z0) @ W @ (m_ - z0)
                assert eps @ eps <= c["L_u"] * (1 + chi1**2) * Dk * (1 + 1e-12) + 1e-15
    assert worst > 0.02, worst  # the drift lemma is not vacuous by orders of magnitude


def _expected_next(Hs, cs, Z0, du, m, tau, gu, gv, su, sv):
    """E_t F(u^{t+1}, V^{t+1}) exactly: enumerate S_t, Gaussian moments per device."""
    n = len(Hs)
    mom = [_moments(H, c, z, gu, gv, du, tau, su, sv) for H, c, z in zip(Hs, cs, Z0, strict=True)]
    total, count = 0.0, 0
    for S_ in itertools.combinations(range(n), m):
        ubar = np.mean([mom[j][0][-1][:du] for j in S_], axis=0)
        Cuu = sum(mom[j][1][-1][:du, :du] for j in S_) / m**2
        val = 0.0
        for i in range(n):
            H, c = Hs[i], cs[i]
            if i in S_:
                mean = np.concatenate([ubar, mom[i][0][-1][du:]])
                C = np.zeros_like(H)
                C[:du, :du] = Cuu
                C[:du, du:] = mom[i][1][-1][:du, du:] / m
                C[du:, :du] = C[:du, du:].T
                C[du:, du:] = mom[i][1][-1][du:, du:]
            else:
                mean = np.concatenate([ubar, Z0[i][du:]])
                C = np.zeros_like(H)
                C[:du, :du] = Cuu
            val += 0.5 * mean @ H @ mean + c @ mean + 0.5 * np.trace(H @ C)
        total += val / n
        count += 1
    return total / count


def _round_values(rng, name, tau, m, n=3, du=2, dv=1, hetero=1.0, frac=0.3):
    Hs, cs, c = _problem(rng, n, du, dv, hetero=hetero)
    Z0 = [np.concatenate([np.zeros(du) + 0.3, rng.normal(size=dv)]) for _ in range(n)]
    Z0 = [np.concatenate([Z0[0][:du], z[du:]]) for z in Z0]  # a common u^t
    grads = [H @ z + cc for H, cc, z in zip(Hs, cs, Z0, strict=True)]
    G = np.mean([g[:du] for g in grads], axis=0)
    Du = float(G @ G)
    Dv = float(np.mean([g[du:] @ g[du:] for g in grads]))
    div = float(np.mean([(g[:du] - G) @ (g[:du] - G) for g in grads]))
    Ft = float(np.mean([0.5 * z @ H @ z + cc @ z for H, cc, z in zip(Hs, cs, Z0, strict=True)]))
    su, sv = rng.uniform(0, 1, size=2)
    gu = frac * rng.uniform(0.2, 1) / (c["L_u"] * tau)
    gv = frac * rng.uniform(0.2, 1) / (c["L_v"] * tau)
    if "kappa" in name:  # (A3') at this point: split the diversity between delta' and kappa
        k = rng.uniform(0, 0.3)
        div_extra = dict(kappa=k, delta_prime=np.sqrt(max(div - k**2 * Dv, 0.0)), rho_prime=0.0)
    else:
        div_extra = dict(delta=np.sqrt(div), rho=0.0)
    vals = _values(c, n, m, tau, gu, gv, su, sv, **div_extra)
    nxt = _expected_next(Hs, cs, Z0, du, m, tau, gu, gv, su, sv)
    return vals, dict(F_t=Ft, F_next=nxt, Delta_u_t=Du, Delta_v_t=Dv)


@pytest.mark.parametrize("name", NAMES)
def test_lemma_holds_in_exact_expectation(name):
    rng = np.random.default_rng(7)
    lemma = L.LEMMAS[name]
    checked = 0
    for tau, m in itertools.product((1, 2, 3, 5), (1, 2, 3)):
        for _ in range(3):
            vals, measured = _round_values(rng, name, tau, m)
            diff = lemma.lhs_minus_rhs({**vals, **measured}, check=False)
            assert float(diff) <= 1e-10 * (abs(measured["F_t"]) + 1), (tau, m, float(diff))
            checked += 1
    assert checked == 36


def test_lemma_is_nearly_attained_and_a_larger_weight_fails():
    """Two identical isotropic devices (H = L I), exact gradients, small steps: the lemma's
    claimed decrease a_u Delta_u + a_v Delta_v - N is at least 90% of the exact decrease
    F_t - F_{t+1}, so weights 15% larger are violated there."""
    du, tau = 2, 3
    Hs = [np.diag([1.0, 1.0, 1.0])] * 2
    cs = [np.array([0.5, -0.2, 0.3])] * 2
    c = dict(L_u=1.0, L_v=1.0, L_uv=0.0, L_vu=0.0)
    Z0 = [np.array([1.0, -1.0, 2.0])] * 2
    g = Hs[0] @ Z0[0] + cs[0]
    meas = dict(
        F_t=float(0.5 * Z0[0] @ Z0[0] + cs[0] @ Z0[0]),
        Delta_u_t=float(g[:du] @ g[:du]),
        Delta_v_t=float(g[du:] @ g[du:]),
    )
    lemma = L.LEMMAS["fedsim_local_partial"]
    for step in (0.003, 0.001):
        vals = _values(c, 2, 2, tau, step, step, 0.0, 0.0, delta=0.0, rho=0.0)
        meas["F_next"] = _expected_next(Hs, cs, Z0, du, 2, tau, step, step, 0.0, 0.0)
        d = L.DESCENTS["fedsim_local_partial"]
        sub = {S[k]: v for k, v in vals.items()}
        a_u, a_v = float(d.a_u.subs(sub)), float(d.a_v.subs(sub))
        claimed = a_u * meas["Delta_u_t"] + a_v * meas["Delta_v_t"] - float(d.noise.subs(sub))
        actual = meas["F_t"] - meas["F_next"]
        assert float(lemma.lhs_minus_rhs({**vals, **meas})) <= 0
        assert 0.9 * actual <= claimed <= actual, (step, claimed / actual)
        larger = 1.15 * (a_u * meas["Delta_u_t"] + a_v * meas["Delta_v_t"])
        assert meas["F_next"] + larger > meas["F_t"]
