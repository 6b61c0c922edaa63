"""The ``logcosh`` family: Per-FedAvg's constants (B, rho_H, gamma_G, gamma_H, distances) and
the meta-objective's exact constants, tested by sampling through the compiled gradients."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed import synthetic
from partialfed.synthetic.logcosh import meta_exact, perfedavg_constants
from partialfed.theory import fallah2020

KNOBS = dict(n=7, d_u=4, d_v=3, gamma_G=0.8, planted=4, decay=0.5, scale=0.7, seed=1)


@pytest.fixture(scope="module")
def prob():
    return synthetic.make("logcosh", **KNOBS)


def _w_grads(p, w):
    """Every device's gradient of f_i at w = (u, v), through the problem's jitted functions."""
    return np.stack([np.concatenate(p.grad(i, w[: p.d_u], w[p.d_u :])) for i in range(p.n)])


def _hess_diag(p, i, w, eps=1e-5):
    """Diagonal of hess f_i at w by central differences of the compiled gradient (the Hessian
    is diagonal: f_i is separable)."""
    out = np.empty(w.size)
    for j in range(w.size):
        e = np.zeros(w.size)
        e[j] = eps
        gp = np.concatenate(p.grad(i, (w + e)[: p.d_u], (w + e)[p.d_u :]))
        gm = np.concatenate(p.grad(i, (w - e)[: p.d_u], (w - e)[p.d_u :]))
        out[j] = (gp[j] - gm[j]) / (2 * eps)
    return out


def _points(p, rng, k=200):
    C = np.concatenate([p.data.cu, p.data.cv], axis=1)
    c0 = C.mean(axis=0)
    return c0 + rng.standard_normal((k, C.shape[1])) * rng.choice([0.3, 1.0, 4.0], (k, 1))


def test_gamma_G_is_the_knob_bounded_by_samples_and_attained(prob):
    pc = perfedavg_constants(prob)
    assert pc.gamma_G == pytest.approx(KNOBS["gamma_G"], rel=1e-12)
    rng = np.random.default_rng(0)
    diss = [
        np.mean(np.sum((G - G.mean(0)) ** 2, 1))
        for G in map(lambda w: _w_grads(prob, w), _points(prob, rng))
    ]
    assert max(diss) <= pc.gamma_G**2 * (1 + 1e-12)
    G = _w_grads(prob, pc.witnesses["gamma_G"])
    assert np.mean(np.sum((G - G.mean(0)) ** 2, 1)) == pytest.approx(pc.gamma_G**2, rel=1e-10)
    # Pillutla's delta is the u-coordinates' part, attained at its witness.
    u, V = prob.witnesses["delta"]
    assert prob.diversity(u, V) == pytest.approx(prob.constants.delta**2, rel=1e-10)


def test_gradient_bound_B_holds_and_is_approached(prob):
    pc = perfedavg_constants(prob)
    rng = np.random.default_rng(1)
    norms = [np.linalg.norm(_w_grads(prob, w), axis=1).max() for w in _points(prob, rng)]
    assert max(norms) <= pc.B
    far = _w_grads(prob, np.full(prob.d_u + prob.d_v, 60.0))
    assert np.linalg.norm(far, axis=1).max() >= pc.B * (1 - 1e-9)


def test_hessian_lipschitz_ratio_bounded_and_approached(prob):
    pc = perfedavg_constants(prob)
    rng = np.random.default_rng(2)
    ratios = []
    for w in _points(prob, rng, 60):
        y = w + rng.standard_normal(w.size) * rng.choice([1e-2, 0.3, 2.0])
        i = int(rng.integers(prob.n))
        ratios.append(
            np.abs(_hess_diag(prob, i, w) - _hess_diag(prob, i, y)).max() / np.linalg.norm(w - y)
        )
    assert max(ratios) <= pc.rho_H * (1 + 1e-4)
    # Near-attained: along one coordinate at tanh(t/a) = 1/sqrt(3), a short step.
    a = KNOBS["scale"]
    C = np.concatenate([prob.data.cu, prob.data.cv], axis=1)
    w = C[0].copy()
    w[0] += a * np.arctanh(1 / np.sqrt(3))
    y = w.copy()
    y[0] += 1e-3
    r = abs(_hess_diag(prob, 0, w, 1e-6)[0] - _hess_diag(prob, 0, y, 1e-6)[0]) / 1e-3
    assert r >= 0.999 * pc.rho_H
    # and L = sup phi'' = 1 at the centre
    assert _hess_diag(prob, 0, C[0])[0] == pytest.approx(pc.L, rel=1e-6)


def test_gamma_H_bounded_by_samples_and_attained(prob):
    pc = perfedavg_constants(prob)
    rng = np.random.default_rng(3)

    def hdiss(w):
        H = np.stack([_hess_diag(prob, i, w) for i in range(prob.n)])
        return np.mean(np.abs(H - H.mean(0)).max(axis=1) ** 2)

    assert max(hdiss(w) for w in _points(prob, rng, 40)) <= pc.gamma_H**2 * (1 + 1e-6)
    assert hdiss(pc.witnesses["gamma_H"]) == pytest.approx(pc.gamma_H**2, rel=1e-6)


def test_distance_inequalities_and_F_low(prob):
    pc = perfedavg_constants(prob)
    # fallah2020-distances (derived for this family in logcosh's docstring)
    assert pc.gamma_G <= pc.W1_rms and pc.gamma_G <= 2 * pc.B * pc.TV_rms
    assert pc.gamma_H <= pc.rho_H * pc.W1_rms and pc.gamma_H <= 2 * pc.L * pc.TV_rms
    # W1 is the root mean square distance from each device's point mass to the mixture.
    C = np.concatenate([prob.data.cu, prob.data.cv], axis=1)
    w1 = np.where(prob.data.g == 0, 1 - pc.p, pc.p) * np.linalg.norm(C[0] - C[1])
    assert pc.W1_rms == pytest.approx(np.sqrt(np.mean(w1**2)), rel=1e-12)
    u, V = prob.witnesses["F_low"]
    assert prob.F(u, V) == pytest.approx(prob.constants.F_low, rel=1e-12)
    rng = np.random.default_rng(4)
    for w in _points(prob, rng, 50):
        assert (
            prob.F(w[: prob.d_u], np.repeat(w[None, prob.d_u :], prob.n, 0)) >= prob.constants.F_low
        )


def test_meta_objective_exact_constants(prob):
    """L_F, sup ||grad F~_i|| and gamma_F^2 of meta_exact against sampled meta-gradients."""
    alpha = 0.5
    ex = meta_exact(prob, alpha)
    i = 0

    def g(w):
        return np.concatenate(prob.grad(i, w[: prob.d_u], w[prob.d_u :]))

    def hess(w):
        return np.diag(_hess_diag(prob, i, w))

    rng = np.random.default_rng(5)
    ratios, norms = [], []
    for w in _points(prob, rng, 40):
        y = w + 1e-4 * rng.standard_normal(w.size)
        gw = fallah2020.meta_gradient(g, hess, w, alpha)
        gy = fallah2020.meta_gradient(g, hess, y, alpha)
        ratios.append(np.linalg.norm(gw - gy) / np.linalg.norm(w - y))
        norms.append(np.linalg.norm(gw))
    assert max(ratios) <= ex["L_F"] * (1 + 1e-3)
    assert max(norms) <= ex["grad_F_max"]
    # The recalled Lemma 4.2 bound is above the exact smoothness here.
    pc = perfedavg_constants(prob)
    assert 4 * pc.L + alpha * pc.rho_H * pc.B > ex["L_F"]
    # gamma_F^2 by sampling (all devices' meta-gradients), at most the exact sup.
    diss = []
    for w in _points(prob, rng, 30):
        G = []
        for k in range(prob.n):

            def gk(x, k=k):
                return np.concatenate(prob.grad(k, x[: prob.d_u], x[prob.d_u :]))

            G.append(
                fallah2020.meta_gradient(
                    gk, lambda x, k=k: np.diag(_hess_diag(prob, k, x)), w, alpha
                )
            )
        G = np.array(G)
        diss.append(np.mean(np.sum((G - G.mean(0)) ** 2, 1)))
    assert max(diss) <= ex["gamma_F_sq"] * (1 + 1e-6)
    assert max(diss) >= 0.5 * ex["gamma_F_sq"]


def test_knob_errors_name_the_parameter():
    with pytest.raises(ValueError, match="gamma_G"):
        synthetic.make("logcosh", n=4, d_u=2, d_v=2, scale=1.0, gamma_G=3.0)  # sup 2 sqrt(.5)
    with pytest.raises(ValueError, match="gamma_G"):
        synthetic.make("logcosh", n=1, gamma_G=0.1)
    with pytest.raises(ValueError, match="planted"):
        synthetic.make("logcosh", d_u=2, d_v=1, planted=4)
    with pytest.raises(ValueError, match="problem"):
        perfedavg_constants(synthetic.make("separable"))


def test_planted_structure_is_fixed_across_the_split():
    """Same total dimension and planting: the centres of w do not depend on the split."""
    ws = []
    for d_v in (1, 3, 5):
        p = synthetic.make("logcosh", n=6, d_u=6 - d_v, d_v=d_v, planted=3, gamma_G=0.6, seed=2)
        ws.append(np.concatenate([p.data.cu, p.data.cv], axis=1))
        assert perfedavg_constants(p).gamma_G == pytest.approx(0.6, rel=1e-12)
    np.testing.assert_array_equal(ws[0], ws[1])
    np.testing.assert_array_equal(ws[0], ws[2])


def test_w1_knob_sets_the_distance_and_bounds_the_dissimilarities():
    p = synthetic.make("logcosh", n=7, d_u=3, d_v=3, planted=3, decay=1.0, w1=0.9, scale=0.5)
    pc = perfedavg_constants(p)
    assert pc.W1_rms == pytest.approx(0.9, rel=1e-12)
    assert 0 < pc.gamma_G <= pc.W1_rms and pc.gamma_H <= pc.rho_H * pc.W1_rms
    assert p.knobs["gamma_G"] is None and p.knobs["w1"] == 0.9
    assert synthetic.make("logcosh", **p.knobs).data.cu.tolist() == p.data.cu.tolist()
    with pytest.raises(ValueError, match="'w1'"):
        synthetic.make("logcosh", gamma_G=0.3, w1=0.2)
    with pytest.raises(ValueError, match="w1"):
        synthetic.make("logcosh", n=1, w1=0.2)
