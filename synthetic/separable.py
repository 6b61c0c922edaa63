r"""Separable nonconvex block model: the benchmark family.

The model of docs/references.md#synthetic-block-model, with the 1-D function of
docs/references.md#synthetic-separable.

.. math::

    F_i(u, v) = \sum_{j=1}^{d_u} \phi(u_j - a_{ij}) + \tfrac{\mu}{2} \|u\|^2
                + \tfrac12 (v - b_i)^\top R (v - b_i) + u^\top Q v,
    \qquad \phi(t) = \frac{t^2}{1 + t^2}.

``phi`` is bounded (``0 <= phi < 1``) and nonconvex: ``phi'(t) = 2t/(1+t^2)^2`` with
``|phi'| <= 3 sqrt(3)/8``, ``phi''(t) = (2 - 6t^2)/(1+t^2)^3`` in ``[-1/2, 2]``; ``sup phi'' = 2``
is attained at ``t = 0``. Devices come in ``clusters`` groups that share offsets ``a_i`` and
personal targets ``b_i``; every one-dimensional computation then costs O(clusters), not O(n).

This module builds an instance and its exact constants (``separable``); the data type and the
jitted loss and gradients are in ``synthetic/_separable_objective.py``, the jitted 1-D sup/inf
behind ``delta`` and ``F_low`` in ``synthetic/_separable_extrema.py``.
"""

from __future__ import annotations

import math

import numpy as np

from partialfed._constraints import Interval, validate, validate_args
from partialfed.synthetic._problem import (
    NOISE,
    SEED,
    Constants,
    Problem,
    check_size,
    personal_optima,
)
from partialfed.synthetic._separable_extrema import _sum_extrema
from partialfed.synthetic._separable_objective import SeparableData, _grad_u, _grad_v, _loss

#: The smallest nonzero coupling ``chi`` (1e-200 made the ridge's matrix singular).
CHI_MIN = 1e-100

OWNER = "synthetic.make('separable')"
#: ``max |phi'| = phi'(1/sqrt(3)) = 3 sqrt(3) / 8``.
DPHI_MAX = 3.0 * math.sqrt(3.0) / 8.0
_GRID_STEP = 0.05


def _phi_diversity(s, Z, w):
    """``delta_phi(s)^2 = sum_j sup_t h_j(t)`` for offsets ``s Z`` and no coupling."""
    ts = np.empty(Z.shape[1])
    return _sum_extrema(0, s * Z, w, np.zeros_like(Z), 0.0, _GRID_STEP, ts)


def _scale_for_delta(delta, Z, w, d_u, K):
    """The offset scale ``s`` with ``delta_phi(s) = delta`` (scan, then bisection)."""
    if delta == 0.0:
        return 0.0
    scan = np.geomspace(1e-3, 30.0, 36)
    vals = np.array([_phi_diversity(s, Z, w) for s in scan])
    above = np.flatnonzero(vals >= delta * delta)
    if above.size == 0:
        hi = float(np.floor(np.sqrt(vals.max()) * 1e4) / 1e4)
        validate(delta, "delta", f"{OWNER} with d_u={d_u}, clusters={K}", Interval(float, 0.0, hi))
    j = int(above[0])
    lo, hi = (0.0 if j == 0 else scan[j - 1]), scan[j]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _phi_diversity(mid, Z, w) < delta * delta:
            lo = mid
        else:
            hi = mid
    return hi


def _partial_isometry(rng, d_u, d_v):
    X = rng.standard_normal((d_u, d_v))
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return U @ Vt  # all singular values 1: ||W||_2 = 1


#: What each knob of ``separable`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "delta": [Interval(float, 0.0, lambda p: DPHI_MAX * math.sqrt(p["d_u"]))],
    "chi": [Interval(float, 0.0, 1.0, closed="left")],
    "L_v": [Interval(float, 0.0, 1e6, closed="right")],
    "mu_v": [Interval(float, 0.0, "L_v", closed="right")],
    "personal": [Interval(float, 0.0, 1e6)],
    "clusters": [Interval(int, 1, lambda p: min(p["n"], 1024)), None],
    "ridge": [Interval(float, 0.0, 1e6), None],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def separable(
    *,
    n: int = 20,
    d_u: int = 5,
    d_v: int = 3,
    delta: float = 0.3,
    chi: float = 0.0,
    L_v: float = 1.0,
    mu_v: float = 0.5,
    personal: float = 1.0,
    clusters: int | None = None,
    ridge: float | None = None,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Separable nonconvex block model; exact constants when ``chi = 0``.

    .. math::

        F_i(u, v) = \sum_j \phi(u_j - a_{ij}) + \tfrac{\mu}{2}\|u\|^2
                    + \tfrac12 (v - b_i)^\top R (v - b_i) + u^\top Q v,
        \qquad \phi(t) = t^2 / (1 + t^2)

    Construction (seeded): device ``i`` belongs to cluster ``k(i) = i mod K``
    (``K = clusters``, default ``min(n, 8)``); ``a_i = a_0 + s Z_{k(i)}`` with ``Z`` uniform in
    ``[-1, 1]^{K x d_u}`` and ``s`` solved for (bisection) so that the diversity equals
    ``delta``; ``b_i = b_0 + c_{k(i)}`` with weighted-RMS spread ``personal``;
    ``R = diag(linspace(L_v, mu_v))``; ``Q = chi sqrt(L_u L_v) W`` with ``W`` a random partial
    isometry (``||W||_2 = 1``).

    Knobs and the constants they set (assumptions A0-A3 of Pillutla et al. 2022,
    docs/references.md#pillutla2022-assumptions):

    - ``L_u = sup phi'' + mu = 2 + mu``: **exact** (the u-Hessian is
      ``diag(phi''(u_j - a_ij)) + mu I``, attained at ``u = a_i``).
    - ``L_v = lambda_max(R) = L_v``: **exact** (0 when ``d_v = 0``).
    - ``L_uv = L_vu = ||Q||_2 = chi sqrt(L_u L_v)``: **exact** (the gradients are affine in the
      other block with matrix ``Q``), so ``chi`` is exact.
    - ``delta`` (``chi = 0``): the diversity is separable over coordinates,
      ``sup_u (1/n) sum_i ||grad_u F_i - grad_u F||^2 = sum_j sup_t h_j(t)`` with
      ``h_j(t) = sum_k w_k (phi'(t - a_kj) - sum_l w_l phi'(t - a_lj))^2`` (``w_k`` the cluster
      weights; ``mu u`` cancels); each ``sup_t`` is a 1-D maximisation (grid + golden section),
      so ``delta`` is **exact** (to ~1e-12) and equals the knob. The knob is bounded by
      ``delta <= (3 sqrt(3)/8) sqrt(d_u)`` (``|phi'| <= 3 sqrt(3)/8``) and, more tightly, by what
      ``K`` clusters can reach; an out-of-range value is rejected with the reachable maximum.
    - ``delta`` (``chi > 0``): ``grad_u F_i - grad_u F = p_i(u) + Q(v_i - vbar)``. At the
      personal optima ``v_i^*(u) = b_i - R^{-1} Q^T u`` this is ``p_i(u) + Q(b_i - bbar)``,
      still separable over coordinates, so the declared ``delta`` is **local**: exact on
      ``{V : grad_v F_i(u, v_i) = 0 for all i}``. For general V,
      ``sqrt(diversity) <= delta + (||Q||_2 / mu_v) sqrt((1/n) sum_i ||grad_v F_i||^2)``
      (Minkowski, ``v_i - v_i^* = R^{-1} grad_v F_i``). The knob sets the ``phi`` part only.
    - ``delta_prime, rho_prime, kappa`` (A3', for **all** ``(u, V)``;
      docs/derivations/diversity_global.md, §3): ``chi > 0``: ``kappa = sqrt(2) ||Q R^{-1}||_2``,
      ``delta_prime = sqrt(2) delta``, ``rho_prime = 0``, all **certified** (valid, not shown to
      be attained); ``chi = 0``: ``(delta, 0, 0)``, exact.
    - ``rho = 0``: exact (the Hessian varies with i only through ``phi''``, which the
      diversity bound already covers uniformly).
    - ``F_low`` (``chi = 0``): ``inf F = sum_j min_t (sum_k w_k phi(t - a_kj) + mu t^2/2)``,
      1-D minimisations: **exact**. (``chi > 0``): ``F`` is unbounded below unless
      ``M = mu I - Q R^{-1} Q^T`` is positive definite (``phi`` is bounded, the coupling is
      not); then ``F >= sum_j min_t sum_k w_k phi(t - a_kj) - 1/2 bbar^T Q^T M^{-1} Q bbar``
      (minimise the quadratic part over v, then over u): **certified**.
    - ``ridge = mu``: default 0 when ``chi = 0`` and ``1.25 mu_min`` when ``chi > 0``, where
      ``mu_min = 2 c / (1 - c)``, ``c = chi^2 L_v lambda_max(W R^{-1} W^T)``, is the smallest ridge
      with ``M`` positive definite (needs ``c < 1``). The u-block stays nonconvex only while
      ``mu < 1/2`` (``phi'' >= -1/2``), i.e. for small ``chi``; say so in experiments.
    - ``sigma_u = noise_u``, ``sigma_v = noise_v``: additive noise ``N(0, noise^2/d I)`` per
      block, exact.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1), shared dimension (>= 1), personal dimension (>= 0).
    delta : float
        Gradient diversity of the ``phi`` part, in ``[0, delta_max(d_u, clusters)]``.
    chi : float
        Coupling in [0, 1) (0 when ``d_v = 0``).
    L_v, mu_v : float
        Largest and smallest eigenvalue of ``R``, ``0 < mu_v <= L_v``.
    personal : float
        Weighted RMS spread of the personal targets ``b_i`` over clusters, >= 0.
    clusters : int or None
        Number of device groups ``K`` in ``[1, min(n, 1024)]`` (default ``min(n, 8)``).
    ridge : float or None
        ``mu >= 0`` (default: see above).
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0 (not the constants
        ``sigma_u``, ``sigma_v``, which also count minibatch variance).
    seed : int
        Instance seed.
    """
    check_size(n, d_u + d_v, OWNER)
    if d_v == 0:
        chi = validate(chi, "chi", OWNER + " with d_v=0", Interval(float, 0.0, 0.0))
    if 0 < chi < CHI_MIN:  # chi^2 enters the ridge and F_low: it would underflow
        raise ValueError(
            f"The 'chi' parameter of {OWNER} must be 0 or in [{CHI_MIN:g}, 1) (a smaller "
            f"coupling underflows in chi^2). Got {chi!r}."
        )
    K = min(n, 8) if clusters is None else clusters
    rng = np.random.default_rng([seed, 0x5E9A])

    r = np.linspace(L_v, mu_v, d_v) if d_v > 1 else np.full(d_v, L_v)
    W = _partial_isometry(rng, d_u, d_v) if d_v > 0 else np.zeros((d_u, 0))
    # Ridge: M = mu I - chi^2 (2 + mu) L_v W R^{-1} W^T must be positive definite.
    c = chi**2 * L_v * (float(np.linalg.eigvalsh((W / r) @ W.T).max()) if chi > 0 else 0.0)
    if c >= 1.0:
        chi_max = math.sqrt(chi**2 / c)
        owner = OWNER + " (F bounded below)"
        validate(chi, "chi", owner, Interval(float, 0.0, chi_max, closed="left"))
    mu_min = 2.0 * c / (1.0 - c)
    if ridge is None:
        mu = 1.25 * mu_min
    elif chi > 0:
        owner = OWNER + f" with chi={chi:g}"
        mu = validate(ridge, "ridge", owner, Interval(float, mu_min, 1e6, closed="right"))
    else:
        mu = ridge
    L_u = 2.0 + mu

    cl = np.arange(n, dtype=np.int64) % K
    w = np.bincount(cl, minlength=K) / n
    Z = rng.uniform(-1.0, 1.0, (K, d_u))
    Z -= w @ Z
    a0 = rng.standard_normal(d_u)
    s = _scale_for_delta(delta, Z, w, d_u, K)
    a = np.ascontiguousarray(a0[None, :] + s * Z)
    cspread = rng.standard_normal((K, d_v))
    cspread -= w @ cspread
    ms = float(w @ np.sum(cspread**2, axis=1))
    cspread = cspread * (personal / math.sqrt(ms)) if ms > 0 else np.zeros((K, d_v))
    b = np.ascontiguousarray(rng.standard_normal(d_v)[None, :] + cspread)
    Q = chi * math.sqrt(L_u * L_v) * W
    bbar = w @ b
    Qd = np.ascontiguousarray(Q) if chi > 0 else np.zeros((0, 0))
    data = SeparableData(a, cl, r, b, Qd, np.array([mu]))

    # delta: sum_j sup_t h_j(t) with q_kj = (Q (b_k - bbar))_j (q = 0 when chi = 0).
    q = np.ascontiguousarray((b - bbar) @ Q.T)
    t_div = np.empty(d_u)
    delta2 = _sum_extrema(0, a, w, q, 0.0, _GRID_STEP, t_div)
    t_min = np.empty(d_u)
    if chi == 0:
        F_low = _sum_extrema(1, a, w, np.zeros_like(a), mu, _GRID_STEP, t_min)
        V_low = b[cl]
        V_div = b[cl]
    else:
        base = _sum_extrema(1, a, w, np.zeros_like(a), 0.0, _GRID_STEP, t_min)
        M = mu * np.eye(d_u) - (Q / r) @ Q.T
        qb = Q @ bbar
        F_low = base - 0.5 * float(qb @ np.linalg.solve(M, qb))
        V_low = b[cl] - ((Q.T @ t_min) / r)[None, :]
        V_div = b[cl] - ((Q.T @ t_div) / r)[None, :]
    L_uv = float(np.linalg.norm(Q, 2)) if chi > 0 else 0.0
    # A3' (docs/derivations/diversity_global.md, §3): with K = Q R^{-1}, kappa = sqrt(2) ||K||_2
    # and delta'^2 = delta^2 / (1 - ||K||^2/kappa^2) = 2 delta^2 hold for all (u, V).
    norm_K = float(np.linalg.norm(Q / r[None, :], 2)) if chi > 0 else 0.0
    delta_value = math.sqrt(max(delta2, 0.0))
    if norm_K > 0:
        a3p = dict(delta_prime=math.sqrt(2.0) * delta_value, rho_prime=0.0)
        a3p["kappa"] = math.sqrt(2.0) * norm_K
        a3p_kind = dict(delta_prime="certified", rho_prime="exact", kappa="certified")
        a3p_notes = {
            "kappa": f"sqrt(2) ||Q R^{{-1}}||_2 (||Q R^{{-1}}||_2 = {norm_K:.6g})",
            "delta_prime": "sqrt(2) delta (delta = sup_u of the diversity at the personal "
            "optima, the 1-D maximisations): valid for all (u, V), not shown to be attained",
            "rho_prime": "0 (as rho)",
        }
    else:
        a3p = dict(delta_prime=delta_value, rho_prime=0.0, kappa=0.0)
        a3p_kind = dict(delta_prime="exact", rho_prime="exact", kappa="exact")
        a3p_notes = {"kappa": "no coupling: A3 holds for all (u, V), so kappa = 0"}

    witnesses = {
        "L_u": (0, a[cl[0]].copy(), b[cl[0]].copy()),
        "L_v": (0, a[cl[0]].copy(), b[cl[0]].copy()),
        "L_uv": (0, a[cl[0]].copy(), b[cl[0]].copy()),
        "L_vu": (0, a[cl[0]].copy(), b[cl[0]].copy()),
        "delta": (t_div.copy(), V_div),
        "F_low": (t_min.copy(), V_low),
    }
    notes = {
        "L_u": "sup phi'' + mu = 2 + mu, attained at u = a_i",
        "delta": "sum_j sup_t h_j(t), 1-D maximisations (grid + golden section)"
        if chi == 0
        else "exact on {V: grad_v F_i = 0 for all i} (personal optima); for general V, "
        "sqrt(diversity) <= delta + (L_uv/mu_v) sqrt((1/n) sum_i ||grad_v F_i||^2)",
        "F_low": "sum_j min_t of the 1-D marginals (grid + golden section)"
        if chi == 0
        else "phi >= its 1-D minima, quadratic part minimised exactly (needs the ridge)",
        "ridge": f"mu = {mu:.6g}",
    }
    if d_v == 0:
        notes["L_v"] = "no personal block (d_v = 0)"
    constants = Constants(
        L_u=L_u,
        L_v=L_v if d_v > 0 else 0.0,
        L_uv=L_uv,
        L_vu=L_uv,
        sigma_u=noise_u,
        sigma_v=noise_v,
        delta=delta_value,
        rho=0.0,
        F_low=float(F_low),
        **a3p,
        kind={
            "L_u": "exact",
            "L_v": "exact",
            "L_uv": "exact",
            "L_vu": "exact",
            "sigma_u": "exact",
            "sigma_v": "exact",
            "delta": "exact" if chi == 0 else "local",
            "rho": "exact",
            "F_low": "exact" if chi == 0 else "certified",
            **a3p_kind,
        },
        notes={**notes, **a3p_notes},
        regions={} if chi == 0 else {"delta": personal_optima()},
    )

    def init(seed_):
        g = np.random.default_rng([seed_, 0x1717])
        return a0 + g.standard_normal(d_u), bbar + g.standard_normal((n, d_v))

    return Problem(
        name="separable",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d_u=d_u,
            d_v=d_v,
            delta=delta,
            chi=chi,
            L_v=L_v,
            mu_v=mu_v,
            personal=personal,
            clusters=K,
            ridge=mu,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        noise_u=noise_u,
        noise_v=noise_v,
        description="separable nonconvex phi(t) = t^2/(1+t^2) block model",
        witnesses=witnesses,
    )
