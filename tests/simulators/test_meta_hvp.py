"""Hessian-vector products and Per-FedAvg's meta-gradient (simulators._meta_kernels).

Exact HVPs (quadratic, spread quadratic, separable) against central differences of the
gradients; the central difference's error is O(delta^2) (a slope test on a non-quadratic
objective); the meta-gradient (M1) against central differences of the meta-objective itself and
against theory.fallah2020.meta_gradient with the dense Hessian; the History columns
``meta_grad_sq`` and ``personal_loss``; RunConfig's new fields refuse bad values by name.
"""

from __future__ import annotations

import numpy as np
import pytest

from partialfed import simulators, synthetic
from partialfed.simulators._api import META_KERNEL_MODULES
from partialfed.synthetic._objective import has_exact_hvp
from partialfed.theory import fallah2020

EXACT = {
    "quadratic": dict(n=4, d_u=3, d_v=2, chi=0.5, seed=1),
    "quadratic-spread": dict(n=4, d_u=3, d_v=2, chi=0.0, hessian_spread=0.5, seed=1),
    "separable": dict(n=4, d_u=3, d_v=2, chi=0.5, seed=1),
    "logistic": dict(n=4, d_u=3, d_v=2, samples=6, seed=1),
}


def make(key):
    if key == "representation":
        return synthetic.make(key, n=4, d=3, k=2, samples=6, seed=1)
    return synthetic.make(key.split("-")[0], **EXACT[key])


def point(p, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(d) for d in (p.d_u, p.d_v, p.d_u, p.d_v)]


@pytest.mark.parametrize("key", sorted(EXACT))
def test_exact_hvp_matches_finite_differences(key):
    p = make(key)
    assert has_exact_hvp(p.data)
    k = p.kernels(META_KERNEL_MODULES)
    for i in range(p.n):
        u, v, pu, pv = point(p, i)
        eu, ev = k.hvp_at(p.data, i, u, v, pu, pv)
        fu, fv = k.fd_hvp_at(p.data, i, u, v, pu, pv, 1e-4)
        exact = np.concatenate([eu, ev])
        err = np.linalg.norm(exact - np.concatenate([fu, fv]))
        assert err <= 1e-7 * np.linalg.norm(exact), (i, err)


def test_finite_difference_hvp_error_is_second_order():
    """On the separable model (non-constant Hessian) the central difference's error falls as
    delta^2: a log-log slope of 2 over two decades of delta."""
    p = make("separable")
    k = p.kernels(META_KERNEL_MODULES)
    u, v, pu, pv = point(p, 9)
    exact = np.concatenate(k.hvp_at(p.data, 0, u, v, pu, pv))
    deltas = np.geomspace(1e-1, 1e-3, 5)
    errs = [
        np.linalg.norm(np.concatenate(k.fd_hvp_at(p.data, 0, u, v, pu, pv, d)) - exact)
        for d in deltas
    ]
    slope = np.polyfit(np.log(deltas), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.2, (slope, errs)


def test_fallback_hvp_without_exact_one():
    """The representation model registers no exact HVP: the kernels' fallback agrees with a
    coarse central difference to its truncation error and is symmetric (p^T H q = q^T H p)."""
    p = synthetic.make("representation", n=4, d=3, k=2, samples=6, seed=1)
    assert not has_exact_hvp(p.data)
    k = p.kernels(META_KERNEL_MODULES)
    u, v, pu, pv = point(p, 3)
    _, _, qu, qv = point(p, 4)
    hp = np.concatenate(k.hvp_at(p.data, 1, u, v, pu, pv))
    hq = np.concatenate(k.hvp_at(p.data, 1, u, v, qu, qv))
    coarse = np.concatenate(k.fd_hvp_at(p.data, 1, u, v, pu, pv, 1e-3))
    assert np.linalg.norm(hp - coarse) <= 1e-5 * np.linalg.norm(hp)
    assert np.concatenate([qu, qv]) @ hp == pytest.approx(np.concatenate([pu, pv]) @ hq, rel=1e-7)


def meta_loss(k, p, i, u, v, alpha):
    return k.meta_grad_at(p.data, i, u, v, alpha)[2]


@pytest.mark.parametrize("key", ["quadratic", "separable", "logistic", "representation"])
def test_meta_gradient_matches_finite_differences_of_the_meta_objective(key):
    """(M1): grad F~_i(w) . e equals the central difference of F~_i(w) = F_i(w - alpha grad
    F_i(w)) along random directions e (representation: with the fallback HVP)."""
    p = make(key)
    k = p.kernels(META_KERNEL_MODULES)
    alpha, eps = 0.3, 1e-5
    for i in range(p.n):
        u, v, eu, ev = point(p, 20 + i)
        mu, mv, _ = k.meta_grad_at(p.data, i, u, v, alpha)
        fd = (
            meta_loss(k, p, i, u + eps * eu, v + eps * ev, alpha)
            - meta_loss(k, p, i, u - eps * eu, v - eps * ev, alpha)
        ) / (2 * eps)
        assert mu @ eu + mv @ ev == pytest.approx(fd, rel=1e-6, abs=1e-9), i


def test_meta_gradient_matches_the_theory_module_on_the_quadratic():
    """Against theory.fallah2020.meta_gradient with the dense Hessian [[A, C], [C^T, B]]."""
    p = make("quadratic")
    k = p.kernels(META_KERNEL_MODULES)
    A, C, B, _, _ = p.data
    H = np.block([[A, C], [C.T, B]])
    for i in range(p.n):
        u, v, _, _ = point(p, 40 + i)

        def grad(w, i=i):
            return np.concatenate(p.grad(i, w[: p.d_u], w[p.d_u :]))

        want = fallah2020.meta_gradient(grad, lambda w: H, np.concatenate([u, v]), 0.4)
        mu, mv, _ = k.meta_grad_at(p.data, i, u, v, 0.4)
        np.testing.assert_allclose(np.concatenate([mu, mv]), want, rtol=1e-12, atol=1e-13)


def test_history_meta_columns():
    """``meta_grad_sq`` and ``personal_loss`` at round 0 are the exact quantities at w^0; other
    algorithms record NaN and the loss itself."""
    p = make("separable")
    cfg = simulators.RunConfig("perfedavg", T=3, m=2, tau_u=1, tau_v=1, alpha=0.2, seed=4)
    h = simulators.run(p, cfg)
    k = p.kernels(META_KERNEL_MODULES)
    u0, V0 = p.init(4)
    parts = [k.meta_grad_at(p.data, i, u0, V0.mean(axis=0), 0.2) for i in range(p.n)]
    g = np.concatenate([np.mean([q[0] for q in parts], 0), np.mean([q[1] for q in parts], 0)])
    assert h.meta_grad_sq[0] == pytest.approx(g @ g, rel=1e-12)
    assert h.personal_loss[0] == pytest.approx(np.mean([q[2] for q in parts]), rel=1e-12)
    assert h.meta_grad_sq[-1] < h.meta_grad_sq[0]
    frame = h.to_frame()
    assert {"meta_grad_sq", "personal_loss"} <= set(frame.columns)
    f = simulators.run(p, simulators.RunConfig("fedsim", T=3, m=2, seed=4))
    assert np.all(np.isnan(f.meta_grad_sq))
    np.testing.assert_array_equal(f.personal_loss, f.loss)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("variant", "sgd", "'variant' parameter of RunConfig must be"),
        ("alpha", -0.1, "'alpha' parameter of RunConfig"),
        ("hf_delta", 0.0, "'hf_delta' parameter of RunConfig"),
        ("ditto_lam", -1.0, "'ditto_lam' parameter of RunConfig"),
    ],
)
def test_run_config_refuses_bad_meta_fields(field, value, match):
    with pytest.raises(ValueError, match=match):
        simulators.RunConfig("perfedavg", **{field: value})
    with pytest.raises(ValueError, match="tau_v"):
        simulators.RunConfig("perfedavg", tau_u=2, tau_v=1)


def test_hessian_free_variant_approaches_maml_at_second_order():
    """HF's central difference makes a run differ from exact MAML by O(hf_delta^2): the distance
    of the final iterates falls 100-fold per decade of hf_delta (a one-sided difference would give
    10-fold)."""
    p = make("separable")
    base = dict(T=3, m=4, tau_u=2, tau_v=2, gamma_u=0.2, gamma_v=0.2, alpha=0.3, seed=2)
    maml = simulators.run(p, simulators.RunConfig("perfedavg", variant="maml", **base))
    deltas = np.array([1e-1, 1e-2, 1e-3])
    gaps = []
    for d in deltas:
        hf = simulators.run(p, simulators.RunConfig("perfedavg", variant="hf", hf_delta=d, **base))
        gaps.append(np.linalg.norm(np.concatenate([hf.u - maml.u, hf.V[0] - maml.V[0]])))
    slope = np.polyfit(np.log(deltas), np.log(gaps), 1)[0]
    assert 1.8 < slope < 2.2, (slope, gaps)
