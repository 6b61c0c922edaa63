"""The regime map: same measured quantity for both algorithms, best steps from a grid, paired
intervals, wins only where the interval excludes 1, three step policies side by side."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from partialfed.experiments import store
from partialfed.experiments.cell import Cell
from partialfed.experiments.regime import POLICIES, RegimeMap, RegimeStudy, regime_map
from partialfed.experiments.regime_stats import best_index, paired_ratio, winner
from partialfed.experiments.steps import TunedEta, _eta_steps, tuned_eta

# ---------------------------------------------------------------------------------------------
# Statistics on numbers with a known answer
# ---------------------------------------------------------------------------------------------


def test_best_index_known_best_ties_and_edges():
    assert best_index([3.0, 1.0, 2.0]) == (1, False)
    assert best_index([1.0, 2.0, 3.0]) == (0, True)  # best at the small end: flagged
    assert best_index([3.0, 2.0, 1.0]) == (2, True)  # best at the large end: flagged
    assert best_index([2.0, 1.0, 1.0, 3.0]) == (1, False)  # exact tie: the smaller step
    assert best_index([np.nan, 2.0, np.inf, 1.5]) == (3, True)  # diverged runs never win
    with pytest.raises(ValueError, match="non-empty 1-D"):
        best_index([])


def test_paired_ratio_interval_and_wins():
    alt = np.array([1.0, 2.0, 0.5, 4.0])
    tight = paired_ratio(1.2 * alt, alt)
    assert tight.ratio == pytest.approx(1.2) and tight.low == tight.high == pytest.approx(1.2)
    assert tight.winner == "fedalt" and paired_ratio(alt / 1.2, alt).winner == "fedsim"
    # ratio 1.01 on average with a wide interval: not a win
    wobble = np.exp(np.array([0.2, -0.18, 0.15, -0.137]))
    wide = paired_ratio(alt * wobble, alt)
    assert wide.ratio == pytest.approx(math.exp(np.mean(np.log(wobble))))
    assert 1.0 < wide.ratio < 1.02 and wide.low < 1.0 < wide.high
    assert wide.winner == "unresolved"
    assert paired_ratio([1.1], [1.0]).winner == "unresolved"  # one seed: no interval
    assert paired_ratio([np.nan, 1.0], [1.0, 1.0]).winner == "unresolved"
    assert winner(1.001, 1.3) == "fedalt" and winner(0.7, 0.999) == "fedsim"


def _hand(alt, sim, factor):
    alt, sim = np.asarray(alt, float), np.asarray(sim, float)
    ny, nx = alt.shape[:2]
    return RegimeMap.from_scores("noise_v", range(nx), "delta", range(ny), alt, sim, factor)


def test_a_win_needs_an_interval_that_excludes_one():
    alt = np.ones((1, 3, 4))
    wobble = np.exp(np.array([0.2, -0.18, 0.15, -0.137]))
    sim = np.stack([1.01 * wobble, np.full(4, 1.2), np.full(4, 0.9)])[None]
    r = _hand(alt, sim, [[1.3, 1.3, 1.3]])  # theory: FedAlt better by 30% everywhere
    assert r.headline.winner.tolist() == [["unresolved", "fedalt", "fedsim"]]
    assert r.measured_ratio[0, 0] == pytest.approx(1.01 * math.exp(np.mean(np.log(wobble))))
    assert r.counts() == dict(scored=3, agree=1, opposite=1, unresolved=1)
    assert r.agreement == pytest.approx(1 / 3)  # the 1.01 cell is not counted as agreeing
    assert [d["winner"] for d in r.disagreements()] == ["unresolved", "fedsim"]


def test_scored_cells_on_a_hand_made_grid():
    factor = np.array([[1.5, 1.05, 0.7], [0.8, 1.2, 1.0]])
    alt = np.ones((2, 3, 2))
    sim = alt * np.array([[1.3, 0.9, 0.8], [1.1, 1.4, 2.0]])[:, :, None]
    r = _hand(alt, sim, factor)
    assert r.scored.tolist() == [[True, False, True], [True, True, False]]
    assert r.counts() == dict(scored=4, agree=3, opposite=1, unresolved=0)
    (d,) = r.disagreements()
    assert (d["noise_v"], d["delta"], d["winner"]) == (0, 1, "fedalt")


# ---------------------------------------------------------------------------------------------
# regime_map on hand-made runs: a runner whose measured quantity is a known function of eta
# ---------------------------------------------------------------------------------------------

BEST = {"fedalt": 0.25, "fedsim": 0.125}  # each algorithm's true best eta (on the grid)
ETAS = (0.0625, 0.125, 0.25, 0.5, 1.0)


def _fake_runner(best=BEST, v_next=100.0):
    """Runs whose ``Delta_u/L_u`` is ``1 + log2(eta/best)^2`` (times 1.1 for FedSim), constant
    over rounds, ``Delta_v = 0``; FedAlt's ``Delta_u`` at ``V^{t+1}`` is ``v_next`` times it."""

    def run(cells):
        out = []
        for c in cells:
            alg, L_u = c.run.algorithm, c.problem().constants.L_u
            eta = c.run.gamma_u * L_u * c.run.tau_u
            q = (1.0 + math.log2(eta / best[alg]) ** 2) * (1.1 if alg == "fedsim" else 1.0)
            q *= 1.0 + 0.01 * c.run.seed  # seeds differ, paired: the ratio is the same
            rounds = np.arange(c.run.T + 1)
            g = np.full(rounds.size, q * L_u)
            frame = pd.DataFrame(
                {
                    "round": rounds,
                    "loss": g,
                    "grad_u_sq": g,
                    "grad_v_sq": np.zeros(rounds.size),
                    "grad_u_sq_at_V_next": v_next * g if alg == "fedalt" else np.nan * g,
                }
            )
            out.append(store.RunResult(c.spec(), frame))
        return out

    return run


def _study(**kw):
    cell = Cell.of(
        "quadratic",
        dict(n=10, d_u=2, d_v=1, chi=0.8, noise_u=0.1),
        dict(T=20, m=2, tau_u=1, tau_v=1),
    )
    base = dict(steps=TunedEta(0.5), seeds=(0, 1, 2), etas=ETAS, fine=(0.9, 1.1))
    return RegimeStudy(cell, "noise_v", (0.1, 3.0), "delta", (0.5,), **{**base, **kw})


def test_both_algorithms_are_scored_on_the_same_quantity():
    r = regime_map(_study(), runner=_fake_runner())
    same = r.headline
    np.testing.assert_allclose(same.mean["fedalt"], 1.0 * np.mean([1, 1.01, 1.02]))
    np.testing.assert_allclose(same.ratio, 1.1)  # FedAlt's V^{t+1} column is not read
    own = r.policy("best", "theorem")  # each theorem's own left-hand side
    np.testing.assert_allclose(own.ratio, 1.1 / 100.0)


def test_best_step_is_the_known_best_and_edges_are_flagged():
    r = regime_map(_study(), runner=_fake_runner())
    h = r.headline
    for alg, eta in BEST.items():
        np.testing.assert_allclose(h.eta[alg], eta)
        assert not h.edge[alg].any()
    np.testing.assert_allclose(h.mean["fedsim"] / h.mean["fedalt"], 1.1)
    assert r.policy("shared").eta["fedalt"].tolist() == r.policy("shared").eta["fedsim"].tolist()
    edge = regime_map(_study(fine=()), runner=_fake_runner(best={"fedalt": 4.0, "fedsim": 0.01}))
    assert edge.headline.edge["fedalt"].all() and edge.headline.edge["fedsim"].all()
    np.testing.assert_allclose(edge.headline.eta["fedalt"], 1.0)


def test_the_report_section_shows_all_three_policies():
    from partialfed.experiments.regime_text import UPPER_BOUNDS, knob_text, regime_blocks
    from partialfed.experiments.report_render import render_blocks

    r = regime_map(_study(), runner=_fake_runner())
    figures = {"regime": {"id": "fig-regime", "src": "figures/regime.png", "caption": "map"}}
    text = render_blocks(regime_blocks(r), "md", figures)
    for label in POLICIES.values():
        assert label in text
    assert "(**headline**)" in text and UPPER_BOUNDS in text and "own LHS" in text
    assert "upper bounds" in UPPER_BOUNDS and "figures/regime.png" in text
    fixed = r.fixed["problem"]
    assert "{'" not in text and knob_text(fixed) in text and fixed  # knobs as name=value
    lines = [
        ln.replace('<a id="regime-01"></a>', "").replace('<a id="regime-02"></a>', "")
        for ln in text.splitlines()
    ]
    cell_rows = [ln for ln in lines if ln.startswith(("| 0.1 |", "| 3 |"))]
    assert len(cell_rows) == 2 and all("[" in ln for ln in cell_rows)


# ---------------------------------------------------------------------------------------------
# Real runs: the step rule does not decide the headline
# ---------------------------------------------------------------------------------------------


class SwappedTunedEta:
    """Each algorithm gets the other's theorem-balanced eta."""

    def steps(self, cell, bound=None):
        other = "fedsim" if cell.run.algorithm == "fedalt" else "fedalt"
        return _eta_steps(cell, tuned_eta(other, cell.problem(), cell.run, 0.5))


def test_swapping_the_step_rule_changes_nothing_about_the_headline():
    study = replace(_study(), cell=_study().cell.with_run(T=150), etas=(0.125, 0.25, 0.5, 1.0))
    shipped = regime_map(study)
    swapped = regime_map(replace(study, steps=SwappedTunedEta()))
    a, b = shipped.headline, swapped.headline
    assert a.name == b.name == "best"
    for alg in ("fedalt", "fedsim"):
        np.testing.assert_array_equal(a.eta[alg], b.eta[alg])
        np.testing.assert_array_equal(a.mean[alg], b.mean[alg])
    np.testing.assert_array_equal(a.ratio, b.ratio)
    np.testing.assert_array_equal(a.low, b.low)
    assert a.winner.tolist() == b.winner.tolist() and shipped.counts() == swapped.counts()
    assert shipped.findings()[0] == swapped.findings()[0]
    # ... while the theorem policy, which the rule does set, changes
    ta, tb = shipped.policy("theorem"), swapped.policy("theorem")
    assert not np.allclose(ta.eta["fedalt"], tb.eta["fedalt"])
    assert not np.allclose(ta.ratio, tb.ratio)


# ---------------------------------------------------------------------------------------------
# Worst-case search
# ---------------------------------------------------------------------------------------------


def test_scaled_initial_point_scales_the_initial_gap_quadratically():
    from partialfed.experiments.regime_search import _scaled_runner

    cell = replace(
        _study().cell.with_run(algorithm="fedalt", T=2, gamma_u=0.1, gamma_v=0.1), init_seed=0
    )
    F_low = cell.problem().constants.F_low
    gaps = [_scaled_runner(s)([cell])[0].frame["loss"].iloc[0] - F_low for s in (1.0, 3.0)]
    assert gaps[1] == pytest.approx(9.0 * gaps[0], rel=1e-9)  # a quadratic around its minimiser


def test_search_picks_each_directions_extreme_and_remeasures_it():
    from partialfed.experiments.regime_search import WorstCaseSearch, worst_case_search

    space = {"chi": (0.1, 0.9, False), "init_scale": (0.5, 4.0, True)}
    s = WorstCaseSearch(
        _study().cell.with_run(T=60),
        space=space,
        candidates=3,
        moves=1,
        seeds=(0, 1),
        confirm_seeds=(7, 8, 9),
        etas=(0.25, 0.5, 1.0),
        fine=(),
    )
    res = worst_case_search(s)
    assert 3 < len(res.tried) <= 3 + 2 * 4
    logs = [c.log_ratio for c in res.tried]
    assert res.best["fedalt"].knobs == res.tried[int(np.argmax(logs))].knobs
    assert res.best["fedsim"].knobs == res.tried[int(np.argmin(logs))].knobs
    assert all(c.measured.n_seeds == 3 for c in res.best.values())
    assert all(space[k][0] <= v <= space[k][1] for c in res.tried for k, v in c.knobs.items())


def test_search_errors_name_the_parameter():
    from partialfed.experiments.regime_search import WorstCaseSearch

    cell = _study().cell
    with pytest.raises(ValueError, match=r"'space' parameter .* for 'chi'\. Got \(0\.9, 0\.1\)"):
        WorstCaseSearch(cell, space={"chi": (0.9, 0.1, False)})
    with pytest.raises(ValueError, match="'candidates' parameter of WorstCaseSearch .* Got 0"):
        WorstCaseSearch(cell, candidates=0)
    with pytest.raises(ValueError, match="'moves' parameter of WorstCaseSearch .* Got -1"):
        WorstCaseSearch(cell, moves=-1)


def test_the_figure_puts_predicted_and_measured_gaps_side_by_side():
    import matplotlib.pyplot as plt

    from partialfed.experiments import plots

    r = regime_map(_study(), runner=_fake_runner())
    fig = plots.regime_figure(r)
    from matplotlib.collections import QuadMesh

    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    meshes = [c for ax in maps for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2  # theory and measurement ...
    assert meshes[0].norm is meshes[1].norm  # ... on one colour scale
    labels = set()
    for ax in fig.axes:
        if ax.get_legend() is not None:
            labels |= {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"best", "shared", "theorem", "measured = predicted"} <= labels
    plt.close(fig)
