"""Every family: declared constants are honest, gradients right, instances reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest
from family_cases import CASES, IDS, get, grads, in_region, personal_optimum

from partialfed import simulators, synthetic
from partialfed.simulators._rng import STREAM_NOISE_U, STREAM_NOISE_V, normal_vector

SEEDS = (0, 1, 2)
TOL = 1e-9


def test_at_least_four_families_registered():
    assert {"quadratic", "separable", "logistic", "representation"} <= set(synthetic.FAMILIES)
    for name in synthetic.FAMILIES:
        knobs = synthetic.knobs_of(name)
        assert {"n", "d_u", "d_v", "noise_u", "noise_v", "seed"} <= set(knobs)


def _sample(p, rng, R, scale):
    u0, V0 = p.init(int(rng.integers(1000)))
    I = rng.integers(0, p.n, R)
    shrink = 10.0 ** rng.uniform(-2, 0, (R, 1))  # from near the initial point to `scale`
    U = u0 + scale * shrink * rng.standard_normal((R, p.d_u))
    V = V0[I] + scale * shrink * rng.standard_normal((R, p.d_v))
    if p.name == "separable":  # half the rows near the offsets, where phi'' peaks
        a = p.data[0][p.data[1][I]]
        U[: R // 2] = a[: R // 2] + 0.3 * rng.standard_normal((R // 2, p.d_u))
    return I, *in_region(p, U, V, rng)


@pytest.mark.parametrize("case", IDS)
def test_gradients_match_finite_differences(case):
    p = get(case)
    rng = np.random.default_rng(1)
    I, U, V = _sample(p, rng, 4, 0.7)
    for i, u, v in zip(I, U, V, strict=True):
        gu, gv = p.grad(int(i), u, v)
        for block, g, x, d in (("u", gu, u, p.d_u), ("v", gv, v, p.d_v)):
            for c in range(d):
                e = np.zeros(d)
                e[c] = 1e-6
                if block == "u":
                    fd = (p.loss(int(i), x + e, v) - p.loss(int(i), x - e, v)) / 2e-6
                else:
                    fd = (p.loss(int(i), u, x + e) - p.loss(int(i), u, x - e)) / 2e-6
                assert fd == pytest.approx(g[c], abs=1e-6 * (1 + abs(g[c])))


@pytest.mark.parametrize("case", IDS)
def test_lipschitz_ratios_never_exceed_declared(case):
    for seed in SEEDS:
        p = get(case, seed)
        c = p.constants
        rng = np.random.default_rng([seed, 7])
        R = 400
        I, U, V = _sample(p, rng, R, 1.5)
        r = 10.0 ** rng.uniform(-4, 0.3, (R, 1))
        hu = r * rng.standard_normal((R, p.d_u)) / math.sqrt(p.d_u)
        hv = r * rng.standard_normal((R, p.d_v)) / math.sqrt(max(p.d_v, 1))
        if p.name == "representation":  # both ends in the (convex) region
            U2, V2 = in_region(p, U + hu, V + hv, rng)
            hu, hv = U2 - U, V2 - V
        gu0, gv0 = grads(p, I, U, V)
        gu1, gv1 = grads(p, I, U + hu, V)
        gu2, gv2 = grads(p, I, U, V + hv)
        nu = np.linalg.norm(hu, axis=1)
        assert np.all(np.linalg.norm(gu1 - gu0, axis=1) <= (c.L_u + TOL) * nu * (1 + 1e-7))
        assert np.all(np.linalg.norm(gv1 - gv0, axis=1) <= (c.L_vu + TOL) * nu * (1 + 1e-7))
        if p.d_v:
            nv = np.linalg.norm(hv, axis=1)
            assert np.all(np.linalg.norm(gv2 - gv0, axis=1) <= (c.L_v + TOL) * nv * (1 + 1e-7))
            assert np.all(np.linalg.norm(gu2 - gu0, axis=1) <= (c.L_uv + TOL) * nv * (1 + 1e-7))
        # Pairs chosen adversarially: finite-difference power iteration at sampled points.
        loc = synthetic.local_lipschitz(p, I[:48], U[:48], V[:48], steps=20, eps=1e-5)
        for name in ("L_u", "L_v", "L_uv", "L_vu"):
            assert loc[name].max() <= getattr(c, name) * (1 + 1e-6) + TOL, name


def _attained(p, name):
    c = p.constants
    if c.kind[name] == "exact" or (c.kind[name] == "local" and "exact" in c.notes.get(name, "")):
        return True
    return False


@pytest.mark.parametrize("case", IDS)
def test_exact_smoothness_constants_are_attained(case):
    p = get(case)
    c = p.constants
    for name in ("L_u", "L_v", "L_uv", "L_vu"):
        value = getattr(c, name)
        if not _attained(p, name) or value == 0:
            continue
        if name in p.witnesses:
            i, u, v = p.witnesses[name]
        else:
            u0, V0 = p.init(0)
            i, u, v = 0, u0, V0[0]
        eps = 1e-4 if p.name != "separable" else 1e-5
        got = synthetic.local_lipschitz(p, [i], [u], [v], steps=40, eps=eps)[name][0]
        assert got >= 0.9 * value, (name, got, value)
        assert got <= value * (1 + 1e-6) + TOL


def _excess_diversity(p, u, V):
    gu2, _ = p.grad_norms(u, V)
    return p.diversity(u, V) - p.constants.rho**2 * gu2


@pytest.mark.parametrize("case", IDS)
def test_diversity_matches_declared_delta(case):
    """A3: sampled ``diversity - rho^2 ||grad_u F||^2 <= delta^2`` (on the region for local
    delta), and an exact delta is reached (>= 0.9 delta^2) at the witness point."""
    for seed in SEEDS[:2]:
        p = get(case, seed)
        c = p.constants
        rng = np.random.default_rng([seed, 11])
        at_optimum = c.kind["delta"] == "local" and "personal optim" in c.notes["delta"]
        worst = 0.0
        for t in range(25):
            u0, V0 = p.init(t)
            u = u0 + 2.0 * rng.standard_normal(p.d_u)
            V = V0 + rng.standard_normal(V0.shape)
            if p.name == "separable" and t % 2:
                u = p.witnesses["delta"][0] + 0.05 * rng.standard_normal(p.d_u)
            if at_optimum:
                V = personal_optimum(p, u, V)
            if p.name == "representation":
                Ur, Vr = in_region(p, u[None, :], V, rng)
                u = Ur[0]
                V = np.stack([in_region(p, u[None, :], v[None, :], rng)[1][0] for v in V])
            worst = max(worst, _excess_diversity(p, u, V))
        assert worst <= c.delta**2 * (1 + 1e-7) + TOL
        if _attained(p, "delta") and "delta" in p.witnesses:
            u, V = p.witnesses["delta"]
            got = _excess_diversity(p, u, V)
            assert got >= 0.9 * c.delta**2
            assert got <= c.delta**2 * (1 + 1e-7) + TOL


@pytest.mark.parametrize("case", IDS)
def test_F_low_is_a_lower_bound(case):
    p = get(case)
    c = p.constants
    tol = 1e-9 * (1 + abs(c.F_low))
    rng = np.random.default_rng(3)
    for t in range(20):
        u0, V0 = p.init(t)
        u = u0 + rng.standard_normal(p.d_u)
        assert p.F(u, V0 + rng.standard_normal(V0.shape)) >= c.F_low - tol
    if "F_low" in p.witnesses and c.kind["F_low"] == "exact":
        assert p.F(*p.witnesses["F_low"]) == pytest.approx(c.F_low, abs=1e-8 * (1 + abs(c.F_low)))
    gam = 0.5 / max(c.L_u, 1e-3)
    cfg = simulators.RunConfig(
        algorithm="fedalt",
        T=300,
        m=p.n,
        tau_u=3,
        tau_v=3,
        gamma_u=min(gam, 0.5),
        gamma_v=0.5 / max(c.L_v, 1e-3),
        seed=0,
        eval_every=50,
    )
    h = simulators.run(p, cfg)
    assert h.status == "ok"
    assert np.nanmin(h.loss) >= c.F_low - tol
    assert h.loss[-1] < h.loss[0]


@pytest.mark.parametrize("case", IDS)
def test_noise_constants(case):
    """``sigma`` knobs: additive noise N(0, sigma^2/d I) through the kernels' RNG has
    ``E||xi||^2 = sigma^2``; the declared constant is the knob (exact) or, with minibatches,
    a bound on the Monte-Carlo minibatch variance."""
    _, family, knobs = next(x for x in CASES if x[0] == case)
    p = synthetic.make(family, **knobs, noise_u=0.7, noise_v=0.3)
    draws = 4000
    for sigma, stream, d in ((0.7, STREAM_NOISE_U, p.d_u), (0.3, STREAM_NOISE_V, p.d_v)):
        if d == 0:
            continue
        sq = np.array(
            [
                np.sum((sigma / math.sqrt(d) * normal_vector(5, stream, t, 3, 1, d)) ** 2)
                for t in range(draws)
            ]
        )
        assert abs(sq.mean() - sigma**2) <= 4 * sq.std() / math.sqrt(draws)
    c = p.constants
    if p.batch == 0:
        assert c.sigma_u == 0.7 and c.kind["sigma_u"] == "exact"
        assert c.sigma_v == 0.3 and c.kind["sigma_v"] == "exact"
        return
    # Minibatch part: Monte Carlo over the simulators' with-replacement batches.
    rng = np.random.default_rng(0)
    I, U, V = _sample(p, rng, 16, 0.5)
    gu, gv = grads(p, I, U, V)
    su, sv = np.zeros(len(I)), np.zeros(len(I))
    for _ in range(300):
        IDX = rng.integers(0, p.sizes[I][:, None], (len(I), p.batch))
        hu, hv = grads(p, I, U, V, IDX)
        su += np.sum((hu - gu) ** 2, axis=1) / 300
        sv += np.sum((hv - gv) ** 2, axis=1) / 300
    assert su.max() + 0.7**2 <= c.sigma_u**2
    assert sv.max() + 0.3**2 <= c.sigma_v**2
    assert su.max() > 0


@pytest.mark.parametrize("case", IDS)
def test_same_seed_same_instance(case):
    _, family, knobs = next(x for x in CASES if x[0] == case)
    a = synthetic.make(family, **knobs, seed=4)
    b = synthetic.make(family, **knobs, seed=4)
    c = synthetic.make(family, **knobs, seed=5)
    assert len(a.data) == len(b.data)
    for x, y in zip(a.data, b.data, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    assert a.constants == b.constants
    assert any(x.tobytes() != z.tobytes() for x, z in zip(a.data, c.data, strict=True))
    for s in (0, 1):
        (ua, Va), (ub, Vb) = a.init(s), b.init(s)
        assert ua.tobytes() == ub.tobytes() and Va.tobytes() == Vb.tobytes()
    assert synthetic.make(family, **dict(a.knobs)).constants == a.constants


# -- knob validation -----------------------------------------------------------------------------

#: Knobs for which 0 is not allowed.
_POSITIVE = {
    "n",
    "d_u",
    "L_u",
    "L_v",
    "mu_u",
    "mu_v",
    "samples",
    "beta_B",
    "beta_w",
    "d",
    "k",
    "clusters",
    "periods",
    "start_radius",
}
_BAD = [-1, -0.5, float("nan"), float("inf"), "1", [1], True]


def _knob_cases():
    for family in synthetic.FAMILIES:
        for knob in synthetic.knobs_of(family):
            bad = list(_BAD) + ([0] if knob in _POSITIVE else [])
            if knob == "chi":
                bad += [1.0, 1.5]
            if knob in ("hessian_spread",):
                bad += [1.0]
            if family == "representation" and knob == "d_v":
                bad += [0]
            if family == "representation" and knob == "d_u":
                bad = [b for b in bad if b != 0] + [0, 7]
            yield family, knob, bad


@pytest.mark.parametrize(
    ("family", "knob", "bad"), list(_knob_cases()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_knob_rejects_bad_values(family, knob, bad):
    for value in bad:
        with pytest.raises((ValueError, TypeError)) as info:
            synthetic.make(family, **{knob: value})
        msg = str(info.value)
        assert f"'{knob}'" in msg, (knob, value, msg)
        assert "\n" not in msg


def test_unknown_knob_suggests():
    for family in synthetic.FAMILIES:
        with pytest.raises(ValueError, match="Did you mean 'noise_u'"):
            synthetic.make(family, noiseu=1.0)
    with pytest.raises(ValueError, match="Did you mean 'separable'"):
        synthetic.make("seperable")
