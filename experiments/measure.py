"""The measured left-hand side of a bound, from executed cells.

A :class:`theory.Bound` names what it bounds (``bound.lhs``): weighted per-round quantities such
as ``Delta_u`` at ``(u^t, V^{t+1})`` (``At.V_NEXT``) or ``Delta_v`` at ``(u^t, V^t)``
(``At.ITERATE``), aggregated over rounds (mean over ``t = 0..T-1``, minimum, ...), in
expectation. :data:`COLUMNS` maps those quantities to the columns a run records
(``simulators.METRICS``); this module aggregates them per run exactly as the bound says, and
averages over seeds with a one-sided 95% upper confidence bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from partialfed.experiments.cell import Cell, execute
from partialfed.experiments.store_frame import by_round
from partialfed.theory import At

__all__ = [
    "COLUMNS",
    "MeasuredLHS",
    "column",
    "confidence",
    "lhs_series",
    "lhs_per_run",
    "per_round",
    "simulate",
]

#: (measured quantity, point) -> the History column that records it. ``grad_sq`` is the
#: gradient of single-block bounds (GD, SGD, FedSGD: run with no personal block), ``F`` the loss.
COLUMNS = {
    ("F", At.ITERATE): "loss",
    ("Delta_u", At.ITERATE): "grad_u_sq",
    ("Delta_u", At.V_NEXT): "grad_u_sq_at_V_next",
    ("Delta_v", At.ITERATE): "grad_v_sq",
    ("grad_sq", At.ITERATE): "grad_u_sq",
}


def column(quantity: str, point: At = At.ITERATE) -> str:
    """The History column that records ``quantity`` measured at ``point``.

    Raises
    ------
    ValueError
        When no column records it, naming those that exist.
    """
    try:
        return COLUMNS[(quantity, point)]
    except KeyError:
        known = ", ".join(f"{q} at {p.name}" for q, p in COLUMNS)
        raise ValueError(
            f"The measured quantity {quantity!r} at {point.name} has no recorded column; "
            f"known: {known}."
        ) from None


def per_round(frame: pd.DataFrame, symbols: Mapping, T: int) -> dict[str, np.ndarray]:
    """Per-round values ``t = 0..T-1`` of measured symbols on one run that recorded every round.

    ``symbols`` maps a name to its ``(quantity, point)`` (``theory.derived.MEASURED_AT``);
    ``At.NEXT``, the next iterate, reads the ``At.ITERATE`` column one round later.
    """
    frame = by_round(frame)
    if len(frame) != T + 1:
        raise ValueError("Lemma checks need every round recorded (eval_every = 1).")
    out = {}
    for name, (quantity, point) in symbols.items():
        k = 1 if point is At.NEXT else 0
        col = column(quantity, At.ITERATE if k else point)
        out[name] = frame[col].to_numpy(float)[k : k + T]
    return out


def lhs_series(frame: pd.DataFrame, bound, values: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``(rounds, sum_k w_k q_k(t))``: the bound's weighted per-round quantity on one run."""
    weights = bound.weights(values)
    frame = by_round(frame)
    series = np.zeros(len(frame))
    for term in bound.lhs.terms:
        col = column(term.quantity, term.point)
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


def simulate(cells: Sequence[Cell], runner: Callable | None = None) -> list:
    """The results (``store.RunResult``) of ``cells``, in order.

    ``runner(cells) -> list of RunResult`` (e.g. ``sweep.cached_runner``); default: execute
    each cell in this process. A run that failed (status ``error``, or no rows) stops the study
    with its one-line message: a check must not be computed from a missing run.
    """
    results = runner(cells) if runner is not None else [execute(c) for c in cells]
    for cell, result in zip(cells, results, strict=True):
        if result.status == "error" or len(result.frame) == 0:
            why = result.message if result.status == "error" else "no rows"
            raise RuntimeError(
                f"A run of this study failed ({cell.family}, {cell.run.algorithm}, "
                f"seed {cell.seed}): {why}"
            )
    return results
