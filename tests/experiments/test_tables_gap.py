"""The summary's gap column (issue 16, item 15): named ``F - F_low`` and defined, so that a
negative value of ``local`` (one ``u`` per device, which ``F_low`` does not bound) cannot read
as a violated lower bound."""

from __future__ import annotations

import pandas as pd

from partialfed import simulators
from partialfed.experiments import plots, tables


def _frame(algorithms, gaps) -> pd.DataFrame:
    k = len(algorithms)
    return pd.DataFrame(
        {
            "hash": [f"h{i}" for i in range(k)],
            "algorithm": list(algorithms),
            "round": [5] * k,
            "gap": list(gaps),
            "grad_u_sq": [1.0] * k,
            "grad_v_sq": [1.0] * k,
            "status": ["ok"] * k,
        }
    )


def test_own_u_algorithms_are_the_simulators_per_device_ones():
    own = {a for a, spec in simulators.ALGORITHMS.items() if spec.per_device_u}
    assert set(tables.OWN_U) == own


def test_gap_column_is_headed_and_local_marked():
    table = tables.summarize(_frame(["fedalt", "local"], [1.0, -7.75]))
    text = tables.format_table(table)
    header = text.splitlines()[0]
    assert tables.GAP_HEADER in header and " gap " not in f" {header} ", header
    rows = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert set(rows) == {"fedalt", "local*"}, rows
    notes = tables.gap_notes(table)
    assert len(notes) == 2 and notes[1].startswith("local*") and "F_low" in notes[1]
    assert table["gap"].tolist() == [1.0, -7.75]  # the data keep their column name


def test_no_footnote_for_shared_u_algorithms():
    table = tables.summarize(_frame(["fedalt", "fedsim"], [1.0, 2.0]))
    assert "*" not in tables.format_table(table)
    assert len(tables.gap_notes(table)) == 1


def test_plot_y_label_says_local_is_not_bounded():
    df = _frame(["fedalt", "local"], [1.0, 0.5])
    df = pd.concat([df, df.assign(round=1)], ignore_index=True)
    ax = plots.convergence(df, "gap")
    assert "local" in ax.get_ylabel() and "per device" in ax.get_ylabel()
    ax = plots.convergence(df[df["algorithm"] == "fedalt"], "gap")
    assert "local" not in ax.get_ylabel()
