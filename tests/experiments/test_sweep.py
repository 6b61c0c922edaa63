"""Sweeps: resume, force, failures, interruption, and the same results on every executor."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from partialfed import simulators
from partialfed.experiments import store, sweep
from partialfed.experiments.cell import Cell, CellError, execute


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
    good = tiny_sweep.cells[0]
    bad = good.with_run(m=99)  # m > n: raises inside run()
    wild = good.with_run(gamma_u=1e5, gamma_v=1e5, T=20)
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

    def runner(cell):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(cell)
        return execute(cell)

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
    cell = tiny_sweep.cells[0]
    a = execute(replace(cell.with_run(seed=1), init_seed=5))
    b = execute(replace(cell.with_run(seed=2), init_seed=5))
    c = execute(cell.with_run(seed=1))
    assert a.status == b.status == c.status == "ok"
    assert a.frame["loss"][0] == b.frame["loss"][0] != c.frame["loss"][0]
    with pytest.raises(CellError, match="'init_sed'"):
        Cell.from_spec({**cell.spec(), "init_sed": 5})


def test_cached_runner_gives_one_result_per_cell_in_order(tmp_path, tiny_sweep):
    cells = [tiny_sweep.cells[3], tiny_sweep.cells[0], replace(tiny_sweep.cells[1], init_seed=0)]
    runner = sweep.cached_runner(tmp_path, scheduler="serial", progress=False)
    results = runner(cells)
    assert len(results) == 3
    for cell, result in zip(cells, results, strict=True):
        assert result.spec == cell.spec() and result.status == "ok"
        assert result.frame["round"].tolist() == list(range(21))
        assert result.constants == cell.problem().constants.as_dict()
    # read back from the store, bit for bit what this process computes
    ref = execute(cells[2])
    pd.testing.assert_frame_equal(results[2].frame, ref.frame)
    again = sweep.run_sweep(cells, tmp_path, scheduler="serial", progress=False)
    assert again.skipped == 3


def test_execute_equals_simulators_run_bitwise(tiny_sweep):
    cell = replace(tiny_sweep.cells[2], init_seed=3)
    problem = cell.problem()
    u0, V0 = problem.init(3)
    h = simulators.run(problem, cell.run, u0=u0, V0=V0)
    result = execute(cell)
    assert result.status == h.status == "ok"
    for m in simulators.METRICS:
        np.testing.assert_array_equal(result.frame[m].to_numpy(), getattr(h, m))
    np.testing.assert_array_equal(result.frame["round"].to_numpy(), h.rounds)
