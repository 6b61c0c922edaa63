"""Per-FedAvg and Ditto through the application: the run fields they alone read, the spec and
hash of a cell, the stored personalisation columns, ``alpha`` as a theory value."""

from __future__ import annotations

import numpy as np

from partialfed import simulators
from partialfed.experiments import store
from partialfed.experiments.cell import Cell, execute

RUN = dict(T=4, m=2, gamma_u=0.2, gamma_v=0.2, seed=1)


def test_fields_an_algorithm_does_not_read_leave_its_spec_and_hash_alone():
    plain = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "fedalt"})
    other = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "fedalt", "alpha": 0.5})
    assert other == plain and other.hash == plain.hash
    assert not set(simulators._api.META_FIELDS) & set(plain.spec()["run"])
    per = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "perfedavg", "alpha": 0.05})
    assert {"alpha", "variant", "hf_delta"} <= set(per.spec()["run"])
    assert "ditto_lam" not in per.spec()["run"]
    assert per.with_run(variant="fo").hash != per.hash
    assert per.with_run(ditto_lam=3.0).hash == per.hash  # perfedavg does not read it
    ditto = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "ditto"})
    assert set(ditto.spec()["run"]) & set(simulators._api.META_FIELDS) == {"ditto_lam"}
    assert Cell.from_spec(per.spec()) == per
    assert per.values()["alpha"] == 0.05 and "alpha" not in plain.values()


def test_personalisation_columns_are_stored_and_old_results_still_load(tmp_path):
    per = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "perfedavg", "alpha": 0.05})
    result = execute(per)
    assert result.status == "ok"
    store.write(tmp_path, result)
    # A result written before the personalisation columns existed (no such columns).
    old = Cell.of("quadratic", {"n": 4}, {**RUN, "algorithm": "fedsim"})
    legacy = execute(old)
    legacy.frame = legacy.frame[["round", *store.METRICS]]
    store.write(tmp_path, legacy)
    df = store.load(tmp_path)
    mine = df[df["algorithm"] == "perfedavg"]
    assert np.all(mine["meta_grad_sq"] > 0) and np.all(np.isfinite(mine["personal_loss"]))
    np.testing.assert_array_equal(mine["meta_grad_sq"], result.frame["meta_grad_sq"])
    assert df[df["algorithm"] == "fedsim"]["meta_grad_sq"].isna().all()
    assert "meta_grad_sq" not in store.spec_columns(df)
