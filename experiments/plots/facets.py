"""The small-multiples layout of the sweep figures (``experiments.plots.sweeps``).

Rows: metrics; columns: the values of a swept knob (titled with its symbol, ``δ = 0.1``); one
legend under the panels (each algorithm's colour, line style and marker, and the ✕ of a
diverged run); a title naming the family, the rounds ``T`` and the devices per round ``m`` of
``n`` (:func:`run_note`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from partialfed.experiments import tables
from partialfed.experiments.plots.divergence import DIVERGED_MARKER
from partialfed.experiments.plots.style import line_style, plain_text, style_context, symbol

__all__ = ["run_note"]


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return plain_text(value)  # stored values are not trusted as mathtext


def _facet_title(facet: str, value) -> str:
    """``δ = 0.1``: the knob's symbol (``m`` as itself: the value is a count)."""
    name = "$m$" if facet == "m" else symbol(facet)
    return f"{name} = {_fmt_value(value)}"


def _values(df: pd.DataFrame, column: str) -> str:
    values = sorted(df[column].dropna().unique()) if column in df else []
    return ", ".join(_fmt_value(v.item() if hasattr(v, "item") else v) for v in values)


def run_note(df: pd.DataFrame) -> str:
    """``T = 300 rounds, m = 4 of n = 10 devices per round`` (a list of values where several)."""
    parts = []
    if "T" in df:
        parts.append(f"$T$ = {_values(df, 'T')} rounds")
    if "m" in df:
        of = f" of $n$ = {_values(df, 'n')}" if "n" in df else ""
        parts.append(f"$m$ = {_values(df, 'm')}{of} devices per round")
    return ", ".join(parts)


def _legend_handles(df: pd.DataFrame) -> list:
    """One handle per algorithm (its colour, line style, marker) and one for ✕ (diverged)."""
    from matplotlib.lines import Line2D

    handles = []
    for i, alg in enumerate(tables._order(df["algorithm"].unique())):
        kw = line_style(alg, i)
        kw.pop("markevery")
        kw.pop("zorder")
        handles.append(Line2D([], [], label=plain_text(alg), **kw))
    if "status" in df and (df["status"] == "diverged").any():
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker=DIVERGED_MARKER,
                ms=8,
                color="0.5",
                mec="black",
                mew=0.6,
                label="diverged: run stopped there (left out of the mean)",
            )
        )
    return handles


def facets(
    df: pd.DataFrame, facet: str | None, metrics: Sequence[str], draw, title: str, width=3.6
):
    """A figure of panels: one row per metric (sharing y), one column per value of ``facet``.

    Parameters
    ----------
    df : DataFrame
        The rows to draw (a sweep's runs, one row per round or per run).
    facet : str or None
        The column whose values make the columns of panels (``None``: one column).
    metrics : sequence of str
        One row of panels each.
    draw : callable
        ``draw(rows, metric, ax)`` draws one panel from the rows of its facet value.
    title : str
        The figure's title (wrapped to its width).
    width : float
        Inches per column of panels.

    Returns
    -------
    matplotlib Figure
        With a legend of the algorithms (and of the diverged marker when a run diverged).
    """
    values = sorted(df[facet].unique()) if facet else [None]
    ncols = len(values)
    with style_context():
        fig, axes = plt.subplots(
            len(metrics),
            ncols,
            figsize=(width * ncols + 0.8, 3.0 * len(metrics) + 0.9),
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
                    ax.set_title(_facet_title(facet, value))
        handles = _legend_handles(df)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)))
        fig.suptitle(textwrap.fill(title, int(14 * fig.get_size_inches()[0])), fontsize=10)
    return fig
