"""The FedAlt-vs-FedSim regime figure (``partialfed reproduce``, ``partialfed regime``).

Two heat maps (theory's predicted and the simulated ``FedSim/FedAlt``, in ``log10``) on one
colour scale with one colour bar, each cell drawn between the geometric midpoints of its grid
values on log axes (the grid need not be evenly spaced), ticks at the grid values, axis labels
with their symbols; marks on the scored cells explained in a legend; and a scatter of measured
against predicted gaps.

The theory and the measurement modules are imported when the figure is drawn, so importing
``experiments.plots`` stays free of sympy and Numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from partialfed.experiments.plots.style import label, style_context, value_ticks

if TYPE_CHECKING:
    from partialfed.experiments.regime import RegimeMap

__all__ = ["regime_figure", "cell_edges", "MARKS"]

_MARKERS = {"best": ("o", "#0072B2"), "shared": ("s", "#009E73"), "theorem": ("^", "#D55E00")}

#: The mark of a scored cell and what it means (the legend of the measured map).
MARKS = {
    "✓": "simulated winner is theory's (95% interval of the ratio excludes 1)",
    "✗": "the other algorithm wins (interval excludes 1)",
    "○": "no winner (the interval contains 1)",
}
_BLANK = "no mark: not scored (theory predicts < 10% difference)"


def cell_edges(values) -> np.ndarray:
    """Edges of the cells centred on the grid ``values`` on a log axis: the geometric midpoints
    between neighbours, and the first and last cells as wide (in log) as their neighbour's half
    gap; one value gets a cell a decade wide.

    Parameters
    ----------
    values : sequence of float
        Increasing positive grid values (any spacing).

    Returns
    -------
    numpy.ndarray
        ``len(values) + 1`` edges.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0 or np.any(v <= 0) or np.any(np.diff(v) <= 0):
        raise ValueError(
            "The 'values' parameter of cell_edges must be increasing positive numbers. "
            f"Got {list(values)!r}."
        )
    if v.size == 1:
        return v[0] * np.array([10**-0.5, 10**0.5])
    logs = np.log10(v)
    mid = (logs[1:] + logs[:-1]) / 2
    first, last = 2 * logs[0] - mid[0], 2 * logs[-1] - mid[-1]
    return 10.0 ** np.concatenate([[first], mid, [last]])


def regime_figure(r: RegimeMap):
    """Predicted against measured gaps: two heat maps on one colour scale, and a scatter.

    Left: ``log10(FedSim/FedAlt)`` predicted by theory (the leading-term factor); middle: the
    same measured with each algorithm at its best step (the headline); one colour scale and one
    colour bar for both (> 0: FedAlt better). Cells span the geometric midpoints of the grid on
    log axes, ticks at the grid values. On scored cells ``✓`` marks a simulated win for
    theory's winner, ``✗`` a win for the other algorithm, ``○`` no winner (the 95% interval
    contains 1); cells without a mark are not scored (theory predicts a difference under 10%);
    the legend under the maps says so. Both maps draw theory's boundary (factor 1; for
    ``chi > 0`` the slide-40 condition), computed from the problem built at each point of a
    16 x 16 grid of the two knobs. Right: measured against predicted ratio per cell with 95%
    intervals, for the step policies, with the diagonal ``measured = predicted``.

    Parameters
    ----------
    r : experiments.regime.RegimeMap
        What ``regime_map`` returned.

    Returns
    -------
    matplotlib Figure
    """
    boundary = _theory_boundary(r)
    h = r.headline
    with style_context():
        fig, axes = plt.subplots(1, 3, figsize=(16, 5.4), layout="constrained")
        with np.errstate(divide="ignore", invalid="ignore"):
            pred, meas = np.log10(r.theory_factor), np.log10(h.ratio)
        both = np.concatenate([pred.ravel(), meas.ravel()])
        lim = max(float(np.nanmax(np.abs(both[np.isfinite(both)]), initial=0.0)), 1e-3)
        norm = Normalize(vmin=-lim, vmax=lim)
        xe, ye = cell_edges(r.xs), cell_edges(r.ys)
        for ax, data, title in (
            (axes[0], pred, "theory: predicted FedSim/FedAlt"),
            (axes[1], meas, "simulation, each at its best step: measured FedSim/FedAlt"),
        ):
            mesh = ax.pcolormesh(xe, ye, data, cmap="RdBu", norm=norm, shading="flat")
            ax.set_title(title)
            value_ticks(ax, "x", r.xs)
            value_ticks(ax, "y", r.ys)
            ax.set_xlim(xe[0], xe[-1])
            ax.set_ylim(ye[0], ye[-1])
            ax.set_xlabel(label(r.x))
            ax.set_ylabel(label(r.y))
            ax.grid(False)
            if boundary is not None:
                ax.contour(*boundary, levels=[0.0], colors="k", linewidths=1.5)
        fig.colorbar(
            mesh,
            ax=list(axes[:2]),
            shrink=0.9,
            label=r"$\log_{10}$(FedSim / FedAlt): > 0 FedAlt better, < 0 FedSim better",
        )
        for iy, yv in enumerate(r.ys):
            for ix, xv in enumerate(r.xs):
                if r.scored[iy, ix]:
                    w = h.winner[iy, ix]
                    mark = "○" if w == "unresolved" else "✓" if r.agree[iy, ix] else "✗"
                    axes[1].text(xv, yv, mark, ha="center", va="center", fontsize=13)
        _marks_legend(fig, axes[1], boundary is not None)
        _scatter(axes[2], r)
    return fig


def _marks_legend(fig, ax, boundary: bool) -> None:
    """The legend under the maps: the boundary line, each mark, and the blank cells."""
    handles = [
        Line2D([], [], ls="none", marker=f"${m}$", color="k", ms=9, label=text)
        for m, text in MARKS.items()
    ]
    handles.append(Patch(facecolor="none", edgecolor="0.5", label=_BLANK))
    if boundary:
        handles.insert(0, Line2D([], [], color="k", lw=1.5, label="theory boundary (slide 40)"))
    fig.legend(handles=handles, loc="outside lower left", ncols=3, fontsize=9)


def _scatter(ax, r: RegimeMap) -> None:
    """Measured against predicted ``FedSim/FedAlt`` per cell and policy, with intervals."""
    x = r.theory_factor.ravel()
    for name in r.policies:
        p = r.policy(name)
        marker, color = _MARKERS[name]
        y, lo, hi = p.ratio.ravel(), p.low.ravel(), p.high.ravel()
        err = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)])
        ax.errorbar(x, y, yerr=err, fmt=marker, color=color, ms=4, lw=0.8, capsize=2, label=name)
    both = np.concatenate([x, *(r.policy(n).ratio.ravel() for n in r.policies)])
    both = both[np.isfinite(both) & (both > 0)]
    lo, hi = float(both.min()) / 1.03, float(both.max()) * 1.03
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("predicted FedSim/FedAlt (theory factor)")
    ax.set_ylabel("measured FedSim/FedAlt, 95% interval")
    ax.set_title(r"gap sizes: best steps, shared step, theorem $\eta(T)$")
    ax.legend(title="step policy", loc="upper left")


def _theory_boundary(r: RegimeMap, size: int = 16):
    """``(x, y, log factor)`` on a ``size`` x ``size`` grid of the map's knobs, the factor
    computed from the problem built at each point; ``None`` where it never crosses 1."""
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
    return np.asarray(xs, float), np.asarray(ys, float), log_factor
