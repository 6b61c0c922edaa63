"""The FedAlt-vs-FedSim regime figure (``partialfed reproduce``, ``partialfed regime``).

The theory and the measurement modules are imported when the figure is drawn, so importing
``experiments.plots`` stays free of sympy and Numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from partialfed.experiments.plots.style import STYLE

if TYPE_CHECKING:
    from partialfed.experiments.regime import RegimeMap

__all__ = ["regime_figure"]

_MARKERS = {"best": ("o", "#0072B2"), "shared": ("s", "#009E73"), "theorem": ("^", "#D55E00")}


def regime_figure(r: RegimeMap):
    """Predicted against measured gaps: two heat maps on one colour scale, and a scatter.

    Left: ``log(FedSim/FedAlt)`` predicted by theory (the leading-term factor); middle: the same
    measured with each algorithm at its best step (the headline), with the same colour scale;
    on scored cells ``✓`` marks a simulated win for theory's winner, ``✗`` a win for the other
    algorithm, ``○`` no winner (the 95% interval contains 1). Both maps draw theory's boundary
    (factor 1; for ``chi > 0`` the slide-40 condition), computed from the problem built at each
    point of a 16 x 16 grid of the two knobs. Right: measured against predicted ratio per cell
    with 95% intervals, for the three step policies, with the diagonal ``measured = predicted``.

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
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        pred, meas = np.log(r.theory_factor), np.log(h.ratio)
        lim = max(float(np.nanmax(np.abs(np.concatenate([pred.ravel(), meas.ravel()])))), 1e-3)
        ext = np.log10([min(r.xs), max(r.xs), min(r.ys), max(r.ys)])
        for ax, data, title in (
            (axes[0], pred, "theory: log predicted FedSim/FedAlt"),
            (axes[1], meas, "simulation, best steps: log measured FedSim/FedAlt"),
        ):
            im = ax.imshow(
                data,
                origin="lower",
                cmap="RdBu",
                vmin=-lim,
                vmax=lim,
                extent=_cell_extent(ext, len(r.xs), len(r.ys)),
                aspect="auto",
            )
            fig.colorbar(im, ax=ax, shrink=0.85, label="> 0: FedAlt better (one scale)")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(f"log10 {r.x}")
            ax.set_ylabel(f"log10 {r.y}")
            if boundary is not None:
                ax.contour(*boundary, levels=[0.0], colors="k", linewidths=1.5)
                ax.plot([], [], "k-", lw=1.5, label="theory boundary (slide 40)")
                ax.legend(fontsize=7, loc="upper left")
            box = _cell_extent(ext, len(r.xs), len(r.ys))
            ax.set_xlim(min(box[0], ext[0] - 0.25), max(box[1], ext[1] + 0.25))
            ax.set_ylim(min(box[2], ext[2] - 0.25), max(box[3], ext[3] + 0.25))
        for iy, yv in enumerate(r.ys):
            for ix, xv in enumerate(r.xs):
                if r.scored[iy, ix]:
                    w = h.winner[iy, ix]
                    mark = "○" if w == "unresolved" else "✓" if r.agree[iy, ix] else "✗"
                    axes[1].text(
                        np.log10(xv), np.log10(yv), mark, ha="center", va="center", fontsize=12
                    )
        _scatter(axes[2], r)
        fig.tight_layout()
    return fig


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
    ax.set_ylabel("measured FedSim/FedAlt, 95% CI")
    ax.set_title("gap sizes: best steps, shared step, theorem eta(T)", fontsize=9)
    ax.legend(fontsize=7)


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
    dx = (ext[1] - ext[0]) / (nx - 1) if nx > 1 else 1.0  # one value: a cell one decade wide
    dy = (ext[3] - ext[2]) / (ny - 1) if ny > 1 else 1.0
    return (ext[0] - dx / 2, ext[1] + dx / 2, ext[2] - dy / 2, ext[3] + dy / 2)
