"""Figures of stored sweeps: convergence curves and final values against a swept knob.

- ``convergence``: a metric against the round, log-log, mean over seeds (line, with the
  algorithm's line style and markers) and the range over seeds (a light band with its edges
  drawn), one curve per algorithm. Round 0 is not drawn (log axis). Runs that diverged stop
  at their divergence with a ✕ and a note; the y range is that of the runs that stayed finite
  (``experiments.plots.divergence``).
- ``final_vs_knob``: the metric at the last round against a swept knob (``m`` is drawn as
  ``m/n``), mean and range over seeds, runs that diverged or failed left out (a ✕ on the upper
  edge marks a knob value where some diverged).
- ``plot_directory``: both, as small multiples (rows: metrics; columns: the values of the
  first swept knob, or of the second one for the final-value figure), for each family in a
  result folder, titled with the rounds ``T`` and the devices per round ``m`` of ``n``; PNG and
  SVG (examples: ``experiments.plots``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.transforms import ScaledTranslation

from partialfed.experiments import store, tables
from partialfed.experiments.plots.divergence import (
    DIVERGED_MARKER,
    diverged_at,
    finite_limits,
    mark_diverged,
    share_limits,
    split_runs,
)
from partialfed.experiments.plots.facets import facets, run_note
from partialfed.experiments.plots.style import (
    file_stem,
    line_style,
    log_axis,
    marks_at,
    plain_text,
    save,
    style_context,
    symbol,
    value_ticks,
)
from partialfed.experiments.plots.style import label as _label

__all__ = ["KNOB_PREFERENCE", "convergence", "final_vs_knob", "plot_directory"]

#: Which swept knob goes on the x axis first (then facets), when several are swept.
KNOB_PREFERENCE = ("delta", "m", "chi", "noise_v", "noise_u", "tau_u", "tau_v", "gamma_u", "n")

_NOT_KNOBS = {"seed", "problem_seed", "init_seed", "algorithm", "hash", "family"}


def _check_metric(df: pd.DataFrame, metric: str, owner: str) -> None:
    # A numeric column that is not part of the spec: the stored metrics, or one the caller
    # computed (a notebook's running average); 'status', 'hash' or a knob are columns too.
    skip = _NOT_KNOBS | {"round", "elapsed_s", "status", "message"}
    allowed = [
        c for c in df.columns
        if c not in skip and not c.startswith("const_") and pd.api.types.is_numeric_dtype(df[c])
    ]  # fmt: skip
    if metric not in allowed:
        raise ValueError(
            f"The 'metric' parameter of {owner} must be one of {', '.join(allowed)}. "
            f"Got {metric!r}."
        )


def _gap_label(metric: str, algorithms) -> str:
    """The y label of ``metric``; for ``gap`` with an algorithm that keeps one u per device
    (``local``), a second line says that F_low does not bound its F (tables.gap_notes)."""
    own = tables.own_u_algorithms(algorithms) if metric == "gap" else []
    if not own:
        return _label(metric)
    return _label(metric) + f"\n({', '.join(own)}: one $u_i$ per device, may be < 0)"


def _positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


def convergence(df: pd.DataFrame, metric: str = "gap", ax=None, legend: bool = True):
    """Draw ``metric`` against the round, log-log, one curve per algorithm.

    Each algorithm has its colour, line style and markers (nine, log-spaced, offset per
    algorithm, so overlapping curves stay apart). Mean over the runs that stayed finite, with
    their range over seeds as a band: filled lightly when one algorithm has a band, its edges
    only when several do (overlapping fills would mix into grey). Runs that
    diverged: their mean up to the round before the first divergence, ended by a ✕ and the
    note "diverged at t = ..." (on the upper edge when the curve left the y range); the y range
    is that of the runs that stayed finite (of the diverged runs' first rounds when all
    diverged).

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
    with style_context():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
        rows = df[(df["round"].notna()) & (df["round"] >= 1)]
        algorithms = tables._order(rows["algorithm"].unique())
        parts = {a: split_runs(rows[rows["algorithm"] == a]) for a in algorithms}
        fill = sum(_runs(ok) > 1 for ok, _ in parts.values()) <= 1
        finite, first, diverged = [], [], []
        for i, alg in enumerate(algorithms):
            ok, bad = parts[alg]
            kw = line_style(alg, i)
            shown = plain_text(alg)  # names come from stored files: no mathtext
            runs = _runs(ok) + _runs(bad)
            if not ok.empty:
                stats = ok.groupby("round")[metric].agg(["mean", "min", "max"])
                x = stats.index.to_numpy(dtype=float)
                name = shown if bad.empty else f"{shown} ({_runs(bad)} of {runs} runs diverged)"
                kw["markevery"] = marks_at(x, i)
                ax.plot(x, _positive(stats["mean"]), label=name, **kw)
                if _runs(ok) > 1:
                    _band(ax, x, stats["min"], stats["max"], kw, fill)
                finite += [stats["min"].to_numpy(float), stats["max"].to_numpy(float)]
            if not bad.empty:
                mean = bad.groupby("round")[metric].mean()
                x, y = mean.index.to_numpy(dtype=float), mean.to_numpy(dtype=float)
                at = min(diverged_at(bad, metric).values())
                if ok.empty:  # the legend still names the algorithm
                    ax.plot([], [], label=f"{shown} (all {runs} runs diverged)", **kw)
                first.append(y[(x < at) & (x <= max(x.min(), 1) + 2)])
                diverged.append((shown, kw, x, y, at, _runs(bad)))
        if finite:
            wanted = finite_limits(np.concatenate(finite))
        else:
            wanted = finite_limits(np.concatenate(first)) if first else None
            if wanted is not None:
                wanted = (wanted[0] / 10, wanted[1] * 1e3)  # room to see the blow-up start
        ax.set_xscale("log")
        ax.set_yscale("log")
        share_limits(ax, wanted)
        top = wanted[1] if wanted else np.inf
        for row, (alg, kw, x, y, at, count) in enumerate(diverged):
            note = f"{alg}: {count} run{'s' if count > 1 else ''} diverged at t = {at}"
            mark_diverged(ax, x, y, at, top, kw["color"], note, kw["linestyle"], row)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(_label("round"))
        ax.set_ylabel(_gap_label(metric, algorithms))
        if legend and ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    return ax


def _runs(rows: pd.DataFrame) -> int:
    """How many runs ``rows`` hold."""
    if rows.empty:
        return 0
    return (
        int(rows["hash"].nunique()) if "hash" in rows else int(rows.groupby("round").size().max())
    )


def _band(ax, x, low, high, kw, fill: bool) -> None:
    """The range over seeds: its two edges in the algorithm's style, and a light fill when
    ``fill`` (one band in the axes)."""
    low, high = _positive(low), _positive(high)
    if fill:
        ax.fill_between(x, low, high, color=kw["color"], alpha=0.15, linewidth=0, zorder=1)
    for edge in (low, high):
        ax.plot(x, edge, color=kw["color"], ls=kw["linestyle"], lw=0.7, zorder=2)


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
        status is ``ok``, each algorithm drawn 3 points aside from the next (on screen only) so
        error bars at one value do not hide each other; a ✕ on the upper edge at each knob
        value where runs of an algorithm diverged (left out). The y axis is logarithmic, the x
        axis too when the knob spans more than a decade of positive values (ticks at the knob's
        values when there are at most 8).
    """
    _check_metric(df, metric, "final_vs_knob")
    if knob not in df.columns:
        allowed = [c for c in store.spec_columns(df) if c not in _NOT_KNOBS]
        raise ValueError(
            f"The 'knob' parameter of final_vs_knob must be one of {', '.join(allowed)}. "
            f"Got {knob!r}."
        )
    every = tables.final(df).copy()
    every["_x"] = _knob_x(every, knob)
    last = every[every["status"] == "ok"]
    with style_context():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
        algorithms = tables._order(every["algorithm"].unique())
        for i, alg in enumerate(algorithms):
            kw = line_style(alg, i)
            kw.pop("markevery")
            # dodge: each algorithm 3 points aside (on screen; the data are not moved), so
            # error bars at one knob value do not hide each other
            shift = 3.0 * (i - (len(algorithms) - 1) / 2) / 72
            dodge = ScaledTranslation(shift, 0, ax.figure.dpi_scale_trans)
            kw["transform"] = ax.transData + dodge
            sub = last[last["algorithm"] == alg]
            stats = sub.groupby("_x")[metric].agg(["mean", "min", "max"])
            x = stats.index.to_numpy(dtype=float)
            mean = stats["mean"].to_numpy(dtype=float)
            lo = np.clip(mean - stats["min"].to_numpy(dtype=float), 0, None)
            hi = np.clip(stats["max"].to_numpy(dtype=float) - mean, 0, None)
            ax.errorbar(x, _positive(mean), yerr=[lo, hi], capsize=2, label=plain_text(alg), **kw)
            good = np.isfinite(mean) & (mean > 0)  # a dodged artist is not autoscaled
            ax.update_datalim(np.column_stack([x[good], mean[good]]))
            bad = every[(every["algorithm"] == alg) & (every["status"] == "diverged")]
            if not bad.empty:
                at = np.unique(bad["_x"].to_numpy(dtype=float))
                ax.update_datalim(np.column_stack([at, np.ones(at.size)]), updatey=False)
                ax.plot(
                    np.unique(bad["_x"].to_numpy(dtype=float)),
                    np.ones(bad["_x"].nunique()),
                    ls="none",
                    marker=DIVERGED_MARKER,
                    ms=8,
                    color=kw["color"],
                    mec="black",
                    mew=0.6,
                    clip_on=False,
                    transform=ax.get_xaxis_transform() + dodge,
                    label=f"_{alg} diverged (left out)",
                    zorder=6,
                )
        if last.empty and not every.empty:
            ax.text(
                0.5,
                0.5,
                "every run diverged or failed",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )
        xs = every["_x"].to_numpy(dtype=float)
        grid = np.unique(xs)
        if xs.size and np.all(xs > 0) and xs.max() / xs.min() > 10:
            if grid.size <= 8:
                value_ticks(ax, "x", grid)
            else:
                log_axis(ax, "x")
        ax.set_yscale("log")
        share_limits(ax, finite_limits(last[metric]))
        log_axis(ax, "y")
        ax.set_xlabel(_label(knob))
        ax.set_ylabel(f"final {_gap_label(metric, last['algorithm'].unique())}")
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
    File names use ``file_stem`` of the family and knob names, which the stored files supply
    and which are not trusted: every file is written directly inside ``out``.

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
    out = _out_folder(directory, out)
    written: list[Path] = []
    for family, fam_df in df.groupby("family", sort=True):
        swept = _swept(fam_df)
        first = swept[0] if swept else None
        second = swept[1] if len(swept) > 1 else None
        pooled = swept[2:]
        note = f"{plain_text(family)}: {run_note(fam_df)}; mean and range over seeds"
        if pooled:
            note += f" and over {', '.join(symbol(p) for p in pooled)}"
        conv_df = _thin(fam_df, first, max_facets)
        fig = facets(
            conv_df,
            first,
            metrics,
            lambda sub, metric, ax: convergence(sub, metric, ax=ax, legend=False),
            note + (f"; pooled over {symbol(second)}" if second else ""),
        )
        stem = file_stem(family)
        written += save(fig, out / f"{stem}-convergence", formats)
        plt.close(fig)
        if first is not None:
            fin_df = _thin(fam_df, second, max_facets)
            fig = facets(
                fin_df,
                second,
                metrics,
                lambda sub, metric, ax, knob=first: final_vs_knob(
                    sub, knob, metric, ax=ax, legend=False
                ),
                note + " (runs that diverged or failed left out)",
            )
            written += save(fig, out / f"{stem}-final-{file_stem(first)}", formats)
            plt.close(fig)
    return written


def _out_folder(directory, out) -> Path:
    """``out``, or ``directory/plots``, which must then stay inside ``directory`` (a result
    folder is not trusted: its ``plots`` may be a link to elsewhere)."""
    if out is not None:
        return Path(out)
    out = Path(directory) / "plots"
    if Path(directory).resolve() not in out.resolve().parents:
        raise ValueError(
            f"The 'out' parameter of plot_directory is needed: {str(out)!r} leads outside "
            f"{str(directory)!r}."
        )
    return out


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
