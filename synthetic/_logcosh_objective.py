"""The log-cosh family's data type and jitted objective (``synthetic.logcosh`` builds it).

``LogcoshData`` holds the two groups' centres on each block, each device's group and the scale
``a``. The loss is ``F_i(u, v) = sum_j phi(w_j - c_{g(i), j})`` over ``w = (u, v)`` with
``phi(t) = a^2 log cosh(t / a)`` (docs/references.md#synthetic-logcosh). Its
``loss``/``grad_u``/``grad_v`` (the calling convention of ``synthetic._objective``) are
registered for it at import, so the kernels dispatch on it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed.synthetic._objective import register, register_hvp

__all__ = ["LogcoshData"]

_LOG2 = math.log(2.0)


class LogcoshData(NamedTuple):
    """Group centres ``cu (2, d_u)`` and ``cv (2, d_v)``, group of each device ``g (n,)``
    int64, and ``par = [a]`` (the scale)."""

    cu: np.ndarray
    cv: np.ndarray
    g: np.ndarray
    par: np.ndarray


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _phi(t, a):
    """``a^2 log cosh(t/a) = a^2 (|x| + log1p(exp(-2|x|)) - log 2)``, ``x = t/a`` (no
    overflow)."""
    x = abs(t / a)
    return a * a * (x + math.log1p(math.exp(-2.0 * x)) - _LOG2)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss(data, i, u, v):
    cu, cv, g, par = data
    k = g[i]
    a = par[0]
    s = 0.0
    for j in range(u.shape[0]):
        s += _phi(u[j] - cu[k, j], a)
    for j in range(v.shape[0]):
        s += _phi(v[j] - cv[k, j], a)
    return s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    cu, cv, g, par = data
    k = g[i]
    a = par[0]
    for j in range(u.shape[0]):
        out[j] = a * math.tanh((u[j] - cu[k, j]) / a)  # phi'(t) = a tanh(t/a)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    cu, cv, g, par = data
    k = g[i]
    a = par[0]
    for j in range(v.shape[0]):
        out[j] = a * math.tanh((v[j] - cv[k, j]) / a)


register(LogcoshData, _loss, _grad_u, _grad_v)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _hvp(data, i, u, v, pu, pv, out_u, out_v, idx):
    """Exact Hessian-vector product: the Hessian is ``diag(phi''(w_j - c_ij))``, ``phi''(t) =
    sech^2(t/a)``, with no cross block."""
    cu, cv, g, par = data
    k = g[i]
    a = par[0]
    for j in range(u.shape[0]):
        c = math.cosh((u[j] - cu[k, j]) / a)
        out_u[j] = pu[j] / (c * c)
    for j in range(v.shape[0]):
        c = math.cosh((v[j] - cv[k, j]) / a)
        out_v[j] = pv[j] / (c * c)


register_hvp(LogcoshData, _hvp)


# Plain NumPy derivatives of phi (for the constants and the tests, not for the kernels).


def dphi(t, a):
    """``phi'(t) = a tanh(t/a)``."""
    return a * np.tanh(np.asarray(t, dtype=float) / a)


def d2phi(t, a):
    """``phi''(t) = sech^2(t/a)`` in ``(0, 1]``."""
    return 1.0 / np.cosh(np.asarray(t, dtype=float) / a) ** 2


def d3phi(t, a):
    """``phi'''(t) = -(2/a) sech^2(t/a) tanh(t/a)``, ``|phi'''| <= 4/(3 sqrt(3) a)``."""
    x = np.asarray(t, dtype=float) / a
    return -(2.0 / a) * np.tanh(x) / np.cosh(x) ** 2
