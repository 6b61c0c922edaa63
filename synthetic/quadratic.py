"""Block quadratics with exact constants.

``F_i(u, v) = 1/2 [u; v]^T H_i [u; v] - b_i^T [u; v]`` with a shared positive-definite Hessian
``H = [[A, C], [C^T, B]]`` (docs/references.md#synthetic-block-quadratic and
docs/references.md#synthetic-shared-hessian-quadratic), or,
with ``hessian_spread > 0`` (and ``chi = 0``), device Hessians
``A_i = A^{1/2} (I + s D_i) A^{1/2}`` that make ``rho > 0``.

This module builds an instance and its exact constants (``quadratic``); the data types and the
jitted loss and gradients are in ``synthetic/_quadratic_objective.py``.
"""

from __future__ import annotations

import math

import numpy as np

from partialfed._constraints import Interval, Options, validate, validate_args
from partialfed.synthetic._problem import (
    NOISE,
    SEED,
    Constants,
    Problem,
    check_size,
    personal_optima,
)
from partialfed.synthetic._quadratic_geometry import geometry
from partialfed.synthetic._quadratic_objective import (
    QuadraticData,
    SpreadQuadraticData,
    _grad_u,
    _grad_u_h,
    _grad_v,
    _grad_v_h,
    _loss,
    _loss_h,
)

OWNER = "synthetic.make('quadratic')"


def _centred_with_spread(rng, n, d, target):
    """n vectors in R^d with zero mean and (1/n) sum ||e_i||^2 == target**2 exactly."""
    e = rng.standard_normal((n, d))
    e -= e.mean(axis=0)
    ms = np.mean(np.sum(e * e, axis=1))
    return e * (target / np.sqrt(ms)) if ms > 0 else np.zeros((n, d))


def _spread_directions(rng, n, d):
    """``D`` of shape (n, d): entries in [-1, 1], column means exactly 0, column max |.| = 1."""
    D = rng.uniform(-1.0, 1.0, (n, d))
    D -= D.mean(axis=0)
    scale = np.max(np.abs(D), axis=0)
    return np.divide(D, scale, out=np.zeros_like(D), where=scale > 0)


def _diversity_pair(s, su, Dm, E, beta):
    r"""Certified ``rho`` and the smallest ``delta`` for it when ``A_i = A^{1/2}(I+sD_i)A^{1/2}``.

    In the eigenbasis of ``A`` (``chi = 0``) with ``G = grad_u F`` and ``x = G + beta``
    (``beta = Q^T mean b_u``), ``grad_u F_i - grad_u F = s D_i x - e_i`` coordinatewise, so
    ``(1/n) sum_i ||.||^2 = sum_k alpha_k x_k^2 - 2 gamma_k x_k + eta_k`` with
    ``alpha_k = s^2 mean_i D_ik^2``, ``gamma_k = s mean_i D_ik e_ik``, ``eta_k = mean_i e_ik^2``.
    We declare ``rho^2 = 2 max_k alpha_k``; then ``delta^2 = sum_k sup_{G_k}`` of the concave
    quadratic ``alpha x^2 - 2 gamma x + eta - rho^2 (x - beta)^2``, attained at
    ``x_k* = (rho^2 beta_k - gamma_k) / (rho^2 - alpha_k)``. Returns ``(delta, rho, x*)``.
    """
    alpha = s * s * np.mean(Dm * Dm, axis=0)
    gamma = s * np.mean(Dm * E, axis=0)
    eta = np.mean(E * E, axis=0)
    rho2 = 2.0 * float(alpha.max())
    xs = (rho2 * beta - gamma) / (rho2 - alpha)
    val = (alpha - rho2) * xs * xs + 2.0 * (rho2 * beta - gamma) * xs + eta - rho2 * beta**2
    return float(np.sqrt(max(val.sum(), 0.0))), float(np.sqrt(rho2)), xs


def global_diversity(K, E, kappa):
    r"""``delta'(kappa)`` of A3' for the shared-Hessian quadratic, and where it is attained.

    With ``K = C B^{-1}`` and ``e_i`` the rows of ``E`` (``mean_i e_i = 0``), the diversity is
    ``(1/n) sum_i ||K(g_i - gbar) - e_i||^2`` (``g_i = grad_v F_i``; docs/derivations/
    diversity_global.md, eq. (D3)). For ``kappa > ||K||_2`` its excess over
    ``kappa^2 (1/n) sum_i ||g_i||^2`` is at most
    ``delta'^2 = (1/n) sum_i e_i^T (I - K K^T / kappa^2)^{-1} e_i`` (eq. (D5)), with equality at
    ``g_i = w_i = -(kappa^2 I - K^T K)^{-1} K^T e_i`` (eq. (D4)). ``kappa = 0`` needs ``K = 0``.

    Parameters
    ----------
    K : ndarray of shape (d_u, d_v)
    E : ndarray of shape (n, d_u)
    kappa : float

    Returns
    -------
    delta_prime : float
    W : ndarray of shape (n, d_v)
        The maximising ``g_i`` (rows).
    """
    Uk, sk, Vkt = np.linalg.svd(K, full_matrices=False)
    top = float(sk.max()) if sk.size else 0.0
    if top > 0 and not kappa > top:
        raise ValueError(f"The 'kappa' parameter must be > ||K||_2 = {top:.6g}. Got {kappa!r}.")
    if top == 0:
        return float(np.sqrt(np.mean(np.sum(E * E, axis=1)))), np.zeros((E.shape[0], K.shape[1]))
    proj = E @ Uk  # (n, r): coordinates of e_i along the left singular vectors
    gain = sk**2 / (kappa**2 - sk**2)  # eigenvalues of (I - K K^T/kappa^2)^{-1} - I, eq. (D5)
    d2 = np.mean(np.sum(E * E, axis=1) + proj**2 @ gain)
    W = -(proj * (sk / (kappa**2 - sk**2))) @ Vkt  # eq. (D4)
    return float(np.sqrt(d2)), W


#: What each knob of ``quadratic`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "delta": [Interval(float, 0.0, 1e6)],
    "chi": [Interval(float, 0.0, 1.0, closed="left")],
    "L_u": [Interval(float, 0.0, 1e6, closed="right")],
    "L_v": [Interval(float, 0.0, 1e6, closed="right")],
    "mu_u": [Interval(float, 0.0, "L_u", closed="right")],
    "mu_v": [Interval(float, 0.0, "L_v", closed="right")],
    "personal": [Interval(float, 0.0, 1e6)],
    "hessian_spread": [Interval(float, 0.0, 1.0, closed="left")],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "start": [Options(str, ("random", "optimum", "top"))],
    "start_radius": [Interval(float, 0.0, 1e6, closed="right")],
    "seed": [SEED],
}

#: ``start`` values: where ``Problem.init`` puts the initial point.
STARTS = ("random", "optimum", "top")


@validate_args(_parameter_constraints, OWNER)
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
    hessian_spread: float = 0.0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    start: str = "random",
    start_radius: float = 1.0,
    seed: int = 0,
) -> Problem:
    r"""Block quadratic with a shared (or spread) Hessian; every constant exact.

    .. math::

        F_i(u, v) = \tfrac12 u^\top A_i u + u^\top C v + \tfrac12 v^\top B v
                    - b_{u,i}^\top u - b_{v,i}^\top v

    Construction (seeded): ``A = Q_u diag(L_u, ..., mu_u) Q_u^T`` and
    ``B = Q_v diag(L_v, ..., mu_v) Q_v^T`` with random rotations and linearly spaced spectra;
    ``C = chi A^{1/2} W B^{1/2}`` with ``W`` a partial isometry that maps the top eigenvector of
    ``B`` onto that of ``A``. Then ``H = D [[I, chi W], [chi W^T, I]] D`` with
    ``D = diag(A^{1/2}, B^{1/2})`` is positive definite for ``chi < 1``. ``A_i = A`` unless
    ``hessian_spread = s > 0``: then ``A_i = A^{1/2} (I + s D_i) A^{1/2} =
    Q_u diag(lam_k (1 + s D_ik)) Q_u^T`` with ``D_ik in [-1, 1]``, ``mean_i D_ik = 0`` (so
    ``mean_i A_i = A``); this needs ``chi = 0``.

    Knobs and the constants they set (assumptions A0-A3 of Pillutla et al. 2022,
    docs/references.md#pillutla2022-assumptions):

    - ``L_u = max_i lambda_max(A_i)`` (``= L_u`` knob when ``s = 0``), ``L_v = lambda_max(B)``:
      **exact**. With ``d_v = 0`` (no personal block) ``L_v = L_uv = L_vu = 0``.
    - ``L_uv = L_vu = ||C||_2 = chi sqrt(L_u L_v)``: **exact**, so ``chi`` is exact (A1).
    - ``personal`` sets the spread of the personal targets ``b_{v,i}`` (how different the
      personal optima ``v_i^*(u) = B^{-1}(b_{v,i} - C^T u)`` are).
    - ``delta``: ``b_{u,i} = C B^{-1}(b_{v,i} - mean b_v) + e_i`` with ``mean e = 0`` and
      ``(1/n) sum ||e_i||^2 = delta^2``. With ``s = 0``,
      ``grad_u F_i - grad_u F = C(w_i - mean w) - e_i`` with ``w_i = v_i - v_i^*(u)``, so the
      diversity (A3, ``rho = 0``) equals ``delta^2`` **exactly** for every ``u`` at the personal
      optima (``w_i = 0``), and for every ``(u, V)`` when ``chi = 0``. For ``chi > 0`` and
      general V it is at most ``2 delta^2 + 2 (L_uv/mu_v)^2 (1/n) sum ||grad_v F_i||^2``;
      ``kind['delta']`` is then ``local``.
    - ``delta_prime, rho_prime, kappa`` (A3', which holds for **all** ``(u, V)``;
      docs/derivations/diversity_global.md): the diversity is exactly
      ``(1/n) sum_i ||K(g_i - gbar) - e_i||^2`` with ``K = C B^{-1}``, ``g_i = grad_v F_i``.
      ``kappa = sqrt(2) ||C B^{-1}||_2`` (**certified**: a valid choice, sharper than
      ``L_uv/mu_v``), ``rho_prime = 0`` and ``delta_prime^2 = (1/n) sum_i e_i^T (I - K K^T /
      kappa^2)^{-1} e_i <= 2 delta^2``, the smallest value for that ``kappa`` (**exact**,
      attained at ``witnesses['delta_prime']``; :func:`global_diversity` gives it for any
      ``kappa``). With ``chi = 0``: ``(delta, rho, 0)``, of the kinds of ``delta`` and ``rho``.
    - ``hessian_spread = s`` in [0, 1) (``chi = 0`` only): the diversity is a quadratic in
      ``grad_u F`` (see ``_diversity_pair``); ``rho^2 = 2 s^2 max_k mean_i D_ik^2`` is
      **certified** (a valid, not a minimal, choice) and ``delta`` is the smallest value that
      makes A3 hold with that ``rho``: **exact** given ``rho``, attained at a computed point.
      Then ``delta`` differs from the knob (the knob still sets the spread of ``e_i``).
    - ``rho = 0``: exact (shared Hessian).
    - ``sigma_u = noise_u``, ``sigma_v = noise_v``: additive noise ``N(0, noise^2/d I)`` per
      block, exact.
    - ``F_low = inf F``: **exact**, from the linear system of the joint minimiser.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1) and block dimensions (``d_u >= 1``, ``d_v >= 0``).
    delta : float
        Gradient diversity, >= 0.
    chi : float
        Coupling in [0, 1) (must be 0 when ``d_v = 0`` or ``hessian_spread > 0``).
    L_u, L_v, mu_u, mu_v : float
        Largest and smallest eigenvalues of A and B, ``0 < mu <= L``.
    personal : float
        Root-mean-square spread of the personal targets ``b_{v,i}``, >= 0.
    hessian_spread : float
        Relative spread ``s`` of the device Hessians ``A_i``, in [0, 1).
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0 (not the constants
        ``sigma_u``, ``sigma_v``, which also count minibatch variance).
    start : {"random", "optimum", "top"}
        Where ``Problem.init(s)`` starts. ``"random"``: ``u ~ N(0, I)``, ``v_i ~ N(0, I)``
        (seeded by ``s``). ``"optimum"``: the joint minimiser ``(u*, V*)`` (``F = F_low``; only
        noise and sampling move a run). ``"top"``: ``u* + r a``, ``v_i* + r b`` for every
        device, with ``(a, b)`` the unit top eigenvector of the device Hessian
        ``[[A, C], [C^T, B]]`` (``A`` averaged over devices) and ``r = start_radius sqrt(d_u +
        d_v)``: the
        direction in which the coupling ``chi`` slows gradient steps most, where
        ``fedsim_tau1_full``'s ``(1 + chi_bar)`` factor is attained
        (docs/derivations/fedsim_tau1_full.md). ``"optimum"`` and ``"top"`` ignore ``s``.
    start_radius : float
        Distance factor of ``start="top"`` (> 0; ignored otherwise). A small radius starts near
        the optimum with ``F(u^0, V^0) - F_low > 0``, which the bounds' ``Delta_F0`` needs.
    seed : int
        Instance seed (same seed, same instance).
    """
    check_size(n, d_u + d_v, OWNER)
    if d_v == 0 and chi != 0:
        validate(chi, "chi", OWNER + " with d_v=0", Interval(float, 0.0, 0.0))
    if hessian_spread > 0 and chi != 0:
        validate(chi, "chi", OWNER + " with hessian_spread > 0", Interval(float, 0.0, 0.0))
    spread = hessian_spread
    # The factorisations (rotations, W, B^{-1}, norms): cached per knob set, bit for bit.
    geo = geometry(seed, d_u, d_v, L_u, mu_u, L_v, mu_v, chi)
    rng = geo.rng(seed)
    Qu, su, Binv = geo.Qu, geo.su, geo.Binv
    A, B, C = np.array(geo.A), np.array(geo.B), np.array(geo.C)  # writable: the kernels' data

    bv = _centred_with_spread(rng, n, d_v, personal) + rng.standard_normal(d_v)
    e = _centred_with_spread(rng, n, d_u, delta)
    bu = (bv - bv.mean(axis=0)) @ (C @ Binv).T + e + rng.standard_normal(d_u)
    bu, bv = np.ascontiguousarray(bu), np.ascontiguousarray(bv)

    witnesses = {}
    if spread > 0:
        # A_i = Q_u diag(su * (1 + s D_i)) Q_u^T (eq. in the docstring); mean_i A_i = A.
        Dm = _spread_directions(rng, n, d_u)
        lam = su[None, :] * (1.0 + spread * Dm)
        data = SpreadQuadraticData(np.array(Qu), np.ascontiguousarray(lam), B, bu, bv)
        fns = (_loss_h, _grad_u_h, _grad_v_h)
        L_u_value = float(lam.max())
        i_top = int(np.argmax(lam.max(axis=1)))
        # Exact infimum (chi = 0): u* = mean(A_i)^{-1} mean(b_u), v_i* = B^{-1} b_{v,i}.
        beta = Qu.T @ bu.mean(axis=0)
        x_star = beta / lam.mean(axis=0)
        u_star = Qu @ x_star
        V_star = bv @ Binv.T
        Ecoef = (bu - bu.mean(axis=0)) @ Qu
        delta_value, rho_value, xs = _diversity_pair(spread, su, Dm, Ecoef, beta)
        # Witness: grad_u F = Q(x* - beta) at u = Q (x* / mean lam).
        witnesses["delta"] = (Qu @ (xs / lam.mean(axis=0)), V_star)
    else:
        data = QuadraticData(A, C, B, bu, bv)
        fns = (_loss, _grad_u, _grad_v)
        L_u_value, i_top = L_u, 0
        # Exact infimum: minimise over v_i first (v_i* = B^{-1}(bv_i - C^T u)), then over u.
        S = A - C @ Binv @ C.T
        rhs = np.mean(bu - bv @ (C @ Binv).T, axis=0)
        u_star = np.linalg.solve(S, rhs)
        V_star = (bv - (C.T @ u_star)[None, :]) @ Binv.T
        delta_value, rho_value = delta, 0.0
        witnesses["delta"] = (u_star, V_star)
    # F(u*, V*) by blocks, vectorised over devices.
    F_low = float(
        0.5 * u_star @ (np.mean(lam, axis=0) * (Qu.T @ u_star) @ Qu.T if spread > 0 else A @ u_star)
        + np.mean(V_star @ (C.T @ u_star))
        + 0.5 * np.mean(np.sum((V_star @ B) * V_star, axis=1))
        - bu.mean(axis=0) @ u_star
        - np.mean(np.sum(bv * V_star, axis=1))
    )
    witnesses["F_low"] = (u_star, V_star)

    L_uv = geo.L_uv
    u0w, V0w = np.zeros(d_u), np.zeros(d_v)
    for name in ("L_u", "L_v", "L_uv", "L_vu"):
        witnesses[name] = (i_top, u0w, V0w)
    if spread == 0:
        delta_kind = "exact" if chi == 0 else "local"
        delta_note = (
            "exact for all (u, V)"
            if chi == 0
            else "exact at the personal optima V*(u) for every u; for general V at most "
            "2 delta^2 + 2 (L_uv/mu_v)^2 (1/n) sum ||grad_v F_i||^2"
        )
    else:
        delta_kind = "exact"
        delta_note = (
            "the smallest delta for which A3 holds with the declared rho (exact given rho); "
            "attained at witnesses['delta']"
        )
    # A3' (docs/derivations/diversity_global.md, §2): K = C B^{-1}, kappa = sqrt(2) ||K||_2 and
    # the smallest delta' for it (exact); with no coupling A3 itself holds globally (kappa = 0).
    K, norm_K = geo.K, geo.norm_K
    if norm_K > 0:
        kappa = math.sqrt(2.0) * norm_K
        E = (bu - bu.mean(axis=0)) - (bv - bv.mean(axis=0)) @ K.T  # the e_i, eq. (D3)
        delta_prime, Wg = global_diversity(K, E, kappa)
        # g_i = w_i at u*: v_i = B^{-1}(w_i + b_{v,i} - C^T u*)
        witnesses["delta_prime"] = (u_star, (Wg + bv - (C.T @ u_star)[None, :]) @ Binv.T)
        a3p = dict(delta_prime=delta_prime, rho_prime=0.0, kappa=kappa)
        a3p_kind = dict(delta_prime="exact", rho_prime="exact", kappa="certified")
        a3p_notes = {
            "kappa": f"sqrt(2) ||C B^{{-1}}||_2 (||C B^{{-1}}||_2 = {norm_K:.6g} <= L_uv/mu_v = "
            f"{L_uv / mu_v:.6g}); any kappa > ||C B^{{-1}}||_2 is valid with its own delta'",
            "delta_prime": "smallest delta' for the declared kappa, for all (u, V) "
            "(<= 2 delta^2); attained at witnesses['delta_prime']",
            "rho_prime": "0: the diversity does not depend on grad_u F",
        }
    else:
        a3p = dict(delta_prime=delta_value, rho_prime=rho_value, kappa=0.0)
        a3p_kind = dict(delta_prime=delta_kind, rho_prime="exact" if spread == 0 else "certified")
        a3p_kind["kappa"] = "exact"
        a3p_notes = {"kappa": "no coupling: A3 holds for all (u, V), so kappa = 0"}
        witnesses["delta_prime"] = witnesses["delta"]  # grad_v F_i = 0 there
    constants = Constants(
        L_u=L_u_value,
        L_v=L_v if d_v > 0 else 0.0,
        L_uv=L_uv,
        L_vu=L_uv,
        sigma_u=noise_u,
        sigma_v=noise_v,
        delta=delta_value,
        rho=rho_value,
        F_low=F_low,
        **a3p,
        kind={
            "L_u": "exact",
            "L_v": "exact",
            "L_uv": "exact",
            "L_vu": "exact",
            "sigma_u": "exact",
            "sigma_v": "exact",
            "delta": delta_kind,
            "rho": "exact" if spread == 0 else "certified",
            "F_low": "exact",
            **a3p_kind,
        },
        notes={
            "delta": delta_note,
            "rho": "shared Hessian"
            if spread == 0
            else "2 s^2 max_k mean_i D_ik^2 (a valid "
            "choice; any larger rho with its own smaller delta is valid too)",
            "F_low": "inf F, from the joint minimiser (linear solve)",
            **a3p_notes,
            **({"L_v": "no personal block (d_v = 0)"} if d_v == 0 else {}),
        },
        regions={"delta": personal_optima()} if delta_kind == "local" else {},
    )

    if start == "random":

        def init(s):
            r = np.random.default_rng([s, 0x1717])
            return r.standard_normal(d_u), r.standard_normal((n, d_v))

    else:
        u_init, V_init = np.array(u_star, dtype=float), np.array(V_star, dtype=float)
        if start == "top":
            a, b = geo.top_direction()  # A = mean_i A_i also when spread > 0
            r0 = start_radius * np.sqrt(d_u + d_v)
            u_init, V_init = u_init + r0 * a, V_init + r0 * b[None, :]
        u_init, V_init = np.ascontiguousarray(u_init), np.ascontiguousarray(V_init)

        def init(s):
            return u_init.copy(), V_init.copy()

    return Problem(
        name="quadratic",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=fns[0],
        grad_u_fn=fns[1],
        grad_v_fn=fns[2],
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d_u=d_u,
            d_v=d_v,
            delta=delta,
            chi=chi,
            L_u=L_u,
            L_v=L_v,
            mu_u=mu_u,
            mu_v=mu_v,
            personal=personal,
            hessian_spread=spread,
            noise_u=noise_u,
            noise_v=noise_v,
            start=start,
            start_radius=start_radius,
            seed=seed,
        ),
        noise_u=noise_u,
        noise_v=noise_v,
        description="block quadratic, exact constants"
        + (", heterogeneous Hessians" if spread > 0 else ", shared Hessian"),
        witnesses=witnesses,
    )
