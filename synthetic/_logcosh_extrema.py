"""One-dimensional extrema behind the ``logcosh`` family's exact constants (``synthetic.logcosh``).

The profile of the planted heterogeneity, a grid-then-Brent 1-D maximiser, the Hessian
dissimilarity's 1-D suprema and the 1-D convex minima behind ``F_low``
(docs/references.md#synthetic-logcosh).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from partialfed.synthetic._logcosh_objective import _phi, d2phi, dphi

__all__: list[str] = []


def _profile(d: int, planted: int, decay: float) -> np.ndarray:
    """``h`` over the ``d`` coordinates of ``w``: ``(r + 1)^(-decay)`` at ``r`` places from the
    end for ``r < planted``, 0 elsewhere."""
    h = np.zeros(d)
    r = np.arange(planted)
    h[d - 1 - r] = (r + 1.0) ** (-decay)
    return h


def _sup_1d(fn, lo: float, hi: float, points: int = 4001) -> tuple[float, float]:
    """``(max, argmax)`` of ``fn`` on ``[lo, hi]``: a grid, then a bounded Brent refinement
    around the best grid point (1-D maximisation, to ~1e-12 relative)."""
    t = np.linspace(lo, hi, points)
    y = fn(t)
    k = int(np.argmax(y))
    a, b = t[max(k - 1, 0)], t[min(k + 1, points - 1)]
    if b <= a:
        return float(y[k]), float(t[k])
    res = optimize.minimize_scalar(
        lambda x: -float(fn(np.array([x]))[0]),
        bounds=(a, b),
        method="bounded",
        options={"xatol": 1e-13},
    )
    if -res.fun >= y[k]:
        return float(-res.fun), float(res.x)
    return float(y[k]), float(t[k])


def _gamma_H_sq(s: np.ndarray, a: float, p: float) -> tuple[float, int, float]:
    """``gamma_H^2 = p (1 - p) max_j sup_t Delta_j(t)^2`` with ``Delta_j(t) = phi''(t - s_j) -
    phi''(t + s_j)``; also the maximising coordinate and offset ``t``."""
    best, jbest, tbest = 0.0, -1, 0.0
    for j in np.flatnonzero(s > 0):
        sj = float(s[j])
        val, t = _sup_1d(
            lambda x, sj=sj: (d2phi(x - sj, a) - d2phi(x + sj, a)) ** 2, 0.0, sj + 12 * a
        )
        if val > best:
            best, jbest, tbest = val, int(j), t
    return p * (1 - p) * best, jbest, tbest


def _F_low(s: np.ndarray, a: float, p: float) -> tuple[float, np.ndarray]:
    """``inf F = sum_j min_t [p phi(t - s_j) + (1 - p) phi(t + s_j)]`` (offsets from ``c_0``):
    convex in ``t``, the root of its increasing derivative in ``[-s_j, s_j]`` by Brent."""
    tot, ts = 0.0, np.zeros(s.size)
    for j, sj in enumerate(s):
        if sj == 0:
            continue

        def deriv(t, sj=sj):
            return p * float(dphi(t - sj, a)) + (1 - p) * float(dphi(t + sj, a))

        t = 0.0 if deriv(0.0) == 0.0 else optimize.brentq(deriv, -sj, sj, xtol=1e-15)
        ts[j] = t
        tot += p * _phi(t - sj, a) + (1 - p) * _phi(t + sj, a)
    return float(tot), ts
