"""Claim (a) with test accuracy on ``teacher`` at a tiny size: the accuracy benefit and the
fraction reached are the formulas on the per-seed accuracies, no accuracy beats the Bayes
bound, a family without a test set carries no accuracy, and the report subsection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partialfed.experiments import report_claims_accuracy
from partialfed.experiments.cell import Cell
from partialfed.experiments.paper_claims import FULL, ClaimsStudy, claims_study

FLIP = 0.1


@pytest.fixture(scope="module")
def result():
    cell = Cell.of(
        "teacher",
        dict(n=6, d_u=4, d_v=2, planted=2, samples=20, test_samples=400, flip=FLIP),
        dict(T=60, m=6, tau_u=2, tau_v=2, eval_every=60),
    )
    return claims_study(ClaimsStudy(cell, (1, 2, 4), (0.5, 2.0), (0, 1, 2), at=0.34))


def test_accuracy_benefit_and_fraction_are_the_formulas(result):
    assert result.has_accuracy
    for d_v in result.study.d_vs:
        acc = {a: np.asarray(result.best[(d_v, a)].accuracy) for a in result.study.algorithms}
        assert all(len(v) == 3 for v in acc.values())
        full = result.full(d_v, "accuracy")
        assert full == max(FULL, key=lambda a: acc[a].mean())
        m, lo, hi = result.benefit(d_v, "fedalt", quantity="accuracy")
        assert m == pytest.approx(np.mean(acc["fedalt"] - acc["fedavg"]), abs=1e-12)
        assert lo <= m <= hi
        f, lo, hi = result.reached(d_v, "fedalt", quantity="accuracy")
        want = np.mean(acc["fedalt"] - acc["fedavg"]) / np.mean(acc[full] - acc["fedavg"])
        assert f == pytest.approx(want, rel=1e-12)
        # heterogeneous teachers: local training is more accurate than one global model
        assert result.benefit(d_v, "local", quantity="accuracy")[1] > 0


def test_no_accuracy_beats_the_bayes_bound(result):
    rows = 6 * 400
    top = 1 - FLIP + 4 * math.sqrt(FLIP * (1 - FLIP) / rows)
    for b in result.best.values():
        assert max(b.accuracy) < top and min(b.accuracy) > 0.5, b.algorithm


def test_as_dict_has_both_quantities(result):
    d = result.as_dict()
    quantities = [r["quantity"] for r in d["reached"]]
    assert quantities.count("accuracy") == quantities.count("loss") == 2 * 3
    assert all("accuracy" in b for b in d["best"])


def test_quantity_is_validated_by_name(result):
    with pytest.raises(ValueError, match="'quantity'"):
        result.benefit(2, "fedalt", quantity="error")


def test_a_family_without_a_test_set_has_no_accuracy():
    cell = Cell.of("logcosh", dict(n=4, d_u=3, d_v=1), dict(T=20, m=4, eval_every=20))
    res = claims_study(ClaimsStudy(cell, (1,), (0.5,), (0, 1), algorithms=("fedavg", "local")))
    assert not res.has_accuracy
    assert all(np.isnan(res.best[(1, "local")].accuracy))
    assert "accuracy" not in res.as_dict()["best"][0]


def test_report_subsection(result):
    blocks = report_claims_accuracy.accuracy_blocks(result)
    names = {b.get("name") for b in blocks if b["kind"] == "table"}
    assert names == {"claims-accuracy", "claims-accuracy-fraction"}
    assert {"kind": "figure", "key": "claims-accuracy"} in blocks
    h = report_claims_accuracy.headline(result)
    f = result.reached(h["d_v"], "fedalt", quantity="accuracy")[0]
    (sentence,) = report_claims_accuracy.accuracy_findings(result)
    assert f"{100 * f:.1f}%" in sentence and "Bayes accuracy 0.9" in sentence
