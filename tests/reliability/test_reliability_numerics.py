"""Numerics: float64 throughout, extreme (but accepted) knobs never crash, fixed reduction order.

The kernels sum the sampled devices' ``u`` in ascending device index (the server average) and
reduce population metrics over 64 fixed chunks of devices, in chunk order. A plain-NumPy replay
with the same order gives the same numbers (bit for bit where feasible); the server average in a
permuted order changes results only in the last bits (``rtol = 1e-13``).
"""

from __future__ import annotations

import numpy as np
import pytest
from naive_fl import Oracle, alternating_update, joint_update, population_metrics
from reliability_helpers import tiny_problem

from partialfed import simulators, synthetic

ALGORITHMS = sorted(simulators.ALGORITHMS)


@pytest.mark.parametrize("family", sorted(synthetic.FAMILIES))
def test_history_and_iterates_are_float64(family):
    p = tiny_problem(family)
    u0, V0 = p.init(0)
    assert u0.dtype == V0.dtype == np.float64
    for alg in ALGORITHMS:
        h = simulators.run(p, simulators.RunConfig(alg, T=3, m=2))
        for name in ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next", "u", "V"):
            assert getattr(h, name).dtype == np.float64, (alg, name)
        assert h.clients.dtype == np.int64
        assert h.to_frame()["loss"].dtype == np.float64


#: Knobs at the largest values the validators accept (n stays tiny).
EXTREMES = [
    ("quadratic", {"delta": 1e6}),
    ("quadratic", {"noise_u": 1e6, "noise_v": 1e6}),
    ("quadratic", {"L_u": 1e6, "L_v": 1e6, "mu_u": 1e-6, "mu_v": 1e-6}),
    ("quadratic", {"personal": 1e6, "chi": 0.999999}),
    ("quadratic", {"hessian_spread": 0.999999, "chi": 0.0, "delta": 1e6}),
    ("separable", {"L_v": 1e6, "personal": 1e6, "noise_u": 1e6}),
    ("separable", {"ridge": 1e6, "noise_v": 1e6}),
    ("logistic", {"heterogeneity": 1e3, "lam": 1e6, "noise_u": 1e6}),
    ("representation", {"label_noise": 1e6, "beta_B": 1e6, "beta_w": 1e6}),
]


@pytest.mark.parametrize(("family", "knobs"), EXTREMES)
@pytest.mark.parametrize("gamma", [1e-3, 1e6])
def test_extreme_knobs_finite_or_clean_divergence(family, knobs, gamma):
    p = tiny_problem(family, **knobs)
    assert all(np.isfinite(v) for v in p.constants.as_dict().values() if v != np.inf)
    for alg in ("fedalt", "fedsim"):
        h = simulators.run(p, simulators.RunConfig(alg, T=5, m=3, gamma_u=gamma, gamma_v=gamma))
        if h.status == "ok":
            assert np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.u)), (alg, h)
        else:
            assert h.status == "diverged" and h.diverged_at is not None
            assert np.isfinite(h.loss[0])


def replay(problem, cfg, clients, order=None):
    """Plain-NumPy FedAlt/FedSim replaying ``clients``; the server sums local u's in ``order``.

    Parameters
    ----------
    problem : synthetic.Problem
    cfg : simulators.RunConfig
        ``fedalt`` or ``fedsim``.
    clients : (T, m) int array
        ``History.clients`` of the run to compare with.
    order : callable, optional
        ``order(t, m) -> permutation of range(m)``: the order in which the sampled devices'
        u's are added up in round t (default ascending device index, as the kernels do).

    Returns
    -------
    dict
        ``loss`` (per round) and the final ``u``, ``V``.
    """
    oracle = Oracle(problem, cfg.seed)
    u, V = problem.init(cfg.seed)
    update = alternating_update if cfg.algorithm == "fedalt" else joint_update
    losses = []
    for t in range(cfg.T + 1):
        losses.append(population_metrics(oracle, u, V)[0])
        if t == cfg.T:
            break
        S = [int(i) for i in clients[t]]
        new = {i: update(oracle, i, u, V[i], t, cfg) for i in S}
        perm = range(len(S)) if order is None else order(t, len(S))
        total = np.zeros_like(u)
        for j in perm:
            total = total + new[S[j]][0]
        u = total / len(S)
        V = V.copy()
        for i in S:
            V[i] = new[i][1]
    return {"loss": np.array(losses), "u": u, "V": V}


@pytest.mark.parametrize("alg", ["fedalt", "fedsim"])
def test_server_average_order_only_moves_last_bits(alg):
    p = tiny_problem("quadratic", n=7, noise_u=0.5, noise_v=0.5, chi=0.7)
    cfg = simulators.RunConfig(alg, T=12, m=6, tau_u=2, tau_v=2, gamma_u=0.2, gamma_v=0.2, seed=3)
    h = simulators.run(p, cfg)
    ascending = replay(p, cfg, h.clients)
    rng = np.random.default_rng(0)
    permuted = replay(p, cfg, h.clients, order=lambda t, m: rng.permutation(m)[::-1])
    for key in ("u", "V", "loss"):
        got = getattr(h, key)
        assert np.allclose(got, ascending[key], rtol=1e-13, atol=0), key
        assert np.allclose(got, permuted[key], rtol=1e-13, atol=1e-300), key
    # Same order as the kernels: the same bits for the iterates.
    assert np.array_equal(h.u, ascending["u"]) and np.array_equal(h.V, ascending["V"])


def test_population_metrics_reduce_over_64_fixed_chunks():
    """``F`` and ``||grad_u F||^2`` equal a NumPy sum in the kernels' chunk order, bit for bit;
    any other order agrees to rtol 1e-13."""
    n = 200
    p = tiny_problem("quadratic", n=n)
    u, V = p.init(5)
    oracle = Oracle(p, 0)
    losses = np.array([oracle.loss(i, u, V[i]) for i in range(n)])
    grads = np.stack([oracle.exact(i, u, V[i])[0] for i in range(n)])
    nc = min(64, n)
    bounds = [((c * n) // nc, ((c + 1) * n) // nc) for c in range(nc)]

    def chunked(values, order):
        parts = []
        for lo, hi in bounds:
            acc = np.zeros_like(values[0])
            for i in order[lo:hi] if order is not None else range(lo, hi):
                acc = acc + values[i]
            parts.append(acc)
        total = np.zeros_like(values[0])
        for part in parts:
            total = total + part
        return total

    F = chunked(losses, None) / n
    g = chunked(grads, None) / n
    assert p.F(u, V) == F
    assert p.grad_norms(u, V)[0] == float(np.sum(g**2))
    h = simulators.run(p, simulators.RunConfig("fedalt", T=1, m=2), u0=u, V0=V)
    assert h.loss[0] == F
    shuffled = np.random.default_rng(1).permutation(n)
    F_perm = chunked(losses, shuffled) / n
    assert np.isclose(p.F(u, V), F_perm, rtol=1e-13, atol=0)
