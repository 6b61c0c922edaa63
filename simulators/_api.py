"""Validated public wrapper around the round kernels: ``RunConfig``, ``run``, ``History``."""

from __future__ import annotations

import numpy as np

from partialfed._constraints import Array, Interval, validate
from partialfed.simulators import _block, _incremental, _meta_kernels, _meta_rounds, _tracking
from partialfed.simulators import _kernels as _round_kernels
from partialfed.simulators._accuracy import personal_accuracy
from partialfed.simulators._algorithms import (  # META_FIELDS: read as _api.META_FIELDS
    ALGORITHMS,
    META_FIELDS,  # noqa: F401
    Algorithm,
)
from partialfed.simulators._config import (
    _OWNER,
    METRICS,
    PERSONAL_METRICS,
    REGION,
    History,
    RunConfig,
)
from partialfed.simulators._records import Meta, Noise, Steps
from partialfed.synthetic import Problem
from partialfed.synthetic import _kernels as _metric_kernels
from partialfed.synthetic._objective import has_region

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "RunConfig",
    "History",
    "run",
    "METRICS",
    "PERSONAL_METRICS",
    "REGION",
]


# RunConfig, History and the column names (METRICS, PERSONAL_METRICS, REGION) live in
# ``simulators._config``; they are re-exported here.


#: An iterate coordinate or a metric beyond this (in absolute value) counts as diverged.
BLOWUP = _round_kernels.BLOWUP


def _first_bad_metric(rounds: np.ndarray, rec: np.ndarray) -> int:
    """The first recorded round whose loss, Delta_u or Delta_v is NaN or beyond BLOWUP; -1."""
    ok = (np.abs(rec[:, :3]) < BLOWUP).all(axis=1)
    return -1 if ok.all() else int(rounds[np.argmin(ok)])


def _recorded_rounds(T: int, every: int) -> np.ndarray:
    rounds = np.arange(0, T + 1, every)
    return rounds if rounds[-1] == T else np.append(rounds, T)


#: The kernel modules of a run: synthetic's population metrics, then the rounds (in this order
#: because the second calls the first; ``Problem.kernels`` joins them for a user objective).
KERNEL_MODULES = (_metric_kernels, _incremental, _block, _round_kernels)

#: The kernel modules of Per-FedAvg and Ditto (the last calls the earlier ones).
META_KERNEL_MODULES = (
    _metric_kernels,
    _incremental,
    _block,
    _round_kernels,
    _meta_kernels,
    _meta_rounds,
)

#: Work per round (coordinate updates plus metric evaluations) above which ``run`` uses threads.
PARALLEL_WORK = 200_000


def noise_lengths(problem: Problem, config: RunConfig) -> np.ndarray:
    """Lengths of the kernel's u- and v-noise buffers per block of devices (``noise_rows``)."""
    tau = max(config.tau_u, config.tau_v)
    rows = _round_kernels.noise_rows
    return np.array(
        [rows(problem.noise_u, problem.d_u, tau), rows(problem.noise_v, problem.d_v, tau)],
        dtype=np.int64,
    )


def work_per_round(problem: Problem, config: RunConfig) -> int:
    """Rough count of coordinate operations in one round (local steps plus metrics)."""
    d = problem.d_u + problem.d_v
    steps = config.m * (config.tau_u + config.tau_v) * d
    return steps + 2 * problem.n * d // config.eval_every


def run(
    problem: Problem,
    config: RunConfig,
    u0=None,
    V0=None,
    *,
    parallel: bool | None = None,
    metrics: str = "auto",
) -> History:
    """Simulate ``config.algorithm`` on ``problem`` and return its ``History``.

    Starts from ``problem.init(config.seed)`` unless ``u0`` and/or ``V0`` are given. A run whose
    iterates blow up stops there and returns ``status="diverged"`` instead of raising.

    ``parallel`` chooses whether the kernel updates the sampled devices on threads (``prange``)
    or in a plain loop; by default threads are used when a round has more than
    ``PARALLEL_WORK`` coordinate operations. Both give bitwise-identical results (same code,
    fixed summation order).

    ``metrics``: ``"full"`` (over all devices at each recorded round), ``"incremental"`` (a
    fixed reduction tree updated for the sampled devices only; only where exact), ``"verify"``
    (incremental, checked bit for bit against a rebuilt tree) or ``"auto"`` (incremental where
    exact); see ``simulators._tracking``. Full and incremental differ by rounding only.
    """
    if not isinstance(problem, Problem):
        raise TypeError(
            f"The 'problem' parameter of run must be a synthetic.Problem. "
            f"Got {type(problem).__name__}."
        )
    if not isinstance(config, RunConfig):
        raise TypeError(
            f"The 'config' parameter of run must be a simulators.RunConfig. "
            f"Got {type(config).__name__}."
        )
    validate(config.m, "m", _OWNER, Interval(int, 1, problem.n))
    problem.check_unchanged()
    alg = ALGORITHMS[config.algorithm]
    _tracking.resolve(problem, alg, metrics)  # validated before any work
    u_init, V_init = problem.init(config.seed)
    if u0 is not None:
        u_init = validate(u0, "u0", "run", Array((problem.d_u,)))
    if V0 is not None:
        V_init = validate(V0, "V0", "run", Array((problem.n, problem.d_v)))
    per_device = alg.per_device_u

    def start():
        """Fresh initial iterates (the kernel updates them in place)."""
        V = V_init.copy()
        if alg.global_v:
            # FedAvg has one global v: start every device from the mean of the initial V
            # (given or not, so run(p, cfg) and run(p, cfg, V0=p.init(cfg.seed)[1]) agree).
            V[:] = V.mean(axis=0)
        U = np.tile(u_init, (problem.n, 1)) if per_device else u_init[None, :].copy()
        return U, V

    region = has_region(problem.data)
    if parallel is None:
        parallel = work_per_round(problem, config) > PARALLEL_WORK
    kernels = problem.kernels(META_KERNEL_MODULES if alg.meta else KERNEL_MODULES)
    ditto = alg.personal == "personal_models"

    def simulate(steps: Steps):
        U, V_now = start()
        V_start = V_now.copy() if alg.stateless_v else V_now
        rounds = _recorded_rounds(steps.T, steps.eval_every)
        rec = np.full((rounds.size, 5 if region else 4), np.nan)
        clients = np.full((steps.T, steps.m), -1, dtype=np.int64)
        if alg.meta:
            # Ditto's personal models start at the initial global model (Li et al. 2021).
            rows = problem.n if ditto else 0
            PU, PV = np.tile(U[0], (rows, 1)), V_now[:rows].copy()
            rec_meta = np.full((rounds.size, 2), np.nan)
            bad = kernels.run_meta_rounds(
                alg.alg,
                steps,
                Meta.of(config),
                Noise.of(problem),
                problem.data,
                problem.sizes,
                problem.batch,
                U,
                V_now,
                PU,
                PV,
                rec,
                rec_meta,
                clients,
                bool(parallel),
            )
            rec = np.hstack([rec, rec_meta])  # metrics="full" (plan: any other is refused)
            return int(bad), rounds, rec, clients, U, V_now, (PU, PV) if ditto else None
        tracked = _tracking.plan(problem, alg, metrics, rounds.size)
        bad = kernels.run_rounds(
            alg.alg,
            steps,
            Noise.of(problem),
            problem.data,
            problem.sizes,
            problem.batch,
            U,
            V_now,
            V_start,
            rec,
            clients,
            bool(parallel),
            tracked,
            noise_lengths(problem, config),
        )
        _tracking.check_verified(tracked, rec, rounds)
        # Personalised loss at the iterate itself; no meta-stationarity (docs in History).
        meta = np.column_stack([np.full(rounds.size, np.nan), rec[:, 0]])
        return int(bad), rounds, np.hstack([rec, meta]), clients, U, V_now, None

    steps = Steps.of(config)
    bad, rounds, rec, clients, U, V, personal = simulate(steps)
    # Divergence: the kernel stops at the first round whose iterate is non-finite or exceeds
    # BLOWUP, per device. An iterate below it can still have a metric (loss, Delta_u, Delta_v)
    # that is NaN or beyond BLOWUP: the first such round is found on every round, whatever
    # eval_every (a replay up to the first bad recorded round, recording each round; the run is
    # deterministic), so diverged_at does not depend on eval_every.
    first = _first_bad_metric(rounds, rec)
    if first >= 0 and (bad < 0 or first < bad):
        if steps.eval_every > 1 and first > 0:
            replay = simulate(steps._replace(T=first, eval_every=1))
            first = _first_bad_metric(replay[1], replay[2])
        bad = first if bad < 0 else min(bad, first)
    status, diverged_at, message = "ok", None, ""
    if bad >= 0:
        status, diverged_at = "diverged", int(bad)
        message = (
            f"the iterate or its metrics became non-finite (or exceeded {BLOWUP:.0e}) at "
            f"round {bad}; metrics from round {bad} on are NaN"
        )
        clients = clients[:bad]
        rec[rounds >= bad] = np.nan
    if not alg.records_V_next:
        rec[:, 3] = np.nan
    accuracy = np.full(rounds.size, np.nan)
    if status == "ok":
        accuracy[-1] = personal_accuracy(problem, alg, config.alpha, U, V, personal)
    return History(
        algorithm=config.algorithm,
        config=config,
        problem=problem.name,
        knobs=dict(problem.knobs),
        rounds=rounds,
        loss=rec[:, 0].copy(),
        grad_u_sq=rec[:, 1].copy(),
        grad_v_sq=rec[:, 2].copy(),
        grad_u_sq_at_V_next=rec[:, 3].copy(),
        clients=clients,
        u=U.mean(axis=0) if per_device else U[0].copy(),
        V=V,
        U=U if per_device else None,
        status=status,
        diverged_at=diverged_at,
        message=message,
        F_low=problem.constants.F_low,
        region=rec[:, 4].copy() if region else None,
        meta_grad_sq=rec[:, -2].copy(),
        personal_loss=rec[:, -1].copy(),
        personal_accuracy=accuracy,
        personal_U=personal[0] if personal else None,
        personal_V=personal[1] if personal else None,
    )
