"""Figures of stored sweeps: convergence curves and final values against a swept knob.

- ``convergence``: a metric against the round, log-log, mean over seeds (line) and the range
  over seeds (band), one curve per algorithm. Round 0 is not drawn (log axis).
- ``final_vs_knob``: the metric at the last round against a swept knob (``m`` is drawn as
  ``m/n``), mean and range over seeds, runs that diverged or failed left out.
- ``plot_directory``: both, as small multiples (rows: metrics; columns: the values of the
  first swept knob, or of the second one for the final-value figure), for each family in a
  result folder; PNG and SVG (examples: ``experiments.plots``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from partialfed.experiments import store, tables
from partialfed.experiments.plots.style import LINESTYLES, STYLE, color_of, file_stem, save
from partialfed.experiments.plots.style import label as _label

__all__ = ["KNOB_PREFERENCE", "convergence", "final_vs_knob", "plot_directory"]

#: Which swept knob goes on the x axis first (then facets), when several are swept.
KNOB_PREFERENCE = ("delta", "m", "chi", "noise_v", "noise_u", "tau_u", "tau_v", "gamma_u", "n")

_NOT_KNOBS = {"seed", "problem_seed", "init_seed", "algorithm", "hash", "family"}


def _check_metric(df: pd.DataFrame, metric: str, owner: str) -> None:
    if metric not in df.columns:
        allowed = [m for m in ("gap", *store.METRICS) if m in df.columns]
        raise ValueError(
            f"The 'metric' parameter of {owner} must be one of {', '.join(allowed)}. "
            f"Got {metric!r}."
        )


def _log_axes(ax, x: bool) -> None:
    """Log scale on y (and x) with plain-number tick labels (readable, and much faster to draw
    than matplotlib's default mathtext labels)."""
    axes = [ax.yaxis, ax.xaxis] if x else [ax.yaxis]
    ax.set_yscale("log")
    if x:
        ax.set_xscale("log")
    for axis in axes:
        axis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
        axis.set_minor_formatter(
            ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4))
        )


def _positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


def convergence(df: pd.DataFrame, metric: str = "gap", ax=None, legend: bool = True):
    """Draw ``metric`` against the round, log-log, one curve per algorithm.

    Parameters
    ----------
    df : DataFrame
        Rows of ``experiments.store.load`` (filter it to one grid cell first; rows of several
        cells are pooled like seeds).
    metric : str
        A metric column (``gap``, ``loss``, ``grad_u_sq``, ``grad_v_sq``, ...).
    ax : matplotlib Axes, optional
        Default: a new figure.
    legend : bool
        Draw a legend.

    Returns
    -------
    matplotlib Axes
    """
    _check_metric(df, metric, "convergence")
    with plt.rc_context(STYLE):
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.4), layout="constrained")
        rows = df[(df["round"].notna()) & (df["round"] >= 1)]
        for alg in tables._order(rows["algorithm"].unique()):
            sub = rows[rows["algorithm"] == alg]
            stats = sub.groupby("round")[metric].agg(["mean", "min", "max", "count"])
            if stats.empty:
                continue
            x = stats.index.to_numpy(dtype=float)
            seeds = sub["hash"].nunique() if "hash" in sub else stats["count"].max()
            ax.plot(
                x,
                _positive(stats["mean"]),
                color=color_of(alg),
                linestyle=LINESTYLES.get(alg, "-"),
                label=alg,
            )
            if seeds > 1:
                ax.fill_between(
                    x,
                    _positive(stats["min"]),
                    _positive(stats["max"]),
                    color=color_of(alg),
                    alpha=0.18,
                    linewidth=0,
                )
        _log_axes(ax, x=True)
        ax.set_xlabel(_label("round"))
        ax.set_ylabel(_label(metric))
        if legend and ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    return ax


def _knob_x(df: pd.DataFrame, knob: str) -> pd.Series:
    if knob == "m" and "n" in df.columns:
        return df["m"] / df["n"]
    return df[knob]


def final_vs_knob(df: pd.DataFrame, knob: str, metric: str = "gap", ax=None, legend=True):
    """Draw the final ``metric`` against a swept ``knob``, one line per algorithm.

    Parameters
    ----------
    df : DataFrame
        Rows of ``experiments.store.load``.
    knob : str
        A spec column (``delta``, ``m`` (drawn as ``m/n``), ``chi``, ``noise_v``, ``tau_u``...).
    metric : str
        A metric column.
    ax : matplotlib Axes, optional
    legend : bool

    Returns
    -------
    matplotlib Axes
        Mean over seeds (markers and line) and range over seeds (error bars) of the runs whose
        status is ``ok``; the y axis is logarithmic, the x axis too when the knob spans more than
        a decade of positive values.
    """
    _check_metric(df, metric, "final_vs_knob")
    if knob not in df.columns:
        allowed = [c for c in store.spec_columns(df) if c not in _NOT_KNOBS]
        raise ValueError(
            f"The 'knob' parameter of final_vs_knob must be one of {', '.join(allowed)}. "
            f"Got {knob!r}."
        )
    last = tables.final(df)
    last = last[last["status"] == "ok"].copy()
    last["_x"] = _knob_x(last, knob)
    with plt.rc_context(STYLE):
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.4), layout="constrained")
        for alg in tables._order(last["algorithm"].unique()):
            sub = last[last["algorithm"] == alg]
            stats = sub.groupby("_x")[metric].agg(["mean", "min", "max"])
            x = stats.index.to_numpy(dtype=float)
            mean = stats["mean"].to_numpy(dtype=float)
            lo = np.clip(mean - stats["min"].to_numpy(dtype=float), 0, None)
            hi = np.clip(stats["max"].to_numpy(dtype=float) - mean, 0, None)
            ax.errorbar(
                x,
                _positive(mean),
                yerr=[lo, hi],
                color=color_of(alg),
                linestyle=LINESTYLES.get(alg, "-"),
                marker="o",
                markersize=4,
                capsize=2,
                label=alg,
            )
        xs = last["_x"].to_numpy(dtype=float)
        _log_axes(ax, x=bool(xs.size and np.all(xs > 0) and xs.max() / xs.min() > 10))
        ax.set_xlabel(_label(knob))
        ax.set_ylabel(f"final {_label(metric)}")
        if legend and ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    return ax


def _swept(df: pd.DataFrame) -> list[str]:
    swept = [c for c in store.swept_columns(df) if c not in _NOT_KNOBS]
    return sorted(
        swept,
        key=lambda c: (
            KNOB_PREFERENCE.index(c) if c in KNOB_PREFERENCE else len(KNOB_PREFERENCE),
            c,
        ),
    )


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _facets(
    df: pd.DataFrame, facet: str | None, metrics: Sequence[str], draw, title: str, width=3.4
):
    values = sorted(df[facet].unique()) if facet else [None]
    ncols = len(values)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(metrics),
            ncols,
            figsize=(width * ncols + 0.6, 2.8 * len(metrics) + 0.4),
            squeeze=False,
            sharey="row",
            layout="constrained",
        )
        for j, value in enumerate(values):
            sub = df if facet is None else df[df[facet] == value]
            for i, metric in enumerate(metrics):
                ax = axes[i][j]
                draw(sub, metric, ax)
                if j > 0:
                    ax.set_ylabel("")
                if i == 0 and facet is not None:
                    ax.set_title(f"{facet} = {_fmt_value(value)}")
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside upper center", ncols=min(5, len(labels)))
        fig.suptitle(title, fontsize=10, y=0.0, va="top")
    return fig


def plot_directory(
    directory: str | Path,
    out: str | Path | None = None,
    formats: Sequence[str] = ("png", "svg"),
    metrics: Sequence[str] = ("gap", "grad_u_sq", "grad_v_sq"),
    max_facets: int = 8,
) -> list[Path]:
    """Draw the standard figures of a result folder.

    For each family: ``<family>-convergence`` (rows: metrics; columns: values of the first swept
    knob) and, when a knob was swept, ``<family>-final-<knob>`` (x: that knob; columns: values of
    the second swept knob). Further swept knobs are pooled with the seeds (named in the caption).

    Parameters
    ----------
    directory : str or Path
        A result folder.
    out : str or Path, optional
        Where to write; default ``directory/plots``.
    formats : sequence of str
        Any of ``png``, ``svg``, ``pdf``.
    metrics : sequence of str
        Metric columns, one row of panels each.
    max_facets : int
        At most this many columns; beyond, values are thinned evenly.

    Returns
    -------
    list of Path
        The files written.
    """
    df = store.load(directory)
    if df.empty:
        raise ValueError(
            f"The 'directory' parameter of plot_directory has no results: {str(directory)!r}."
        )
    for metric in metrics:
        _check_metric(df, metric, "plot_directory")
    out = Path(directory) / "plots" if out is None else Path(out)
    written: list[Path] = []
    for family, fam_df in df.groupby("family", sort=True):
        swept = _swept(fam_df)
        first = swept[0] if swept else None
        second = swept[1] if len(swept) > 1 else None
        pooled = swept[2:]
        note = f"{family}: mean and range over seeds"
        if pooled:
            note += f" and over {', '.join(pooled)}"
        conv_df = _thin(fam_df, first, max_facets)
        fig = _facets(
            conv_df,
            first,
            metrics,
            lambda sub, metric, ax: convergence(sub, metric, ax=ax, legend=False),
            note + (f"; pooled over {second}" if second else ""),
        )
        stem = file_stem(family)
        written += save(fig, out / f"{stem}-convergence", formats)
        plt.close(fig)
        if first is not None:
            fin_df = _thin(fam_df, second, max_facets)
            fig = _facets(
                fin_df,
                second,
                metrics,
                lambda sub, metric, ax, knob=first: final_vs_knob(
                    sub, knob, metric, ax=ax, legend=False
                ),
                note + " (runs that diverged or failed left out)",
            )
            written += save(fig, out / f"{stem}-final-{first}", formats)
            plt.close(fig)
    return written


def _thin(df: pd.DataFrame, facet: str | None, max_facets: int) -> pd.DataFrame:
    if facet is None:
        return df
    values = sorted(df[facet].unique())
    if len(values) <= max_facets:
        return df
    keep = [
        values[i]
        for i in np.unique(np.linspace(0, len(values) - 1, max_facets).round().astype(int))
    ]
    return df[df[facet].isin(keep)]
