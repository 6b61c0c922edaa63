"""A user's own objective as a family, ``make``, used by tests/synthetic/test_user_families.py.

``F_i(u, v) = 1/2 ||u - s c_i||^2 + 1/2 ||v - u[:d_v]||^2`` with fixed centres ``c_i`` drawn from
``seed`` and a scale ``s``; its Hessian is ``[[I + P, -E], [-E^T, I]]`` (``P`` the projection on
the first ``d_v`` coordinates, ``E = [I; 0]``), so ``L_u = 2``, ``L_v = L_uv = L_vu = 1``. A test
(and docs/families.md) names the family ``"userobj_example:make"``; every process that builds it
imports this module, so the folder holding it must be on ``sys.path`` (``PYTHONPATH``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from partialfed import synthetic


@njit(cache=True)
def loss(data, i, u, v):
    (c,) = data
    s = 0.0
    for a in range(u.shape[0]):
        s += 0.5 * (u[a] - c[i, a]) ** 2
    for a in range(v.shape[0]):
        s += 0.5 * (v[a] - u[a]) ** 2
    return s


@njit(cache=True)
def grad_u(data, i, u, v, out, idx):
    (c,) = data
    for a in range(u.shape[0]):
        out[a] = u[a] - c[i, a]
    for a in range(v.shape[0]):
        out[a] -= v[a] - u[a]


@njit(cache=True)
def grad_v(data, i, u, v, out, idx):
    for a in range(v.shape[0]):
        out[a] = v[a] - u[a]


#: Small estimation settings: the tests need a problem quickly, not tight constants.
ESTIMATE = {"n_pairs": 8, "power_steps": 5, "noise_draws": 1, "descent_steps": 20}


def make(n: int = 6, d_u: int = 3, d_v: int = 2, scale: float = 1.0, seed: int = 0):
    """The toy problem with ``n`` devices; ``scale`` multiplies the centres ``c_i``."""
    c = scale * np.random.default_rng(seed).standard_normal((n, d_u))
    return synthetic.custom(
        "userobj_example",
        n,
        d_u,
        d_v,
        loss,
        grad_u,
        grad_v,
        data=(c,),
        estimate=ESTIMATE,
    )
