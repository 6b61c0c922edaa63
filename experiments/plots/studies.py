"""Figures of the verification studies of ``partialfed reproduce`` (and ``partialfed regime``).

- ``strict_figure``: each strict check's measured left-hand side against the horizon, with
  its bound;
- ``exponent_figure``: each exponent study's measured values, fitted slope and theory's slope
  (the named term's exponent, with the +-tolerance of the equivalence test as a band);
- ``calibration_figure``: the fitted curve (a bound's shape with calibrated constants: a fit,
  not a bound) against measurement, training and held-out cells;
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
    solid line: the fitted power law; dashed line: theory's exponent (of the study's named
    term) through the first point, with a grey band for slopes within the tolerance of the
    equivalence test. Title: the verdict and the direction of the measured slope.

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
            ax.loglog(
                xs,
                fit,
                "-",
                color=color_of(alg),
                label=f"fit: slope {e.fit.slope:+.2f} [{e.fit.low:+.2f}, {e.fit.high:+.2f}]",
            )
            rel = xs / xs[0]
            ref = ys[0] * rel**e.expected
            ax.fill_between(
                xs,
                ys[0] * rel ** (e.expected - e.tolerance),
                ys[0] * rel ** (e.expected + e.tolerance),
                color="0.85",
                lw=0,
                label=f"theory ± {e.tolerance:g}",
            )
            term = f" ({e.leading} term)" if e.leading else ""
            ax.loglog(xs, ref, "k--", label=f"theory{term}: slope {e.expected:+.2f}")
            ax.set_title(f"{e.label}\n{e.verdict} ({e.direction})", fontsize=9)
            ax.set_xlabel(_AXIS.get(e.variable, LABELS.get(e.variable, e.variable)))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_ylabel("left-hand side")
            ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


_GROUP_STYLE = (("s", "#D55E00"), ("^", "#009E73"), ("D", "#CC79A7"), ("v", "#E69F00"))


def calibration_figure(c: CalibrationResult, train_m, test_m):
    """The fitted curve against the measured left-hand side, training and held-out cells.

    The curve is the bound's shape with its free constants fitted on the training cells: a
    fit, not a bound (nothing keeps the measurement below it).

    Parameters
    ----------
    c : experiments.checks.CalibrationResult
        What ``calibrate`` returned (its ratios are fitted / measured per cell).
    train_m : sequence of float
        The measured left-hand side of the training cells, in the order of ``c.train_ratios``.
    test_m : mapping or sequence of float
        Held-out group -> its measured values, in the order of ``c.groups[group]``; a plain
        sequence is read in the order of ``c.test_ratios`` as one group "held-out cells".

    Returns
    -------
    matplotlib Figure
        Log-log, with the diagonal "fit = measured".
    """
    if isinstance(test_m, dict):
        groups = {f"held-out: {g}": (c.groups[g], m) for g, m in test_m.items() if len(m)}
    else:
        groups = {"held-out cells": (c.test_ratios, test_m)} if len(test_m) else {}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.5, 4))
        tr = np.asarray(c.train_ratios) * np.asarray(train_m)
        ax.loglog(train_m, tr, "o", color="#0072B2", label="training cells")
        every = list(train_m)
        for (name, (ratios, measured)), (marker, color) in zip(
            groups.items(), _GROUP_STYLE, strict=False
        ):
            ax.loglog(
                measured,
                np.asarray(ratios) * np.asarray(measured),
                marker,
                color=color,
                label=name,
            )
            every += list(measured)
        lo, hi = min(every) / 1.5, max(every) * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="fit = measured")
        ax.set_xlabel("measured left-hand side")
        ax.set_ylabel("fitted curve (calibrated constants)")
        ax.set_title(
            f"fit of {c.bound}'s shape: held-out median ratio {c.median_ratio:.2f}", fontsize=9
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig
