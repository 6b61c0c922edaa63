"""The ``run``/``History`` contract over ``ALGORITHMS x FAMILIES``
(docs/architecture.md#the-algorithms)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sim_helpers import config, tiny_problem

from partialfed import simulators, synthetic

FAMILIES = sorted(synthetic.FAMILIES)
ALGORITHMS = sorted(simulators.ALGORITHMS)
N = 7


@pytest.fixture(scope="module", params=FAMILIES)
def problem(request):
    return tiny_problem(request.param, noisy=True, n=N)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_history_shapes_and_frame(problem, algorithm):
    cfg = config(problem, algorithm, T=7, m=3, eval_every=3)
    h = simulators.run(problem, cfg)
    R = 4  # rounds 0, 3, 6, 7
    np.testing.assert_array_equal(h.rounds, [0, 3, 6, 7])
    assert (h.algorithm, h.config, h.problem, h.status, h.diverged_at) == (
        algorithm,
        cfg,
        problem.name,
        "ok",
        None,
    )
    assert h.knobs == dict(problem.knobs)
    assert h.F_low == problem.constants.F_low
    for name in (*simulators.METRICS, *simulators.PERSONAL_METRICS):
        metric = getattr(h, name)
        assert metric.shape == (R,) and metric.dtype == np.float64, name
    for name in ("loss", "grad_u_sq", "grad_v_sq"):
        assert np.all(np.isfinite(getattr(h, name))), name
    assert np.all(h.grad_u_sq >= 0) and np.all(h.grad_v_sq >= 0)
    at_next = h.grad_u_sq_at_V_next
    if algorithm in ("fedalt", "fedrecon"):
        assert np.all(np.isfinite(at_next[:-1])) and np.isnan(at_next[-1])
    else:
        assert np.all(np.isnan(at_next))
    # the test accuracy: at round T only, for a problem with a held-out test set (teacher)
    acc = h.personal_accuracy
    assert np.all(np.isnan(acc[:-1]))
    if problem.test is None:
        assert np.isnan(acc[-1])
    else:
        assert 0.0 <= acc[-1] <= 1.0
    assert h.clients.shape == (cfg.T, cfg.m) and np.issubdtype(h.clients.dtype, np.integer)

    assert h.u.shape == (problem.d_u,) and h.V.shape == (problem.n, problem.d_v)
    if algorithm == "local":
        assert h.U.shape == (problem.n, problem.d_u)
        np.testing.assert_allclose(h.u, h.U.mean(axis=0), rtol=1e-15)
    else:
        assert h.U is None
    if simulators.ALGORITHMS[algorithm].global_v:
        assert np.all(h.V == h.V[0])  # one global v
    frame = h.to_frame()
    # a family with a region function (representation) also records where its iterates are
    region = [simulators.REGION] if h.region is not None else []
    personal = list(simulators.PERSONAL_METRICS)
    assert list(frame.columns) == ["round", *simulators.METRICS, *personal, *region, "status"]
    if h.region is not None:
        assert h.region.shape == (R,) and np.all(np.isfinite(h.region))
    assert len(frame) == R
    np.testing.assert_array_equal(frame["round"], h.rounds)
    np.testing.assert_array_equal(frame["loss"], h.loss)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sampled_clients_distinct_sorted_in_range(problem, algorithm):
    h = simulators.run(problem, config(problem, algorithm, T=20, m=4, eval_every=20))
    c = h.clients
    assert np.all((c >= 0) & (c < problem.n))
    assert np.all(np.diff(c, axis=1) > 0)  # strictly increasing: sorted and distinct


def test_clients_depend_on_seed_only(problem):
    """Same seed, same devices for every algorithm (common random numbers across algorithms)."""
    clients = [
        simulators.run(problem, config(problem, alg, T=10, m=3, seed=5)).clients
        for alg in ALGORITHMS
    ]
    for c in clients[1:]:
        np.testing.assert_array_equal(c, clients[0])
    other = simulators.run(problem, config(problem, "fedalt", T=10, m=3, seed=6)).clients
    assert not np.array_equal(other, clients[0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_full_participation_every_device_every_round(problem, algorithm):
    h = simulators.run(problem, config(problem, algorithm, T=3, m=problem.n))
    np.testing.assert_array_equal(h.clients, np.tile(np.arange(problem.n), (3, 1)))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_non_sampled_devices_unchanged(problem, algorithm):
    """One round: v_i (and, for ``local``, u_i) of the devices not sampled stay as they were."""
    cfg = config(problem, algorithm, T=1, m=3)
    u0, V0 = problem.init(cfg.seed)
    h = simulators.run(problem, cfg)
    sampled = np.zeros(problem.n, bool)
    sampled[h.clients[0]] = True
    if simulators.ALGORITHMS[algorithm].global_v:
        # v is global: every row is the average of the sampled ones
        assert np.all(h.V == h.V[0]) and not np.allclose(h.V[0], V0.mean(axis=0))
        if h.personal_V is not None:  # Ditto: personal models start at the global model
            start = np.tile(V0.mean(axis=0), ((~sampled).sum(), 1))
            np.testing.assert_array_equal(h.personal_V[~sampled], start)
        return
    np.testing.assert_array_equal(h.V[~sampled], V0[~sampled])
    if problem.d_v:
        assert not np.array_equal(h.V[sampled], V0[sampled])
    if algorithm == "local":
        np.testing.assert_array_equal(h.U[~sampled], np.tile(u0, ((~sampled).sum(), 1)))
        assert not np.array_equal(h.U[sampled], np.tile(u0, (3, 1)))


def test_fedrecon_restarts_personal_parameters():
    """FedRecon is stateless: with every device every round and no noise, V^{t} is the same
    reconstruction of V^0 at u^{t-1}; with gamma_u = 0, every round gives the same V."""
    p = tiny_problem("quadratic", n=N)
    cfg = config(p, "fedrecon", T=3, m=N, gamma_u=0.0)
    V1 = simulators.run(p, config(p, "fedrecon", T=1, m=N, gamma_u=0.0)).V
    np.testing.assert_array_equal(simulators.run(p, cfg).V, V1)
    assert not np.allclose(simulators.run(p, config(p, "fedalt", T=3, m=N, gamma_u=0.0)).V, V1)


def test_uniform_sampling_frequencies():
    """Over many rounds each device is sampled m/n of the time, and each pair
    m(m-1)/(n(n-1)) of the time (chi-square goodness of fit, fixed seeds: no flakiness)."""
    p = tiny_problem("quadratic", n=10)
    n, m, T = p.n, 3, 6000
    for seed in (0, 1):
        h = simulators.run(
            p,
            simulators.RunConfig(
                "fedalt", T=T, m=m, gamma_u=0.0, gamma_v=0.0, seed=seed, eval_every=T
            ),
        )
        counts = np.bincount(h.clients.ravel(), minlength=n)
        assert counts.sum() == T * m
        assert stats.chisquare(counts).pvalue > 1e-3, counts
        pairs = np.zeros((n, n))
        for a in range(m):
            for b in range(a + 1, m):
                np.add.at(pairs, (h.clients[:, a], h.clients[:, b]), 1)
        upper = pairs[np.triu_indices(n, 1)]
        assert stats.chisquare(upper).pvalue > 1e-3
        # Rounds are not repeats of each other (the sampler moves on every round).
        assert len({tuple(r) for r in h.clients}) > 100


def decoupled(family, chi):
    try:
        p = tiny_problem(family, n=N, chi=chi)
    except ValueError as exc:
        pytest.skip(f"{family!r} cannot be built with chi={chi}: {exc}")
    if "chi" not in p.knobs:
        pytest.skip(f"{family!r} has no 'chi' knob")
    return p


@pytest.mark.parametrize("family", [f for f in FAMILIES if "chi" in synthetic.knobs_of(f)])
@pytest.mark.parametrize("tau", [1, 3])
@pytest.mark.parametrize("m", [3, N])
def test_fedsim_equals_fedalt_when_blocks_decouple(family, tau, m):
    """With chi = 0 (L_uv = L_vu = 0: grad_u F_i does not depend on v, nor grad_v F_i on u),
    FedAlt's u-steps at the new v equal FedSim's u-steps at the old v, for any tau and m: the
    two runs coincide. This is *not* true for chi > 0 (checked too)."""
    p = decoupled(family, 0.0)
    assert p.constants.L_uv == 0 and p.constants.L_vu == 0
    runs = {
        a: simulators.run(p, config(p, a, T=5, m=m, tau_u=tau, tau_v=tau))
        for a in ("fedalt", "fedsim")
    }
    alt, sim = runs["fedalt"], runs["fedsim"]
    for name in ("loss", "grad_u_sq", "grad_v_sq", "u", "V"):
        np.testing.assert_allclose(getattr(alt, name), getattr(sim, name), rtol=1e-13, err_msg=name)
    # and FedAlt's u-measure at V^{t+1} equals the one at V^t: grad_u F does not see V.
    np.testing.assert_allclose(alt.grad_u_sq_at_V_next[:-1], alt.grad_u_sq[:-1], rtol=1e-13)

    coupled = decoupled(family, 0.5)
    alt = simulators.run(coupled, config(coupled, "fedalt", T=5, m=m, tau_u=tau, tau_v=tau))
    sim = simulators.run(coupled, config(coupled, "fedsim", T=5, m=m, tau_u=tau, tau_v=tau))
    assert not np.allclose(alt.u, sim.u)


@pytest.mark.parametrize("family", [f for f in FAMILIES if "chi" in synthetic.knobs_of(f)])
def test_decoupled_noisy_fedsim_fedalt_share_v_not_u(family):
    """With noise, chi = 0: both algorithms draw v-noise with the same counters (t, i, k), so V
    agrees; FedAlt's u-steps use counters tau_v + k, FedSim's k, so u differs."""
    p = tiny_problem(family, noisy=True, n=N, chi=0.0)
    alt = simulators.run(p, config(p, "fedalt", T=4, m=3, tau_u=2, tau_v=2))
    sim = simulators.run(p, config(p, "fedsim", T=4, m=3, tau_u=2, tau_v=2))
    np.testing.assert_allclose(alt.V, sim.V, rtol=1e-13)
    np.testing.assert_allclose(alt.grad_v_sq, sim.grad_v_sq, rtol=1e-13)
    assert not np.allclose(alt.u, sim.u)
