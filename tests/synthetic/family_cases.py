"""Shared problems for the synthetic tests (built once per session: numba compiles per family).

A module of its own, not ``conftest``: several test folders have a ``conftest.py``, and
``from conftest import ...`` then finds whichever was imported first.
"""

from __future__ import annotations

import numpy as np

from partialfed import synthetic

#: (id, family, knobs): every family, with its main variants.
CASES = [
    ("quadratic", "quadratic", {}),
    ("quadratic-chi0", "quadratic", {"chi": 0.0}),
    ("quadratic-dv0", "quadratic", {"d_v": 0, "chi": 0.0}),
    ("quadratic-spread", "quadratic", {"chi": 0.0, "hessian_spread": 0.6}),
    ("separable", "separable", {}),
    ("separable-chi", "separable", {"chi": 0.3, "n": 12, "clusters": 5}),
    ("separable-dv0", "separable", {"d_v": 0, "delta": 0.5}),
    ("logistic", "logistic", {}),
    ("logistic-batch", "logistic", {"batch": 5, "d_v": 3}),
    ("representation", "representation", {}),
    ("representation-noisy", "representation", {"label_noise": 0.1, "batch": 4}),
    ("sawtooth", "sawtooth", {"n": 4, "d_u": 3, "d_v": 2, "L_u": 0.5, "periods": 3}),
    ("logcosh", "logcosh", {"n": 6, "d_u": 3, "d_v": 2, "planted": 3, "gamma_G": 0.6}),
    ("teacher", "teacher", {"n": 6, "d_u": 3, "d_v": 2, "planted": 3, "samples": 12}),
    ("teacher-batch", "teacher", {"n": 5, "d_u": 2, "d_v": 3, "batch": 4, "flip": 0.3}),
]
IDS = [c[0] for c in CASES]
_CACHE: dict = {}


def get(case_id: str, seed: int = 0) -> synthetic.Problem:
    """The problem of ``case_id`` with instance seed ``seed`` (memoised)."""
    key = (case_id, seed)
    if key not in _CACHE:
        _, family, knobs = next(c for c in CASES if c[0] == case_id)
        _CACHE[key] = synthetic.make(family, **knobs, seed=seed)
    return _CACHE[key]


def in_region(p, U, V, rng):
    """Map sampled rows into the declared region of a problem with ``local`` smoothness.

    For ``representation``: ``||B||_2 <= beta_B`` and ``||w|| <= beta_w`` (rows rescaled to a
    random fraction of the radius). Other families: unchanged.
    """
    if p.name != "representation":
        return U, V
    d, k = p.knobs["d"], p.knobs["k"]
    U = U.copy()
    V = V.copy()
    for r in range(U.shape[0]):
        B = U[r].reshape(d, k)
        U[r] = (
            B * (p.knobs["beta_B"] * rng.uniform(0.2, 1.0) ** 0.3 / np.linalg.norm(B, 2))
        ).ravel()
        V[r] *= p.knobs["beta_w"] * rng.uniform(0.2, 1.0) ** 0.3 / np.linalg.norm(V[r])
    return U, V


def grads(p, I, U, V, IDX=None):
    """Batched exact (or minibatch) gradients through the problem's kernels."""
    R = len(I)
    GU = np.empty((R, p.d_u))
    GV = np.empty((R, p.d_v))
    if IDX is None:
        IDX = np.empty((R, 0), dtype=np.int64)
    p.kernels(synthetic._kernels).point_gradients(
        p.data,
        np.asarray(I, np.int64),
        np.ascontiguousarray(U),
        np.ascontiguousarray(V),
        np.ascontiguousarray(IDX, dtype=np.int64),
        GU,
        GV,
        True,
    )
    return GU, GV


def personal_optimum(p, u, V):
    """``V*(u)``, the minimisers of the personal blocks, in closed form (quadratic, separable)."""
    if p.name == "quadratic":
        A, C, B, bu, bv = p.data
        return np.linalg.solve(B, (bv - C.T @ u).T).T  # B v_i = b_{v,i} - C^T u
    if p.name == "separable":
        a, cl, r, b, Q, par = p.data
        return b[cl] - ((Q.T @ u) / r)[None, :]  # R v_i = R b_i - Q^T u
    if p.name == "logcosh":
        cu, cv, g, par = p.data
        return cv[g].copy()  # separable: v_i* = the group's centre, whatever u
    raise NotImplementedError(p.name)
