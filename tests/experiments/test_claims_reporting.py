"""How the claims are reported, on hand-built results (no simulation): the headline's claim (a)
cell prints the point estimate of the fraction reached next to its interval (not the
confidence level in its place), and a non-finite test accuracy on some seeds is not dropped
silently: the result, its JSON and the report's subsection say where and why."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from partialfed.experiments import report_claims_accuracy
from partialfed.experiments.cell import Cell
from partialfed.experiments.paper_claims import BestStep, ClaimsResult, ClaimsStudy
from partialfed.experiments.regime_stats import LEVEL
from partialfed.experiments.report_headline import headline, headline_blocks

ALGS = ("fedavg", "local", "fedalt", "fedsim")
LOSS = {  # per seed; fedavg - local is the full benefit, fedalt gets most of it
    "fedavg": (1.00, 1.10, 0.90, 1.05, 0.95),
    "local": (0.10, 0.12, 0.08, 0.11, 0.09),
    "fedalt": (0.17, 0.20, 0.16, 0.19, 0.15),
    "fedsim": (0.18, 0.21, 0.17, 0.18, 0.16),
}
ACC = {
    "fedavg": (0.70, 0.71, 0.69, 0.70, 0.72),
    "local": (0.80, 0.82, 0.79, 0.81, 0.80),
    "fedalt": (0.83, 0.84, 0.82, 0.83, 0.85),
    "fedsim": (0.82, 0.83, 0.81, 0.83, 0.84),
}


def _result(acc=ACC, d_v=2):
    cell = Cell.of(
        "teacher",
        dict(n=4, d_u=4, d_v=2, planted=2, samples=10, test_samples=20, flip=0.1),
        dict(T=10, m=4, tau_u=1, tau_v=1, eval_every=10),
    )
    study = ClaimsStudy(cell, (d_v,), (1.0,), tuple(range(5)), at=d_v / 6, algorithms=ALGS)
    res = ClaimsResult(study)
    for a in ALGS:
        v = LOSS[a]
        res.best[(d_v, a)] = BestStep(
            a, d_v, 1.0, False, v, float(np.mean(v)), 0.0, 0.0, accuracy=acc[a]
        )
    return res


def _rep(res):
    return SimpleNamespace(
        strict=[],
        exponents=[],
        lemmas=[],
        mutation=None,
        calibration=None,
        regime=None,
        claims_ab=res,
        contrast=[],
    )


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]


def test_the_headline_claim_a_cell_prints_the_point_estimate_and_its_interval():
    res = _result()
    f, lo, hi = res.reached(2, "fedalt")
    want = np.mean(np.subtract(LOSS["fedavg"], LOSS["fedalt"])) / np.mean(
        np.subtract(LOSS["fedavg"], LOSS["local"])
    )
    assert f == pytest.approx(want, rel=1e-12) and lo < f < hi
    row = next(r for r in headline_blocks(headline(_rep(res)), {}, {})[0]["rows"] if "(a)" in r[1])
    verdict, cell = row[1], row[3]
    assert f"{100 * f:.1f}% of the benefit" in verdict
    # the cell: the point estimate, the level, then the interval, each where it belongs
    point, level, low, high = _numbers(cell)[:4]
    assert point == pytest.approx(100 * f, abs=0.05)
    assert level == pytest.approx(100 * LEVEL)
    assert (low, high) == (pytest.approx(100 * lo, abs=0.05), pytest.approx(100 * hi, abs=0.05))
    assert low <= point <= high
    assert f"{100 * LEVEL:g}% interval [{100 * lo:.1f}, {100 * hi:.1f}]" in cell
    assert cell.endswith("full personalisation: local")


def test_a_complete_accuracy_is_reported():
    res = _result()
    assert res.accuracy_missing() is None and res.has_accuracy
    assert "accuracy_missing" not in res.as_dict()
    (sentence,) = report_claims_accuracy.accuracy_findings(res)
    f = res.reached(2, "fedalt", quantity="accuracy")[0]
    assert f"{100 * f:.1f}%" in sentence and "not reported" not in sentence


def test_a_non_finite_accuracy_on_one_seed_is_said_not_dropped():
    acc = dict(ACC, fedsim=(0.82, math.nan, 0.81, 0.83, 0.84))
    res = _result(acc)
    assert not res.has_accuracy
    why = res.accuracy_missing()
    assert "fedsim at d_v=2 (1 of 5 seeds)" in why and "fedalt" not in why
    d = res.as_dict()
    assert d["accuracy_missing"] == why
    assert all(r["quantity"] == "loss" for r in d["reached"])
    (fedsim,) = [b for b in d["best"] if b["algorithm"] == "fedsim"]
    assert fedsim["accuracy_nonfinite"] == 1 and "accuracy" not in fedsim
    (sentence,) = report_claims_accuracy.accuracy_findings(res)
    assert why in sentence
    assert f"{100 * res.reached(2, 'fedalt')[0]:.1f}%" in sentence  # the loss fraction stays
    blocks = report_claims_accuracy.accuracy_blocks(res)
    (bullets,) = [b for b in blocks if b["kind"] == "list"]
    assert any(why in item for item in bullets["entries"])
    rows = next(b for b in blocks if b.get("name") == "claims-accuracy")["rows"]
    cells = {r[1]: r[3] for r in rows}
    assert cells["fedsim"] == "not reported: non-finite on 1 of 5 seeds"
    assert cells["fedalt"].startswith(f"{np.mean(ACC['fedalt']):.4g} [")


def test_a_family_without_a_test_set_says_so():
    res = _result({a: (math.nan,) * 5 for a in ALGS})
    assert res.accuracy_missing().startswith("the family has no held-out test set")
