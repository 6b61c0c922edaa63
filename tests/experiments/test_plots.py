"""Figures: fixed colours, the standard figures of a folder, bad arguments."""

from __future__ import annotations

import matplotlib
import pytest

from partialfed.experiments import plots, store, tables


def test_each_algorithm_has_a_fixed_distinct_colour_and_style():
    algs = ("fedalt", "fedsim", "fedavg", "local", "fedrecon")
    assert [plots.color_of(a) for a in algs] == [plots.COLORS[a] for a in algs]
    assert len({plots.COLORS[a] for a in algs}) == len(algs)
    assert len({str(plots.LINESTYLES[a]) for a in algs}) == len(algs)
    assert plots.color_of("other") == plots.color_of("other")
    assert matplotlib.get_backend().lower() == "agg"


def test_convergence_and_final_value_axes(tiny_results):
    df = store.load(tiny_results)
    ax = plots.convergence(df[df["delta"] == 0.0], "gap")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"fedalt", "fedsim"}
    assert lines["fedalt"].get_color() == plots.COLORS["fedalt"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert lines["fedalt"].get_xdata().min() == 1  # round 0 is not drawn on a log axis
    ax = plots.final_vs_knob(df, "delta", "grad_u_sq")
    bars = {c.get_label(): c for c in ax.containers}
    assert set(bars) == {"fedalt", "fedsim"}
    last = tables.final(df)
    mean = last[(last["algorithm"] == "fedsim") & (last["delta"] == 1.0)]["grad_u_sq"].mean()
    ys = bars["fedsim"].lines[0].get_ydata()
    assert ys[-1] == pytest.approx(mean)


def test_bad_metric_and_knob_are_named(tiny_results):
    df = store.load(tiny_results)
    with pytest.raises(ValueError, match="'metric'.*gap"):
        plots.convergence(df, "gapp")
    with pytest.raises(ValueError, match="'knob'.*delta"):
        plots.final_vs_knob(df, "delat")


def test_plot_directory_writes_png_and_svg(tiny_results, tmp_path):
    paths = plots.plot_directory(tiny_results, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "quadratic-convergence.png",
        "quadratic-convergence.svg",
        "quadratic-final-delta.png",
        "quadratic-final-delta.svg",
    ]
    for p in paths:
        assert p.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_table(tiny_results):
    table = tables.summarize(store.load(tiny_results))
    assert table.index.tolist() == ["fedalt", "fedsim"]
    assert table["runs"].tolist() == [4, 4] and table["ok"].tolist() == [4, 4]
    assert (table["gap"] > 0).all()
    assert "fedalt" in tables.format_table(table)
