"""Figures: fixed colours, the standard figures of a folder, bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import matplotlib
import pytest

from partialfed import simulators
from partialfed.experiments import plots, store, tables


def test_each_algorithm_has_a_fixed_distinct_colour_and_style():
    algs = tables.ALGORITHM_ORDER
    assert set(algs) == set(simulators.ALGORITHMS)
    assert [plots.color_of(a) for a in algs] == [plots.COLORS[a] for a in algs]
    assert len({plots.COLORS[a] for a in algs}) == len(algs)
    assert len({str(plots.LINESTYLES[a]) for a in algs}) == len(algs)
    assert len({plots.MARKERS[a] for a in algs}) == len(algs)
    assert plots.color_of("other") == plots.color_of("other")
    assert matplotlib.get_backend().lower() == "agg"


def test_convergence_and_final_value_axes(tiny_results):
    df = store.load(tiny_results)
    ax = plots.convergence(df[df["delta"] == 0.0], "gap")
    lines = {line.get_label(): line for line in ax.get_lines()}
    lines = {k: v for k, v in lines.items() if not k.startswith("_")}  # band edges: unlabelled
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


def test_plots_package_exports_every_figure_and_stays_light():
    """``import experiments.plots`` gives every figure and imports neither sympy nor Numba."""
    script = (
        "import json, sys\n"
        "from partialfed.experiments import plots\n"
        "import matplotlib\n"
        "print(json.dumps({'missing': [n for n in plots.__all__ if not hasattr(plots, n)],\n"
        "  'backend': matplotlib.get_backend(), 'modules': sorted(sys.modules)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["missing"] == [] and result["backend"].lower() == "agg"
    heavy = ("numba", "sympy", "partialfed.simulators", "partialfed.theory")
    assert [m for m in result["modules"] if m.startswith(heavy)] == []
    for name in ("strict_figure", "exponent_figure", "regime_figure", "calibration_figure"):
        assert name in plots.__all__ and plots.__dict__[name].__doc__


def test_panels_hides_the_unused_ones():
    import matplotlib.pyplot as plt

    fig, axes = plots.panels(4)
    assert len(axes) == 4 and all(ax.get_visible() for ax in axes)
    assert len(fig.axes) == 6 and sum(ax.get_visible() for ax in fig.axes) == 4
    plt.close(fig)


def test_calibration_figure_draws_train_test_and_the_diagonal():
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    c = SimpleNamespace(
        bound="fedalt_main",
        train_ratios=[1.0, 2.0],
        test_ratios=[0.5, 3.0],
        groups={"T > 800": [0.5], "other instance": [3.0]},
        median_ratio=1.25,
    )
    fig = plots.calibration_figure(c, [1.0, 3.0], {"T > 800": [2.0], "other instance": [1.0]})
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "training cells",
        "held-out: T > 800",
        "held-out: other instance",
        "fit = measured",
    }
    assert list(lines["training cells"].get_ydata()) == [1.0, 6.0]  # ratio times measured
    assert list(lines["held-out: T > 800"].get_ydata()) == [1.0]
    assert list(lines["held-out: other instance"].get_ydata()) == [3.0]
    # a calibrated curve is a fit, not a bound
    assert "fit" in ax.get_title() and "bound" not in ax.get_ylabel()
    assert "fedalt_main" in ax.get_title() and "1.25" in ax.get_title()
    plt.close(fig)
