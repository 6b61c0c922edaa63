"""The exponent studies' figure (``partialfed reproduce``): measured slopes against theory's.

``exponent_figure`` draws, per study, the measured values at the swept values (ticks at those
values), the fitted power law with the 95% interval of its slope as a fan, and theory's
exponent with the tolerance of the equivalence test as a grey fan, both fans pivoting at the
centre of the data (where the least-squares line passes), so the test reads directly: the
verdict is *agrees* when the coloured fan lies inside the grey one. Verdict and direction are
marked in the panel (coloured frame, title and a badge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from partialfed.experiments.plots.lhs import lhs_label
from partialfed.experiments.plots.studies import mark_verdict, panels
from partialfed.experiments.plots.style import (
    LABELS,
    color_of,
    log_axis,
    style_context,
    value_ticks,
)

if TYPE_CHECKING:
    from partialfed.experiments.checks import ExponentResult

__all__ = ["exponent_figure", "DIRECTION_TEXT"]

_AXIS = {"m": "devices per round $m$"}

#: What a direction means (the note under the panels).
DIRECTION_TEXT = {
    "faster": "the measured quantity falls faster than theory's term: the bound is not tight "
    "in this variable",
    "slower": "it falls slower: against the rate",
    "equal": "the slope equals theory's",
}


def _fan(xs: np.ndarray, pivot: tuple, slopes: tuple[float, float], n: int = 50):
    """``(x, low, high)``: power laws through ``pivot`` with the two ``slopes``, on a fine grid."""
    x = np.geomspace(xs.min(), xs.max(), n)
    x0, y0 = pivot
    ys = np.array([y0 * (x / x0) ** s for s in slopes])
    return x, ys.min(axis=0), ys.max(axis=0)


def _ylabel(e: ExponentResult) -> str:
    from partialfed import theory

    try:
        bound = theory.get_bound(e.bound) if e.bound else None
    except (KeyError, ValueError):
        bound = None
    lhs = lhs_label(bound) if bound is not None else "left-hand side"
    return lhs


def _badge(ax, e: ExponentResult, color: str) -> None:
    """The verdict and the direction in a box in the free corner of the panel."""
    text = f"{e.verdict} · {e.direction}"
    if e.direction != "equal":
        text += "\ninterval " + ("excludes" if e.excludes else "contains") + " theory's slope"
    left = e.fit.slope < 0  # a falling line leaves the lower left free
    ax.text(
        0.03 if left else 0.97,
        0.04,
        text,
        transform=ax.transAxes,
        ha="left" if left else "right",
        va="bottom",
        fontsize=9,
        color="white",
        bbox={"boxstyle": "round,pad=0.3", "facecolor": color, "edgecolor": "none"},
        zorder=5,
    )


def _slope_text(e: ExponentResult) -> str:
    """The fitted slope and its interval, with enough digits to tell them from theory's slope."""
    width = max(e.fit.high - e.fit.low, abs(e.fit.slope - e.expected), 1e-6)
    digits = min(max(2, 1 - int(np.floor(np.log10(width)))), 6)
    return f"{e.fit.slope:+.{digits}f} [{e.fit.low:+.{digits}f}, {e.fit.high:+.{digits}f}]"


def _shared_legend(fig, results: list[ExponentResult], height: float) -> None:
    """The symbols every panel shares, once, above the panels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    tolerances = ", ".join(sorted({f"{e.tolerance:g}" for e in results}))
    fig.legend(
        handles=[
            Patch(color="0.85", label=f"theory ± {tolerances} (equivalence margin)"),
            Patch(color="0.5", alpha=0.3, label="95% interval of the fitted slope"),
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                color="0.3",
                mec="white",
                label="measured (mean over seeds)",
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=3,
        fontsize=9,
        frameon=False,
    )


def exponent_figure(results: list[ExponentResult]):
    """One panel per exponent study: measured values, the fitted power law and theory's slope.

    Markers: the measured left-hand side (mean over seeds) at each value of the swept variable
    (the x ticks are those values); solid line: the fitted power law, with the 95% interval of
    its slope as a fan in the algorithm's colour; dashed line: theory's exponent (of the
    study's named term) with a grey fan for slopes within the tolerance of the equivalence
    test; both fans pivot at the centre of the data. Title, frame and badge: the verdict (in
    its colour) and the direction of the measured slope.

    Parameters
    ----------
    results : list of experiments.checks.ExponentResult
        What ``exponent_check`` returned; the label's prefix before ``:`` names the algorithm
        (its colour).

    Returns
    -------
    matplotlib Figure
    """
    with style_context():
        fig, axes = panels(len(results), width=5.0, height=4.0)
        for ax, e in zip(axes, results, strict=True):
            xs = np.asarray(e.xs, float)
            ys = np.asarray(e.measured, float)
            color = color_of(e.label.split(":")[0])
            logx = np.log(xs)
            x0 = float(np.exp(logx.mean()))
            pivot = (x0, float(np.exp(e.fit.intercept + e.fit.slope * np.log(x0))))
            x, lo, hi = _fan(xs, pivot, (e.expected - e.tolerance, e.expected + e.tolerance))
            ax.fill_between(x, lo, hi, color="0.85", lw=0, gid="theory-margin")
            term = f" ({e.leading} term)" if e.leading else ""
            x, ref, _ = _fan(xs, pivot, (e.expected, e.expected))
            ax.plot(x, ref, "k--", lw=1.3, label=f"theory{term}: slope {e.expected:+.2f}")
            x, lo, hi = _fan(xs, pivot, (e.fit.low, e.fit.high))
            ax.fill_between(x, lo, hi, color=color, alpha=0.3, lw=0, gid="slope-interval")
            x, fit, _ = _fan(xs, pivot, (e.fit.slope, e.fit.slope))
            ax.plot(
                x,
                fit,
                "-",
                color=color,
                label=f"fit: slope {_slope_text(e)}",
            )
            ax.plot(xs, ys, "o", color=color, mec="white", zorder=4)
            value_ticks(ax, "x", xs)
            ax.set_yscale("log")
            log_axis(ax, "y")
            ax.set_title(f"{e.label}\n{e.verdict} ({e.direction})", fontsize=10)
            _badge(ax, e, mark_verdict(ax, e.verdict))
            ax.set_xlabel(_AXIS.get(e.variable, LABELS.get(e.variable, e.variable)))
            ax.set_ylabel(_ylabel(e))
            # Two entries per panel (its slopes); the shared symbols are in the figure legend.
            ax.legend(loc="best")
        height = fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, 0.45 / height, 1, 1 - 0.45 / height))
        _shared_legend(fig, results, height)
        fig.text(
            0.5,
            0.08 / height,
            "frame and badge: the verdict (agrees / inconclusive / contradicts, an equivalence "
            "test of the 95% interval against theory ± tolerance) and the direction; "
            f"faster: {DIRECTION_TEXT['faster']}; slower: {DIRECTION_TEXT['slower']}",
            ha="center",
            va="bottom",
            fontsize=9,
            wrap=True,
        )
    return fig
