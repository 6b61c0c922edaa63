"""estimate_constants recovers exact constants; custom() validates a user's objective."""

from __future__ import annotations

import numpy as np
import pytest
from family_cases import get
from numba import njit
from userobj_example import grad_u as my_grad_u
from userobj_example import grad_v as my_grad_v
from userobj_example import loss as my_loss

from partialfed import simulators, synthetic


def test_estimate_recovers_exact_quadratic_constants():
    p = get("quadratic-chi0")
    e = synthetic.estimate_constants(p, n_pairs=64, seed=1, descent_steps=300)
    c = p.constants
    assert all(k == "estimate" for k in e.kind.values())
    for name in ("L_u", "L_v", "delta"):
        assert getattr(e, name) == pytest.approx(getattr(c, name), rel=0.03), name
    assert e.rho <= 0.05 and e.L_uv == 0 and e.sigma_u == 0
    assert e.F_low == pytest.approx(c.F_low, rel=0.03)
    q = get("quadratic")  # chi = 0.5: cross constants exact too
    e = synthetic.estimate_constants(q, n_pairs=32, descent_steps=0)
    for name in ("L_u", "L_v", "L_uv", "L_vu"):
        assert getattr(e, name) == pytest.approx(getattr(q.constants, name), rel=0.03), name


@pytest.mark.parametrize("case", ["separable", "logistic-batch", "representation"])
def test_estimates_stay_below_certified_bounds(case):
    p = get(case)
    radius = 0.3 if p.name == "representation" else 1.0  # stay inside the declared region
    e = synthetic.estimate_constants(p, n_pairs=64, radius=radius, descent_steps=50)
    for name in ("L_u", "L_v", "L_uv", "L_vu", "sigma_u", "sigma_v"):
        assert getattr(e, name) <= getattr(p.constants, name) * 1.02 + 1e-9, name
    assert e.F_low >= p.constants.F_low - 1e-9


def test_estimate_rejects_bad_arguments():
    p = get("quadratic")
    with pytest.raises(ValueError, match="'n_pairs'"):
        synthetic.estimate_constants(p, n_pairs=0)
    with pytest.raises(ValueError, match="'radius'"):
        synthetic.estimate_constants(p, radius=float("nan"))
    with pytest.raises(TypeError, match="'problem'"):
        synthetic.estimate_constants("quadratic")


# A user-defined problem: F_i(u, v) = 1/2 ||u - c_i||^2 + 1/2 ||v - u[:d_v]||^2 (module level,
# jitted, cache=True, as docs/families.md recommends): the one of ``userobj_example``.


@njit(cache=True)
def my_wrong_grad_v(data, i, u, v, out, idx):
    for a in range(v.shape[0]):
        out[a] = 2.0 * (v[a] - u[a])


@njit(cache=True)
def my_lazy_grad_v(data, i, u, v, out, idx):
    out[0] = v[0] - u[0]


def _data(n=6, d_u=3):
    return (np.random.default_rng(0).standard_normal((n, d_u)),)


def test_custom_end_to_end_with_simulators():
    p = synthetic.custom(
        "toy",
        6,
        3,
        2,
        my_loss,
        my_grad_u,
        my_grad_v,
        data=_data(),
        estimate={"n_pairs": 32, "descent_steps": 400},
    )
    assert p.constants.kind["L_u"] == "estimate"
    # Hessian [[2I_2 (+1 on the last coordinate), -I], [-I, I]]: L_u = 2, L_v = 1, L_uv = 1.
    assert p.constants.L_u == pytest.approx(2.0, rel=0.02)
    assert p.constants.L_v == pytest.approx(1.0, rel=1e-6)
    assert p.constants.L_uv == pytest.approx(1.0, rel=1e-6)
    cfg = simulators.RunConfig(
        algorithm="fedalt", T=200, m=3, tau_u=2, tau_v=2, gamma_u=0.2, gamma_v=0.5, seed=0
    )
    h = simulators.run(p, cfg)
    gap0 = h.loss[0] - p.constants.F_low
    assert h.status == "ok" and h.loss[-1] - p.constants.F_low < 0.2 * gap0
    given = synthetic.Constants(
        L_u=2,
        L_v=1,
        L_uv=1,
        L_vu=1,
        sigma_u=0,
        sigma_v=0,
        delta=1,
        rho=0,
        F_low=0,
        kind={"L_u": "exact"},
    )
    q = synthetic.custom(
        "toy", 6, 3, 2, my_loss, my_grad_u, my_grad_v, data=_data(), constants=given
    )
    assert q.constants is given
    # A2: the declared variance bound includes the added noise, so it cannot be smaller.
    with pytest.raises(ValueError, match="sigma_u >= noise_u"):
        synthetic.custom(
            "toy",
            6,
            3,
            2,
            my_loss,
            my_grad_u,
            my_grad_v,
            data=_data(),
            constants=given,
            noise_u=0.1,
        )


def test_custom_rejects_a_wrong_gradient():
    with pytest.raises(ValueError, match="grad_v of custom problem 'toy' disagrees"):
        synthetic.custom(
            "toy",
            6,
            3,
            2,
            my_loss,
            my_grad_u,
            my_wrong_grad_v,
            data=_data(),
            constants=get("quadratic").constants,
        )
    with pytest.raises(ValueError, match="grad_v .* non-finite entries"):
        synthetic.custom(
            "toy",
            6,
            3,
            2,
            my_loss,
            my_grad_u,
            my_lazy_grad_v,
            data=_data(),
            constants=get("quadratic").constants,
        )


def test_custom_rejects_plain_python_and_bad_shapes():
    with pytest.raises(TypeError, match="'loss' parameter of synthetic.custom must be a numba"):
        synthetic.custom("toy", 6, 3, 2, my_loss.py_func, my_grad_u, my_grad_v, data=_data())
    with pytest.raises(ValueError, match="Calling loss of custom problem 'toy'.* failed"):
        synthetic.custom("toy", 6, 3, 2, my_loss, my_grad_u, my_grad_v, data=(np.zeros(3),))
    with pytest.raises(ValueError, match="'init\\[1\\]'"):
        synthetic.custom(
            "toy",
            6,
            3,
            2,
            my_loss,
            my_grad_u,
            my_grad_v,
            data=_data(),
            init=(np.zeros(3), np.zeros((5, 2))),
        )
