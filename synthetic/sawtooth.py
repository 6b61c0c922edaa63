r"""Gradient descent's worst case: a sawtooth gradient that makes ``gd_tight`` an equality.

The shared block is separable, ``F_i(u, v) = sum_k h(u_k) + (L_v/2) ||v - c_i||^2``, with the
one-dimensional ``h`` of period ``P = 1/L_u`` (docs/references.md#synthetic-pep-worst-case):

.. math::

    h'(x) = -1 + L_u \min(r, P - r), \qquad r = x \bmod P,

for ``x < K P`` (``K = periods``); then ``h'`` rises linearly to 0 on ``[K P, (K + 1) P]`` and
stays 0, so that ``F`` is bounded below. Gradient descent with step ``1/L_u`` from ``u = 0``
moves by exactly one period per step, where ``h' = -1``, so after ``N <= K`` steps
``min_t ||grad F||^2 = d_u`` and ``F(x_0) - F(x_N) = (3/4) N d_u / L_u``: the bound
``(4/3)(L/N)(f(x_0) - f(x_N))`` of ``gd_tight`` is attained with equality for every ``N``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed._constraints import Interval, validate_args
from partialfed.synthetic._objective import register
from partialfed.synthetic._problem import (
    CONSTANT_NAMES,
    NOISE,
    SEED,
    Constants,
    Problem,
    check_size,
)

OWNER = "synthetic.make('sawtooth')"


class SawtoothData(NamedTuple):
    """``par = [L_u, L_v, periods]`` and the personal targets ``c (n, d_v)``."""

    par: np.ndarray
    c: np.ndarray


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _h(x, L, K):
    """``h(x)`` with ``h(0) = 0``: ``-(3/4) k P - r + L g(r)`` on the sawtooth, ``g' = min(r,
    P - r)``; the ramp ``[K P, (K+1) P]`` and the flat tail after it."""
    P = 1.0 / L
    if x >= K * P:
        s = min(x - K * P, P)
        return -0.75 * K * P - s + 0.5 * L * s * s  # h' = -1 + L s on the ramp, then 0
    k = math.floor(x / P)
    r = x - k * P
    g = 0.5 * r * r if r <= 0.5 * P else 0.25 * P * P - 0.5 * (P - r) * (P - r)
    return -0.75 * k * P - r + L * g  # one period: -P + L P^2/4 = -(3/4) P


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _dh(x, L, K):
    """``h'(x) = -1 + L min(r, P - r)``, ``r = x mod P`` (``x < K P``); ramp, then 0."""
    P = 1.0 / L
    if x >= K * P:
        return -1.0 + L * min(x - K * P, P)
    r = x - math.floor(x / P) * P
    return -1.0 + L * min(r, P - r)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss(data, i, u, v):
    L, Lv, K = data.par[0], data.par[1], data.par[2]
    s = 0.0
    for a in range(u.shape[0]):
        s += _h(u[a], L, K)
    for a in range(v.shape[0]):
        w = v[a] - data.c[i, a]
        s += 0.5 * Lv * w * w
    return s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    L, K = data.par[0], data.par[2]
    for a in range(u.shape[0]):
        out[a] = _dh(u[a], L, K)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    Lv = data.par[1]
    for a in range(v.shape[0]):
        out[a] = Lv * (v[a] - data.c[i, a])


register(SawtoothData, _loss, _grad_u, _grad_v)

#: What each knob of ``sawtooth`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "L_u": [Interval(float, 0.0, 1e6, closed="right")],
    "L_v": [Interval(float, 0.0, 1e6, closed="right")],
    "periods": [Interval(int, 1, 10**9)],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def sawtooth(
    *,
    n: int = 1,
    d_u: int = 1,
    d_v: int = 0,
    L_u: float = 1.0,
    L_v: float = 1.0,
    periods: int = 10_000,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""The performance-estimation worst case of gradient descent with step ``1/L_u``.

    ``F_i(u, v) = sum_k h(u_k) + (L_v/2) ||v - c_i||^2`` (module docstring for ``h``;
    ``c_i ~ N(0, I)`` seeded, the personal optima). Each step of GD with ``gamma_u = 1/L_u``
    from ``u^0 = 0`` lands on the next multiple of ``P = 1/L_u`` while ``t < periods``:
    ``||grad_u F||^2 = d_u`` at every iterate, and ``F`` drops by ``(3/4) d_u / L_u`` per
    step (the integral of ``1 - L_u min(r, P - r)`` over a period). So ``gd_tight``'s
    ``min_{t<=N} ||grad||^2 <= (4/3)(L/N)(F(x_0) - F(x_N))`` holds with equality for every
    ``N <= periods`` (docs/references.md#synthetic-pep-worst-case).

    Constants, all **exact**:

    - ``L_u``: ``h'`` is piecewise linear with slopes ``+-L_u`` (attained where ``r < P/2``);
      ``L_v``: the personal block's Hessian ``L_v I``; ``L_uv = L_vu = 0`` (no coupling).
    - ``delta = rho = 0``: every device has the same ``grad_u F_i``.
    - ``sigma_u = noise_u``, ``sigma_v = noise_v`` (additive noise).
    - ``F_low = d_u (-(3/4) K P - P/2)`` with ``K = periods``: ``h`` decreases up to
      ``(K + 1) P`` (``h' < 0`` before, ``= 0`` after) and ``h -> +inf`` as ``x -> -inf``;
      the personal block's infimum 0 is attained at ``v_i = c_i``.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (all identical), shared dimension (>= 1), personal dimension (>= 0).
    L_u, L_v : float
        Smoothness of the shared and personal blocks, > 0.
    periods : int
        Number ``K`` of sawtooth periods before the gradient ramps to 0 (>= 1); runs of GD with
        step ``1/L_u`` stay on the sawtooth for ``K`` steps.
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0.
    seed : int
        Seeds the personal targets ``c_i`` (the shared block does not depend on it).
    """
    check_size(n, d_u + d_v, OWNER)
    targets = np.random.default_rng([seed, 0x5A7]).standard_normal((n, d_v))
    data = SawtoothData(np.array([L_u, L_v, float(periods)]), np.ascontiguousarray(targets))
    P = 1.0 / L_u
    F_low = d_u * (-0.75 * periods * P - 0.5 * P)
    constants = Constants(
        L_u=L_u,
        L_v=L_v if d_v > 0 else 0.0,
        L_uv=0.0,
        L_vu=0.0,
        sigma_u=noise_u,
        sigma_v=noise_v,
        delta=0.0,
        rho=0.0,
        F_low=F_low,
        kind=dict.fromkeys(CONSTANT_NAMES, "exact"),
        notes={
            "L_u": "slopes +-L_u of the sawtooth gradient",
            "F_low": "attained for u_k >= (periods + 1)/L_u, v_i = c_i",
            **({"L_v": "no personal block (d_v = 0)"} if d_v == 0 else {}),
        },
    )

    def init(s):
        r = np.random.default_rng([s, 0x5A7])
        return np.zeros(d_u), r.standard_normal((n, d_v))

    witnesses = {
        "F_low": (np.full(d_u, (periods + 1) * P), targets.copy()),
        "delta": (np.zeros(d_u), np.zeros((n, d_v))),
        "L_u": (0, np.full(d_u, 0.25 * P), np.zeros(d_v)),
        "L_v": (0, np.zeros(d_u), np.zeros(d_v)),
    }
    return Problem(
        name="sawtooth",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d_u=d_u,
            d_v=d_v,
            L_u=L_u,
            L_v=L_v,
            periods=periods,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        noise_u=noise_u,
        noise_v=noise_v,
        description="sawtooth gradient: gradient descent's worst case (gd_tight attained)",
        witnesses=witnesses,
    )
