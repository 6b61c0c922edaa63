"""Final metrics of stored runs, per run and summarised per algorithm.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"hash": ["a", "a", "b"], "algorithm": ["fedalt"] * 3,
...                    "round": [0, 5, 5], "gap": [2.0, 1.0, 3.0], "grad_u_sq": [1.0, 0.5, 0.1],
...                    "grad_v_sq": [1.0, 0.2, 0.4], "status": ["ok"] * 3})
>>> summarize(df)["gap"].tolist()
[2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from partialfed.experiments.store import STATUSES

__all__ = [
    "ALGORITHM_ORDER",
    "SUMMARY_METRICS",
    "GAP_HEADER",
    "OWN_U",
    "final",
    "summarize",
    "format_table",
    "own_u_algorithms",
    "gap_notes",
]

#: Display order of the algorithms (others follow alphabetically).
ALGORITHM_ORDER = ("fedalt", "fedsim", "fedavg", "local", "fedrecon", "perfedavg", "ditto")

#: Final metrics averaged by ``summarize``.
SUMMARY_METRICS = ("gap", "grad_u_sq", "grad_v_sq")

#: How ``format_table`` heads the ``gap`` column: what it is, not a name that reads as a bound.
GAP_HEADER = "F - F_low"

#: Marks, in ``format_table``, an algorithm whose iterate is not one shared ``u``.
OWN_U_MARK = "*"


#: The algorithms whose iterate keeps one ``u_i`` per device (``simulators.ALGORITHMS`` with
#: ``per_device_u``; restated so that tables and plots do not import Numba, a test asserts
#: that both agree).
OWN_U = ("local",)


def own_u_algorithms(names) -> list[str]:
    """The algorithms among ``names`` whose iterate keeps one ``u_i`` per device (``OWN_U``):
    their ``F = (1/n) sum_i F_i(u_i, v_i)``, which ``F_low`` (a lower bound of ``F`` over one
    shared ``u``) does not bound, so ``F - F_low`` may be negative without violating it."""
    return [a for a in names if a in OWN_U]


def gap_notes(table: pd.DataFrame) -> list[str]:
    """The footnotes of ``format_table(table)``: what ``F - F_low`` is, and for algorithms
    marked ``*`` (``own_u_algorithms``) why it may be negative."""
    notes = [
        f"{GAP_HEADER}: F(u, V) = (1/n) sum_i F_i(u, v_i) at the last round minus F_low, the "
        "lower bound of F over a shared u (>= 0 for a shared-u model)"
    ]
    own = own_u_algorithms(table.index) if table.index.name == "algorithm" else []
    if own:
        notes.append(
            f"{', '.join(own)}{OWN_U_MARK}: one u_i per device, F = (1/n) sum_i F_i(u_i, v_i); "
            "F_low does not bound it, so a negative value violates no bound"
        )
    return notes


def final(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last recorded round (for a failed run, its single row)."""
    if df.empty:
        return df
    ordered = df.sort_values(["hash", "round"], kind="stable", na_position="first")
    return ordered.groupby("hash", sort=False).tail(1).reset_index(drop=True)


def _order(values) -> list:
    known = [a for a in ALGORITHM_ORDER if a in set(values)]
    return known + sorted(v for v in set(values) if v not in ALGORITHM_ORDER)


def summarize(df: pd.DataFrame, by: Sequence[str] = ("algorithm",)) -> pd.DataFrame:
    """Mean final metrics per group over seeds and grid cells, with status counts.

    Parameters
    ----------
    df : DataFrame
        As ``experiments.store.load`` returns it.
    by : sequence of str
        Grouping columns (default the algorithm).

    Returns
    -------
    DataFrame
        Indexed by ``by``; columns ``runs``, one count per status (``ok``, ``diverged``,
        ``error``), and the mean of each of ``SUMMARY_METRICS`` at the last recorded round over
        the runs whose status is ``ok`` (``gap = F - F_low``).
    """
    by = list(by)
    last = final(df)
    if last.empty:
        return pd.DataFrame(columns=["runs", *STATUSES, *SUMMARY_METRICS])
    counts = pd.crosstab([last[c] for c in by], last["status"]).reindex(
        columns=list(STATUSES), fill_value=0
    )
    ok = last[last["status"] == "ok"]
    means = ok.groupby(by)[list(SUMMARY_METRICS)].mean()
    table = counts.join(means, how="left")
    table.insert(0, "runs", counts.sum(axis=1))
    table.columns.name = None
    if by == ["algorithm"]:
        table = table.reindex(_order(table.index))
    return table


def format_table(table: pd.DataFrame) -> str:
    """A fixed-width text rendering with 4 significant digits; the ``gap`` column is headed
    ``GAP_HEADER`` and algorithms whose iterate is not one shared ``u`` carry ``OWN_U_MARK``
    (see ``gap_notes`` for the footnotes)."""
    if table.empty:
        return "(no runs)"
    shown = table.rename(columns={"gap": GAP_HEADER})
    if table.index.name == "algorithm":
        own = set(own_u_algorithms(table.index))
        shown = shown.rename(index={a: a + OWN_U_MARK for a in own})
    return shown.to_string(float_format=lambda x: f"{x:.4g}", na_rep="-")
