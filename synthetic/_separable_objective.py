"""The separable block model's data type and jitted objective (``synthetic.separable`` builds it).

``SeparableData`` holds the cluster offsets, each device's cluster, ``R``'s diagonal, the personal
targets, the coupling and the ridge. Its ``loss``/``grad_u``/``grad_v`` (the calling convention of
``synthetic._objective``) are registered for it at import, so the kernels dispatch on it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed.synthetic._objective import (
    register,
    register_descent,
    register_hvp,
    register_split,
)

__all__ = ["SeparableData"]


class SeparableData(NamedTuple):
    """Cluster offsets ``a (K, d_u)``, cluster of each device ``cl (n,)`` int64, ``R``'s
    diagonal ``r (d_v,)``, personal targets ``b (K, d_v)``, coupling ``Q (d_u, d_v)`` (or
    ``(0, 0)`` when ``chi = 0``) and ``par = [mu]``."""

    a: np.ndarray
    cl: np.ndarray
    r: np.ndarray
    b: np.ndarray
    Q: np.ndarray
    par: np.ndarray


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss(data, i, u, v):
    a, cl, r, b, Q, par = data
    k = cl[i]
    mu = par[0]
    s = 0.0
    for j in range(u.shape[0]):
        t = u[j] - a[k, j]
        t2 = t * t
        s += t2 / (1.0 + t2) + 0.5 * mu * u[j] * u[j]  # phi(u_j - a_ij) + mu/2 u_j^2
    for m in range(v.shape[0]):
        w = v[m] - b[k, m]
        s += 0.5 * r[m] * w * w  # 1/2 (v - b_i)^T R (v - b_i), R = diag(r)
    if Q.shape[0] > 0:
        for j in range(u.shape[0]):
            qv = 0.0
            for m in range(v.shape[0]):
                qv += Q[j, m] * v[m]
            s += u[j] * qv  # u^T Q v
    return s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    a, cl, r, b, Q, par = data
    k = cl[i]
    mu = par[0]
    for j in range(u.shape[0]):
        t = u[j] - a[k, j]
        q = 1.0 + t * t
        out[j] = 2.0 * t / (q * q) + mu * u[j]  # phi'(u_j - a_ij) + mu u_j
    if Q.shape[0] > 0:
        for j in range(u.shape[0]):
            qv = 0.0
            for m in range(v.shape[0]):
                qv += Q[j, m] * v[m]
            out[j] += qv  # + Q v


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    a, cl, r, b, Q, par = data
    k = cl[i]
    for m in range(v.shape[0]):
        out[m] = r[m] * (v[m] - b[k, m])  # R (v - b_i)
    if Q.shape[0] > 0:
        for j in range(u.shape[0]):
            uj = u[j]
            for m in range(v.shape[0]):
                out[m] += Q[j, m] * uj  # + Q^T u


register(SeparableData, _loss, _grad_u, _grad_v)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _descend_u(data, i, u, v, gamma):
    """``u -= gamma grad_u F_i(u, v)`` in one pass: coordinate j of ``_grad_u`` reads ``u_j``
    and ``v`` only, so it is computed, in ``_grad_u``'s operations and order, just before
    ``u_j`` moves (``register_descent``)."""
    a, cl, r, b, Q, par = data
    k = cl[i]
    mu = par[0]
    if Q.shape[0] == 0:
        for j in range(u.shape[0]):
            t = u[j] - a[k, j]
            q = 1.0 + t * t
            u[j] -= gamma * (2.0 * t / (q * q) + mu * u[j])
        return
    for j in range(u.shape[0]):
        t = u[j] - a[k, j]
        q = 1.0 + t * t
        g = 2.0 * t / (q * q) + mu * u[j]
        qv = 0.0
        for m in range(v.shape[0]):
            qv += Q[j, m] * v[m]
        g += qv
        u[j] -= gamma * g


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _descend_v(data, i, u, v, gamma):
    """``v -= gamma grad_v F_i(u, v)`` in one pass (coordinate m of ``_grad_v`` reads ``v_m``
    and ``u`` only; its terms ``Q[j, m] u_j`` added in increasing j, as ``_grad_v`` adds
    them)."""
    a, cl, r, b, Q, par = data
    k = cl[i]
    if Q.shape[0] == 0:
        for m in range(v.shape[0]):
            v[m] -= gamma * (r[m] * (v[m] - b[k, m]))
        return
    for m in range(v.shape[0]):
        g = r[m] * (v[m] - b[k, m])
        for j in range(u.shape[0]):
            g += Q[j, m] * u[j]
        v[m] -= gamma * g


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _descend_joint(data, i, u, v, gamma_u, gamma_v, g_v):
    """A joint step: ``(u, v) -= (gamma_u grad_u, gamma_v grad_v) F_i(u, v)``. Without coupling
    (``chi = 0``) each block's gradient reads that block only: ``_descend_u``, then
    ``_descend_v``. With it, ``g_v = grad_v`` (``_grad_v``'s operations and order: ``Q[j, m] u_j``
    added in increasing j) before u moves, then ``_descend_u`` (v has not moved), then v."""
    a, cl, r, b, Q, par = data
    coupled = Q.shape[0] != 0
    if coupled:
        k = cl[i]
        for m in range(v.shape[0]):
            g_v[m] = r[m] * (v[m] - b[k, m])
        for j in range(u.shape[0]):
            uj = u[j]
            for m in range(v.shape[0]):
                g_v[m] += Q[j, m] * uj
    _descend_u(data, i, u, v, gamma_u)  # one inlined copy of each step (no duplicate SSA names)
    if coupled:
        for m in range(v.shape[0]):
            v[m] -= gamma_v * g_v[m]
    else:
        _descend_v(data, i, u, v, gamma_v)


register_descent(SeparableData, _descend_u, _descend_v, _descend_joint)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _hvp(data, i, u, v, pu, pv, out_u, out_v, idx):
    """Exact Hessian-vector product: ``hess_uu = diag(phi''(u_j - a_ij) + mu)`` with
    ``phi''(t) = (2 - 6 t^2) / (1 + t^2)^3``, ``hess_uv = Q``, ``hess_vv = R``."""
    a, cl, r, b, Q, par = data
    k = cl[i]
    mu = par[0]
    for j in range(u.shape[0]):
        t = u[j] - a[k, j]
        t2 = t * t
        q = 1.0 + t2
        out_u[j] = ((2.0 - 6.0 * t2) / (q * q * q) + mu) * pu[j]
    for m in range(v.shape[0]):
        out_v[m] = r[m] * pv[m]
    if Q.shape[0] > 0:
        for j in range(u.shape[0]):
            qp = 0.0
            for m in range(v.shape[0]):
                qp += Q[j, m] * pv[m]
            out_u[j] += qp  # + Q pv
            pj = pu[j]
            for m in range(v.shape[0]):
                out_v[m] += Q[j, m] * pj  # + Q^T pu


register_hvp(SeparableData, _hvp)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss_u(data, i, u):
    """The u-part ``sum_j phi(u_j - a_ij) + mu/2 ||u||^2`` of ``F_i`` (shared by a cluster)."""
    a, cl, r, b, Q, par = data
    k = cl[i]
    mu = par[0]
    s = 0.0
    for j in range(u.shape[0]):
        t = u[j] - a[k, j]
        t2 = t * t
        s += t2 / (1.0 + t2) + 0.5 * mu * u[j] * u[j]
    return s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss_v(data, i, v):
    """The v-part ``1/2 (v - b_i)^T R (v - b_i)`` of ``F_i``."""
    a, cl, r, b, Q, par = data
    k = cl[i]
    s = 0.0
    for m in range(v.shape[0]):
        w = v[m] - b[k, m]
        s += 0.5 * r[m] * w * w
    return s


def _classes(data):
    """Without coupling (``chi = 0``, ``Q`` empty) ``F_i = f_{cl[i]}(u) + h_i(v)``: the cluster
    of each device; with coupling the term ``u^T Q v`` joins the blocks (``None``)."""
    return data.cl if data.Q.shape[0] == 0 else None


register_split(SeparableData, _classes, _loss_u, _loss_v)
