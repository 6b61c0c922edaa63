"""Figures of the verification studies of ``partialfed reproduce``: strict checks, calibration.

- ``strict_figure``: each strict check's measured left-hand side against the horizon, with
  its bound; the panel's title names the check, its instance (algorithm, devices, noise, T)
  and its verdict, and its frame takes the verdict's colour;
- ``calibration_figure``: the fitted curve (a bound's shape with calibrated constants: a
  fit, not a bound) against measurement, training and held-out cells;
- ``panels``: the small-multiples layout they share (and ``exponent_figure``,
  ``experiments.plots.exponents``).

The theory and the measurement modules are imported when a figure is drawn, so importing
``experiments.plots`` stays free of sympy and Numba.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from partialfed.experiments.plots.lhs import horizon_curve, lhs_label
from partialfed.experiments.plots.style import color_of, log_axis, style_context

if TYPE_CHECKING:
    from partialfed.experiments.checks import CalibrationResult, StrictResult

__all__ = ["VERDICT_COLORS", "panels", "strict_figure", "calibration_figure", "mark_verdict"]

#: Frame and title colour of each verdict (strict and exponent checks).
VERDICT_COLORS = {
    "holds": "#007F5F",
    "agrees": "#007F5F",
    "inconclusive": "#B86E00",
    "outside assumptions": "#666666",
    "violated": "#B2182B",
    "contradicts": "#B2182B",
}

#: Number of horizons at which the bound is drawn (log-spaced).
BOUND_POINTS = 40


def panels(k: int, width: float = 4.2, height: float = 3.3):
    """A figure with ``k`` panels, three per row; unused panels hidden.

    Parameters
    ----------
    k : int
        Number of panels (>= 1).
    width, height : float
        Size of one panel in inches.

    Returns
    -------
    fig : matplotlib Figure
    axes : list of matplotlib Axes
        The ``k`` visible panels, row by row.
    """
    if int(k) < 1:
        raise ValueError(f"The 'k' parameter of panels must be at least 1. Got {k!r}.")
    cols = min(k, 3)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:k]


def mark_verdict(ax, verdict: str) -> str:
    """Frame ``ax`` in the colour of ``verdict`` (all four sides) and colour its title; returns
    the colour (grey for a verdict without one)."""
    color = VERDICT_COLORS.get(verdict, "#666666")
    for side in ax.spines.values():
        side.set_visible(True)
        side.set_color(color)
        side.set_linewidth(2.0)
    ax.title.set_color(color)
    return color


def _instance(r: StrictResult) -> str:
    """``fedalt, m = 3 of n = 10, σ_u = 0.5, σ_v = 0.5, T = 300, 6 seeds``."""
    run, knobs = r.cell.run, dict(r.cell.knobs)
    noise = [(b, knobs.get(f"noise_{b}", 0.0)) for b in ("u", "v")]
    noisy = [rf"$\sigma_{b}$ = {v:g}" for b, v in noise if v]
    if knobs.get("batch"):
        noisy.append(f"minibatch {knobs['batch']}")
    seeds = len(r.frames)
    return ", ".join(
        [
            run.algorithm,
            f"m = {run.m} of n = {knobs.get('n', run.m)}",
            *(noisy or ["exact gradients"]),
            f"T = {run.T}",
            f"{seeds} seed{'s' if seeds != 1 else ''}",
        ]
    )


def strict_title(r: StrictResult, width: int = 56) -> str:
    """A strict panel's title: bound (provenance), verdict and ratio measured/bound; the check's
    label; its instance (algorithm, devices per round, noise, ``T``, seeds)."""
    head = f"{r.check.bound} ({r.provenance}): {r.verdict}, ratio {r.ratio:.2f}"
    label = textwrap.fill(r.check.label, width) if r.check.label else ""
    return "\n".join(x for x in (head, label, _instance(r)) if x)


def _bound_curve(bound, r: StrictResult, losses: list) -> tuple[np.ndarray, np.ndarray]:
    """The bound at log-spaced horizons ``T <= r.cell.run.T``; ``Delta_FT`` is the measured loss
    decrease up to each horizon (mean over seeds)."""
    horizon = np.unique(np.geomspace(1, r.cell.run.T, BOUND_POINTS).astype(int))
    v = dict(r.values, T=horizon.astype(float))
    if "Delta_FT" in v:
        at = [np.minimum(horizon, x.size - 1) for x in losses]
        v["Delta_FT"] = np.mean([x[0] - x[i] for x, i in zip(losses, at, strict=True)], axis=0)
    return horizon, np.asarray(bound.evaluate(v, ignore_extra=True, check=False), dtype=float)


def strict_figure(results: list[StrictResult]):
    """One panel per strict check: the measured left-hand side against the horizon and the bound.

    The measured curve is the left-hand side at each horizon ``T`` (running minimum over
    ``t <= T`` for a ``min`` bound, running mean over ``t < T`` for a ``mean`` bound; each ``T``
    drawn once), mean over seeds with the range over seeds as a band; the bound is evaluated
    at 40 horizons ``T`` (log-spaced up to the run's ``T``; ``Delta_FT`` is the measured loss
    decrease up to that horizon). Log-log axes; the y label is the bound's left-hand side in
    mathtext. Title: the bound, its verdict and ratio measured/bound, the check's label and the
    instance (algorithm, devices per round, noise, ``T``, seeds); the frame takes the
    verdict's colour (:data:`VERDICT_COLORS`).

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
    from partialfed.experiments.store_frame import by_round

    with style_context():
        fig, axes = panels(len(results), height=3.9)
        algorithms = {}
        for ax, r in zip(axes, results, strict=True):
            bound = theory.get_bound(r.check.bound)
            curves, losses = [], []
            for f in r.frames:
                f = by_round(f)
                losses.append(f["loss"].to_numpy())
                rounds, series = lhs_series(f, bound, r.cell.values(f))
                t, agg = horizon_curve(rounds, series, bound.lhs.aggregate, T=r.cell.run.T)
                curves.append(agg)
            curves = np.array(curves)
            color = color_of(r.cell.run.algorithm)
            algorithms.setdefault(r.cell.run.algorithm, color)
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
            horizon, bv = _bound_curve(bound, r, losses)
            ax.plot(horizon, bv, color="black", ls="--", label="bound")
            ax.set_xscale("log")
            ax.set_yscale("log")
            log_axis(ax, "x")
            log_axis(ax, "y")
            ax.set_title(strict_title(r), fontsize=9)
            mark_verdict(ax, r.verdict)
            ax.set_xlabel("horizon $T$ (rounds)")
            ax.set_ylabel(lhs_label(bound))
        _strict_header(fig, algorithms)
    return fig


def _strict_header(fig, algorithms: dict) -> None:
    """One legend for every panel and a line defining the symbols, above the panels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        *(
            Line2D([], [], color=c, label=f"measured, {a} (mean over seeds)")
            for a, c in algorithms.items()
        ),
        *(
            [Patch(color=next(iter(algorithms.values())), alpha=0.2, label="range over seeds")]
            if len(algorithms) == 1
            else [Patch(color="0.6", alpha=0.4, label="range over seeds (each algorithm's colour)")]
        ),
        Line2D([], [], color="black", ls="--", label="bound"),
        *(Patch(facecolor="none", edgecolor=c, lw=2, label=f"frame: {v}") for v, c in _frames()),
    ]
    height = fig.get_size_inches()[1]
    top = 1.0 - 1.05 / height
    _tight_below(fig, top)
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, top + 0.05 / height),
        ncols=4,
        fontsize=9,
    )
    fig.text(
        0.5,
        1.0 - 0.08 / height,
        r"$\Delta_u = \|\nabla_u F\|^2$ and $\Delta_v = \frac{1}{n}\sum_i \|\nabla_v F_i\|^2$"
        r" at $(u^t, V^t)$ unless marked; $w_u$, $w_v$: the bound's weights;"
        " title: bound (provenance), verdict, ratio measured/bound",
        ha="center",
        va="top",
        fontsize=10,
    )


def _tight_below(fig, top: float) -> None:
    """``fig.tight_layout(rect=(0, 0, 1, top))`` for a grid of panels, with one layout pass.

    Matplotlib's ``rect`` measures every panel's decorations twice at the same positions (once
    for the margins, once inside ``rect``); on the 72 panels of the strict figure each pass
    costs seconds. The second pass only moves the top edge down and keeps the vertical gaps
    between rows in inches, so it is done here by arithmetic on the first one's result.
    """
    fig.tight_layout()
    pars = fig.subplotpars
    rows = fig.axes[0].get_subplotspec().get_gridspec().nrows
    height = pars.top - pars.bottom
    panel = height / (rows + (rows - 1) * pars.hspace)
    gap = pars.hspace * panel
    new_top = top - (1.0 - pars.top)
    new_panel = (new_top - pars.bottom - (rows - 1) * gap) / rows
    fig.subplots_adjust(top=new_top, hspace=gap / new_panel if rows > 1 else pars.hspace)
    # tight_layout leaves a placeholder layout engine, for which savefig draws the whole figure
    # once more before drawing it; the layout is final, so there is no engine to run (and none
    # that a user's rc settings would attach instead)
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


def _frames():
    """``(verdict, colour)`` for the strict verdicts, in the legend's order."""
    return [
        (v, VERDICT_COLORS[v]) for v in ("holds", "inconclusive", "violated", "outside assumptions")
    ]


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
        Log-log with mathtext tick labels, the diagonal "fit = measured", equal aspect.
    """
    if isinstance(test_m, dict):
        groups = {f"held-out: {g}": (c.groups[g], m) for g, m in test_m.items() if len(m)}
    else:
        groups = {"held-out cells": (c.test_ratios, test_m)} if len(test_m) else {}
    with style_context():
        fig, ax = plt.subplots(figsize=(5, 4.6))
        tr = np.asarray(c.train_ratios) * np.asarray(train_m)
        ax.loglog(train_m, tr, "o", color="#0072B2", label="training cells")
        every = list(train_m) + list(tr)
        for (name, (ratios, measured)), (marker, color) in zip(
            groups.items(), _GROUP_STYLE, strict=False
        ):
            fitted = np.asarray(ratios) * np.asarray(measured)
            ax.loglog(measured, fitted, marker, color=color, label=name)
            every += list(measured) + list(fitted)
        lo, hi = min(every) / 1.5, max(every) * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="fit = measured")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(f"measured: {_lhs_of(c.bound)}")
        ax.set_ylabel("fitted curve (calibrated constants)")
        ax.set_title(
            f"fit of {c.bound}'s shape: held-out median ratio {c.median_ratio:.2f}"
            "\n(ratio: fitted / measured; a fit, not a bound)",
            fontsize=10,
        )
        ax.legend(loc="upper left")
        fig.tight_layout()
    return fig


def _lhs_of(name: str) -> str:
    """The left-hand side label of the bound called ``name`` ("left-hand side" if unknown)."""
    from partialfed import theory

    try:
        return lhs_label(theory.get_bound(name))
    except (KeyError, ValueError):
        return "left-hand side"
