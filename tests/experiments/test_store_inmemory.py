"""Runs kept in memory by a sweep are exactly what reading their files gives (no read twice)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from partialfed.experiments import store, sweep
from partialfed.experiments.cell import execute


def _same(a: store.RunResult, b: store.RunResult) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.spec == b.spec and store.canonical_json(a.spec) == store.canonical_json(b.spec)
    assert (a.status, a.message, a.elapsed_s) == (b.status, b.message, b.elapsed_s)
    assert a.constants.keys() == b.constants.keys()
    for k, v in a.constants.items():
        w = b.constants[k]
        assert type(v) is type(w) and (v == w or (math.isnan(v) and math.isnan(w))), k


def test_encode_stored_returns_what_verify_reads(tmp_path, tiny_sweep):
    good = tiny_sweep.cells[0]
    results = [
        execute(good),
        execute(good.with_run(gamma_u=1e5, gamma_v=1e5, T=20)),  # diverged
        execute(good.with_run(m=99)),  # error: an empty frame
    ]
    assert [r.status for r in results] == ["ok", "diverged", "error"]
    for r in results:
        payload, kept = store.encode_stored(r)
        assert payload == store.encode(r)
        path = store.write_bytes(tmp_path, f"{store.spec_hash(r.spec)}.parquet", payload)
        _same(kept, store.verify(path))
        assert store.encode_stored(r, stored=False) == (payload, None)


def test_cached_runner_reads_no_file_it_computed_or_verified(tmp_path, tiny_sweep, monkeypatch):
    cells = tiny_sweep.cells[:4]
    reads = []
    real_read = store.read
    monkeypatch.setattr(store, "read", lambda path: reads.append(path) or real_read(path))
    runner = sweep.cached_runner(tmp_path, scheduler="serial", progress=False)
    computed = runner(cells)  # computed in this process
    assert reads == []
    again = runner(cells[::-1])  # all stored: verified once by the sweep, then handed out
    assert reads == []
    for a, b in zip(computed, again[::-1], strict=True):
        _same(a, b)
    for c, r in zip(cells, computed, strict=True):
        _same(r, real_read(tmp_path / f"{c.hash}.parquet"))


def test_runs_from_worker_processes_are_read_back(tmp_path, tiny_sweep, monkeypatch):
    kept: dict = {}
    report = sweep.run_sweep(
        tiny_sweep.cells[:2], tmp_path, scheduler="local", workers=1, progress=False, keep=kept
    )
    assert report.computed == 2 and kept == {}  # not carried back from the worker
    again = sweep.run_sweep(tiny_sweep.cells[:2], tmp_path, scheduler="serial", keep=kept)
    assert again.computed == 0 and sorted(kept) == sorted(report.hashes)


def test_completed_looks_only_at_the_named_runs(tmp_path, tiny_sweep):
    runs = [execute(c) for c in tiny_sweep.cells[:2]]
    paths = [store.write(tmp_path, r) for r in runs]
    (tmp_path / ("0" * 32 + ".parquet")).write_bytes(b"not parquet")
    problems: list = []
    kept: dict = {}
    done = store.completed(tmp_path, hashes=[paths[0].stem, "f" * 32], problems=problems, keep=kept)
    assert done == {paths[0].stem: "ok"} and list(kept) == [paths[0].stem]
    assert problems == [] and (tmp_path / ("0" * 32 + ".parquet")).exists()  # not named
    done = store.completed(tmp_path, hashes=["0" * 32], problems=problems)
    assert done == {} and len(problems) == 1
    assert (tmp_path / store.QUARANTINE / ("0" * 32 + ".parquet")).exists()


@pytest.mark.parametrize("force", [False, True])
def test_kept_runs_match_the_store_after_force(tmp_path, tiny_sweep, force):
    cells = tiny_sweep.cells[:2]
    sweep.run_sweep(cells, tmp_path, scheduler="serial", progress=False)
    kept: dict = {}
    sweep.run_sweep(cells, tmp_path, scheduler="serial", progress=False, force=force, keep=kept)
    assert sorted(kept) == sorted(c.hash for c in cells)
    for h, r in kept.items():
        _same(r, store.read(tmp_path / f"{h}.parquet"))


def test_an_error_run_computed_again_on_workers_is_not_kept_as_it_was_read(tmp_path, tiny_sweep):
    bad = tiny_sweep.cells[0].with_run(m=99)  # m > n: an error run
    sweep.run_sweep([bad], tmp_path, scheduler="serial", progress=False)
    kept: dict = {}
    report = sweep.run_sweep(
        [bad], tmp_path, scheduler="local", workers=1, retry_errors=True, keep=kept
    )
    assert report.computed == 1 and kept == {}  # the stale read is gone; the new run is on disk


def test_keep_must_be_a_dict(tmp_path, tiny_sweep):
    with pytest.raises(TypeError, match="'keep' parameter of run_sweep must be a dict or None"):
        sweep.run_sweep(tiny_sweep.cells[:1], tmp_path, scheduler="serial", keep=[])
    with pytest.raises(TypeError, match="'keep' parameter of completed must be a dict or None"):
        store.completed(tmp_path, keep="x")
