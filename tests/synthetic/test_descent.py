"""Fused descent steps (``register_descent``): the bits of a gradient into a buffer and a
second pass, and the round kernel's iterates with them."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from partialfed import simulators, synthetic
from partialfed.synthetic import _separable_objective as sep
from partialfed.synthetic._objective import descent, register_descent

_EMPTY = np.empty(0, dtype=np.int64)


@njit(cache=False)
def _two_passes(data, i, u, v, gamma_u, gamma_v, g_u, g_v, idx, which):
    """``which`` 0: a u-step, 1: a v-step, 2: a joint step, each as the kernel took them before
    the fused steps (gradients into buffers, then the updates)."""
    if which != 1:
        sep._grad_u(data, i, u, v, g_u, idx)
    if which != 0:
        sep._grad_v(data, i, u, v, g_v, idx)
    if which != 1:
        for q in range(u.shape[0]):
            u[q] -= gamma_u * g_u[q]
    if which != 0:
        for q in range(v.shape[0]):
            v[q] -= gamma_v * g_v[q]


@njit(cache=False)
def _fused(data, i, u, v, gamma_u, gamma_v, g_v, which):
    if which == 0:
        sep._descend_u(data, i, u, v, gamma_u)
    elif which == 1:
        sep._descend_v(data, i, u, v, gamma_v)
    else:
        sep._descend_joint(data, i, u, v, gamma_u, gamma_v, g_v)


@pytest.mark.parametrize("chi", [0.0, 0.6])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_separable_fused_steps_equal_two_passes_bit_for_bit(chi, which):
    p = synthetic.make("separable", n=7, d_u=13, d_v=5, seed=3, chi=chi)
    assert (p.data.Q.shape[0] > 0) == (chi > 0)
    rng = np.random.default_rng(1)
    g_u, g_v = np.empty(p.d_u), np.empty(p.d_v)
    for trial in range(40):
        i = int(rng.integers(p.n))
        scale = 10.0 ** rng.uniform(-3, 3)
        u, v = scale * rng.standard_normal(p.d_u), scale * rng.standard_normal(p.d_v)
        gu_, gv_ = rng.uniform(0.01, 2.0, size=2)
        u1, v1, u2, v2 = u.copy(), v.copy(), u.copy(), v.copy()
        for _ in range(3):  # a few steps: each starts where the last ended
            _two_passes(p.data, i, u1, v1, gu_, gv_, g_u, g_v, _EMPTY, which)
            _fused(p.data, i, u2, v2, gu_, gv_, np.empty(p.d_v), which)
        assert np.array_equal(u1, u2) and np.array_equal(v1, v2), (trial, which, chi)
        assert not (np.array_equal(u1, u) and np.array_equal(v1, v))


def test_descent_is_found_for_separable_only():
    from numba import typeof

    p = synthetic.make("separable", n=3, d_u=2, d_v=1, seed=0)
    assert descent(typeof(p.data)) == (sep._descend_u, sep._descend_v, sep._descend_joint)
    assert descent(typeof(tuple(p.data))) is None  # a user objective's plain tuple
    assert descent(typeof(synthetic.make("quadratic", n=3, d_u=2, d_v=1, seed=0).data)) is None


def test_register_descent_refuses_an_unregistered_class():
    from typing import NamedTuple

    class Unknown(NamedTuple):
        x: np.ndarray

    with pytest.raises(TypeError, match="register_descent must be registered"):
        register_descent(Unknown, sep._descend_u, sep._descend_v, sep._descend_joint)


@pytest.mark.parametrize("alg", ["fedalt", "fedsim"])
def test_coupled_separable_runs_match_the_reference_steps(alg):
    """With coupling the fused steps read the other block: the kernel's iterates equal those of
    the two-pass steps above, round by round (full participation, one thread)."""
    p = synthetic.make("separable", n=5, d_u=4, d_v=3, seed=2, chi=0.6)
    tau, gamma, T = 3, 0.1, 4
    cfg = simulators.RunConfig(
        alg, T=T, m=p.n, tau_u=tau, tau_v=tau, gamma_u=gamma, gamma_v=gamma, seed=0, eval_every=T
    )
    h = simulators.run(p, cfg, parallel=False)
    u0, V = p.init(0)
    u = np.array(u0, dtype=np.float64)
    V = np.array(V, dtype=np.float64)
    g_u, g_v = np.empty(p.d_u), np.empty(p.d_v)
    for _t in range(T):
        ul = np.empty((p.n, p.d_u))
        for i in range(p.n):
            ul[i] = u
            if alg == "fedalt":
                for _ in range(tau):
                    _two_passes(p.data, i, ul[i], V[i], gamma, gamma, g_u, g_v, _EMPTY, 1)
                for _ in range(tau):
                    _two_passes(p.data, i, ul[i], V[i], gamma, gamma, g_u, g_v, _EMPTY, 0)
            else:
                for _ in range(tau):
                    _two_passes(p.data, i, ul[i], V[i], gamma, gamma, g_u, g_v, _EMPTY, 2)
        u = np.zeros(p.d_u)
        for i in range(p.n):
            u += ul[i]
        u /= p.n
    assert np.array_equal(h.u, u) and np.array_equal(h.V, V)


@pytest.mark.parametrize("name", ["register_hvp", "register_descent", "register_split"])
def test_registering_for_an_unregistered_data_class_names_the_function(name):
    from partialfed.synthetic import _objective

    class Unregistered:
        pass

    fn = getattr(_objective, name)
    args = {"register_hvp": 1, "register_descent": 3, "register_split": 3}[name]
    with pytest.raises(TypeError, match=rf"'data_class' parameter of {name} must be registered"):
        fn(Unregistered, *([None] * args))
