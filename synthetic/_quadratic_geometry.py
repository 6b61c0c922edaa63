"""The seeded geometry of ``synthetic.quadratic``, built once per process for each knob set.

``quadratic`` starts every instance with the same factorisations: two random rotations (QR),
the partial isometry ``W`` (SVD), ``B^{-1}``, ``||C||_2`` and ``||C B^{-1}||_2`` (SVDs) and,
for ``start="top"``, the top eigenvector of the Hessian (``eigh``). They depend only on
``(seed, d_u, d_v, L_u, mu_u, L_v, mu_v, chi)``, not on the knobs that set the linear terms
(``delta``, ``personal``, ``noise_*``, ``hessian_spread``, ``start``), and a study builds the
same geometry for many of those. :func:`geometry` computes them with the very operations
``quadratic`` used to run in line, in the same order, and keeps the result (read-only arrays
and the generator's state after its draws), so a problem built from the cache is bit for bit
the problem built without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["CACHE_BYTES", "CACHE_SIZE", "Geometry", "geometry"]

#: Geometries kept (per process; least recently used dropped first).
CACHE_SIZE = 32

#: The most bytes of arrays the kept geometries hold together (per process).
CACHE_BYTES = 128 * 2**20

#: Above this many Hessian entries ``(d_u + d_v)^2`` a geometry is not kept (memory).
MAX_CACHED = 1_000_000


def _orthogonal(rng, d):
    if d == 0:
        return np.zeros((0, 0))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _spectrum(lo, hi, d):
    return np.array([hi]) if d == 1 else np.linspace(hi, lo, d)


def _top_direction(A, C, B):
    """Unit top eigenvector ``(a, b)`` of the device Hessian ``[[A, C], [C^T, B]]``."""
    d_u = A.shape[0]
    H = np.block([[A, C], [C.T, B]]) if B.shape[0] else A
    _, vecs = np.linalg.eigh(0.5 * (H + H.T))
    top = vecs[:, -1] * (1.0 if vecs[np.argmax(np.abs(vecs[:, -1])), -1] >= 0 else -1.0)
    return top[:d_u], top[d_u:]


@dataclass(frozen=True)
class Geometry:
    """The knob-independent part of a quadratic instance (docstring of ``quadratic``).

    Attributes
    ----------
    Qu, Qv : arrays
        Random rotations (eigenvectors of ``A`` and ``B``).
    su, sv : arrays
        The spectra ``L, ..., mu`` of ``A`` and ``B``.
    A, B, C : arrays
        The Hessian blocks (``A = Q_u diag(su) Q_u^T``, ``C = chi A^{1/2} W B^{1/2}``).
    Binv : array
        ``B^{-1}`` (``(0, 0)`` when ``d_v = 0``).
    L_uv : float
        ``||C||_2`` (0 when ``d_v = 0``).
    K : array
        ``C B^{-1}``, and ``norm_K = ||K||_2`` (0 unless ``d_v > 0`` and ``chi > 0``).
    state : dict
        The generator's state after the draws of the geometry.

    Every array is read-only: copy one before handing it to a kernel or editing it.
    """

    Qu: np.ndarray
    Qv: np.ndarray
    su: np.ndarray
    sv: np.ndarray
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    Binv: np.ndarray
    L_uv: float
    K: np.ndarray
    norm_K: float
    state: dict

    def rng(self, seed: int) -> np.random.Generator:
        """The instance's generator (``default_rng([seed, 0x9A7])``) after the geometry's draws."""
        rng = np.random.default_rng([seed, 0x9A7])
        rng.bit_generator.state = self.state
        return rng

    def top_direction(self):
        """``(a, b)``: the unit top eigenvector of ``[[A, C], [C^T, B]]`` (computed once)."""
        top = self.__dict__.get("_top")
        if top is None:
            top = tuple(_readonly(x) for x in _top_direction(self.A, self.C, self.B))
            object.__setattr__(self, "_top", top)
        return top


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _build(seed, d_u, d_v, L_u, mu_u, L_v, mu_v, chi) -> Geometry:
    rng = np.random.default_rng([seed, 0x9A7])
    Qu, Qv = _orthogonal(rng, d_u), _orthogonal(rng, d_v)
    su, sv = _spectrum(mu_u, L_u, d_u), _spectrum(mu_v, L_v, d_v)
    A = (Qu * su) @ Qu.T
    B = (Qv * sv) @ Qv.T
    # W: e_1 -> e_1 (top eigenvectors), a random partial isometry on the complements.
    W = np.zeros((d_u, d_v))
    if d_v > 0:
        W[0, 0] = 1.0
    k = min(d_u, d_v) - 1
    if k > 0:
        X = rng.standard_normal((d_u - 1, d_v - 1))
        Uw, _, Vwt = np.linalg.svd(X, full_matrices=False)
        W[1:, 1:] = Uw @ Vwt
    C = chi * (Qu * np.sqrt(su)) @ W @ (Qv * np.sqrt(sv)).T
    A = 0.5 * (A + A.T)
    B = 0.5 * (B + B.T)
    Binv = np.linalg.inv(B) if d_v > 0 else np.zeros((0, 0))
    L_uv = float(np.linalg.norm(C, 2)) if d_v > 0 else 0.0
    K = C @ Binv if d_v > 0 else np.zeros((d_u, 0))
    norm_K = float(np.linalg.norm(K, 2)) if d_v > 0 and chi > 0 else 0.0
    arrays = [_readonly(np.ascontiguousarray(x)) for x in (Qu, Qv, su, sv, A, B, C, Binv)]
    return Geometry(*arrays, L_uv, _readonly(K), norm_K, rng.bit_generator.state)


_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _nbytes(g: Geometry) -> int:
    return sum(
        getattr(g, f.name).nbytes for f in fields(g) if isinstance(getattr(g, f.name), np.ndarray)
    )


def geometry(seed, d_u, d_v, L_u, mu_u, L_v, mu_v, chi) -> Geometry:
    """The :class:`Geometry` of these knobs (validated by ``quadratic``), cached per process.

    The key holds each value's type as well (``chi = 0`` and ``0.0`` are kept apart), so a
    cached geometry is exactly what :func:`_build` would compute for the same arguments. At
    most ``CACHE_SIZE`` geometries and ``CACHE_BYTES`` bytes of arrays are kept.
    """
    args = (seed, d_u, d_v, L_u, mu_u, L_v, mu_v, chi)
    key = tuple((type(v), v) for v in args)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    g = _build(*args)
    if (d_u + d_v) ** 2 <= MAX_CACHED:
        with _LOCK:
            _CACHE[key] = g
            total = sum(_nbytes(x) for x in _CACHE.values())
            while len(_CACHE) > CACHE_SIZE or (total > CACHE_BYTES and len(_CACHE) > 1):
                total -= _nbytes(_CACHE.popitem(last=False)[1])
    return g
