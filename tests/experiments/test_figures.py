"""What each figure shows, read from the matplotlib objects (labels, ticks, norms, markers).

Inputs are small synthetic results (no simulation): hand-made per-round frames for the strict
figure, ``ExponentResult`` with a known fit, ``RegimeMap.from_scores`` on an unevenly spaced
grid, and a store-like frame with a diverged run for the sweep figures.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import ticker
from matplotlib.collections import PolyCollection, QuadMesh

from partialfed.experiments import plots

GRID = (0.1, 0.5, 2.0, 10.0)  # unevenly spaced in log: factors 5, 4, 5


def _tick_texts(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def _all_log_ticks_mathtext(ax) -> None:
    """Every labelled tick of a log axis is mathtext from a LogFormatterMathtext (one format)."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "log" or isinstance(axis.get_major_locator(), ticker.FixedLocator):
            continue
        assert isinstance(axis.get_major_formatter(), ticker.LogFormatterMathtext)
        texts = _tick_texts(axis)
        assert texts and all(t.startswith("$") for t in texts), texts


# -- style ----------------------------------------------------------------------------------------
def test_the_style_file_is_package_data_and_sets_the_rc_params():
    from importlib.resources import files

    assert files("partialfed.experiments.plots").joinpath("partialfed.mplstyle").is_file()
    assert plots.STYLE["legend.fontsize"] >= 9 and plots.STYLE["svg.hashsalt"] == "partialfed"
    before = plt.rcParams["legend.fontsize"]
    with plots.style_context():
        assert plt.rcParams["legend.fontsize"] == plots.STYLE["legend.fontsize"]
        assert plt.rcParams["axes.spines.top"] is False
    assert plt.rcParams["legend.fontsize"] == before  # only inside the context


def test_labels_name_symbols_in_mathtext():
    assert r"$\sigma_v$" in plots.label("noise_v") and r"$\delta$" in plots.label("delta")
    assert r"$\tau_u$" in plots.label("tau_u") and r"$\chi$" in plots.label("chi")
    assert plots.symbol("noise_u") == r"$\sigma_u$"
    for name, text in plots.LABELS.items():
        outside = text.split("$")[::2]  # the parts outside mathtext
        assert not any("_" in part for part in outside), (name, text)  # no raw knob names
    with pytest.raises(ValueError, match="'axis' parameter must be 'x' or 'y'"):
        plots.log_axis(plt.figure().add_subplot(), "z")
    plt.close("all")


def test_every_bound_s_left_hand_side_label_renders_in_mathtext():
    from partialfed import theory

    fig, ax = plt.subplots()
    for name, bound in theory.BOUNDS.items():
        text = plots.lhs_label(bound)
        assert text.count("$") % 2 == 0, name
        ax.set_ylabel(text)
        fig.canvas.draw()  # a mathtext parse error raises here
    assert plots.lhs_label(theory.get_bound("gd_tight")) == r"$\min_{t\leq T}\ \|\nabla f\,\|^2$"
    main = plots.lhs_label(theory.get_bound("fedalt_main"))
    assert main.startswith(r"$\frac{1}{T}\sum_{t<T}") and r"\Delta_u(u^t\!,V^{t+1})" in main
    plt.close(fig)


def test_horizon_curve_draws_each_horizon_once():
    rounds, series = np.arange(6), np.array([5.0, 1.0, 3.0, 0.5, 2.0, 4.0])
    t, v = plots.horizon_curve(rounds, series, "min")
    assert t.tolist() == [1, 2, 3, 4, 5] and v.tolist() == [1.0, 1.0, 0.5, 0.5, 0.5]
    t, v = plots.horizon_curve(rounds, series, "mean", T=4)
    assert t.tolist() == [1, 2, 3, 4] and v[1] == pytest.approx(3.0)  # mean of rounds 0, 1
    with pytest.raises(ValueError, match="'rounds' parameter of horizon_curve"):
        plots.horizon_curve([0, 2, 2], [1, 2, 3], "min")
    t, v = plots.horizon_curve([0, 5, 10], [3.0, 1.0, 2.0], "min")  # every 5 rounds
    assert t.tolist() == [5, 10] and v.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="'aggregate' parameter of horizon_curve"):
        plots.horizon_curve(rounds, series, "median")


# -- strict ---------------------------------------------------------------------------------------
def _strict(bound: str, noise: float, verdict: str, T: int = 30, label: str = "GD on a quadratic"):
    """A StrictResult-like object: per-round frames of a geometric decay (two seeds)."""
    rounds = np.arange(T + 1)
    frames = []
    for seed in range(2):
        g = 4.0 * 0.8**rounds * (1 + 0.1 * seed) + noise
        frames.append(
            pd.DataFrame(
                {
                    "round": rounds,
                    "loss": 10.0 * 0.8**rounds + noise,
                    "grad_u_sq": g,
                    "grad_v_sq": 0.0 * g,
                    "grad_u_sq_at_V_next": np.nan * g,
                }
            )
        )
    values = dict(L=1.0, gamma=1.0, T=T, sigma=noise, Delta_F0=10.0, Delta_FT=10.0)
    run = SimpleNamespace(algorithm="fedalt", m=1, T=T)
    cell = SimpleNamespace(
        run=run, knobs=(("n", 1), ("noise_u", noise), ("noise_v", 0.0)), values=lambda f: values
    )
    return SimpleNamespace(
        check=SimpleNamespace(bound=bound, label=label),
        cell=cell,
        frames=tuple(frames),
        values=values,
        verdict=verdict,
        ratio=0.5,
        provenance="derived",
    )


def test_strict_panels_have_unique_titles_formula_labels_and_one_point_per_horizon():
    results = [
        _strict("gd_tight", 0.0, "holds"),
        _strict("sgd_nonconvex", 1.0, "inconclusive", label="SGD, noisy"),
        _strict("sgd_nonconvex", 0.0, "holds", label="SGD, noisy"),  # same label, exact grads
    ]
    fig = plots.strict_figure(results)
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    assert len(set(titles)) == 3
    assert r"$\sigma_u$ = 1" in titles[1] and "exact gradients" in titles[2]
    assert all("T = 30" in t and "m = 1 of n = 1" in t and "fedalt" in t for t in titles)
    assert axes[0].get_ylabel() == r"$\min_{t\leq T}\ \|\nabla f\,\|^2$"
    assert axes[1].get_ylabel().startswith(r"$\frac{1}{T}\sum_{t<T}")
    for ax, r in zip(axes, results, strict=True):
        measured = next(ln for ln in ax.get_lines() if ln.get_label().startswith("measured"))
        x = measured.get_xdata()
        assert len(np.unique(x)) == len(x) and x.min() == 1 and x.max() == 30
        assert x.tolist() == list(range(1, 31))
        _all_log_ticks_mathtext(ax)
        edge = plots.VERDICT_COLORS[r.verdict]
        assert ax.spines["left"].get_edgecolor() == pytest.approx(
            plt.matplotlib.colors.to_rgba(edge)
        )
    # gd_tight: the running minimum at T = 1 is min(q0, q1), drawn once at x = 1
    first = next(ln for ln in axes[0].get_lines() if ln.get_label().startswith("measured"))
    assert first.get_ydata()[0] == pytest.approx(np.mean([4.0 * 0.8, 4.4 * 0.8]))
    legend = fig.legends[0]
    assert all(t.get_fontsize() >= 9 for t in legend.get_texts())
    plt.close(fig)


# -- exponents ------------------------------------------------------------------------------------
def _exponent(verdict_low, verdict_high, slope=-0.52):
    from partialfed.experiments.checks.exponents import ExponentResult, Slope

    xs = (100, 200, 400, 800, 1600)
    ys = tuple(3.0 * np.asarray(xs, float) ** slope)
    fit = Slope(slope, verdict_low, verdict_high, float(np.log(3.0)))
    return ExponentResult("fedalt: T", "T", xs, ys, fit, -0.5, bound="fedalt_main", leading="noise")


def test_exponent_panels_tick_the_swept_values_and_draw_the_slope_interval():
    agrees, contradicts = _exponent(-0.54, -0.50), _exponent(-0.70, -0.60, slope=-0.65)
    fig = plots.exponent_figure([agrees, contradicts])
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for ax, e in zip(axes, (agrees, contradicts), strict=True):
        assert list(ax.get_xticks()) == [100, 200, 400, 800, 1600]
        assert _tick_texts(ax.xaxis) == ["100", "200", "400", "800", "1600"]
        assert ax.get_xlabel() == "rounds $T$" and r"\frac{1}{T}" in ax.get_ylabel()
        _all_log_ticks_mathtext(ax)
        bands = {c.get_gid(): c for c in ax.collections if isinstance(c, PolyCollection)}
        fan = bands["slope-interval"]
        ys = fan.get_paths()[0].vertices[:, 1]
        x0 = np.exp(np.mean(np.log(e.xs)))
        y0 = np.exp(e.fit.intercept + e.fit.slope * np.log(x0))
        ends = [y0 * (100 / x0) ** s for s in (e.fit.low, e.fit.high)]
        assert ys.max() == pytest.approx(max(ends)) and ys.min() < min(ends) * 1.001
        assert "theory-margin" in bands
        legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        assert f"theory ± {e.tolerance:g} (equivalence margin)" in legend
        assert "95% interval of the fitted slope" in legend
        assert f"{e.verdict} ({e.direction})" in ax.get_title()
        color = plt.matplotlib.colors.to_rgba(plots.VERDICT_COLORS[e.verdict])
        assert ax.spines["top"].get_visible() and ax.spines["top"].get_edgecolor() == color
        assert ax.title.get_color() == plots.VERDICT_COLORS[e.verdict]
        badge = [t.get_text() for t in ax.texts]
        assert any(t.startswith(f"{e.verdict} · {e.direction}") for t in badge)
    assert agrees.verdict == "agrees" and contradicts.verdict == "contradicts"
    plt.close(fig)


# -- regime ---------------------------------------------------------------------------------------
def _regime():
    from partialfed.experiments.regime_result import RegimeMap

    rng = np.random.default_rng(0)
    fedalt = 1.0 + 0.01 * rng.random((4, 4, 3))
    factor = np.geomspace(0.5, 2.0, 16).reshape(4, 4)
    fedsim = fedalt * factor[:, :, None] ** 0.5
    fixed = {
        "family": "quadratic",
        "problem": dict(n=10, d_u=2, d_v=1, chi=0.8, noise_u=0.1),
        "run": {"m": 2},
    }
    return RegimeMap.from_scores("noise_v", GRID, "delta", GRID, fedalt, fedsim, factor, fixed)


def test_regime_maps_share_one_norm_true_cell_edges_and_explained_marks():
    r = _regime()
    fig = plots.regime_figure(r)
    fig.canvas.draw()
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    meshes = [(ax, c) for ax in maps for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2 and meshes[0][1].norm is meshes[1][1].norm
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1 and r"$\log_{10}$" in colorbars[0].get_ylabel()
    lim = max(np.abs(np.log10(r.theory_factor)).max(), np.abs(np.log10(r.headline.ratio)).max())
    assert meshes[0][1].norm.vmax == pytest.approx(lim)  # log10, the axes' base
    edges = plots.cell_edges(GRID)
    assert edges[1] == pytest.approx(np.sqrt(0.1 * 0.5)) and edges[2] == pytest.approx(1.0)
    for ax, mesh in meshes:
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert r"$\sigma_v$" in ax.get_xlabel() and r"$\delta$" in ax.get_ylabel()
        assert _tick_texts(ax.xaxis) == ["0.1", "0.5", "2", "10"] == _tick_texts(ax.yaxis)
        corners = mesh.get_coordinates()
        np.testing.assert_allclose(corners[0, :, 0], edges)
        np.testing.assert_allclose(corners[:, 0, 1], edges)
    marks = {t.get_text() for t in meshes[1][0].texts}
    assert marks and marks <= set(plots.MARKS)
    assert len(meshes[1][0].texts) == int(r.scored.sum())  # unscored cells stay blank
    legend = " ".join(t.get_text() for lg in fig.legends for t in lg.get_texts())
    assert all(text in legend for text in plots.MARKS.values()) and "not scored" in legend
    plt.close(fig)


def test_cell_edges_need_increasing_positive_values():
    np.testing.assert_allclose(plots.cell_edges([1.0]), [10**-0.5, 10**0.5])
    with pytest.raises(ValueError, match="'values' parameter of cell_edges"):
        plots.cell_edges([1.0, 0.5])


# -- sweeps ---------------------------------------------------------------------------------------
def _sweep_rows(T: int = 40, diverge_at: int = 12) -> pd.DataFrame:
    """Store-like rows: fedalt (two seeds, finite) and fedsim (one finite seed, one that blows
    up to 1e200 and turns NaN at ``diverge_at``)."""
    rows = []
    rounds = np.arange(T + 1)
    for alg, seed, status in (
        ("fedalt", 0, "ok"),
        ("fedalt", 1, "ok"),
        ("fedsim", 0, "ok"),
        ("fedsim", 1, "diverged"),
    ):
        gap = 5.0 * 0.9**rounds * (1 + 0.2 * seed)
        if status == "diverged":
            gap = 5.0 * 1e20 ** (rounds / (diverge_at - 1))
            gap[rounds >= diverge_at] = np.nan
        rows.append(
            pd.DataFrame(
                dict(
                    family="quadratic",
                    algorithm=alg,
                    seed=seed,
                    round=rounds,
                    gap=gap,
                    grad_u_sq=gap,
                    grad_v_sq=gap,
                    status=status,
                    hash=f"{alg}{seed}",
                    T=T,
                    m=3,
                    n=8,
                )
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_a_diverged_run_stops_with_a_marker_and_the_y_range_stays_finite():
    df = _sweep_rows()
    ax = plots.convergence(df, "gap")
    ax.figure.canvas.draw()
    lo, hi = ax.get_ylim()
    assert np.isfinite(hi) and hi < 100.0  # the finite runs' range, not 1e+200
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == plots.DIVERGED_MARKER]
    assert len(marks) == 1 and marks[0].get_color() == plots.COLORS["fedsim"]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["fedsim: 1 run diverged at t = 12"]
    curves = [ln for ln in ax.get_lines() if ln.get_color() == plots.COLORS["fedsim"]]
    assert max(float(np.max(ln.get_xdata(), initial=0)) for ln in curves) == 40  # the finite seed
    diverged = [ln for ln in curves if ln.get_linewidth() == 1.0]
    assert diverged and np.max(diverged[0].get_xdata()) == 11  # stops before the divergence
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["fedalt", "fedsim (1 of 2 runs diverged)"]
    _all_log_ticks_mathtext(ax)
    plt.close(ax.figure)


def test_overlapping_curves_differ_in_style_and_bands_do_not_mix():
    df = _sweep_rows()
    df = df[df["status"] == "ok"]
    ax = plots.convergence(df, "gap")
    main = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    alt, sim = main["fedalt"], main["fedsim"]
    assert alt.get_linestyle() != sim.get_linestyle() and alt.get_marker() != sim.get_marker()
    assert alt.get_markevery() and alt.get_markevery() != sim.get_markevery()
    assert alt.get_zorder() != sim.get_zorder() and alt.get_alpha() < 1
    # fedalt has two seeds (a band), fedsim one: one band, filled
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1
    both = pd.concat([df, df.assign(seed=2, hash=df["hash"] + "b")])
    ax2 = plots.convergence(both, "gap")
    assert not [c for c in ax2.collections if isinstance(c, PolyCollection)]  # edges only
    assert len(ax2.get_lines()) == 2 + 2 * 2  # two means, two edges each
    plt.close("all")


def test_sweep_figures_name_T_and_m(tiny_results, tmp_path):
    from partialfed.experiments import store

    df = store.load(tiny_results)
    assert plots.run_note(df) == "$T$ = 20 rounds, $m$ = 3 of $n$ = 8 devices per round"
    rows = _sweep_rows()
    assert plots.run_note(rows) == "$T$ = 40 rounds, $m$ = 3 of $n$ = 8 devices per round"
    ax = plots.final_vs_knob(df, "delta", "gap")
    _all_log_ticks_mathtext(ax)
    assert ax.get_xlabel() == r"gradient diversity $\delta$"
    plt.close(ax.figure)


def test_final_values_mark_diverged_knob_values_and_dodge_the_error_bars():
    import warnings

    df = pd.concat(
        [_sweep_rows().assign(delta=d, hash=lambda x, d=d: x["hash"] + str(d)) for d in (0.1, 1.0)]
    )
    ax = plots.final_vs_knob(df, "delta", "gap")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied"
        ax.figure.canvas.draw()
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == plots.DIVERGED_MARKER]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [0.1, 1.0]
    assert marks[0].get_color() == plots.COLORS["fedsim"]
    lo, hi = ax.get_xlim()
    assert lo < 0.1 and hi > 1.0  # the marks are inside the x range
    assert np.isfinite(ax.get_ylim()[1]) and ax.get_ylim()[1] < 100.0
    bars = {c.get_label(): c for c in ax.containers}
    shifts = [
        bars[a].lines[0].get_transform().transform((0.5, 1.0))[0] for a in ("fedalt", "fedsim")
    ]
    assert shifts[0] < shifts[1]  # drawn side by side at one knob value, not on top
    np.testing.assert_allclose(bars["fedsim"].lines[0].get_xdata(), [0.1, 1.0])  # data unmoved
    plt.close(ax.figure)


# -- calibrated fit -------------------------------------------------------------------------------
def test_calibration_axes_name_the_left_hand_side_in_mathtext_with_log_ticks():
    from partialfed import theory

    c = SimpleNamespace(
        bound="fedalt_main",
        train_ratios=[1.0, 1.1, 0.9],
        test_ratios=[0.8],
        groups={"T > 100": [0.8]},
        median_ratio=0.8,
    )
    fig = plots.calibration_figure(c, [0.02, 0.1, 0.5], {"T > 100": [0.01]})
    fig.canvas.draw()
    (ax,) = fig.axes
    lhs = plots.lhs_label(theory.get_bound("fedalt_main"))
    assert ax.get_xlabel() == f"measured: {lhs}" and lhs.startswith("$")
    assert ax.get_ylabel() == "fitted curve (calibrated constants)"
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_xlim() == ax.get_ylim()
    _all_log_ticks_mathtext(ax)
    plt.close(fig)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_strict_layout_equals_tight_layout_inside_the_header_rect(k):
    from partialfed.experiments.plots import studies

    def figure():
        fig, axes = studies.panels(k, height=3.9)
        for i, ax in enumerate(axes):
            ax.plot([1, 10, 100], [1e-3, 1e-1 * (i + 1), 2.0])
            plots.log_axis(ax, "x")
            plots.log_axis(ax, "y")
            ax.set_title(f"panel {i}\nsecond line of the title", fontsize=9)
            ax.set_xlabel("horizon $T$ (rounds)")
            ax.set_ylabel(r"$\frac{1}{T}\sum_t \Delta_u$" if i % 2 else "y")
        return fig

    top = 1.0 - 1.05 / figure().get_size_inches()[1]
    a, b = figure(), figure()
    a.tight_layout(rect=(0, 0, 1, top))
    studies._tight_below(b, top)
    for name in ("left", "right", "bottom", "top", "wspace", "hspace"):
        assert getattr(b.subplotpars, name) == pytest.approx(
            getattr(a.subplotpars, name), rel=1e-12, abs=1e-15
        ), name
    # the top edge did move: the one-pass layout is not a plain tight_layout
    c = figure()
    c.tight_layout()
    assert c.subplotpars.top - b.subplotpars.top == pytest.approx(1.05 / c.get_size_inches()[1])
    plt.close("all")


def test_save_crops_to_the_drawing_unless_told_to_keep_the_canvas(tmp_path):
    from PIL import Image

    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    ax.plot([0, 1], [0, 1])
    fig.subplots_adjust(left=0.3, right=0.7, bottom=0.3, top=0.7)  # wide empty margins
    (cropped,) = plots.save(fig, tmp_path / "a", formats=("png",))
    (canvas,) = plots.save(fig, tmp_path / "b", formats=("png",), crop=False)
    plt.close(fig)
    with plots.style_context():
        dpi = float(plt.rcParams["savefig.dpi"])
    assert Image.open(canvas).size == (round(4.0 * dpi), round(3.0 * dpi))
    w, h = Image.open(cropped).size
    assert w < 0.75 * 4.0 * dpi and h < 0.75 * 3.0 * dpi


def test_strict_layout_leaves_no_layout_engine_even_with_autolayout_on():
    from partialfed.experiments.plots import studies

    with plt.rc_context({"figure.autolayout": True}):
        fig, axes = studies.panels(4, height=3.9)
        for ax in axes:
            ax.plot([1, 10], [1, 2])
        studies._tight_below(fig, 0.9)
        assert fig.get_layout_engine() is None  # savefig then draws once, as laid out
    plt.close(fig)
