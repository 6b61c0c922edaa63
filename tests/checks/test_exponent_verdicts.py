"""Exponent verdicts are equivalence tests, and theory's exponent is read from the bound."""

from __future__ import annotations

from dataclasses import replace

import pytest

from partialfed.experiments.checks import EXPONENT_VERDICTS, TOLERANCE, ExponentResult, Slope
from partialfed.experiments.steps import Eta
from partialfed.experiments.studies import plan


def _result(low, high, expected):
    fit = Slope((low + high) / 2, low, high, 0.0)
    return ExponentResult("s", "T", (1, 2, 3), (1.0, 0.5, 0.3), fit, expected)


@pytest.mark.parametrize(
    ("low", "high", "expected", "verdict", "direction"),
    [
        (-0.502, -0.421, -0.5, "inconclusive", "slower"),  # the case: was "agrees"
        (-0.542, -0.470, -0.5, "agrees", "faster"),
        (-0.530, -0.460, -0.5, "agrees", "slower"),
        (-0.530, -0.471, -0.5, "agrees", "faster"),
        (-0.746, -0.707, -2 / 3, "contradicts", "faster"),  # the drift study at quick size
        (-0.30, -0.10, -0.5, "contradicts", "slower"),
        (-0.70, -0.35, -0.5, "inconclusive", "faster"),  # contains it, far too wide
        (-0.52, -0.51, -0.5, "agrees", "faster"),  # excludes it, but within the tolerance
        (-0.56, -0.52, -0.5, "contradicts", "faster"),  # excludes it, reaches past 0.05
    ],
)
def test_verdict_is_an_equivalence_test_on_the_interval(low, high, expected, verdict, direction):
    r = _result(low, high, expected)
    assert (r.verdict, r.direction) == (verdict, direction)
    assert r.verdict in EXPONENT_VERDICTS and r.tolerance == TOLERANCE == 0.05
    assert r.excludes == (not low <= expected <= high)


def _study(label):
    (s,) = [s for s in plan(quick=True).exponents if s.label == label]
    return s


NOISY_T = "fedalt: T, noise-dominated"
NOISY_M = "fedalt: m, noise on u only"


@pytest.mark.parametrize("power", [-1.0, -0.5, -1 / 3, 0.0, 0.25])
def test_expected_exponent_follows_the_step_power(power):
    """eta ~ T^power: Psi = c_4 D/(eta T) + c_5 eta s1 + c_6 eta^2 s2 gives the exponents
    -1 - power, power and 2 power; no study can claim -1/2 for the noise term at another
    power (a hard-coded exponent could)."""
    s = _study(NOISY_T)
    s = replace(s, steps=replace(s.steps, power=power))
    x = s.expectation()
    assert x.exponent == pytest.approx(power)
    assert x.slopes["descent"][0] == pytest.approx(-1 - power)
    assert x.slopes["drift"][0] == pytest.approx(2 * power)
    for k in ("descent", "drift"):
        named = replace(s, leading=k, absent=())
        assert named.expectation().exponent == pytest.approx(x.slopes[k][0])


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_expected_exponent_in_m_follows_the_step_power(power):
    # sigma_{alt,1}^2 = sigma_u^2/(m L_u) here (delta = 0, no noise on v): eta s1 ~ m^(power-1)
    s = _study(NOISY_M)
    s = replace(s, steps=replace(s.steps, power=power))
    assert s.expectation().exponent == pytest.approx(power - 1)
    assert replace(s, leading="descent").expectation().exponent == pytest.approx(-power)


@pytest.mark.parametrize("quick", [True, False])
def test_every_shipped_study_names_a_term_that_leads(quick):
    """The named term is the largest at every swept value (free constants 1: their size is
    unknown, 1 is the theorem's "ignoring absolute constants"), and the step policy is the
    branch of eta_balanced that makes it the tuned rate's term (same exponent)."""
    for s in plan(quick).exponents:
        x = s.expectation()
        assert x.leads, (s.label, x.values)
        assert x.exponent == x.rate_exponent, s.label
    expected = {e.label: e.expectation().exponent for e in plan(quick).exponents}
    assert expected[NOISY_T] == -0.5 and expected[NOISY_M] == -0.5
    assert expected["fedalt: T, client drift (tau = 5), deterministic"] == pytest.approx(-2 / 3)
    assert expected["fedsim: noise_u, noise-dominated"] == 1.0


def test_a_term_that_does_not_lead_is_caught():
    # the descent term is smaller than the noise term in the noise-dominated study
    x = replace(_study(NOISY_T), leading="descent").expectation()
    assert not x.leads and set(x.leaders) == {"noise"}
    # at constant eta the template's drift term is a floor that would lead the deterministic
    # study: the study says why it takes it as zero (tau = 1), and without that it fails
    det = _study("fedalt: T, deterministic, full participation")
    assert dict(det.absent)["drift"].startswith("tau = 1 and m = n")
    bare = replace(det, absent=()).expectation()
    assert not bare.leads and set(bare.leaders) == {"drift"}
    assert bare.slopes["drift"][0] == pytest.approx(0.0)


def test_a_wrong_label_or_a_vanishing_term_is_refused():
    s = _study(NOISY_T)
    with pytest.raises(ValueError, match="must be among \\['descent', 'noise', 'drift'\\]"):
        replace(s, leading="c_1").expectation()
    det = _study("fedalt: T, deterministic, full participation")
    with pytest.raises(ValueError, match="leading term 'noise' vanishes"):
        replace(det, leading="noise").expectation()
    with pytest.raises(ValueError, match="cannot be absent"):
        replace(det, absent=(("descent", "no"),)).expectation()


def test_eta_is_read_from_the_cells_under_another_step_rule():
    # the same policy given as fixed steps per cell (no Eta rule): same exponent
    s = _study(NOISY_T)
    cells = s.swept()
    x_rule = s.expectation()
    assert isinstance(s.steps, Eta)

    class Given:
        def steps(self, cell, bound=None):
            (c,) = [c for c in cells if c.run.T == cell.run.T]
            return {"gamma_u": c.run.gamma_u, "gamma_v": c.run.gamma_v}

    x_read = replace(s, steps=Given()).expectation()
    assert x_read.exponent == x_rule.exponent == -0.5


class _Study:
    label, seeds, why, steps = "m-study", (0, 1), "because", "eta = 1"


def test_report_parts_say_inconclusive_and_split_the_calibration():
    from partialfed.experiments import report_exponents as R

    r = replace(_result(-0.502, -0.421, -0.5), label="m-study", leading="noise", bound="b")
    (sentence,) = R.findings([r])
    assert "inconclusive" in sentence and "[-0.502, -0.421]" in sentence
    d = R.as_dict(r)
    assert (d["verdict"], d["direction"], d["leading"]) == ("inconclusive", "slower", "noise")
    slower = replace(r, fit=Slope(-0.3, -0.35, -0.25, 0.0))
    assert "contradicted" in R.findings([slower])[0]
    near = replace(r, fit=Slope(-0.456, -0.461, -0.452, 0.0))  # the full-size m-study
    assert near.verdict == "agrees" and near.excludes and R.findings([near]) == []
    from partialfed.experiments.report_render import render_blocks

    shown = render_blocks(R.blocks([near], [_Study()]))
    assert "(interval excludes theory's)" in shown and '"exponent-01"></a>m-study |' in shown
    assert R.findings([replace(r, fit=Slope(-0.5, -0.52, -0.48, 0.0))]) == []
    # calibration: the two shortest horizons train; longer ones and the left-out instance are
    # held out
    cells = tuple(({"T": T}, 1.0) for T in (400, 800, 1600, 3200))
    Ts = tuple(c[0]["T"] for c in cells)
    a = replace(r, label="fedalt: T, noise-dominated", bound="fedalt_main", xs=Ts, cells=cells)
    m = replace(
        r, label=R.CALIBRATION_OTHER_INSTANCE[0], bound="fedalt_main", variable="m", xs=(2, 4)
    )
    m = replace(m, cells=cells[:2])
    train, groups = R.calibration_split([a, m, replace(a, bound="fedsim_main")])
    assert [c[0]["T"] for c in train] == [400, 800]
    assert {k: [c[0]["T"] for c in v] for k, v in groups.items()} == {
        "T > 800": [1600, 3200],
        "other instance": [400, 800],
    }


def test_exponent_figure_shows_the_verdict_direction_and_term():
    import matplotlib.pyplot as plt

    from partialfed.experiments import plots

    r = replace(_result(-0.502, -0.421, -0.5), label="fedalt: m", leading="noise")
    fig = plots.exponent_figure([r])
    ax = fig.axes[0]
    assert "inconclusive (slower)" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "theory (noise term): slope -0.50" in labels and len(labels) == 2
    shared = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any(text.startswith("theory ± 0.05") for text in shared)
    plt.close(fig)


def test_fedalt_with_partial_participation_keeps_its_eta_squared_term():
    """At tau = 1 with m < n, FedAlt's analysis has an O(gamma^2) sampling-error term (slide
    46): the drift term is not taken as zero, and under eta ~ m^{1/2} it grows like m. The
    m-study's earlier design (eta0 = 0.075, T = 1600) let it overtake the noise term at m >= 8
    (free constants 1); the shipped design keeps the noise term ahead."""
    m_study = _study(NOISY_M)
    assert m_study.absent == () and _study(NOISY_T).absent == ()
    x = m_study.expectation()
    assert x.leads and x.slopes["drift"][0] == pytest.approx(1.0)
    old = replace(
        m_study, cell=m_study.cell.with_run(T=1600), steps=replace(m_study.steps, eta0=0.075)
    )
    y = old.expectation()
    assert y.exponent == -0.5 and not y.leads
    assert y.leaders == ("noise", "noise", "drift", "drift")


def test_a_term_can_be_named_by_a_symbol_it_carries():
    """A bound without free constants: sgd_nonconvex = 2 D/(gamma T) + L gamma sigma^2 with
    gamma = eta/(L tau), eta = 0.1 (T/100)^power: the sigma term goes like T^power."""
    from partialfed.experiments.cell import Cell
    from partialfed.experiments.checks import ExponentStudy

    cell = Cell.of(
        "quadratic",
        dict(n=1, d_u=2, d_v=1, chi=0.0, delta=0.0, mu_u=0.5, noise_u=1.0),
        dict(algorithm="fedalt", m=1, gamma_v=0.0),
    )
    for power in (-0.5, -1 / 3):
        s = ExponentStudy(
            "sgd", "sgd_nonconvex", cell, "T", (100, 200, 400), "sigma", Eta(0.1, "T", 100, power)
        )
        x = s.expectation()
        assert x.exponent == pytest.approx(power)
        assert x.slopes["other"][0] == pytest.approx(-1 - power)  # 2 D/(gamma T)
