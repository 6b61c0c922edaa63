"""The measured left-hand side of a bound, from simulated runs.

A :class:`theory.Bound` names what it bounds (``bound.lhs``): weighted per-round quantities such
as ``Delta_u`` at ``(u^t, V^{t+1})`` or ``Delta_v`` at ``(u^t, V^t)``, aggregated over rounds
(mean over ``t = 0..T-1``, minimum, ...), in expectation. This module maps those quantities to the
columns a run records (``simulators.History.to_frame``), aggregates them per run exactly as the
bound says, and averages over seeds with a one-sided 95% upper confidence bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from partialfed import simulators
from partialfed import synthetic

__all__ = [
    "MeasuredLHS",
    "column_for",
    "symbol_values",
    "lhs_series",
    "lhs_per_run",
    "measure",
    "simulate",
    "run_frame",
]

#: Run fields that are not problem knobs.
RUN_FIELDS = tuple(f for f in simulators.RunConfig.__dataclass_fields__)


def column_for(quantity: str, at: str) -> str:
    """The History column that records ``quantity`` measured at iterate ``at``.

    ``Delta_u`` at ``(u^t, V^{t+1})`` is FedAlt's measure (``grad_u_sq_at_V_next``); at any other
    point it is ``grad_u_sq`` (at ``(u^t, V^t)``). ``grad_sq`` (single-block bounds: GD, SGD,
    FedSGD, run with no personal block) is ``grad_u_sq``.
    """
    if quantity == "Delta_u":
        compact = at.replace(" ", "")
        return "grad_u_sq_at_V_next" if "V^{t+1}" in compact else "grad_u_sq"
    if quantity == "Delta_v":
        return "grad_v_sq"
    if quantity == "grad_sq":
        return "grad_u_sq"
    raise ValueError(
        f"The measured quantity {quantity!r} has no recorded column; known: Delta_u, Delta_v, "
        "grad_sq."
    )


@lru_cache(maxsize=256)
def _problem(family: str, knobs: tuple) -> synthetic.Problem:
    return synthetic.make(family, **dict(knobs))


def problem_of(family: str, knobs: Mapping) -> synthetic.Problem:
    """The problem of a cell (memoised: building one is cheap but not free)."""
    return _problem(family, tuple(sorted(knobs.items())))


def symbol_values(
    problem: synthetic.Problem, run: Mapping, loss0: float | None = None, lossT: float | None = None
) -> dict:
    """Values of every theory symbol that a run determines.

    The problem's constants (``L_u, ..., F_low, chi``), the run's fields (``n, m, T, tau_u,
    tau_v, gamma_u, gamma_v``, and ``tau = tau_u`` for FedSim), ``Delta_F0 = F(u^0, V^0) -
    F_low``, ``Delta_FT = F(u^0, V^0) - F(u^T, V^T)``, and the single-block aliases of classic
    bounds (``L = L_u, gamma = gamma_u, sigma = sigma_u, zeta = delta``).
    """
    defaults = {k: f.default for k, f in simulators.RunConfig.__dataclass_fields__.items()}
    run = {**defaults, **run}
    values = problem.constants.as_dict()
    values.update(
        n=problem.n,
        m=run["m"],
        T=run["T"],
        tau_u=run["tau_u"],
        tau_v=run["tau_v"],
        tau=run["tau_u"],
        gamma_u=run["gamma_u"],
        gamma_v=run["gamma_v"],
    )
    values.update(
        L=values["L_u"], gamma=run["gamma_u"], sigma=values["sigma_u"], zeta=values["delta"]
    )
    if loss0 is not None:
        values["Delta_F0"] = max(loss0 - values["F_low"], 0.0)
        if lossT is not None:
            values["Delta_FT"] = loss0 - lossT
    return values


def lhs_series(frame: pd.DataFrame, bound, values: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``(rounds, sum_k w_k q_k(t))``: the bound's weighted per-round quantity on one run."""
    weights = bound.weights(values)
    frame = frame.sort_values("round")
    series = np.zeros(len(frame))
    for term in bound.lhs.terms:
        col = column_for(term.quantity, term.at)
        series = series + float(weights[term.quantity]) * frame[col].to_numpy(dtype=float)
    return frame["round"].to_numpy(), series


def lhs_per_run(frame: pd.DataFrame, bound, values: Mapping) -> float:
    """The bound's left-hand side on one run (rows of one run, ordered by ``round``).

    Weights are evaluated at ``values``; the rounds aggregated are ``t = 0..T-1`` for ``mean``
    (``T`` from ``values``; round ``T`` is excluded) and ``t = 0..T`` for ``min``.
    Requires every round recorded (``eval_every = 1``) for an exact aggregate.
    """
    T = int(values["T"])
    rounds, series = lhs_series(frame, bound, values)
    how = bound.lhs.aggregate
    if how == "mean":
        keep = rounds < T
        return float(np.mean(series[keep]))
    if how == "min":
        return float(np.min(series[rounds <= T]))
    return float(series[rounds == T][0])


@dataclass(frozen=True)
class MeasuredLHS:
    """A left-hand side averaged over seeds.

    Attributes
    ----------
    mean : float
        Mean over seeds of the per-run aggregate.
    upper, lower : float
        One-sided 95% confidence bounds on the expectation (Student t over seeds; equal to
        ``mean`` for a single seed or identical runs).
    per_seed : tuple of float
    """

    mean: float
    upper: float
    lower: float
    per_seed: tuple

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)


def confidence(values: Iterable[float], level: float = 0.95) -> MeasuredLHS:
    """Mean and one-sided ``level`` confidence bounds of the mean of ``values``."""
    x = np.asarray(list(values), dtype=float)
    mean = float(np.mean(x))
    if x.size < 2 or np.all(x == x[0]):
        return MeasuredLHS(mean, mean, mean, tuple(x.tolist()))
    half = float(stats.t.ppf(level, x.size - 1) * np.std(x, ddof=1) / math.sqrt(x.size))
    return MeasuredLHS(mean, mean + half, mean - half, tuple(x.tolist()))


def measure(
    frames: Iterable[pd.DataFrame], bound, values_of: Callable[[pd.DataFrame], dict]
) -> MeasuredLHS:
    """The bound's left-hand side over runs that differ only in their seed."""
    return confidence(lhs_per_run(f, bound, values_of(f)) for f in frames)


def run_frame(spec: Mapping) -> pd.DataFrame:
    """Simulate one cell ``{family, problem: {...}, run: {...}, seed[, init_seed]}``.

    With ``init_seed`` every seed starts from ``problem.init(init_seed)``.

    The frame has the History columns plus ``seed`` and ``Delta_F0``-ready ``F_low``.
    """
    problem = problem_of(spec["family"], spec["problem"])
    cfg = simulators.RunConfig(**spec["run"], seed=spec["seed"])
    init_seed = spec.get("init_seed")
    if init_seed is None:
        h = simulators.run(problem, cfg)
    else:
        u0, V0 = problem.init(init_seed)
        h = simulators.run(problem, cfg, u0=u0, V0=V0)
    frame = h.to_frame()
    frame["seed"] = spec["seed"]
    frame["F_low"] = problem.constants.F_low
    frame["message"] = h.message
    return frame


def simulate(specs: list[Mapping], runner: Callable | None = None) -> list[pd.DataFrame]:
    """Frames of ``specs``, in order (``runner`` maps a list of specs to a list of frames).

    A run that failed (status ``error``, or no rows) stops the study with its one-line message:
    a check must not be computed from a missing run.
    """
    frames = runner(specs) if runner is not None else [run_frame(s) for s in specs]
    for spec, frame in zip(specs, frames, strict=True):
        failed = "status" in frame and bool((frame["status"] == "error").any())
        if failed or len(frame) == 0:
            why = frame["message"].iloc[0] if failed and "message" in frame else "no rows"
            raise RuntimeError(
                f"A run of this study failed ({spec['family']}, {spec['run'].get('algorithm')}, "
                f"seed {spec['seed']}): {why}"
            )
    return frames
