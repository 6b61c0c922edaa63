"""Figures of the verification studies of ``partialfed reproduce`` (and ``partialfed regime``).

- ``strict_figure``: each strict check's measured left-hand side against the horizon, with
  its bound;
- ``exponent_figure``: each exponent study's measured values, fitted slope and theory's slope;
- ``regime_figure``: the FedAlt-vs-FedSim map, simulation next to theory;
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
    from partialfed.experiments.regime import RegimeMap

__all__ = ["panels", "strict_figure", "exponent_figure", "regime_figure", "calibration_figure"]


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


def regime_figure(r: RegimeMap):
    """The FedAlt-vs-FedSim regime map: simulation (left) and theory (right), with the boundary.

    Left: ``log(LHS_FedSim / LHS_FedAlt)`` measured on each cell, marked ✓ or ✗ where theory
    predicts a difference (agreement or not); right: the log of theory's leading-term factor.
    Both panels draw theory's boundary between the regimes, where that factor is 1 (for
    ``chi > 0`` the slide-40 condition), from the constants of the problem built at each point
    of a 16 x 16 grid of the two knobs (so minibatch variance counts too). Axes are log10 of
    the two knobs.

    Parameters
    ----------
    r : experiments.regime.RegimeMap
        What ``regime_map`` returned.

    Returns
    -------
    matplotlib Figure
    """
    boundary = _theory_boundary(r)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        logr = np.log(r.measured_ratio)
        lim = max(float(np.nanmax(np.abs(logr))), 1e-3)
        ext = np.log10([min(r.xs), max(r.xs), min(r.ys), max(r.ys)])
        for ax, data, title in (
            (axes[0], logr, "simulation: log(LHS FedSim / LHS FedAlt)"),
            (axes[1], np.log(r.theory_factor), "theory: log of leading-term factor"),
        ):
            im = ax.imshow(
                data,
                origin="lower",
                cmap="RdBu",
                vmin=-lim if ax is axes[0] else -np.nanmax(np.abs(np.log(r.theory_factor))),
                vmax=lim if ax is axes[0] else np.nanmax(np.abs(np.log(r.theory_factor))),
                extent=_cell_extent(ext, len(r.xs), len(r.ys)),
                aspect="auto",
            )
            fig.colorbar(im, ax=ax, shrink=0.85, label="> 0: FedAlt better")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(f"log10 {r.x}")
            ax.set_ylabel(f"log10 {r.y}")
            if boundary is not None:
                ax.contour(*boundary, levels=[0.0], colors="k", linewidths=1.5)
                ax.plot([], [], "k-", lw=1.5, label="theory boundary (slide 40)")
            ax.set_xlim(ext[0] - 0.25, ext[1] + 0.25)
            ax.set_ylim(ext[2] - 0.25, ext[3] + 0.25)
            ax.legend(fontsize=7, loc="upper left")
        for iy, yv in enumerate(r.ys):
            for ix, xv in enumerate(r.xs):
                if r.scored[iy, ix]:
                    mark = "✓" if r.agree[iy, ix] else "✗"
                    axes[0].text(
                        np.log10(xv), np.log10(yv), mark, ha="center", va="center", fontsize=12
                    )
        fig.tight_layout()
    return fig


def _theory_boundary(r: RegimeMap, size: int = 16):
    """``(log10 x, log10 y, log factor)`` on a ``size`` x ``size`` grid of the map's knobs, the
    factor computed from the problem built at each point; ``None`` where it never crosses 1."""
    from partialfed.experiments.cell import problem_of
    from partialfed.experiments.regime import theory_factor

    def axis(values):
        fine = np.geomspace(min(values), max(values), size)
        ints = all(isinstance(v, int) for v in values)
        return np.unique(np.round(fine).astype(int)).tolist() if ints else fine.tolist()

    xs, ys = axis(r.xs), axis(r.ys)
    family, problem, m = r.fixed["family"], r.fixed["problem"], r.fixed["run"]["m"]
    factor = [
        [theory_factor(problem_of(family, {**problem, r.x: x, r.y: y}), m) for x in xs] for y in ys
    ]
    log_factor = np.log(np.array(factor))
    if not (np.nanmin(log_factor) < 0.0 < np.nanmax(log_factor)):
        return None
    return np.log10(xs), np.log10(ys), log_factor


def _cell_extent(ext, nx, ny):
    """``imshow`` extent of an ``nx`` by ``ny`` grid whose cell centres span ``ext``."""
    dx = (ext[1] - ext[0]) / max(nx - 1, 1)
    dy = (ext[3] - ext[2]) / max(ny - 1, 1)
    return (ext[0] - dx / 2, ext[1] + dx / 2, ext[2] - dy / 2, ext[3] + dy / 2)


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
