"""Plain-NumPy reference implementations of FedAlt, FedSim, FedAvg, local training and FedRecon.

Written from the round structure and local updates of Pillutla et al. (2022)
(docs/references.md#pillutla2022-algorithms)
and docs/architecture.md#the-algorithms, one device and one local step at a time, with no
attempt at speed. The round kernels of ``simulators`` must agree with it (tests in this folder).

What is shared with the kernels, and what is not
------------------------------------------------
The reference calls the problem's per-device oracle (``problem.loss_fn``, ``grad_u_fn``,
``grad_v_fn`` on ``problem.data``): the objective is part of the problem, not of the algorithm,
and its gradients are tested separately (finite differences, in tests/synthetic). Everything
else (the local loops, the server average, the personal-state bookkeeping, the metrics) is
written here in NumPy.

The reference does not sample devices: it replays the sampled sets ``h.clients`` of the run it
is compared with (uniformity of the sampling is tested on its own in tests/simulators).

Counter convention of the random numbers
----------------------------------------
Every random number is a pure function of a counter (see ``simulators._rng``). In round ``t``,
device ``i`` draws, at its local step with counter ``k``:

- additive gradient noise ``xi = sigma / sqrt(d) * normal_vector(seed, stream, t, i, k, d)``
  with ``stream = STREAM_NOISE_U`` (``d = d_u``, ``sigma = noise_u``) for a u-gradient and
  ``STREAM_NOISE_V`` (``d = d_v``, ``sigma = noise_v``) for a v-gradient, i.e. normals
  ``k d .. k d + d - 1`` of the key ``(seed, stream, t, i, 0)``, regenerated in NumPy by
  ``naive_rng`` (not the kernels' code); no noise is drawn when ``sigma == 0`` or ``d == 0``;
- minibatch indices ``batch_indices(seed, t, i, k, sizes[i], batch)`` (uniform with
  replacement) when the problem is a finite sum with ``batch > 0``; otherwise the exact
  gradient (empty index array).

The step counter ``k`` is

- alternating updates (``fedalt``, ``fedrecon``, ``local``): ``k = 0 .. tau_v - 1`` for the
  v-steps and ``k = tau_v .. tau_v + tau_u - 1`` for the u-steps that follow, so the two phases
  never share a minibatch;
- joint updates (``fedsim``, ``fedavg``): ``k = 0 .. tau - 1``; both partial gradients of step
  ``k`` use the same minibatch (and their own noise streams).

Initial point
-------------
``problem.init(seed)`` unless ``u0``/``V0`` are given. ``fedavg`` has one global v: every device
starts from the mean of the rows of the initial ``V``. ``local`` gives every device its own copy
of ``u0``. ``fedrecon`` restarts each sampled device's v from its initial row every round.

Metrics (recorded at rounds ``0, e, 2e, ..., T`` for ``eval_every = e``)
----------------------------------------------------------------------
``loss = (1/n) sum_i F_i(u, v_i)``, ``grad_u_sq = ||(1/n) sum_i grad_u F_i(u, v_i)||^2`` (for
``local``: ``(1/n) sum_i ||grad_u F_i(u_i, v_i)||^2``), ``grad_v_sq = (1/n) sum_i
||grad_v F_i(u, v_i)||^2``, all at the start of the round, and for ``fedalt``/``fedrecon``
``grad_u_sq_at_V_next = ||grad_u F(u^t, V^{t+1})||^2`` (NaN for the others and at round T);
``meta_grad_sq`` is NaN and ``personal_loss`` is ``loss`` (the personalised loss at the iterate).
Per-FedAvg and Ditto are in ``naive_meta`` (``reference_run`` hands them over).
"""

from __future__ import annotations

import numpy as np
from naive_rng import normal_vector

from partialfed.simulators._rng import STREAM_NOISE_U, STREAM_NOISE_V, batch_indices

ALTERNATING = ("fedalt", "fedrecon", "local")
JOINT = ("fedsim", "fedavg")
_NO_IDX = np.empty(0, dtype=np.int64)


class Oracle:
    """Per-device loss and (stochastic) partial gradients of a problem, with the run's noise.

    Parameters
    ----------
    problem : synthetic.Problem
    seed : int
        Seed of the run (keys all noise and minibatches).
    """

    def __init__(self, problem, seed):
        self.p = problem
        self.seed = int(seed)

    def loss(self, i, u, v):
        """``F_i(u, v)``."""
        return float(self.p.loss_fn(self.p.data, i, u, v))

    def exact(self, i, u, v):
        """``(grad_u F_i(u, v), grad_v F_i(u, v))``."""
        gu = np.empty(self.p.d_u)
        gv = np.empty(self.p.d_v)
        self.p.grad_u_fn(self.p.data, i, u, v, gu, _NO_IDX)
        self.p.grad_v_fn(self.p.data, i, u, v, gv, _NO_IDX)
        return gu, gv

    def batch(self, t, i, k):
        """Minibatch indices of device ``i`` at round ``t``, step counter ``k`` (maybe empty)."""
        if self.p.batch == 0:
            return _NO_IDX
        return batch_indices(self.seed, t, i, k, int(self.p.sizes[i]), int(self.p.batch))

    def noise(self, stream, sigma, d, t, i, k):
        """Additive gradient noise ``N(0, sigma^2/d I)`` for counter ``(t, i, k)``."""
        if sigma == 0.0 or d == 0:
            return np.zeros(d)
        return (sigma / np.sqrt(d)) * normal_vector(self.seed, stream, t, i, k, d)

    def stoch_u(self, i, u, v, t, k, idx=None):
        """Stochastic ``grad_u f_i(u, v; z)`` (+ noise) for counter ``(t, i, k)``."""
        idx = self.batch(t, i, k) if idx is None else idx
        g = np.empty(self.p.d_u)
        self.p.grad_u_fn(self.p.data, i, u, v, g, idx)
        return g + self.noise(STREAM_NOISE_U, self.p.noise_u, self.p.d_u, t, i, k)

    def stoch_v(self, i, u, v, t, k, idx=None):
        """Stochastic ``grad_v f_i(u, v; z)`` (+ noise) for counter ``(t, i, k)``."""
        idx = self.batch(t, i, k) if idx is None else idx
        g = np.empty(self.p.d_v)
        self.p.grad_v_fn(self.p.data, i, u, v, g, idx)
        return g + self.noise(STREAM_NOISE_V, self.p.noise_v, self.p.d_v, t, i, k)


def population_metrics(oracle, U, V, per_device=False):
    """``(F, Delta_u, Delta_v)`` at ``(U, V)``; ``U`` is ``(d_u,)`` or ``(n, d_u)`` (local).

    Parameters
    ----------
    oracle : Oracle
    U : array
        The shared ``u``, or one row per device when ``per_device``.
    V : (n, d_v) array
    per_device : bool
        ``Delta_u`` is then the mean of the devices' squared u-gradient norms.
    """
    n = V.shape[0]
    rows = [U[i] if per_device else U for i in range(n)]
    losses = np.array([oracle.loss(i, rows[i], V[i]) for i in range(n)])
    grads = [oracle.exact(i, rows[i], V[i]) for i in range(n)]
    Gu = np.stack([g[0] for g in grads])
    Gv = np.stack([g[1] for g in grads])
    if per_device:
        du = float(np.mean(np.sum(Gu**2, axis=1)))
    else:
        du = float(np.sum(Gu.mean(axis=0) ** 2))
    return float(losses.mean()), du, float(np.mean(np.sum(Gv**2, axis=1)))


def alternating_update(oracle, i, u, v, t, cfg):
    """FedAlt's local update on device ``i`` (docs/references.md#pillutla2022-fedalt).

    ``tau_v`` steps on ``v`` at the fixed ``u``, then ``tau_u`` steps on a copy of ``u`` at the
    new ``v``. Returns ``(u_i^+, v_i^+)``.
    """
    v = v.copy()
    for k in range(cfg.tau_v):
        v = v - cfg.gamma_v * oracle.stoch_v(i, u, v, t, k)
    u = u.copy()
    for k in range(cfg.tau_u):
        u = u - cfg.gamma_u * oracle.stoch_u(i, u, v, t, cfg.tau_v + k)
    return u, v


def joint_update(oracle, i, u, v, t, cfg):
    """FedSim's local update on device ``i`` (docs/references.md#pillutla2022-fedsim).

    ``tau`` steps; both partial gradients at the same point, from the same minibatch.
    Returns ``(u_i^+, v_i^+)``.
    """
    for k in range(cfg.tau_u):
        idx = oracle.batch(t, i, k)
        gu = oracle.stoch_u(i, u, v, t, k, idx)
        gv = oracle.stoch_v(i, u, v, t, k, idx)
        u, v = u - cfg.gamma_u * gu, v - cfg.gamma_v * gv
    return u, v


def initial_state(problem, cfg, u0=None, V0=None):
    """``(u, V)`` at round 0 as the paper's algorithm ``cfg.algorithm`` starts.

    ``u`` has shape ``(n, d_u)`` for ``local`` (one per device), else ``(d_u,)``.
    """
    u_init, V_init = problem.init(cfg.seed)
    u = np.array(u0 if u0 is not None else u_init, dtype=float)
    V = np.array(V0 if V0 is not None else V_init, dtype=float).reshape(problem.n, problem.d_v)
    if cfg.algorithm == "fedavg":
        V = np.tile(V.mean(axis=0), (problem.n, 1))
    if cfg.algorithm == "local":
        u = np.tile(u, (problem.n, 1))
    return u, V


def recorded_rounds(T, every):
    """Rounds at which metrics are recorded: ``0, every, 2 every, ..., T`` (T always)."""
    return sorted(set(range(0, T + 1, every)) | {T})


def reference_run(problem, cfg, clients, u0=None, V0=None):
    """Run ``cfg.algorithm`` on ``problem`` in plain NumPy, replaying the sampled ``clients``.

    Parameters
    ----------
    problem : synthetic.Problem
    cfg : simulators.RunConfig
    clients : (T, m) int array
        The devices of each round (``History.clients`` of the run to compare with).
    u0, V0 : arrays, optional
        Initial point (default ``problem.init(cfg.seed)``).

    Returns
    -------
    dict
        ``rounds``, ``loss``, ``grad_u_sq``, ``grad_v_sq``, ``grad_u_sq_at_V_next``, ``u``,
        ``V`` and, for ``local``, ``U`` (one u per device; ``u`` is then their mean).
    """
    alg = cfg.algorithm
    if alg in ("perfedavg", "ditto"):
        from naive_meta import reference_meta_run

        return reference_meta_run(problem, cfg, clients, u0, V0)
    clients = np.asarray(clients)
    assert clients.shape == (cfg.T, cfg.m)
    oracle = Oracle(problem, cfg.seed)
    u, V = initial_state(problem, cfg, u0, V0)
    V_initial = V.copy()
    per_device = alg == "local"
    rounds = recorded_rounds(cfg.T, cfg.eval_every)
    out = {k: [] for k in ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next")}
    for t in range(cfg.T + 1):
        record = t in rounds
        if record:
            f, du, dv = population_metrics(oracle, u, V, per_device)
            out["loss"].append(f)
            out["grad_u_sq"].append(du)
            out["grad_v_sq"].append(dv)
            out["grad_u_sq_at_V_next"].append(np.nan)
        if t == cfg.T:
            break
        S = [int(i) for i in clients[t]]
        new_u, new_v = {}, {}
        for i in S:
            u_start = u[i] if per_device else u
            v_start = V_initial[i] if alg == "fedrecon" else V[i]
            update = alternating_update if alg in ALTERNATING else joint_update
            new_u[i], new_v[i] = update(oracle, i, u_start, v_start, t, cfg)
        if record and alg in ("fedalt", "fedrecon"):
            # ||grad_u F(u^t, V^{t+1})||^2: the v-phase result of every sampled device.
            V_next = V.copy()
            for i in S:
                V_next[i] = new_v[i]
            out["grad_u_sq_at_V_next"][-1] = population_metrics(oracle, u, V_next)[1]
        if per_device:
            u = u.copy()
            for i in S:
                u[i] = new_u[i]
        else:
            u = np.mean([new_u[i] for i in S], axis=0)
        V = V.copy()
        if alg == "fedavg":
            V[:] = np.mean([new_v[i] for i in S], axis=0)
        else:
            for i in S:
                V[i] = new_v[i]
    result = {k: np.array(v) for k, v in out.items()}
    result["meta_grad_sq"] = np.full(len(rounds), np.nan)
    result["personal_loss"] = result["loss"].copy()
    result["rounds"] = np.array(rounds)
    result["V"] = V
    if per_device:
        result["U"] = u
        result["u"] = u.mean(axis=0)
    else:
        result["u"] = u
    from naive_accuracy import with_accuracy

    return with_accuracy(oracle, cfg, result)
