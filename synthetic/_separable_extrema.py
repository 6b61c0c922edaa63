"""One-dimensional sup/inf of the separable model, used for its exact ``delta`` and ``F_low``.

Both constants of ``synthetic.separable`` reduce to sums over coordinates of 1-D extrema: the sup
of one coordinate of the diversity, ``h(t) = sum_k w_k (p_k - pbar)^2``, and the min of one
coordinate of ``F``, ``sum_k w_k phi(t - a_k) + mu t^2/2``. These jitted functions find them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = 0.5 * (math.sqrt(5.0) - 1.0)


@njit(cache=True, nogil=True)
def _coord_value(which, t, acol, w, qcol, mu):
    """``which = 0``: ``h(t) = sum_k w_k (p_k - pbar)^2`` with ``p_k = phi'(t - a_k) + q_k``
    (one coordinate of the diversity); ``which = 1``: ``sum_k w_k phi(t - a_k) + mu t^2/2``."""
    K = acol.shape[0]
    if which == 0:
        pbar = 0.0
        for k in range(K):
            x = t - acol[k]
            q = 1.0 + x * x
            pbar += w[k] * (2.0 * x / (q * q) + qcol[k])
        s = 0.0
        for k in range(K):
            x = t - acol[k]
            q = 1.0 + x * x
            p = 2.0 * x / (q * q) + qcol[k] - pbar
            s += w[k] * p * p
        return s
    s = 0.5 * mu * t * t
    for k in range(K):
        x = t - acol[k]
        s += w[k] * x * x / (1.0 + x * x)
    return s


@njit(cache=True, nogil=True)
def _coord_extremum(which, acol, w, qcol, mu, step):
    """``(sup h, argmax)`` (which = 0) or ``(min f, argmin)`` (which = 1) on the real line.

    A grid of spacing ``step`` on ``[min(a, 0) - 4, max(a, 0) + 4]`` locates the basins (the
    features of ``phi'`` have width ~1); the best four grid extrema are refined by golden-section
    search on ``[t - step, t + step]``. Outside the interval ``h`` decreases monotonically to
    its limit ``sum_k w_k (q_k - qbar)^2``, which is a candidate too (reached as ``t -> inf``),
    and ``f`` increases, so these are the global extrema.
    """
    sign = 1.0 if which == 0 else -1.0  # maximise sign * value
    lo = min(acol.min(), 0.0) - 4.0
    hi = max(acol.max(), 0.0) + 4.0
    N = int((hi - lo) / step) + 3
    vals = np.empty(N)
    for g in range(N):
        vals[g] = sign * _coord_value(which, lo + g * step, acol, w, qcol, mu)
    cand = np.full(4, -1)
    for g in range(N):
        left = vals[g - 1] if g > 0 else -np.inf
        right = vals[g + 1] if g < N - 1 else -np.inf
        if vals[g] >= left and vals[g] >= right:
            # keep the four best local maxima of the grid
            worst = 0
            for c in range(4):
                if cand[c] < 0:
                    worst = c
                    break
                if vals[cand[c]] < vals[cand[worst]]:
                    worst = c
            if cand[worst] < 0 or vals[g] > vals[cand[worst]]:
                cand[worst] = g
    best = -np.inf
    best_t = lo
    for c in range(4):
        if cand[c] < 0:
            continue
        x0 = lo + cand[c] * step - step
        x1 = x0 + 2.0 * step
        xa = x1 - _GOLDEN * (x1 - x0)
        xb = x0 + _GOLDEN * (x1 - x0)
        fa = sign * _coord_value(which, xa, acol, w, qcol, mu)
        fb = sign * _coord_value(which, xb, acol, w, qcol, mu)
        for _ in range(80):
            if fa >= fb:
                x1 = xb
                xb = xa
                fb = fa
                xa = x1 - _GOLDEN * (x1 - x0)
                fa = sign * _coord_value(which, xa, acol, w, qcol, mu)
            else:
                x0 = xa
                xa = xb
                fa = fb
                xb = x0 + _GOLDEN * (x1 - x0)
                fb = sign * _coord_value(which, xb, acol, w, qcol, mu)
        for t, f in ((xa, fa), (xb, fb), (lo + cand[c] * step, vals[cand[c]])):
            if f > best:
                best = f
                best_t = t
    if which == 0:
        qbar = 0.0
        for k in range(acol.shape[0]):
            qbar += w[k] * qcol[k]
        lim = 0.0
        for k in range(acol.shape[0]):
            lim += w[k] * (qcol[k] - qbar) ** 2
        if lim > best:
            best = lim
            best_t = hi + 1e4  # h(hi + 1e4) = lim up to O(1e-12)
    return sign * best, best_t


@njit(cache=True, nogil=True)
def _sum_extrema(which, a, w, q, mu, step, ts):
    """``sum_j`` of the coordinate extrema over the columns of ``a`` (K, d); fills ``ts``."""
    total = 0.0
    for j in range(a.shape[1]):
        val, t = _coord_extremum(which, a[:, j], w, q[:, j], mu, step)
        total += val
        ts[j] = t
    return total
