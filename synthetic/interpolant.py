r"""An ``L``-smooth function through given points, values and gradients (a PEP's worst case).

Given, for each device ``i``, points ``x_k``, values ``f_k`` and gradients ``g_k`` that satisfy
the interpolation conditions of the ``L``-smooth (nonconvex) functions (Taylor, Hendrickx &
Glineur 2017; PEPit's ``SmoothFunction``; docs/references.md#pep-federated; eq. (I0) of
docs/derivations/pep_interpolant.md)

.. math::
    f_k \ge f_j + \tfrac12 \langle g_k + g_j, x_k - x_j\rangle - \tfrac L4 \|x_k - x_j\|^2
          + \tfrac1{4L}\|g_k - g_j\|^2,

the function below is ``L``-smooth and takes those values and gradients at those points. It is
built in three steps (docs/derivations/pep_interpolant.md):

1. ``f`` is ``L``-smooth iff ``h = f + (L/2)||x||^2`` is convex and ``2L``-smooth, and the
   conditions above are, for ``h_k = f_k + (L/2)||x_k||^2``, ``s_k = g_k + L x_k``, those of the
   convex ``2L``-smooth class (eq. (I1));
2. the conjugate ``h^*`` is then the ``1/(2L)``-strongly convex maximum of the quadratics
   ``h^*(s_k) + <x_k, y - s_k> + ||y - s_k||^2/(4L)``, each below the data (eq. (I2));
3. conjugating back (a minimax over the simplex) gives (eq. (I3))

.. math::
    h(x) = \min_{\alpha \in \Delta_K} L\|x - Z^\top\alpha\|^2 + c^\top\alpha,\qquad
    z_k = x_k - \frac{s_k}{2L},\quad c_k = h_k - \frac{\|s_k\|^2}{4L},

with ``grad h(x) = 2L (x - Z^T alpha*)`` (eq. (I4)), so ``f(x) = h(x) - (L/2)||x||^2`` and
``grad f(x) = L x - 2L Z^T alpha*``.

The simplex quadratic program is solved in compiled code by accelerated projected gradient
(FISTA with restarts) until its Frank-Wolfe gap, an upper bound on the suboptimality, is below
``1e-15 (1 + |h|)``; suboptimality ``e`` moves ``Z^T alpha`` by at most ``sqrt(e/L)`` (eq. (I5)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed.synthetic._objective import register
from partialfed.synthetic._problem import Constants, Problem

__all__ = ["InterpolantData", "smooth_interpolant", "interpolation_gap", "margin_smoothness"]


class InterpolantData(NamedTuple):
    """``par = [L, d_u]``; per device ``Z (n, K, d)``, ``c (n, K)``; ``K_i`` in ``count``."""

    par: np.ndarray
    Z: np.ndarray
    c: np.ndarray
    count: np.ndarray


@njit(cache=True, nogil=True)
def _project_simplex(y, out):
    """Euclidean projection of ``y`` onto the probability simplex (sort-based)."""
    s = np.sort(y)[::-1]
    acc = 0.0
    theta = 0.0
    for k in range(s.shape[0]):
        acc += s[k]
        t = (acc - 1.0) / (k + 1)
        if s[k] - t > 0:
            theta = t
    for k in range(y.shape[0]):
        out[k] = max(y[k] - theta, 0.0)


@njit(cache=True, nogil=True)
def _solve(data, i, x):
    """``(h(x), Z^T alpha*)`` of eq. (I3) for device ``i``."""
    L = data.par[0]
    K = data.count[i]
    Z = data.Z[i, :K]
    c = data.c[i, :K]
    d = x.shape[0]
    # start at the best vertex
    best = 0
    best_val = np.inf
    for k in range(K):
        val = c[k]
        for a in range(d):
            val += L * (x[a] - Z[k, a]) ** 2
        if val < best_val:
            best, best_val = k, val
    alpha = np.zeros(K)
    alpha[best] = 1.0
    # step 1/Lip with Lip = 2L lambda_max(Z Z^T), bounded by 2L ||Z||_F^2
    fro = 0.0
    for k in range(K):
        for a in range(d):
            fro += Z[k, a] ** 2
    step = 1.0 / (2.0 * L * fro + 1e-300)
    y = alpha.copy()
    prev = alpha.copy()
    tk = 1.0
    grad = np.empty(K)
    w = np.empty(d)
    trial = np.empty(K)
    value = best_val
    for _ in range(200_000):
        # gradient at y: -2L Z (x - Z^T y) + c
        w[:] = 0.0
        for k in range(K):
            for a in range(d):
                w[a] += y[k] * Z[k, a]
        for k in range(K):
            g = c[k]
            for a in range(d):
                g -= 2.0 * L * Z[k, a] * (x[a] - w[a])
            grad[k] = g
        for k in range(K):
            trial[k] = y[k] - step * grad[k]
        prev[:] = alpha
        _project_simplex(trial, alpha)
        # value and Frank-Wolfe gap at alpha
        w[:] = 0.0
        for k in range(K):
            for a in range(d):
                w[a] += alpha[k] * Z[k, a]
        value = 0.0
        for a in range(d):
            value += L * (x[a] - w[a]) ** 2
        lin = 0.0
        gmin = np.inf
        for k in range(K):
            value += c[k] * alpha[k]
            g = c[k]
            for a in range(d):
                g -= 2.0 * L * Z[k, a] * (x[a] - w[a])
            lin += g * alpha[k]
            gmin = min(gmin, g)
        if lin - gmin <= 1e-15 * (1.0 + abs(value)):
            break
        # momentum, restarted when it points uphill
        up = 0.0
        for k in range(K):
            up += grad[k] * (alpha[k] - prev[k])
        if up > 0:
            tk = 1.0
            y[:] = alpha
            continue
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
        for k in range(K):
            y[k] = alpha[k] + (tk - 1.0) / t_next * (alpha[k] - prev[k])
        tk = t_next
    return value, w


@njit(cache=True, nogil=True)
def _joint(u, v):
    x = np.empty(u.shape[0] + v.shape[0])
    x[: u.shape[0]] = u
    x[u.shape[0] :] = v
    return x


@njit(cache=True, nogil=True)
def _loss(data, i, u, v):
    x = _joint(u, v)
    h, _ = _solve(data, i, x)
    return h - 0.5 * data.par[0] * np.dot(x, x)  # f = h - (L/2)||x||^2, eq. (I3)


@njit(cache=True, nogil=True)
def _grad_u(data, i, u, v, out, idx):
    x = _joint(u, v)
    _, w = _solve(data, i, x)
    L = data.par[0]
    for a in range(u.shape[0]):
        out[a] = L * x[a] - 2.0 * L * w[a]  # eq. (I4)


@njit(cache=True, nogil=True)
def _grad_v(data, i, u, v, out, idx):
    x = _joint(u, v)
    _, w = _solve(data, i, x)
    L = data.par[0]
    du = u.shape[0]
    for a in range(v.shape[0]):
        out[a] = L * x[du + a] - 2.0 * L * w[du + a]  # eq. (I4)


register(InterpolantData, _loss, _grad_u, _grad_v)


def interpolation_gap(X: np.ndarray, G: np.ndarray, f: np.ndarray, L: float) -> float:
    """The largest violation of the interpolation conditions (docs/derivations/pep_interpolant.md,
    eq. (I0)).

    Parameters
    ----------
    X, G : ndarray (K, d)
        Points and gradients.
    f : ndarray (K,)
        Values.
    L : float

    Returns
    -------
    float
        ``max_{k, j} rhs_kj - f_k`` (``<= 0`` when an ``L``-smooth function interpolates).
    """
    return float(np.max(_pair_terms(X, G, f, L)[0]))


def _pair_terms(X, G, f, L):
    dx = X[:, None, :] - X[None, :, :]
    dg = G[:, None, :] - G[None, :, :]
    gs = G[:, None, :] + G[None, :, :]
    xx = np.einsum("kjd,kjd->kj", dx, dx)
    gg = np.einsum("kjd,kjd->kj", dg, dg)
    rhs = f[None, :] + 0.5 * np.einsum("kjd,kjd->kj", gs, dx) - L / 4 * xx + gg / (4 * L)
    return rhs - f[:, None], xx, gg


def margin_smoothness(X: np.ndarray, G: np.ndarray, f: np.ndarray, L: float) -> float:
    """The smallest ``L' >= L`` at which every condition holds with a margin of its violation at
    ``L``.

    A solver returns samples that violate the conditions by ``eps ~ 1e-8``; the interpolant of
    eq. (I3) then reproduces the values to ``eps`` but the gradients only to ``sqrt(eps/L)``
    (eq. (I5)). The condition for ``(k, j)`` reads ``A_kj - L' ||dx||^2/4 + ||dg||^2/(4 L') <= 0``
    (``A_kj`` collects the terms without ``L``); asking ``<= -m_kj`` (``m_kj`` its violation at
    ``L``, or 0) is the quadratic ``(||dx||^2/4) L'^2 - (A_kj + m_kj) L' - ||dg||^2/4 >= 0``, whose
    positive root is the least ``L'`` for that pair (docs/derivations/pep_interpolant.md, eq. (I6)).
    With the margin, each sample is the unique minimiser of eq. (I3) at its own point, so the
    interpolant's gradient there is the sample's to rounding.

    Raises
    ------
    ValueError
        Two samples at one point with different gradients or values (no ``L'`` helps).
    """
    viol, xx, gg = _pair_terms(X, G, f, L)
    A = viol + L / 4 * xx - gg / (4 * L)
    b = A + np.maximum(viol, 0.0)
    off = ~np.eye(f.shape[0], dtype=bool)
    same = off & (xx <= 0)
    if np.any(same & ((gg > 0) | (b > 0))):
        raise ValueError("smooth_interpolant: two samples share a point but not a gradient/value.")
    pair = off & (xx > 0)
    roots = (b[pair] + np.sqrt(b[pair] ** 2 + xx[pair] * gg[pair] / 4)) / (xx[pair] / 2)
    return float(max(L, np.max(roots, initial=L)) * (1 + 1e-12))


def smooth_interpolant(
    u0: np.ndarray,
    V0: np.ndarray,
    points: list,
    L: float,
    *,
    name: str = "pep_worst_case",
    margin: bool = False,
) -> Problem:
    """A problem whose ``F_i`` is the ``L``-smooth interpolant of device ``i``'s samples.

    Parameters
    ----------
    u0 : ndarray (d_u,)
    V0 : ndarray (n, d_v)
        The initial point (``init(seed)`` returns it for every seed).
    points : list of n tuples (u, v, g_u, g_v, f)
        Per device: points ``u (K, d_u)``, ``v (K, d_v)``, gradients ``g_u``, ``g_v`` and values
        ``f (K,)`` (``theory.pep.Samples.points``).
    L : float
        Smoothness of every ``F_i`` on the joint space, > 0 (the PEP's).
    name : str
    margin : bool
        ``False`` (default): the interpolant at ``L``, in the PEP's class; it reproduces the
        samples' values to their largest violation ``eps`` of the conditions
        (:func:`interpolation_gap`) and their gradients to about ``sqrt(eps / L)`` (eq. (I5)).
        ``True``: at :func:`margin_smoothness` ``L' >= L`` (the largest over the devices), which
        reproduces the gradients to rounding; ``knobs["L"]`` and the constants are then ``L'``,
        which can be far above ``L`` when the solver splits one point into two close ones.

    Returns
    -------
    Problem
        Constants: ``L_u = L_v = L_uv = L_vu = L`` (certified: every block of a Hessian bounded
        by ``L`` in norm is), ``sigma = 0`` (exact gradients); ``delta``, ``rho`` and ``F_low``
        are not known: what the samples show, kind ``estimate`` (see ``notes``). The attribute
        ``L_joint = L`` (``L'`` with ``margin``) says that every ``F_i`` is that smooth jointly,
        which the block constants cannot say (``experiments.checks.pep`` reads it).
    """
    L = float(L)
    if not (math.isfinite(L) and L > 0):
        raise ValueError(f"The 'L' parameter of smooth_interpolant must be > 0. Got {L!r}.")
    u0 = np.asarray(u0, dtype=float)
    V0 = np.atleast_2d(np.asarray(V0, dtype=float))
    n, d_u, d_v = V0.shape[0], u0.shape[0], V0.shape[1]
    if len(points) != n:
        raise ValueError(
            f"The 'points' parameter of smooth_interpolant must have one entry per device "
            f"(n={n} rows of V0). Got {len(points)}."
        )
    if margin:
        L = max(
            margin_smoothness(np.hstack([u, v]), np.hstack([gu, gv]), f, L)
            for u, v, gu, gv, f in points
        )
    K = max(p[4].shape[0] for p in points)
    Z = np.zeros((n, K, d_u + d_v))
    c = np.zeros((n, K))
    count = np.zeros(n, dtype=np.int64)
    for i, (u, v, g_u, g_v, f) in enumerate(points):
        X = np.hstack([u, v])
        s = np.hstack([g_u, g_v]) + L * X  # s_k = g_k + L x_k, eq. (I1)
        h = f + 0.5 * L * np.einsum("kd,kd->k", X, X)
        k = f.shape[0]
        Z[i, :k] = X - s / (2 * L)  # eq. (I3)
        c[i, :k] = h - np.einsum("kd,kd->k", s, s) / (4 * L)
        count[i] = k
    data = InterpolantData(np.array([L, float(d_u)]), Z, c, count)
    # delta and F_low are not known for the interpolant: the values below are only what the
    # samples show (kind "estimate", which no strict check accepts), not bounds.
    first = np.array([p[2][0] for p in points])  # grad_u F_i at (u^0, v_i^0)
    spread = float(np.sqrt(np.mean(np.sum((first - first.mean(axis=0)) ** 2, axis=1))))
    kinds = dict.fromkeys(("L_u", "L_v", "L_uv", "L_vu"), "certified")
    kinds.update(sigma_u="exact", sigma_v="exact", delta="estimate", rho="estimate")
    kinds.update(F_low="estimate")
    constants = Constants(
        L_u=L, L_v=L, L_uv=L, L_vu=L, sigma_u=0.0, sigma_v=0.0,
        delta=spread, rho=0.0, F_low=float(min(p[4].min() for p in points)), kind=kinds,
        notes={
            "L_u": "each F_i is L-smooth jointly (the PEP's class)",
            "delta": "diversity at (u^0, V^0) only, not a bound",
            "F_low": "smallest sampled value, not a bound (the interpolant may be unbounded)",
        },
    )  # fmt: skip

    def init(seed):
        return u0.copy(), V0.copy()

    problem = Problem(
        name=name,
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(n=n, d_u=d_u, d_v=d_v, L=L),
        description=f"L-smooth interpolant of a PEP worst case ({name})",
    )
    problem.L_joint = L  # each F_i is L-smooth jointly: eqs. (I2)-(I3), whatever the samples
    return problem
