"""The worst case of a solved PEP as arrays (``theory.pep``): points, gradients and values.

PEPit returns the points as vectors of the Gram matrix's factor; the ``u``-leaves and the
``v``-leaves span orthogonal subspaces ``U`` and ``V`` (to the solver's accuracy), and the
coordinates here are in an orthonormal basis of each, so ``(u, v)`` is a point of
``R^{d_u} x R^{d_v}`` that ``synthetic.interpolant`` and the simulators take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Samples", "samples_of"]


@dataclass
class Samples:
    """What the worst case looks like at the points where the algorithm asked for gradients.

    Coordinates are in an orthonormal basis of ``U`` (``d_u`` columns) and of ``V`` (``d_v``).

    Attributes
    ----------
    u0 : ndarray (d_u,)
    V0 : ndarray (n, d_v)
    points : list of (u, v, g_u, g_v, f) per device
        Arrays ``u (K, d_u)``, ``v (K, d_v)``, ``g_u (K, d_u)``, ``g_v (K, d_v)``, ``f (K,)``:
        the ``K`` points where device ``i``'s gradient was evaluated, in the order of the run.
    """

    u0: np.ndarray
    V0: np.ndarray
    points: list = field(default_factory=list)


def _basis(vectors: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Orthonormal basis (columns) of the span of ``vectors`` (rows), relative tolerance ``tol``."""
    if vectors.size == 0:
        return np.zeros((vectors.shape[1], 0))
    _, s, vt = np.linalg.svd(vectors, full_matrices=False)
    r = int(np.sum(s > tol * max(s[0], 1e-300))) if s.size else 0
    return vt[: max(r, 1)].T


def samples_of(oracle, start) -> Samples:
    """The worst case of a solved PEP in orthonormal coordinates of ``U`` and of ``V``.

    ``oracle`` is ``theory.pep``'s record of the leaves and of every device's oracle calls;
    ``start`` is ``(u0, [v_i0])``. ``U``'s basis spans the ``u``-leaves (singular values above
    ``1e-7`` times the largest), ``V``'s the ``v``-leaves.
    """
    bu = _basis(np.array([p.eval() for p in oracle.u_leaves]))
    bv = _basis(np.array([p.eval() for p in oracle.v_leaves]))
    cu = lambda p: p.eval() @ bu  # noqa: E731
    cv = lambda p: p.eval() @ bv  # noqa: E731
    pts = []
    for rec in oracle.records:
        pts.append(
            (
                np.array([cu(r[0]) for r in rec]),
                np.array([cv(r[1]) for r in rec]),
                np.array([cu(r[2]) for r in rec]),
                np.array([cv(r[3]) for r in rec]),
                np.array([float(r[4].eval()) for r in rec]),
            )
        )
    u0, V0 = start
    return Samples(cu(u0), np.array([cv(v) for v in V0]), pts)
