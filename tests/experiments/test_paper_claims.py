"""The claims study's plumbing on a tiny size: the measured tables' structure and properties
of a planted family that could fail (local training beats FedAvg when the devices share
nothing; FedAlt reaches the full benefit once every planted coordinate is personal)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partialfed.experiments import report_perfedavg
from partialfed.experiments.cell import Cell
from partialfed.experiments.paper_claims import (
    ALGORITHMS,
    ClaimsStudy,
    claims_study,
    verdict_b,
)
from partialfed.experiments.paper_claims_coupled import CONTRAST, ContrastStudy, contrast_study


def _study(**kw):
    cell = Cell.of(
        "logcosh",
        dict(n=6, d_u=4, d_v=2, planted=2, gamma_G=0.8),
        dict(T=150, m=6, tau_u=1, tau_v=1, eval_every=150),
    )
    args = dict(d_vs=(1, 2, 4), etas=(0.25, 0.5, 1.0), seeds=(0, 1, 2), at=0.34)
    return ClaimsStudy(cell, **{**args, **kw})


@pytest.fixture(scope="module")
def result():
    return claims_study(_study())


def test_table_structure(result):
    st = result.study
    assert set(result.best) == {(d, a) for d in st.d_vs for a in ALGORITHMS}
    for b in result.best.values():
        assert b.eta in st.etas and len(b.values) == len(st.seeds)
        assert b.low <= b.mean <= b.high
    d = result.as_dict()
    assert {r["d_v"] for r in d["claim_b"]} == set(st.d_vs)
    assert len(d["reached"]) == 2 * len(st.d_vs)


def test_local_beats_fedavg_and_the_planted_split_reaches_the_full_benefit(result):
    # Deterministic, full participation: every device at its own centre is the optimum.
    for d_v in result.study.d_vs:
        m, lo, hi = result.benefit(d_v, "local")
        assert lo > 0  # local training's loss is below FedAvg's on every seed
    # Every planted coordinate personal (d_v >= planted = 2): FedAlt ends at the full benefit.
    f, lo, hi = result.reached(2, "fedalt")
    assert 0.98 < f < 1.02
    # One of the two planted coordinates shared: clearly less.
    f1, lo1, hi1 = result.reached(1, "fedalt")
    assert hi1 < 0.9
    assert result.headline_d_v() == 2


def test_no_heterogeneity_means_no_benefit():
    cell = Cell.of(
        "logcosh",
        dict(n=6, d_u=4, d_v=2, gamma_G=0.0),
        dict(T=100, m=6, tau_u=1, tau_v=1, eval_every=100),
    )
    st = ClaimsStudy(cell, (2,), (0.5,), (0, 1), algorithms=("fedavg", "local", "fedalt"))
    res = claims_study(st)
    m, _, _ = res.benefit(2, "local")
    assert abs(m) < 1e-6
    assert math.isnan(res.reached(2, "fedalt")[0])  # no benefit to share: undefined


def test_bad_studies_are_refused():
    with pytest.raises(ValueError, match="d_vs"):
        _study(d_vs=(0, 2))
    with pytest.raises(ValueError, match="algorithms"):
        _study(algorithms=("fedavg", "sgd"))
    with pytest.raises(ValueError, match="fedavg"):
        _study(algorithms=("local", "fedalt"))
    with pytest.raises(ValueError, match="'seeds'"):
        _study(seeds=())
    with pytest.raises(ValueError, match="'seeds'"):
        _study(seeds=(0, 0))
    with pytest.raises(ValueError, match="'at'"):
        _study(at=20)


def test_verdict_b():
    assert verdict_b(1.01, 1.2) == "ahead"
    assert verdict_b(0.8, 0.99) == "behind"
    assert verdict_b(0.9, 1.1) == "not resolved"
    assert verdict_b(math.nan, math.nan) == "not resolved"


def test_report_blocks_and_figure(result):
    blocks = report_perfedavg.claims_blocks(result)
    names = [b["name"] for b in blocks if b["kind"] == "table"]
    assert names == ["claims-a", "claims-a-fraction", "claims-b"]
    a = next(b for b in blocks if b.get("name") == "claims-a")
    assert len(a["rows"]) == len(result.best)
    assert any(b["kind"] == "figure" and b["key"] == "claims" for b in blocks)
    found = report_perfedavg.findings(None, result)
    assert found[0].startswith("Claim (a): with 33% personal parameters FedAlt reaches")
    from partialfed.experiments.plots import claims_figure

    fig = claims_figure(result)
    assert len(fig.axes[0].lines) >= 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_contrast_on_a_coupled_quadratic():
    """FedAlt and FedSim differ when the blocks interact; the ratio has an interval."""
    st = ContrastStudy(200, (0.25, 0.5), (0, 1, 2), CONTRAST[:1])
    (row,) = contrast_study(st)
    assert row["eta_fedalt"] in st.etas and row["fedalt"] > 0 and row["fedsim"] > 0
    assert row["low"] <= row["ratio"] <= row["high"]
    assert row["verdict"] == verdict_b(row["low"], row["high"])
    assert np.isfinite(row["ratio"]) and row["ratio"] != 1.0
