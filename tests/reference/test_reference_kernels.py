"""The round kernels agree with the plain-NumPy reference (``naive_fl``) to 1e-12.

For every family of ``synthetic.FAMILIES`` (new families are picked up automatically) and every
algorithm of ``simulators.ALGORITHMS``: deterministic and stochastic gradients (additive noise
and/or minibatches), full and partial participation, ``eval_every`` of 1 and > 1. Sizes are tiny;
the cost is the first compile of each family's round kernel (one per family, cached on disk).
"""

from __future__ import annotations

import numpy as np
import pytest
from naive_fl import reference_run

from partialfed import simulators, synthetic

RTOL = 1e-12
FAMILIES = sorted(synthetic.FAMILIES)
ALGORITHMS = sorted(simulators.ALGORITHMS)
N = 6


def tiny_problem(family, noisy, **extra):
    """A tiny instance of ``family``: only the knobs the family has are set.

    ``noisy`` turns on every source of stochastic gradients the family offers (additive noise
    ``noise_u``/``noise_v`` and/or minibatches ``batch``). Returns ``None`` if it offers none.
    """
    knobs = synthetic.knobs_of(family)
    want = {"n": N, "seed": 3, "samples": 8}
    if "d" in knobs and "k" in knobs:  # dimensions derived from (d, k), e.g. representation
        want.update(d=3, k=2)
    else:
        want.update(d_u=3, d_v=2)
    if noisy:
        want.update(noise_u=0.3, noise_v=0.2, batch=2)
    want.update(extra)
    p = synthetic.make(family, **{k: v for k, v in want.items() if k in knobs})
    if noisy and p.noise_u == 0 and p.noise_v == 0 and p.batch == 0:
        return None
    return p


@pytest.fixture(scope="module", params=FAMILIES)
def problems(request):
    """``(deterministic, noisy)`` tiny instances of one family."""
    return request.param, tiny_problem(request.param, False), tiny_problem(request.param, True)


def step_sizes(p):
    c = p.constants
    return 0.4 / max(c.L_u, 1e-12), 0.4 / max(c.L_v, 1e-12)


# (name, noisy, m, T, eval_every)
CASES = [
    ("det-full", False, N, 5, 1),
    ("det-partial-every2", False, 3, 7, 2),
    ("noisy-partial-every3", True, 2, 7, 3),
    ("noisy-full", True, N, 4, 1),
]


def assert_close(name, got, want):
    """Elementwise ``|got - want| <= RTOL * max|want|`` (NaN where ``want`` is NaN)."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, name
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaN pattern differs"
    ok = ~np.isnan(want)
    if not ok.any():
        return
    scale = np.max(np.abs(want[ok]))
    err = np.max(np.abs(got[ok] - want[ok]))
    assert err <= RTOL * max(scale, 1e-300), f"{name}: max error {err:.3g} (scale {scale:.3g})"


def compare(p, cfg, **init):
    h = simulators.run(p, cfg, **init)
    assert h.status == "ok", h.message
    ref = reference_run(p, cfg, h.clients, **init)
    np.testing.assert_array_equal(h.rounds, ref["rounds"])
    for name in (*simulators.METRICS, *simulators.PERSONAL_METRICS):
        assert_close(name, getattr(h, name), ref[name])
    assert_close("u", h.u, ref["u"])
    assert_close("V", h.V, ref["V"])
    if cfg.algorithm == "local":
        assert_close("U", h.U, ref["U"])
    if cfg.algorithm == "ditto":
        assert_close("personal_U", h.personal_U, ref["personal_U"])
        assert_close("personal_V", h.personal_V, ref["personal_V"])
    return h, ref


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernel_matches_reference(problems, algorithm, case):
    family, det, noisy_p = problems
    _, noisy, m, T, every = case
    p = noisy_p if noisy else det
    if p is None:
        pytest.skip(f"family {family!r} has no stochastic-gradient knob (noise_u/noise_v/batch)")
    joint = simulators.ALGORITHMS[algorithm].joint_steps
    gu, gv = step_sizes(p)
    cfg = simulators.RunConfig(
        algorithm,
        T=T,
        m=m,
        tau_u=2,
        tau_v=2 if joint else 3,
        gamma_u=gu,
        gamma_v=gv,
        seed=11,
        eval_every=every,
    )
    h, _ = compare(p, cfg)
    if noisy:
        # The noise really is there: the deterministic run ends elsewhere.
        h_det = simulators.run(det, cfg)
        assert not np.array_equal(h.loss, h_det.loss)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_given_initial_point(problems, algorithm):
    """``run(p, cfg, u0=..., V0=...)`` starts there (and the reference agrees)."""
    family, det, _ = problems
    rng = np.random.default_rng(5)
    u0 = rng.standard_normal(det.d_u)
    V0 = rng.standard_normal((det.n, det.d_v))
    joint = simulators.ALGORITHMS[algorithm].joint_steps
    gu, gv = step_sizes(det)
    cfg = simulators.RunConfig(
        algorithm, T=3, m=4, tau_u=2, tau_v=2 if joint else 1, gamma_u=gu, gamma_v=gv, seed=2
    )
    h, ref = compare(det, cfg, u0=u0, V0=V0)
    assert not np.allclose(h.loss[0], simulators.run(det, cfg).loss[0])


def test_reference_counts_devices_and_steps():
    """Sanity of the reference itself: with gamma = 0 nothing moves."""
    p = tiny_problem(FAMILIES[0], True) or tiny_problem(FAMILIES[0], False)
    cfg = simulators.RunConfig("fedalt", T=3, m=2, gamma_u=0.0, gamma_v=0.0, seed=1)
    clients = np.array([[0, 1], [2, 3], [1, 5]])
    ref = reference_run(p, cfg, clients)
    u0, V0 = p.init(1)
    np.testing.assert_array_equal(ref["u"], u0)
    np.testing.assert_array_equal(ref["V"], V0)
    assert np.all(ref["loss"] == ref["loss"][0])
