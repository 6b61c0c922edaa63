"""The block quadratic's data types and jitted objective (``synthetic.quadratic`` builds them).

``QuadraticData`` holds a shared Hessian ``[[A, C], [C^T, B]]``; ``SpreadQuadraticData`` the
device Hessians ``A_i = Q diag(lam_i) Q^T`` of ``hessian_spread > 0`` (no coupling). Each type's
``loss``/``grad_u``/``grad_v`` (the calling convention of ``synthetic._objective``) is registered
for it at import, so the kernels dispatch on the type of ``Problem.data``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed.synthetic._objective import register, register_hvp

__all__ = ["QuadraticData", "SpreadQuadraticData"]


class QuadraticData(NamedTuple):
    """Shared Hessian ``[[A, C], [C^T, B]]``, linear terms ``bu (n, d_u)`` and ``bv (n, d_v)``."""

    A: np.ndarray
    C: np.ndarray
    B: np.ndarray
    bu: np.ndarray
    bv: np.ndarray


class SpreadQuadraticData(NamedTuple):
    """Device Hessians ``A_i = Q diag(lam_i) Q^T`` (no coupling), ``B``, ``bu``, ``bv``."""

    Q: np.ndarray
    lam: np.ndarray
    B: np.ndarray
    bu: np.ndarray
    bv: np.ndarray


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
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


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    A, C, B, bu, bv = data
    for a in range(u.shape[0]):
        s = -bu[i, a]
        for b in range(u.shape[0]):
            s += A[a, b] * u[b]
        for b in range(v.shape[0]):
            s += C[a, b] * v[b]
        out[a] = s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    A, C, B, bu, bv = data
    for a in range(v.shape[0]):
        s = -bv[i, a]
        for b in range(u.shape[0]):
            s += C[b, a] * u[b]
        for b in range(v.shape[0]):
            s += B[a, b] * v[b]
        out[a] = s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss_h(data, i, u, v):
    """``F_i = 1/2 u^T A_i u - bu_i^T u + 1/2 v^T B v - bv_i^T v``, ``A_i = Q diag(lam_i) Q^T``."""
    Q, lam, B, bu, bv = data
    s = 0.0
    for k in range(u.shape[0]):
        t = 0.0
        for b in range(u.shape[0]):
            t += Q[b, k] * u[b]
        s += 0.5 * lam[i, k] * t * t
    for a in range(u.shape[0]):
        s -= bu[i, a] * u[a]
    for a in range(v.shape[0]):
        bvv = 0.0
        for b in range(v.shape[0]):
            bvv += B[a, b] * v[b]
        s += v[a] * (0.5 * bvv - bv[i, a])
    return s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u_h(data, i, u, v, out, idx):
    """``out = A_i u - bu_i = Q (lam_i * (Q^T u)) - bu_i``."""
    Q, lam, B, bu, bv = data
    d = u.shape[0]
    t = np.empty(d)
    for k in range(d):
        s = 0.0
        for b in range(d):
            s += Q[b, k] * u[b]
        t[k] = lam[i, k] * s
    for a in range(d):
        s = -bu[i, a]
        for k in range(d):
            s += Q[a, k] * t[k]
        out[a] = s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v_h(data, i, u, v, out, idx):
    """``out = B v - bv_i`` (no coupling: heterogeneous Hessians require chi = 0)."""
    Q, lam, B, bu, bv = data
    for a in range(v.shape[0]):
        s = -bv[i, a]
        for b in range(v.shape[0]):
            s += B[a, b] * v[b]
        out[a] = s


register(QuadraticData, _loss, _grad_u, _grad_v)
register(SpreadQuadraticData, _loss_h, _grad_u_h, _grad_v_h)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _hvp(data, i, u, v, pu, pv, out_u, out_v, idx):
    """Exact ``[[A, C], [C^T, B]] (pu, pv)`` (the Hessian is the same at every point)."""
    A, C, B, bu, bv = data
    for a in range(u.shape[0]):
        s = 0.0
        for b in range(u.shape[0]):
            s += A[a, b] * pu[b]
        for b in range(v.shape[0]):
            s += C[a, b] * pv[b]
        out_u[a] = s
    for a in range(v.shape[0]):
        s = 0.0
        for b in range(u.shape[0]):
            s += C[b, a] * pu[b]
        for b in range(v.shape[0]):
            s += B[a, b] * pv[b]
        out_v[a] = s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _hvp_h(data, i, u, v, pu, pv, out_u, out_v, idx):
    """Exact ``(A_i pu, B pv)`` with ``A_i = Q diag(lam_i) Q^T`` (no coupling)."""
    Q, lam, B, bu, bv = data
    d = u.shape[0]
    t = np.empty(d)
    for k in range(d):
        s = 0.0
        for b in range(d):
            s += Q[b, k] * pu[b]
        t[k] = lam[i, k] * s
    for a in range(d):
        s = 0.0
        for k in range(d):
            s += Q[a, k] * t[k]
        out_u[a] = s
    for a in range(v.shape[0]):
        s = 0.0
        for b in range(v.shape[0]):
            s += B[a, b] * pv[b]
        out_v[a] = s


register_hvp(QuadraticData, _hvp)
register_hvp(SpreadQuadraticData, _hvp_h)
