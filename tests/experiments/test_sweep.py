"""Sweeps: resume, force, failures, interruption, and the same results on every executor."""

from __future__ import annotations

import pandas as pd
import pytest

from partialfed.experiments import store, sweep


def _frame(directory, hashes=None):
    df = store.load(directory, hashes)
    return df.drop(columns=["elapsed_s"]).sort_values(["hash", "round"], ignore_index=True)


def test_resume_computes_only_missing_runs(tmp_path, tiny_sweep):
    first = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (first.computed, first.skipped, first.total) == (8, 0, 8)
    assert first.statuses == {"ok": 8}
    files = sorted(tmp_path.glob("*.parquet"))
    assert [f.stem for f in files] == sorted(first.hashes)
    for f in files[:3]:
        f.unlink()
    again = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (again.computed, again.skipped) == (3, 5)
    assert "3 computed, 5 skipped" in again.summary()
    nothing = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (nothing.computed, nothing.skipped) == (0, 8)
    forced = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", force=True, progress=False)
    assert (forced.computed, forced.skipped) == (8, 0)
    assert len(store.load(tmp_path)) == 8 * 21


def test_failing_and_diverging_runs_are_stored_and_do_not_stop_others(tmp_path, tiny_sweep):
    good = tiny_sweep.specs[0]
    bad = {**good, "run": {**good["run"], "m": 99}}  # m > n: raises inside run()
    wild = {**good, "run": {**good["run"], "gamma_u": 1e5, "gamma_v": 1e5, "T": 20}}
    report = sweep.run_sweep([bad, good, wild], tmp_path, scheduler="serial", progress=False)
    assert report.statuses == {"ok": 1, "error": 1, "diverged": 1}
    df = store.load(tmp_path)
    by = df.groupby("status")["message"].first()
    assert "'m' parameter" in by["error"]
    assert by["diverged"] != ""
    again = sweep.run_sweep([bad, good, wild], tmp_path, scheduler="serial", progress=False)
    assert again.computed == 0
    retry = sweep.run_sweep(
        [bad, good, wild], tmp_path, scheduler="serial", retry_errors=True, progress=False
    )
    assert (retry.computed, retry.statuses) == (1, {"error": 1})


def test_interrupt_keeps_what_was_stored(tmp_path, tiny_sweep):
    calls = []

    def runner(spec):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(spec)
        return sweep.run_spec(spec)

    with pytest.raises(sweep.SweepInterrupted) as info:
        sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", runner=runner, chunksize=1)
    assert info.value.report.computed == 3
    assert len(store.completed(tmp_path)) == 3
    rest = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (rest.computed, rest.skipped) == (5, 3)


def test_local_pool_and_dask_match_serial(tmp_path, tiny_sweep, tiny_results):
    serial = _frame(tiny_results)
    pool_dir = tmp_path / "pool"
    report = sweep.run_sweep(tiny_sweep, pool_dir, workers=2, chunksize=3, progress=False)
    assert (report.computed, report.scheduler, report.workers) == (8, "local", 2)
    pd.testing.assert_frame_equal(_frame(pool_dir), serial)

    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask_dir = tmp_path / "dask"
        report = sweep.run_sweep(tiny_sweep, dask_dir, scheduler=client, progress=False)
        assert report.computed == 8
        pd.testing.assert_frame_equal(_frame(dask_dir), serial)


def test_executor_arguments_are_validated(tmp_path, tiny_sweep):
    with pytest.raises(ValueError, match="'scheduler'.*serial, local, dask-local"):
        sweep.run_sweep(tiny_sweep, tmp_path, scheduler="threads")
    with pytest.raises(ValueError, match="'workers'"):
        sweep.run_sweep(tiny_sweep, tmp_path, workers=0)
    with pytest.raises(ValueError, match="'chunksize'"):
        sweep.run_sweep(tiny_sweep, tmp_path, chunksize=0)


def test_init_seed_and_unknown_spec_keys(tmp_path, tiny_sweep):
    spec = tiny_sweep.specs[0]
    a = sweep.run_spec({**spec, "init_seed": 5, "seed": 1})
    b = sweep.run_spec({**spec, "init_seed": 5, "seed": 2})
    c = sweep.run_spec({**spec, "seed": 1})
    assert a.status == b.status == c.status == "ok"
    assert a.frame["loss"][0] == b.frame["loss"][0] != c.frame["loss"][0]
    bad = sweep.run_spec({**spec, "init_sed": 5})
    assert bad.status == "error" and "'init_sed'" in bad.message


def test_cached_runner_gives_one_frame_per_spec_in_order(tmp_path, tiny_sweep):
    specs = [tiny_sweep.specs[3], tiny_sweep.specs[0], {**tiny_sweep.specs[1], "init_seed": 0}]
    runner = sweep.cached_runner(tmp_path, scheduler="serial", progress=False)
    frames = runner(specs)
    assert len(frames) == 3
    for spec, frame in zip(specs, frames, strict=True):
        assert (frame["hash"] == store.spec_hash(spec)).all()
        assert (frame["seed"] == spec["seed"]).all() and frame["round"].tolist() == list(range(21))
        assert (frame["F_low"] == frame["const_F_low"]).all()
    measure = pytest.importorskip("partialfed.experiments.measure")
    if hasattr(measure, "run_frame"):
        ref = measure.run_frame(specs[2])
        assert ref["loss"].to_numpy() == pytest.approx(frames[2]["loss"].to_numpy(), rel=0, abs=0)
    again = sweep.run_sweep(specs, tmp_path, scheduler="serial", progress=False)
    assert again.skipped == 3
