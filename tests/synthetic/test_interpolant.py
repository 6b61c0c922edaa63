"""synthetic.interpolant: the L-smooth interpolant goes through its samples and is L-smooth."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed.synthetic.interpolant import (
    interpolation_gap,
    margin_smoothness,
    smooth_interpolant,
)

_NO = np.empty(0, dtype=np.int64)


def _samples(rng, k, d_u, d_v, L):
    """Points of ``f(x) = (L/2) sum_a sin(x_a)`` (an L/2-smooth, nonconvex function): the
    conditions hold for L with room to spare."""
    X = rng.standard_normal((k, d_u + d_v)) * 2
    f = 0.5 * L * np.sin(X).sum(axis=1)
    G = 0.5 * L * np.cos(X)
    return X, G, f


def _grad(p, i, x):
    gu, gv = np.zeros(p.d_u), np.zeros(p.d_v)
    p.grad_u_fn(p.data, i, x[: p.d_u], x[p.d_u :], gu, _NO)
    p.grad_v_fn(p.data, i, x[: p.d_u], x[p.d_u :], gv, _NO)
    return np.concatenate([gu, gv])


def test_interpolant_reproduces_samples_and_is_L_smooth():
    rng = np.random.default_rng(3)
    L, d_u, d_v = 1.0, 2, 2
    points = []
    for _ in range(2):
        X, G, f = _samples(rng, 6, d_u, d_v, L)
        assert interpolation_gap(X, G, f, L) <= 0  # sampled from an L-smooth function
        points.append((X[:, :d_u], X[:, d_u:], G[:, :d_u], G[:, d_u:], f))
    p = smooth_interpolant(np.zeros(d_u), np.zeros((2, d_v)), points, L)
    for i, (u, v, gu, gv, f) in enumerate(points):
        for k in range(f.shape[0]):
            assert p.loss_fn(p.data, i, u[k], v[k]) == pytest.approx(f[k], abs=1e-9)
            g = _grad(p, i, np.concatenate([u[k], v[k]]))
            assert np.allclose(g, np.concatenate([gu[k], gv[k]]), atol=1e-6)
    # L-smooth between random points (and nonconvex: the samples are of a sine)
    worst = 0.0
    for _ in range(40):
        x, y = rng.standard_normal((2, d_u + d_v)) * 2
        ratio = np.linalg.norm(_grad(p, 0, x) - _grad(p, 0, y)) / np.linalg.norm(x - y)
        worst = max(worst, ratio)
    assert worst <= L * (1 + 1e-6)


def test_interpolation_gap_detects_a_non_smooth_sample_and_margin_repairs_it():
    """Two points whose gradients differ by 3 L their distance violate the conditions at L:
    ``interpolation_gap`` must be positive, and ``margin_smoothness`` must return an L' at which
    the interpolant reproduces the gradients (at least the Lipschitz ratio 3 L)."""
    X = np.array([[0.0, 0.0], [1.0, 0.0]])
    G = np.array([[0.0, 0.0], [3.0, 0.0]])
    f = np.array([0.0, 1.5])
    assert interpolation_gap(X, G, f, 1.0) > 0
    Lp = margin_smoothness(X, G, f, 1.0)
    assert Lp >= 3.0
    assert interpolation_gap(X, G, f, Lp) <= 0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'L'"):
        smooth_interpolant(np.zeros(1), np.zeros((1, 1)), [], 0.0)
    with pytest.raises(ValueError, match="one entry per device"):
        smooth_interpolant(np.zeros(1), np.zeros((2, 1)), [], 1.0)
