"""``simulators.exact.expected`` (docs/derivations/exact_quadratic_dynamics.md) against runs.

- With no noise and every device sampled, the expected dynamics *are* the run: equal at every
  round to ~1e-10 (relative), all three algorithms, several local steps, both Hessian types.
- With noise and device sampling, a large Monte Carlo mean over seeds (``simulators.run``)
  lies within its interval of the exact value at every round and metric (Bonferroni over the
  comparisons, fixed seeds); the same Monte Carlo rejects two wrong recursions (inclusion
  treated as independent, ``q = p^2``; noise left out), so the comparison can fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from partialfed import simulators, synthetic
from partialfed.simulators import exact

ALGS = (("fedalt", 2, 3), ("fedsim", 3, 3), ("fedavg", 2, 2))


def _problem(spread: bool, **knobs):
    base = dict(n=5, d_u=3, d_v=2, seed=3)
    if spread:
        base.update(chi=0.0, hessian_spread=0.5)
    else:
        base.update(chi=0.5)
    return synthetic.make("quadratic", **{**base, **knobs})


@pytest.mark.parametrize("spread", [False, True], ids=["shared", "spread"])
@pytest.mark.parametrize(("alg", "tau_u", "tau_v"), ALGS)
def test_equals_deterministic_run(alg, tau_u, tau_v, spread):
    p = _problem(spread)
    cfg = simulators.RunConfig(alg, T=15, m=p.n, tau_u=tau_u, tau_v=tau_v, gamma_u=0.3, gamma_v=0.4)
    h, e = simulators.run(p, cfg), exact.expected(p, cfg)
    assert e.status == "ok"
    for name in simulators.METRICS:
        a, b = getattr(h, name), getattr(e, name)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        ok = ~np.isnan(a)
        np.testing.assert_allclose(b[ok], a[ok], rtol=1e-10, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(e.u, h.u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e.V, h.V, rtol=1e-10, atol=1e-12)
    # the run moved: equality is not that of two constant sequences
    assert h.loss[-1] < h.loss[0] - 1e-3


SEEDS = 1500
MC_ALGS = (("fedalt", 2, 3, False), ("fedsim", 2, 2, True), ("fedavg", 2, 2, False))


def _mc(p, alg, tau_u, tau_v):
    def cfg(seed):
        return simulators.RunConfig(
            alg, T=5, m=2, tau_u=tau_u, tau_v=tau_v, gamma_u=0.3, gamma_v=0.3, seed=seed
        )

    runs = [simulators.run(p, cfg(s)) for s in range(SEEDS)]
    return cfg(0), {k: np.array([getattr(h, k) for h in runs]) for k in simulators.METRICS}


def _max_z(e, mc) -> tuple[float, int]:
    """Largest |mean - exact| / standard error over rounds 1..T and metrics, and their count."""
    zs = []
    for k, X in mc.items():
        X = X[:, 1:]
        keep = ~np.isnan(X).any(axis=0)
        if not keep.any():
            continue
        se = X[:, keep].std(axis=0, ddof=1) / np.sqrt(X.shape[0])
        zs.extend(np.abs((X[:, keep].mean(axis=0) - getattr(e, k)[1:][keep]) / se))
    return float(max(zs)), len(zs)


@pytest.mark.parametrize(("alg", "tau_u", "tau_v", "spread"), MC_ALGS)
def test_matches_monte_carlo_and_rejects_wrong_recursions(alg, tau_u, tau_v, spread, monkeypatch):
    p = _problem(spread, noise_u=1.0, noise_v=1.0, delta=1.0, start="top")
    cfg, mc = _mc(p, alg, tau_u, tau_v)
    e = exact.expected(p, cfg)
    # round 0 is the deterministic start
    for k in ("loss", "grad_u_sq", "grad_v_sq"):
        np.testing.assert_allclose(getattr(e, k)[0], mc[k][0, 0], rtol=1e-12, atol=1e-20)
    z, count = _max_z(e, mc)
    crit = stats.norm.isf(1e-3 / (2 * count))  # two-sided, family-wise level 1e-3
    assert z < crit, (z, crit)
    maps = exact._maps
    wrongs = {
        "independent inclusion (q = p^2)": lambda r: replace(r, q=r.p * r.p),
        "noise left out": lambda r: replace(r, Nr=0 * r.Nr),
    }
    for why, change in wrongs.items():

        def wrong_maps(*args, change=change):
            return tuple(None if r is None else change(r) for r in maps(*args))

        monkeypatch.setattr(exact, "_maps", wrong_maps)
        assert _max_z(exact.expected(p, cfg), mc)[0] > crit, why
    monkeypatch.setattr(exact, "_maps", maps)


def test_refuses_what_it_cannot_compute(monkeypatch):
    p = synthetic.make("quadratic", n=4, d_u=2, d_v=1)
    cfg = simulators.RunConfig("fedalt", T=2, m=2)
    with pytest.raises(ValueError, match="fedalt, fedsim, fedavg"):
        exact.expected(p, replace(cfg, algorithm="local"))
    with pytest.raises(ValueError, match="'m' parameter"):
        exact.expected(p, replace(cfg, m=5))
    with pytest.raises(TypeError, match="RunConfig"):
        exact.expected(p, {"algorithm": "fedalt"})
    with pytest.raises(ValueError, match="only the quadratic family"):
        exact.expected(synthetic.make("separable", n=4), cfg)
    monkeypatch.setattr(exact, "MAX_STATE", 16)
    big = synthetic.make("quadratic", n=16, d_u=1, d_v=1)
    with pytest.raises(ValueError, match="MAX_STATE"):
        exact.expected(big, cfg)
    # FedAvg's v is global: the same problem fits
    assert exact.supports(big, "fedavg") == ""
    monkeypatch.setattr(exact, "MAX_BLOCKS", 100)
    assert "MAX_BLOCKS" in exact.supports(big, "fedavg")


def test_fedalt_measures_grad_u_at_V_next_and_diverges_cleanly():
    p = synthetic.make("quadratic", n=4, d_u=2, d_v=2, noise_v=0.5)
    e = exact.expected(p, simulators.RunConfig("fedalt", T=4, m=2))
    assert np.isnan(e.grad_u_sq_at_V_next[-1]) and np.isfinite(e.grad_u_sq_at_V_next[:-1]).all()
    assert not np.allclose(e.grad_u_sq_at_V_next[:-1], e.grad_u_sq[:-1])
    big = exact.expected(p, simulators.RunConfig("fedsim", T=400, m=4, gamma_u=50.0))
    assert big.status == "diverged" and np.isnan(big.loss[-1])


@pytest.mark.parametrize(("alg", "tau_u", "tau_v"), ALGS)
def test_shared_hessian_shortcut_equals_the_general_blocks(alg, tau_u, tau_v):
    """The low-rank sum of ``A_i P A_i^T`` (shared Hessian) equals the per-device products."""
    p = _problem(False, noise_u=0.3)
    cfg = simulators.RunConfig(alg, T=2, m=2, tau_u=tau_u, tau_v=tau_v)
    maps = exact._maps(exact._device(p), p, cfg, simulators.ALGORITHMS[alg])
    rng = np.random.default_rng(1)
    for rmap in (m for m in maps if m is not None):
        assert rmap.shared
        X = rng.standard_normal((rmap.D, rmap.D))
        P = X @ X.T
        fast, slow = np.zeros_like(P), np.zeros_like(P)
        rmap._shared_blocks(P, 1.0, fast)
        rmap._scatter(rmap.per_device(P), slow)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12 * np.abs(slow).max())
