"""Runs that diverged, as the sweep figures draw them: stopped, marked ✕, out of the y range.

A diverged run's metrics grow towards 1e+200 before they turn NaN; drawn as they are they
squash every other curve into the bottom of a log axis. The sweep figures therefore
(``experiments.plots.sweeps``):

- split the rows of a panel into runs that stayed finite and runs that diverged
  (:func:`split_runs`); statistics (mean and range over seeds) use the former;
- draw the diverged runs' mean curve only up to the round before the first divergence, end it
  with a ✕ marker (on the upper edge when the curve left the y range) and a note "diverged at
  t = ..." (:func:`mark_diverged`);
- set the y range from the runs that stayed finite (:func:`finite_limits`), joined across a
  row of panels that share y (:func:`share_limits`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DIVERGED_MARKER",
    "split_runs",
    "diverged_at",
    "finite_limits",
    "share_limits",
    "mark_diverged",
]

#: The marker at the end of a diverged run's curve.
DIVERGED_MARKER = "X"

_RUN = "hash"


def split_runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(finite, diverged)``: the rows of runs that stayed finite and of runs that diverged."""
    bad = rows["status"] == "diverged" if "status" in rows else pd.Series(False, rows.index)
    return rows[~bad], rows[bad]


def diverged_at(rows: pd.DataFrame, metric: str) -> dict:
    """Run id -> the first round at which ``metric`` is not finite (the run's divergence)."""
    out = {}
    key = _RUN if _RUN in rows else "seed"
    for run, sub in rows.groupby(key, sort=False):
        values = sub[metric].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        rounds = sub["round"].to_numpy(dtype=float)
        out[run] = int(rounds[bad].min()) if bad.any() else int(rounds.max())
    return out


def finite_limits(values, pad: float = 1.5) -> tuple[float, float] | None:
    """``(low, high)`` of the positive finite ``values``, widened by ``pad`` on a log axis."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return None
    return float(v.min()) / pad, float(v.max()) * pad


def share_limits(ax, wanted: tuple[float, float] | None) -> None:
    """Set the y range of ``ax`` to ``wanted``, joined with what its row siblings wanted (axes
    sharing y get one range: the union)."""
    ax._partialfed_ylim = wanted
    group = [a for a in ax.get_shared_y_axes().get_siblings(ax) if a is not ax] + [ax]
    limits = [a._partialfed_ylim for a in group if getattr(a, "_partialfed_ylim", None)]
    if limits:
        ax.set_ylim(min(lo for lo, _ in limits), max(hi for _, hi in limits))


def mark_diverged(
    ax, x, y, at: int, top: float, color: str, note: str, linestyle="-", row: int = 0
):
    """Draw a diverged curve up to round ``at - 1``, a ✕ at its end and a note beside it.

    Parameters
    ----------
    ax : matplotlib Axes
    x, y : arrays
        Rounds and the mean over the diverged runs (NaN from the divergence on).
    at : int
        The first round of divergence (earliest over the runs).
    top : float
        The upper end of the y range: a ✕ above it goes on the upper edge of the axes.
    color, linestyle : the algorithm's colour and line style.
    note : str
        The text beside the ✕ (e.g. ``"fedsim diverged at t = 250"``).
    row : int
        The note's line below the ✕ (one per algorithm, so notes do not overlap).

    Returns
    -------
    matplotlib Line2D
        The ✕ marker (hidden from legends: the note beside it says it).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = (x < at) & np.isfinite(y) & (y > 0)
    ax.plot(x[keep], y[keep], color=color, ls=linestyle, lw=1.0, alpha=0.7, zorder=2)
    end_x = x[keep][-1] if keep.any() else float(max(at - 1, 1))
    end_y = y[keep][-1] if keep.any() else np.inf
    on_edge = not end_y <= top
    ax.update_datalim([(end_x, 1.0)], updatey=False)  # the ✕ is inside the x range
    transform = ax.get_xaxis_transform() if on_edge else ax.transData  # x data, y axes
    (mark,) = ax.plot(
        [end_x],
        [1.0 if on_edge else end_y],
        ls="none",
        marker=DIVERGED_MARKER,
        ms=8,
        color=color,
        mec="black",
        mew=0.6,
        zorder=6,
        clip_on=False,
        transform=transform,
        label=f"_{note}",  # the note beside it says it; figure legends explain the ✕
    )
    ax.annotate(
        note,
        (end_x, 1.0 if on_edge else end_y),
        xycoords=transform,
        xytext=(-7, -4 - 12 * row),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=9,
        color=color,
        zorder=6,
    )
    return mark
