"""Family-specific promises: degenerate shapes, heterogeneous Hessians, speed and memory."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from family_cases import get

from partialfed import simulators, synthetic


def test_quadratic_without_personal_block_is_gradient_descent():
    p = get("quadratic-dv0")
    assert p.d_v == 0 and p.constants.L_v == 0 and p.constants.chi == 0
    cfg = simulators.RunConfig(
        algorithm="fedavg",
        T=400,
        m=p.n,
        tau_u=1,
        tau_v=1,
        gamma_u=1.0 / p.constants.L_u,
        gamma_v=0.0,
        seed=0,
    )
    h = simulators.run(p, cfg)
    # Full participation, one step: plain gradient descent on a strongly convex quadratic.
    assert h.loss[-1] - p.constants.F_low < 1e-10
    u0, _ = p.init(0)
    A, _, _, bu, _ = p.data
    u = u0.copy()
    for _ in range(3):
        u = u - (A @ u - bu.mean(axis=0)) / p.constants.L_u
    h3 = simulators.run(p, simulators.RunConfig(**{**cfg.as_dict(), "T": 3}))
    np.testing.assert_allclose(h3.u, u, rtol=1e-12, atol=1e-12)


def test_quadratic_hessian_spread():
    p = get("quadratic-spread")
    c = p.constants
    assert c.rho > 0 and c.kind["rho"] == "certified" and c.L_u > 1.0
    Q, lam = p.data[0], p.data[1]
    A = [(Q * lam[i]) @ Q.T for i in range(p.n)]
    assert max(np.linalg.eigvalsh(a).max() for a in A) == pytest.approx(c.L_u, rel=1e-12)
    with pytest.raises(ValueError, match="'chi'"):
        synthetic.make("quadratic", chi=0.5, hessian_spread=0.2)


def test_separable_delta_knob_is_exact_and_bounded():
    for delta in (0.1, 0.4):
        p = synthetic.make("separable", delta=delta, seed=3)
        assert p.constants.delta == pytest.approx(delta, rel=1e-8)
    with pytest.raises(ValueError, match="'delta'.*clusters"):
        synthetic.make("separable", d_u=2, delta=0.9)
    with pytest.raises(ValueError, match="'ridge'"):
        synthetic.make("separable", chi=0.3, ridge=0.01)
    p = synthetic.make("separable", d_v=0, delta=0.2)
    assert p.constants.L_v == 0


def test_separable_benchmark_size_is_fast():
    synthetic.make("separable", n=1000, d_u=40, d_v=10, seed=1)  # warm the 1-D helpers
    t = time.perf_counter()
    p = synthetic.make("separable", n=1000, d_u=40, d_v=10, delta=1.0, seed=2)
    assert time.perf_counter() - t < 1.0
    assert p.constants.delta == pytest.approx(1.0, rel=1e-8)


@pytest.mark.parametrize("family", ["separable", "quadratic"])
def test_a_million_devices_fit_in_memory(family):
    tracemalloc.start()
    t = time.perf_counter()
    knobs = {"chi": 0.0} if family == "quadratic" else {}
    p = synthetic.make(family, n=10**6, d_u=5, d_v=10, **knobs)
    u0, V0 = p.init(0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 * 2**30
    assert time.perf_counter() - t < 20
    assert V0.shape == (10**6, 10)


@pytest.mark.parametrize("family", ["quadratic", "separable", "logistic", "representation"])
def test_make_is_fast_for_a_thousand_devices(family):
    synthetic.make(family, n=1000)
    t = time.perf_counter()
    synthetic.make(family, n=1000, seed=1)
    assert time.perf_counter() - t < 1.0


def test_representation_dimensions():
    p = synthetic.make("representation", d=6, k=3)
    assert (p.d_u, p.d_v) == (18, 3)
    q = synthetic.make("representation", d_u=18, d_v=3)
    assert (q.knobs["d"], q.knobs["k"]) == (6, 3)
    with pytest.raises(ValueError, match="'d_u'.*multiple of k"):
        synthetic.make("representation", d_u=7, d_v=3)
    with pytest.raises(ValueError, match="'k'"):
        synthetic.make("representation", k=2, d_v=3)
