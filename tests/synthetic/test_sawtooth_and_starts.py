"""The sawtooth family (gradient descent's worst case) against a NumPy reference, the identity
that makes ``gd_tight`` an equality on it, and the quadratic's ``start`` knob."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed import simulators, synthetic


def _h_reference(x, L, K):
    """``h`` by numerical integration of ``h'(s) = -1 + L min(r, P - r)`` from 0 (then the ramp
    and the flat tail); the closed form in ``synthetic/sawtooth.py`` must agree."""
    s = np.linspace(0.0, x, 200_001)
    return float(np.trapezoid(_dh_reference(s, L, K), s))


def _dh_reference(x, L, K):
    x = np.asarray(x, dtype=float)
    P = 1.0 / L
    r = np.mod(x, P)
    saw = -1.0 + L * np.minimum(r, P - r)
    ramp = -1.0 + L * np.minimum(x - K * P, P)
    return np.where(x >= K * P, ramp, saw)


@pytest.mark.parametrize("L", [0.5, 1.0, 3.0])
def test_sawtooth_loss_and_gradient_match_numpy(L):
    K = 4
    p = synthetic.make("sawtooth", n=3, d_u=4, d_v=2, L_u=L, L_v=2.0, periods=K)
    rng = np.random.default_rng(0)
    for _ in range(6):
        u = rng.uniform(-2.0 / L, (K + 2) / L, 4)
        v = rng.standard_normal(2)
        gu, gv = p.grad(1, u, v)
        np.testing.assert_allclose(gu, _dh_reference(u, L, K), rtol=0, atol=1e-12)
        c = p.data.c[1]
        np.testing.assert_allclose(gv, 2.0 * (v - c), rtol=0, atol=1e-12)
        want = sum(_h_reference(x, L, K) for x in u) + (v - c) @ (v - c)
        assert p.loss(1, u, v) == pytest.approx(want, abs=1e-7)


def test_sawtooth_constants_are_exact_and_F_low_attained():
    p = synthetic.make("sawtooth", d_u=2, d_v=1, L_u=0.5, periods=7)
    c = p.constants
    assert (c.L_u, c.L_v, c.L_uv, c.delta, c.rho) == (0.5, 1.0, 0.0, 0.0, 0.0)
    assert set(c.kind.values()) == {"exact"}
    assert p.F(*p.witnesses["F_low"]) == pytest.approx(c.F_low, abs=1e-12)
    assert c.F_low == pytest.approx(2 * (-0.75 * 7 * 2.0 - 1.0))
    u, V = p.init(3)
    assert np.all(u == 0.0) and V.shape == (1, 1)


@pytest.mark.parametrize("L", [0.5, 1.0])
def test_gd_on_the_sawtooth_attains_gd_tight_for_every_horizon(L):
    """``min_{t<=N} ||grad||^2 = (4/3)(L/N)(F(x_0) - F(x_N))`` for N = 1..500 (ratio 1)."""
    p = synthetic.make("sawtooth", L_u=L)
    cfg = simulators.RunConfig("fedalt", T=500, m=1, gamma_u=1.0 / L, gamma_v=0.0)
    h = simulators.run(p, cfg)
    N = np.arange(1, 501)
    ratio = np.minimum.accumulate(h.grad_u_sq)[1:] / (4 / 3 * L / N * (h.loss[0] - h.loss[1:]))
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-12)


def test_quadratic_start_optimum_and_top():
    knobs = dict(n=3, d_u=2, d_v=2, chi=0.5, delta=0.0, personal=0.0)
    opt = synthetic.make("quadratic", **knobs, start="optimum")
    u, V = opt.init(5)
    assert opt.F(u, V) == pytest.approx(opt.constants.F_low, abs=1e-12)
    assert max(opt.grad_norms(u, V)) < 1e-20
    top = synthetic.make("quadratic", **knobs, start="top", start_radius=0.5)
    u1, V1 = top.init(0)
    A, C, B = top.data.A, top.data.C, top.data.B
    H = np.block([[A, C], [C.T, B]])
    lam = np.linalg.eigvalsh(H)[-1]
    x = np.concatenate([u1 - u, V1[0] - V[0]])
    assert np.linalg.norm(x) == pytest.approx(0.5 * np.sqrt(4))
    np.testing.assert_allclose(H @ x, lam * x, atol=1e-12)  # along the top eigenvector
    assert np.allclose(V1, V1[0])  # every device moved the same way
    rand = synthetic.make("quadratic", **knobs)
    assert not np.allclose(rand.init(0)[0], rand.init(1)[0])
