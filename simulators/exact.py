"""Exact expected dynamics of FedAlt, FedSim and FedAvg on the quadratic family.

On ``synthetic.make("quadratic", ...)`` every local step is affine in ``(u, v_i)`` plus
Gaussian noise, and a round is affine in the state ``z = (u, v_1, ..., v_n)`` with
coefficients linear in the inclusion indicators ``1[i in S]``. So the mean and covariance of
``z^t`` follow a closed recursion driven by the inclusion probabilities ``m/n`` and
``m(m-1)/(n(n-1))`` of uniform sampling without replacement, and every metric ``History``
records is a quadratic form in ``z``: its expectation at every round is computed exactly, with
no Monte Carlo (docs/derivations/exact_quadratic_dynamics.md, provenance ``derived``).

It lives in ``simulators`` because it is a simulator of the same algorithms, with the same
``RunConfig`` and the same recorded columns (``expected(...).to_frame()`` has the columns of
``History.to_frame()``), so the checks read it through the same table
(``experiments.measure.COLUMNS``).

Cost: the state has ``D = d_u + n d_v + 1`` coordinates (``d_u + d_v + 1`` for FedAvg, whose
``v`` is global); the covariance takes ``8 D^2`` bytes and a round
``O(D^2 (d_u + d_v))`` operations plus the per-device term, ``O(d^2 d_u + n d^2 d_v)`` with a
shared Hessian and ``O(n d^3)`` with spread Hessians (``d = d_u + d_v``); the local maps cost
``O(tau d^3)`` (shared) or ``O(n tau d^3)`` once (docs/derivations/exact_quadratic_dynamics.md,
§6). :data:`MAX_STATE` bounds ``D`` and :data:`MAX_BLOCKS` ``n (d + 1)^2``.

>>> from partialfed import synthetic, simulators
>>> from partialfed.simulators.exact import expected
>>> p = synthetic.make("quadratic", n=6, d_u=2, d_v=1, noise_u=0.1, start="top")
>>> e = expected(p, simulators.RunConfig("fedalt", T=3, m=2))
>>> e.loss.shape
(4,)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from partialfed._constraints import Array, Interval, validate
from partialfed.simulators._api import ALGORITHMS, BLOWUP, METRICS, RunConfig, _recorded_rounds
from partialfed.simulators._exact_maps import Device, RoundMap, local_maps
from partialfed.synthetic import Problem
from partialfed.synthetic._quadratic_objective import QuadraticData, SpreadQuadraticData

__all__ = ["ALGORITHMS_EXACT", "MAX_BLOCKS", "MAX_STATE", "ExactHistory", "expected", "supports"]

#: The algorithms whose expected dynamics are computed.
ALGORITHMS_EXACT = ("fedalt", "fedsim", "fedavg")

#: Largest state size ``D = d_u + n d_v + 1``: a few ``D x D`` float64 arrays, about 1 GB.
MAX_STATE = 4096

#: Largest ``n (d_u + d_v + 1)^2``: the per-device affine maps, a few such arrays (~1 GB).
MAX_BLOCKS = 2**24

_OWNER = "simulators.exact.expected"


@dataclass
class ExactHistory:
    """Expected metrics at rounds ``rounds``, exactly (the columns of ``History``).

    Attributes
    ----------
    loss, grad_u_sq, grad_v_sq, grad_u_sq_at_V_next : arrays
        ``E F(u^t, V^t)``, ``E ||grad_u F(u^t, V^t)||^2``, ``E Delta_v^t`` and, for FedAlt,
        ``E ||grad_u F(u^t, V^{t+1})||^2`` (NaN otherwise and at round T).
    u, V : arrays
        ``E u^T`` and ``E V^T`` (for FedAvg every row of ``V`` is the global ``v``).
    status : str
        ``"ok"``, or ``"diverged"`` when a moment became non-finite or exceeded ``BLOWUP``
        (``diverged_at`` is that round; metrics from it on are NaN).
    """

    config: RunConfig
    rounds: np.ndarray
    loss: np.ndarray
    grad_u_sq: np.ndarray
    grad_v_sq: np.ndarray
    grad_u_sq_at_V_next: np.ndarray
    u: np.ndarray
    V: np.ndarray
    status: str = "ok"
    diverged_at: int | None = None
    F_low: float = field(default=float("nan"))

    def to_frame(self) -> pd.DataFrame:
        """One row per recorded round: ``round``, the metrics and ``status``, as
        ``History.to_frame``."""
        frame = pd.DataFrame({"round": self.rounds, **{k: getattr(self, k) for k in METRICS}})
        frame["status"] = self.status
        return frame


def supports(problem, algorithm: str) -> str:
    """Why ``expected`` cannot compute ``problem`` under ``algorithm``; ``""`` when it can."""
    if not isinstance(problem, Problem) or not isinstance(
        problem.data, (QuadraticData, SpreadQuadraticData)
    ):
        name = getattr(problem, "name", type(problem).__name__)
        return f"only the quadratic family has exact dynamics (got {name!r})"
    if getattr(problem, "batch", 0):
        return "minibatch gradients are not affine in the iterate"
    if algorithm not in ALGORITHMS_EXACT:
        return f"the algorithm must be one of {', '.join(ALGORITHMS_EXACT)} (got {algorithm!r})"
    D = _state_size(problem, algorithm)
    if D > MAX_STATE:
        return (
            f"the state has D = d_u + n d_v + 1 = {D} coordinates, more than MAX_STATE = "
            f"{MAX_STATE} (memory 8 D^2 bytes per matrix): lower n or d_v"
        )
    blocks = problem.n * (problem.d_u + problem.d_v + 1) ** 2
    if blocks > MAX_BLOCKS:
        return (
            f"the per-device maps have n (d_u + d_v + 1)^2 = {blocks} entries, more than "
            f"MAX_BLOCKS = {MAX_BLOCKS}: lower n, d_u or d_v"
        )
    return ""


def _state_size(problem, algorithm) -> int:
    n_v = 1 if ALGORITHMS[algorithm].global_v else problem.n
    return problem.d_u + n_v * problem.d_v + 1


def _device(problem) -> Device:
    """``H_i`` and ``b_i`` of every device (eq. (X1))."""
    data, n, du, dv = problem.data, problem.n, problem.d_u, problem.d_v
    if isinstance(data, QuadraticData):
        H1 = np.block([[data.A, data.C], [data.C.T, data.B]]) if dv else data.A
        H = np.broadcast_to(H1, (n, du + dv, du + dv))  # a view: no per-device copies
    else:  # A_i = Q diag(lam_i) Q^T, no coupling
        Ai = np.einsum("ak,ik,bk->iab", data.Q, data.lam, data.Q)
        H = np.zeros((n, du + dv, du + dv))
        H[:, :du, :du] = Ai
        H[:, du:, du:] = data.B
    b = np.concatenate([data.bu, data.bv], axis=1)
    return Device(H, b, du, shared=isinstance(data, QuadraticData))


def _maps(dev: Device, problem, config, alg):
    """The round map (eq. (X5)) and, for FedAlt, the map to ``(u^t, V^{t+1})``."""
    n, m, du, dv = problem.n, config.m, problem.d_u, problem.d_v
    var_u = problem.noise_u**2 / du
    var_v = problem.noise_v**2 / dv if dv else 0.0
    G, N, G_mid, N_mid = local_maps(
        dev,
        alg.local_update,
        config.tau_u,
        config.tau_v,
        config.gamma_u,
        config.gamma_v,
        var_u,
        var_v,
    )
    p = m / n
    q = m * (m - 1) / (n * (n - 1)) if n > 1 else 1.0
    d, k = du + dv, du + dv + 1
    ev = np.zeros((dv, k))
    ev[:, du:d] = np.eye(dv)
    # Rows of A_i: u' = (1/m) sum_S u_i^+; v_i' = v_i + s_i (v_i^+ - v_i) (personal) or
    # v' = (1/m) sum_S v_i^+ (global), eq. (X5).
    scale = np.ones(d)
    scale[:du] = 1.0 / m
    if alg.global_v:
        scale[du:] = 1.0 / m
        R = G[:, :d, :] * scale[None, :, None]
    else:
        R = G[:, :d, :] * scale[None, :, None]
        R[:, du:, :] -= ev[None]
    Nr = N * np.outer(scale, scale)[None]
    full = RoundMap(R, Nr, False, not alg.global_v, alg.global_v, du, dv, p, q, dev.shared)
    if G_mid is None:
        return full, None
    Rm = np.zeros_like(R)
    Rm[:, du:, :] = G_mid[:, du:d, :] - ev[None]
    Nm = np.zeros_like(N)
    Nm[:, du:, du:] = N_mid[:, du:, du:]
    return full, RoundMap(Rm, Nm, True, True, False, du, dv, p, q, dev.shared)


class _Forms:
    """The recorded metrics as quadratic forms in the state (eq. (X8)), built once per run.

    ``E phi(z) = phi(mu) + tr(Q_phi Sigma)``: ``Q_F = (1/2n) sum_i E_i^T H_i E_i``,
    ``Q_v = (1/n) sum_i E_i^T K_i^T K_i E_i`` (``K_i`` the v rows of ``H_i``) and
    ``Q_u = L^T L`` with ``L = (1/n) sum_i [A_i, C] E_i`` (``E_i`` selects ``x_i`` from ``z``).
    """

    def __init__(self, dev: Device, rmap: RoundMap):
        du, n, D = dev.d_u, dev.n, rmap.D
        self.dev, self.idx = dev, rmap.index()
        ix = self.idx[:, :-1]
        self.QF = np.zeros((D, D))
        self.Qv = np.zeros((D, D))
        Kv = dev.H[:, du:, :]
        np.add.at(self.QF, (ix[:, :, None], ix[:, None, :]), dev.H / (2 * n))
        np.add.at(self.Qv, (ix[:, :, None], ix[:, None, :]), np.swapaxes(Kv, 1, 2) @ Kv / n)
        L = np.zeros((du, D))
        np.add.at(L.T, ix.ravel(), (np.swapaxes(dev.H[:, :du, :], 1, 2) / n).reshape(-1, du))
        self.Qu = L.T @ L

    def _at_mean(self, mu):
        X = mu[self.idx][:, :-1]  # (n, d): x_i = (u, v_i) at the mean
        Hx = np.einsum("iab,ib->ia", self.dev.H, X)
        return X, Hx, Hx - self.dev.b  # grad F_i at the mean

    def __call__(self, mu, Sigma):
        """``(E F, E ||grad_u F||^2, E Delta_v)`` at mean ``mu`` and covariance ``Sigma``."""
        dev, du = self.dev, self.dev.d_u
        X, Hx, g = self._at_mean(mu)
        loss = np.mean(np.sum(X * (0.5 * Hx - dev.b), axis=1)) + np.sum(self.QF * Sigma)
        du_sq = np.sum(g[:, :du].mean(axis=0) ** 2) + np.sum(self.Qu * Sigma)
        dv_sq = np.mean(np.sum(g[:, du:] ** 2, axis=1)) + np.sum(self.Qv * Sigma)
        return float(loss), float(du_sq), float(dv_sq)

    def grad_u_sq(self, mu, Sigma) -> float:
        """``E ||grad_u F||^2`` alone (the second value of ``self(mu, Sigma)``)."""
        g = self._at_mean(mu)[2]
        return float(np.sum(g[:, : self.dev.d_u].mean(axis=0) ** 2) + np.sum(self.Qu * Sigma))


def _finite(mu, Sigma) -> bool:
    return bool(np.all(np.abs(mu) < BLOWUP) and np.all(np.abs(Sigma) < BLOWUP))


def expected(problem: Problem, config: RunConfig, u0=None, V0=None) -> ExactHistory:
    """The expected metrics of ``config`` on a quadratic problem, at every recorded round.

    Exact up to floating-point rounding: the expectation is over the device sampling and the
    gradient noise of ``simulators.run`` (same algorithm, same ``RunConfig``), from the
    deterministic start ``(u0, V0)`` (default ``problem.init(config.seed)``, as ``run``).

    Parameters
    ----------
    problem : synthetic.Problem
        Built by ``synthetic.make("quadratic", ...)`` (shared or spread Hessians).
    config : simulators.RunConfig
        ``algorithm`` one of :data:`ALGORITHMS_EXACT`; any ``tau_u``, ``tau_v``, ``m``.
    u0, V0 : arrays, optional

    Returns
    -------
    ExactHistory

    Raises
    ------
    ValueError
        For another family, a minibatch problem, another algorithm, ``m > n`` or a state
        larger than :data:`MAX_STATE`.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(
            f"The 'config' parameter of {_OWNER} must be a simulators.RunConfig. "
            f"Got {type(config).__name__}."
        )
    why = supports(problem, config.algorithm)
    if why:
        raise ValueError(f"{_OWNER} cannot compute this run: {why}.")
    validate(config.m, "m", _OWNER, Interval(int, 1, problem.n))
    alg = ALGORITHMS[config.algorithm]
    u_init, V_init = problem.init(config.seed)
    if u0 is not None:
        u_init = validate(u0, "u0", _OWNER, Array((problem.d_u,)))
    if V0 is not None:
        V_init = validate(V0, "V0", _OWNER, Array((problem.n, problem.d_v)))
    with _blas_threads(1):
        return _recursion(problem, config, alg, u_init, V_init)


#: The BLAS thread pools, found once (``threadpoolctl``), or None before the first run.
_BLAS = None


def _blas_threads(k: int):
    """A context in which NumPy's BLAS uses ``k`` threads.

    The recursion multiplies matrices of a few hundred rows one round after another; BLAS
    threads that spin between those products made ``expected`` 7x slower on a loaded 2-core
    machine (``n=10, d_u=400, d_v=1, T=25`` FedAlt: 7.6 s with the default 2 threads, 1.1 s with
    1; load average 10). A product's rounding can depend on BLAS's thread count (that case
    differs from the 2-thread result by 2e-16 relative), so with one thread the expected
    metrics no longer depend on BLAS's thread count (they may still on the BLAS build and the
    CPU's vector width). The limit is process-wide while the recursion runs.
    """
    global _BLAS
    from threadpoolctl import ThreadpoolController

    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=k, user_api="blas")


def _recursion(problem, config, alg, u_init, V_init) -> ExactHistory:
    """The loop of :func:`expected` over rounds (eq. (X7)) from the validated start."""
    dev = _device(problem)
    full, mid = _maps(dev, problem, config, alg)
    Vs = V_init.mean(axis=0, keepdims=True) if alg.global_v else V_init
    mu = np.concatenate([np.asarray(u_init, float), np.asarray(Vs, float).ravel(), [1.0]])
    Sigma = np.zeros((full.D, full.D))
    forms = _Forms(dev, full)
    rounds = _recorded_rounds(config.T, config.eval_every)
    rec = np.full((rounds.size, 4), np.nan)
    status, bad, r = "ok", None, 0
    for t in range(config.T + 1):
        if not _finite(mu, Sigma):
            status, bad = "diverged", t
            break
        if r < rounds.size and rounds[r] == t:
            rec[r, :3] = forms(mu, Sigma)
            if mid is not None and t < config.T:
                rec[r, 3] = forms.grad_u_sq(*mid.step(mu, Sigma))
            r += 1
        if t < config.T:
            mu, Sigma = full.step(mu, Sigma)
    if bad is not None:
        rec[rounds >= bad] = np.nan
    V_mean = mu[problem.d_u : -1].reshape(Vs.shape[0], problem.d_v)
    V = np.broadcast_to(V_mean, (problem.n, problem.d_v)).copy()
    return ExactHistory(
        config=config,
        rounds=rounds,
        loss=rec[:, 0],
        grad_u_sq=rec[:, 1],
        grad_v_sq=rec[:, 2],
        grad_u_sq_at_V_next=rec[:, 3],
        u=mu[: problem.d_u].copy(),
        V=V,
        status=status,
        diverged_at=bad,
        F_low=problem.constants.F_low,
    )
