"""Block quadratics with exact constants.

``F_i(u, v) = 1/2 [u; v]^T H [u; v] - b_i^T [u; v]`` with one shared positive-definite Hessian
``H = [[A, C], [C^T, B]]`` (Toolkit suggestion of pillutla2022.md §6 and peers.md §7.8a).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from synthetic._problem import Constants, Problem
from synthetic._validation import check_int, check_real

OWNER = "synthetic.make('quadratic')"


@njit(cache=True)
def _loss(data, i, u, v):
    A, C, B, bu, bv = data
    s = 0.0
    for a in range(u.shape[0]):
        au = 0.0
        for b in range(u.shape[0]):
            au += A[a, b] * u[b]
        cv = 0.0
        for b in range(v.shape[0]):
            cv += C[a, b] * v[b]
        s += u[a] * (0.5 * au + cv - bu[i, a])
    for a in range(v.shape[0]):
        bvv = 0.0
        for b in range(v.shape[0]):
            bvv += B[a, b] * v[b]
        s += v[a] * (0.5 * bvv - bv[i, a])
    return s


@njit(cache=True)
def _grad_u(data, i, u, v, out, idx):
    A, C, B, bu, bv = data
    for a in range(u.shape[0]):
        s = -bu[i, a]
        for b in range(u.shape[0]):
            s += A[a, b] * u[b]
        for b in range(v.shape[0]):
            s += C[a, b] * v[b]
        out[a] = s


@njit(cache=True)
def _grad_v(data, i, u, v, out, idx):
    A, C, B, bu, bv = data
    for a in range(v.shape[0]):
        s = -bv[i, a]
        for b in range(u.shape[0]):
            s += C[b, a] * u[b]
        for b in range(v.shape[0]):
            s += B[a, b] * v[b]
        out[a] = s


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _spectrum(lo, hi, d):
    return np.array([hi]) if d == 1 else np.linspace(hi, lo, d)


def _centred_with_spread(rng, n, d, target):
    """n vectors in R^d with zero mean and (1/n) sum ||e_i||^2 == target**2 exactly."""
    e = rng.standard_normal((n, d))
    e -= e.mean(axis=0)
    ms = np.mean(np.sum(e * e, axis=1))
    return e * (target / np.sqrt(ms)) if ms > 0 else np.zeros((n, d))


def quadratic(
    *,
    n: int = 20,
    d_u: int = 5,
    d_v: int = 3,
    delta: float = 1.0,
    chi: float = 0.5,
    L_u: float = 1.0,
    L_v: float = 1.0,
    mu_u: float = 0.1,
    mu_v: float = 0.1,
    personal: float = 1.0,
    sigma_u: float = 0.0,
    sigma_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Block quadratic with a shared Hessian; every constant exact.

    .. math::

        F_i(u, v) = \tfrac12 u^\top A u + u^\top C v + \tfrac12 v^\top B v
                    - b_{u,i}^\top u - b_{v,i}^\top v

    Construction (seeded): ``A = Q_u diag(L_u, ..., mu_u) Q_u^T`` and
    ``B = Q_v diag(L_v, ..., mu_v) Q_v^T`` with random rotations and linearly spaced spectra;
    ``C = chi A^{1/2} W B^{1/2}`` with ``W`` a partial isometry that maps the top eigenvector of
    ``B`` onto that of ``A``. Then ``H = D [[I, chi W], [chi W^T, I]] D`` with
    ``D = diag(A^{1/2}, B^{1/2})`` is positive definite for ``chi < 1``.

    Knobs and the constants they set (assumptions of Pillutla et al. 2022, §3):

    - ``L_u = lambda_max(A)``, ``L_v = lambda_max(B)``: **exact** (the knobs themselves).
    - ``L_uv = L_vu = ||C||_2 = chi sqrt(L_u L_v)``: **exact**, so ``chi`` is exact (A1).
    - ``personal`` sets the spread of the personal targets ``b_{v,i}`` (how different the
      personal optima ``v_i^*(u) = B^{-1}(b_{v,i} - C^T u)`` are).
    - ``delta``: ``b_{u,i} = C B^{-1}(b_{v,i} - mean b_v) + e_i`` with ``mean e = 0`` and
      ``(1/n) sum ||e_i||^2 = delta^2``. Then
      ``grad_u F_i - grad_u F = C(w_i - mean w) - e_i`` with ``w_i = v_i - v_i^*(u)``, so the
      diversity (A3, ``rho = 0``) equals ``delta^2`` **exactly** for every ``u`` at the personal
      optima (``w_i = 0``), and for every ``(u, V)`` when ``chi = 0``. For ``chi > 0`` and
      general V it is at most ``2 delta^2 + 2 (L_uv/mu_v)^2 (1/n) sum ||grad_v F_i||^2``;
      ``kind['delta']`` is then ``local``.
    - ``rho = 0``: exact (shared Hessian).
    - ``sigma_u``, ``sigma_v``: additive noise ``N(0, sigma^2/d I)`` per block, exact.
    - ``F_low = inf F``: **exact**, from the linear system of the joint minimiser.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1) and block dimensions (>= 1).
    delta : float
        Gradient diversity, >= 0.
    chi : float
        Coupling in [0, 1).
    L_u, L_v, mu_u, mu_v : float
        Largest and smallest eigenvalues of A and B, ``0 < mu <= L``.
    personal : float
        Root-mean-square spread of the personal targets ``b_{v,i}``, >= 0.
    sigma_u, sigma_v : float
        Gradient-noise standard deviations, >= 0.
    seed : int
        Instance seed (same seed, same instance).
    """
    n = check_int(n, "n", OWNER, lo=1, hi=10**7)
    d_u = check_int(d_u, "d_u", OWNER, lo=1, hi=10**4)
    d_v = check_int(d_v, "d_v", OWNER, lo=1, hi=10**4)
    delta = check_real(delta, "delta", OWNER, lo=0.0, hi=1e6)
    chi = check_real(chi, "chi", OWNER, lo=0.0, hi=1.0, hi_open=True)
    L_u = check_real(L_u, "L_u", OWNER, lo=0.0, hi=1e6, lo_open=True)
    L_v = check_real(L_v, "L_v", OWNER, lo=0.0, hi=1e6, lo_open=True)
    mu_u = check_real(mu_u, "mu_u", OWNER, lo=0.0, hi=L_u, lo_open=True)
    mu_v = check_real(mu_v, "mu_v", OWNER, lo=0.0, hi=L_v, lo_open=True)
    personal = check_real(personal, "personal", OWNER, lo=0.0, hi=1e6)
    sigma_u = check_real(sigma_u, "sigma_u", OWNER, lo=0.0, hi=1e6)
    sigma_v = check_real(sigma_v, "sigma_v", OWNER, lo=0.0, hi=1e6)
    seed = check_int(seed, "seed", OWNER, lo=0, hi=2**63 - 1)
    rng = np.random.default_rng([seed, 0x9A7])

    Qu, Qv = _orthogonal(rng, d_u), _orthogonal(rng, d_v)
    su, sv = _spectrum(mu_u, L_u, d_u), _spectrum(mu_v, L_v, d_v)
    A = (Qu * su) @ Qu.T
    B = (Qv * sv) @ Qv.T
    # W: e_1 -> e_1 (top eigenvectors), a random partial isometry on the complements.
    W = np.zeros((d_u, d_v))
    W[0, 0] = 1.0
    k = min(d_u, d_v) - 1
    if k > 0:
        X = rng.standard_normal((d_u - 1, d_v - 1))
        Uw, _, Vwt = np.linalg.svd(X, full_matrices=False)
        W[1:, 1:] = Uw @ Vwt
    C = chi * (Qu * np.sqrt(su)) @ W @ (Qv * np.sqrt(sv)).T
    A = 0.5 * (A + A.T)
    B = 0.5 * (B + B.T)

    bv = _centred_with_spread(rng, n, d_v, personal) + rng.standard_normal(d_v)
    e = _centred_with_spread(rng, n, d_u, delta)
    Binv = np.linalg.inv(B)
    bu = (bv - bv.mean(axis=0)) @ (C @ Binv).T + e + rng.standard_normal(d_u)

    # Exact infimum: minimise over v_i first (v_i* = B^{-1}(bv_i - C^T u)), then over u.
    S = A - C @ Binv @ C.T
    rhs = np.mean(bu - bv @ (C @ Binv).T, axis=0)
    u_star = np.linalg.solve(S, rhs)
    V_star = (bv - (C.T @ u_star)[None, :]) @ Binv.T
    data = (A, C, B, np.ascontiguousarray(bu), np.ascontiguousarray(bv))
    F_low = float(np.mean([_loss(data, i, u_star, V_star[i]) for i in range(n)]))

    L_uv = float(np.linalg.norm(C, 2))
    constants = Constants(
        L_u=L_u,
        L_v=L_v,
        L_uv=L_uv,
        L_vu=L_uv,
        sigma_u=sigma_u,
        sigma_v=sigma_v,
        delta=delta,
        rho=0.0,
        F_low=F_low,
        kind={
            "L_u": "exact",
            "L_v": "exact",
            "L_uv": "exact",
            "L_vu": "exact",
            "sigma_u": "exact",
            "sigma_v": "exact",
            "delta": "exact" if chi == 0 else "local",
            "rho": "exact",
            "F_low": "exact",
        },
        notes={
            "delta": "exact for all (u, V)"
            if chi == 0
            else "exact at the personal optima V*(u) for every u; for general V at most "
            "2 delta^2 + 2 (L_uv/mu_v)^2 (1/n) sum ||grad_v F_i||^2",
            "F_low": "inf F, from the joint minimiser (linear solve)",
        },
    )

    def init(s):
        r = np.random.default_rng([s, 0x1717])
        return r.standard_normal(d_u), r.standard_normal((n, d_v))

    return Problem(
        name="quadratic",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(n=n, d_u=d_u, d_v=d_v, delta=delta, chi=chi, L_u=L_u, L_v=L_v, mu_u=mu_u,
                   mu_v=mu_v, personal=personal, sigma_u=sigma_u, sigma_v=sigma_v, seed=seed),
        sigma_u=sigma_u,
        sigma_v=sigma_v,
        description="block quadratic, shared Hessian, exact constants",
    )
