"""The headline's worst cases: the worst strict check is the most severe verdict (a diverged
run included), the worst exponent contradiction is one against the rate, each lemma row names
its largest excess, and every family links its figure and its configurations."""

from __future__ import annotations

import math
from types import SimpleNamespace

from partialfed.experiments.report_headline import headline, headline_blocks


def _strict(bound: str, verdict: str, ratio: float):
    return SimpleNamespace(
        check=SimpleNamespace(bound=bound, label=bound), verdict=verdict, ratio=ratio
    )


def _exponent(label: str, slope: float, expected: float, verdict: str):
    direction = "faster" if slope < expected else "slower"
    return SimpleNamespace(
        label=label,
        bound="fedalt_main",
        fit=SimpleNamespace(slope=slope),
        expected=expected,
        direction=direction,
        verdict=verdict,
    )


def _rep(strict=(), exponents=(), lemmas=()):
    return SimpleNamespace(
        strict=list(strict),
        exponents=list(exponents),
        lemmas=list(lemmas),
        mutation=None,
        calibration=None,
        regime=None,
    )


def test_the_worst_strict_check_is_the_most_severe_verdict_not_the_largest_ratio():
    tight = _strict("tight", "holds", 1.0)
    close = _strict("close", "violated", 0.98)  # violated by its confidence bound
    unscored = _strict("unscored", "outside assumptions", 3.0)
    w = headline(_rep([tight, close, unscored]))["strict"]["worst"]
    assert (w["bound"], w["verdict"], w["index"]) == ("close", "violated", 2)
    diverged = _strict("diverged", "violated", math.nan)
    w = headline(_rep([tight, close, diverged, unscored]))["strict"]["worst"]
    assert (w["bound"], w["index"]) == ("diverged", 3)
    rows = headline_blocks(headline(_rep([tight, diverged])), {}, {})[0]["rows"]
    assert "[violated, no ratio (diverged): `diverged`](#strict-02)" in rows[0][3]
    # all holding: the largest ratio, as before
    w = headline(_rep([_strict("a", "holds", 0.5), tight]))["strict"]["worst"]
    assert (w["bound"], w["ratio"]) == ("tight", 1.0)


def test_the_worst_exponent_contradiction_is_a_slower_one():
    faster = _exponent("faster", -0.8, -0.5, "contradicts")  # further, but not against the rate
    slower = _exponent("slower", -0.4, -0.5, "contradicts")
    h = headline(_rep(exponents=[faster, slower]))["exponents"]
    assert h["worst"]["label"] == "slower" and h["furthest"]["label"] == "faster"
    h = headline(_rep(exponents=[faster]))["exponents"]
    assert h["worst"]["label"] == "faster"  # without a slower one, the furthest contradiction


def test_the_lemma_row_names_the_largest_excess_and_its_runs():
    lemmas = [
        {"name": "a", "violations": 0, "worst": -0.5, "strict": 1, "verdict": "holds"},
        {"name": "b", "violations": 0, "worst": -0.01, "strict": 4, "verdict": "holds"},
        {"name": "c", "violations": 2, "worst": 7.0, "strict": 5, "verdict": "outside assumptions"},
    ]
    h = headline(_rep(lemmas=lemmas))
    assert h["lemmas"]["worst"] == {"name": "b", "excess": -0.01, "strict": 4}  # c is unscored
    row = headline_blocks(h, {}, {})[0]["rows"][-1]
    assert row[3] == "no violated lemma; largest excess -0.01 ([`b`](#strict-04))"


def test_every_family_of_the_headline_links_its_configurations():
    from partialfed.experiments.report_view import headline_links

    rep = _rep([_strict("gd_tight", "holds", 0.5)], [_exponent("e", -1.0, -1.0, "agrees")])
    figures = {k: {"src": f"figures/{k}.png", "data": None} for k in ("strict", "exponents")}
    links = headline_links(rep, figures, configs={})
    for family in ("strict", "exponents", "lemmas", "mutation"):
        assert "(#configs)" in links[family], family
    assert "(#fig-strict)" in links["strict"] and "(#fig-exponents)" in links["exponents"]
    assert "(#strict)" in links["mutation"]  # no runs of its own: the strict checks' runs


def test_a_violated_lemma_finding_links_the_runs_of_its_strict_check():
    from partialfed.experiments.report import Report
    from partialfed.experiments.report_view import _claims, _Links

    lemma = {"name": "fedalt_tau1_full", "violations": 2, "rounds": 60, "worst": 0.1}
    rep = Report(plan=None, lemmas=[{**lemma, "strict": 2, "verdict": "violated"}])
    assert rep.claims()[0][1] == "lemmas-02"
    configs = {"strict-02": SimpleNamespace(files=["configs/strict-02-x.toml"])}
    (line,) = _claims(rep, _Links({"strict": {}}, configs))
    assert line.endswith(
        "([table](#lemmas), [strict check](#strict-02), [figure](#fig-strict), "
        "[config](configs/strict-02-x.toml))"
    )
