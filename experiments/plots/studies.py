"""Figures of the verification studies of ``partialfed reproduce`` (and ``partialfed regime``).

- ``strict_figure``: each strict check's measured left-hand side against the horizon, with
  its bound;
- ``exponent_figure``: each exponent study's measured values, fitted slope and theory's slope;
- ``calibration_figure``: a bound with fitted constants against measurement;
- ``panels``: the small-multiples layout they share.

The theory and the measurement modules are imported when a figure is drawn, so importing
``experiments.plots`` stays free of sympy and Numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from partialfed.experiments.plots.style import LABELS, STYLE, color_of

if TYPE_CHECKING:
    from partialfed.experiments.checks import CalibrationResult, ExponentResult, StrictResult

__all__ = ["panels", "strict_figure", "exponent_figure", "calibration_figure"]


def panels(k: int):
    """A figure with ``k`` panels, three per row; unused panels hidden.

    Parameters
    ----------
    k : int
        Number of panels (>= 1).

    Returns
    -------
    fig : matplotlib Figure
    axes : list of matplotlib Axes
        The ``k`` visible panels, row by row.
    """
    cols = min(k, 3)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:k]


def strict_figure(results: list[StrictResult]):
    """One panel per strict check: the measured left-hand side against the horizon and the bound.

    The measured curve is the running aggregate of the bound's left-hand side (running minimum
    for a ``min`` bound, running mean for a ``mean`` bound), mean over seeds with the range over
    seeds as a band; the bound is evaluated at 40 horizons ``T`` (log-spaced up to the run's
    ``T``; ``Delta_FT`` is the measured loss decrease up to that horizon). Log-log axes.

    Parameters
    ----------
    results : list of experiments.checks.StrictResult
        What ``strict_check`` returned (with its per-seed frames).

    Returns
    -------
    matplotlib Figure
    """
    from partialfed import theory
    from partialfed.experiments.measure import lhs_series

    with plt.rc_context(STYLE):
        fig, axes = panels(len(results))
        for ax, r in zip(axes, results, strict=True):
            bound = theory.get_bound(r.check.bound)
            curves, losses = [], []
            for f in r.frames:
                f = f.sort_values("round")
                losses.append(f["loss"].to_numpy())
                rounds, series = lhs_series(f, bound, r.cell.values(f))
                if bound.lhs.aggregate == "min":
                    agg = np.minimum.accumulate(series)
                else:
                    agg = np.cumsum(series) / np.arange(1, series.size + 1)
                curves.append(agg)
            curves = np.array(curves)
            t = rounds + 1 if bound.lhs.aggregate == "mean" else np.maximum(rounds, 1)
            color = color_of(r.cell.run.algorithm)
            ax.plot(t, curves.mean(axis=0), color=color, label="measured (mean over seeds)")
            if curves.shape[0] > 1:
                ax.fill_between(
                    t,
                    curves.min(axis=0),
                    curves.max(axis=0),
                    color=color,
                    alpha=0.2,
                    lw=0,
                    label="range over seeds",
                )
            horizon = np.unique(np.geomspace(1, r.cell.run.T, 40).astype(int))
            bv = []
            for T in horizon:
                v = dict(r.values, T=int(T))
                if "Delta_FT" in v:
                    drops = [x[0] - x[min(int(T), x.size - 1)] for x in losses]
                    v["Delta_FT"] = float(np.mean(drops))
                bv.append(float(bound.evaluate(v, ignore_extra=True, check=False)))
            ax.plot(horizon, bv, color="black", ls="--", label=f"bound ({bound.provenance})")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{r.check.bound}: {r.verdict}, ratio {r.ratio:.2f}")
            ax.set_xlabel("horizon $T$ (rounds)")
            ax.set_ylabel("left-hand side")
            ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


_AXIS = {"m": "devices per round $m$"}


def exponent_figure(results: list[ExponentResult]):
    """One panel per exponent study: measured values, the fitted power law and theory's slope.

    Markers: the measured left-hand side (mean over seeds) at each value of the swept variable;
    solid line: the fitted power law; dashed line: theory's exponent through the first point.

    Parameters
    ----------
    results : list of experiments.checks.ExponentResult
        What ``exponent_check`` returned; the label's prefix before ``:`` names the algorithm
        (its colour).

    Returns
    -------
    matplotlib Figure
    """
    with plt.rc_context(STYLE):
        fig, axes = panels(len(results))
        for ax, e in zip(axes, results, strict=True):
            xs = np.asarray(e.xs, float)
            ys = np.asarray(e.measured, float)
            alg = e.label.split(":")[0]
            ax.loglog(xs, ys, "o", color=color_of(alg), label="measured (mean)")
            fit = np.exp(e.fit.intercept) * xs**e.fit.slope
            ax.loglog(xs, fit, "-", color=color_of(alg), label=f"fit: slope {e.fit.slope:+.2f}")
            ref = ys[0] * (xs / xs[0]) ** e.expected
            ax.loglog(xs, ref, "k--", label=f"theory: slope {e.expected:+.2f}")
            ax.set_title(f"{e.label}\n{e.verdict}", fontsize=9)
            ax.set_xlabel(_AXIS.get(e.variable, LABELS.get(e.variable, e.variable)))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_ylabel("left-hand side")
            ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


def calibration_figure(c: CalibrationResult, train_m, test_m):
    """Calibrated bound against the measured left-hand side, training and held-out cells.

    Parameters
    ----------
    c : experiments.checks.CalibrationResult
        What ``calibrate`` returned (its ratios are predicted / measured per cell).
    train_m, test_m : sequence of float
        The measured left-hand side of the training and held-out cells, in the order of
        ``c.train_ratios`` and ``c.test_ratios``.

    Returns
    -------
    matplotlib Figure
        Log-log, with the diagonal "predicted = measured".
    """
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.5, 4))
        tr = np.asarray(c.train_ratios) * np.asarray(train_m)
        ax.loglog(train_m, tr, "o", color="#0072B2", label="training cells")
        if test_m:
            te = np.asarray(c.test_ratios) * np.asarray(test_m)
            ax.loglog(test_m, te, "s", color="#D55E00", label="held-out cells")
        lo = min(min(train_m), min(test_m or train_m)) / 1.5
        hi = max(max(train_m), max(test_m or train_m)) * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
        ax.set_xlabel("measured left-hand side")
        ax.set_ylabel("calibrated bound")
        ax.set_title(f"{c.bound}: median ratio {c.median_ratio:.2f}")
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig
