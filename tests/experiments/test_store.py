"""The Parquet store: hashing, round trip, atomic writes, damaged files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from partialfed.experiments import store


def _spec(**run):
    return {
        "family": "quadratic",
        "seed": 1,
        "problem": {"n": 8, "delta": 0.5, "seed": 1},
        "run": {"algorithm": "fedalt", "T": 3, "m": 2, **run},
    }


def _result(spec, status="ok", message=""):
    frame = pd.DataFrame(
        {
            "round": [0, 1, 2, 3],
            "loss": [4.0, 3.0, 2.5, 2.25],
            "grad_u_sq": [1.0, 0.5, 0.25, 0.125],
            "grad_v_sq": [2.0, 1.0, 0.5, 0.25],
            "grad_u_sq_at_V_next": [0.9, 0.4, 0.2, np.nan],
        }
    )
    consts = {"L_u": 1.0, "F_low": 2.0, "chi": 0.5}
    return store.RunResult(spec, frame, status, message, consts, elapsed_s=0.01)


def test_hash_is_canonical_and_versioned():
    a = _spec()
    b = {
        "run": dict(reversed(list(a["run"].items()))),
        **{k: a[k] for k in ("seed", "problem", "family")},
    }
    assert store.spec_hash(a) == store.spec_hash(b)
    assert store.spec_hash(a) != store.spec_hash(_spec(T=4))
    assert len(store.spec_hash(a)) == 32
    with pytest.raises(ValueError):
        store.spec_hash({**a, "seed": float("nan")})


def test_round_trip(tmp_path):
    spec = _spec()
    path = store.write(tmp_path, _result(spec))
    assert path == store.path_for(tmp_path, spec)
    info = store.read_info(path)
    assert info["spec"] == spec and info["status"] == "ok"
    assert store.completed(tmp_path) == {path.stem: "ok"}
    df = store.load(tmp_path)
    assert len(df) == 4
    assert df["round"].tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(df["gap"], [2.0, 1.0, 0.5, 0.25])
    assert (df["algorithm"] == "fedalt").all() and (df["delta"] == 0.5).all()
    assert (df["problem_seed"] == 1).all() and (df["seed"] == 1).all()
    assert (df["const_F_low"] == 2.0).all() and (df["status"] == "ok").all()
    assert set(store.swept_columns(df)) == set()
    assert "delta" in store.spec_columns(df) and "loss" not in store.spec_columns(df)


def test_failed_run_keeps_status_and_message(tmp_path):
    spec = _spec(T=9)
    empty = pd.DataFrame(columns=["round", *store.METRICS])
    store.write(tmp_path, store.RunResult(spec, empty, "error", "ValueError: boom"))
    store.write(tmp_path, _result(_spec(), "diverged", "diverged at round 3"))
    df = store.load(tmp_path)
    err = df[df["status"] == "error"]
    assert len(err) == 1 and err["message"].item() == "ValueError: boom"
    assert err["round"].isna().all() and err["loss"].isna().all() and err["T"].item() == 9
    assert (df.loc[df["status"] == "diverged", "message"] == "diverged at round 3").all()
    assert sorted(store.completed(tmp_path).values()) == ["diverged", "error"]


def test_damaged_files_are_reported_not_fatal(tmp_path):
    store.write(tmp_path, _result(_spec()))
    (tmp_path / ("0" * 32 + ".parquet")).write_bytes(b"PAR1 not really")
    (tmp_path / ".abc.parquet.xyz.tmp").write_bytes(b"half a file")
    errors: list = []
    df = store.load(tmp_path, errors=errors)
    assert len(df) == 4 and len(errors) == 1 and "0" * 32 in errors[0][0]
    with pytest.warns(UserWarning, match="not valid runs"):
        store.load(tmp_path)
    assert len(store.completed(tmp_path)) == 1


def test_load_selects_hashes_and_rejects_missing_folder(tmp_path):
    p1 = store.write(tmp_path, _result(_spec()))
    store.write(tmp_path, _result(_spec(T=5)))
    assert store.load(tmp_path, [p1.stem])["hash"].unique().tolist() == [p1.stem]
    with pytest.raises(ValueError, match="'directory'"):
        store.load(tmp_path / "nope")


def test_a_write_that_raises_half_way_leaves_nothing(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.write(tmp_path, _result(_spec()))
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = """
import os, sys, time
from partialfed.experiments import store
import pandas as pd
real_fsync = os.fsync
def slow_fsync(fd):
    sys.stdout.write("writing\\n"); sys.stdout.flush()
    time.sleep(60)
os.fsync = slow_fsync
frame = pd.DataFrame({"round": range(200000), **{m: 1.0 for m in store.METRICS}})
spec = {"family": "quadratic", "seed": 0, "problem": {"n": 8}, "run": {"T": 1}}
store.write(sys.argv[1], store.RunResult(spec, frame))
"""


def test_a_writer_killed_half_way_leaves_no_loadable_file(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers)
    assert store.completed(tmp_path) == {}
    assert store.load(tmp_path).empty


def test_atomic_replace_keeps_old_file_until_new_is_complete(tmp_path):
    spec = _spec()
    path = store.write(tmp_path, _result(spec))
    before = path.read_bytes()
    time.sleep(0.01)
    store.write(tmp_path, _result(spec, "diverged", "x"))
    assert path.read_bytes() != before
    assert store.read_info(path)["status"] == "diverged"
    assert [p.name for p in Path(tmp_path).iterdir()] == [path.name]


def test_remove_temporaries_deletes_only_this_sweeps_leftovers(tmp_path):
    mine, other = "a" * 32, "b" * 32
    (tmp_path / f".{mine}.parquet.x1y2.tmp").write_bytes(b"partial")
    (tmp_path / f".{other}.parquet.x1y2.tmp").write_bytes(b"someone else's")
    (tmp_path / f"{mine}.parquet").write_bytes(b"complete")
    assert store.remove_temporaries(tmp_path, [mine]) == 1
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f".{other}.parquet.x1y2.tmp", f"{mine}.parquet"]


# ---------------------------------------------------------------------------------------------
# Nothing is trusted by its name (store.verify, completed's quarantine)
# ---------------------------------------------------------------------------------------------


def _rewrite(path: Path, table, meta: dict | None = None) -> None:
    """Write ``table`` back to ``path`` (with ``meta`` as its partialfed metadata)."""
    import json

    import pyarrow.parquet as pq

    if meta is not None:
        table = table.replace_schema_metadata({b"partialfed": json.dumps(meta).encode()})
    pq.write_table(table, path)


def _meta(path: Path) -> dict:
    import json

    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[b"partialfed"])


def _tampered(tmp_path: Path) -> dict[str, str]:
    """A folder with one good run and one file per way of being bad; name -> expected reason."""
    import pyarrow.parquet as pq

    good = store.write(tmp_path, _result(_spec()))
    other = store.write(tmp_path / "elsewhere", _result(_spec(T=7)))
    cases = {}
    # A copy of a good file under another (valid-looking) name.
    copy = tmp_path / ("1" * 32 + ".parquet")
    copy.write_bytes(good.read_bytes())
    cases[copy.name] = "name does not match"
    # Another spec's content under the name of a third spec's hash, metadata hash edited to match.
    third = store.path_for(tmp_path, _spec(T=8))
    meta = _meta(other)
    meta["hash"] = third.stem
    _rewrite(third, pq.read_table(other), meta)
    cases[third.name] = "name does not match"
    # An edited value (the metadata kept: the checksum catches it).
    edited = store.path_for(tmp_path, _spec(T=9))
    store.write(tmp_path, _result(_spec(T=9)))
    table = pq.read_table(edited)
    loss = table.column("loss").to_numpy().copy()
    loss[1] = 0.0
    table = table.set_column(table.column_names.index("loss"), "loss", [loss])
    _rewrite(edited, table)
    cases[edited.name] = "checksum"
    # A dropped column, with valid metadata.
    dropped = store.path_for(tmp_path, _spec(T=10))
    store.write(tmp_path, _result(_spec(T=10)))
    _rewrite(dropped, pq.read_table(dropped).drop(["loss"]))
    cases[dropped.name] = "'loss' is missing"
    # Wrongly typed metadata.
    typed = store.path_for(tmp_path, _spec(T=11))
    store.write(tmp_path, _result(_spec(T=11)))
    meta = _meta(typed)
    meta["constants"] = {"L_u": "one"}
    _rewrite(typed, pq.read_table(typed), meta)
    cases[typed.name] = "constants"
    # A folder named like a result.
    folder = store.path_for(tmp_path, _spec(T=12))
    folder.mkdir()
    cases[folder.name] = "not a regular file"
    return {"good": good.name, **cases}


def test_verify_names_each_way_a_file_can_be_bad(tmp_path):
    cases = _tampered(tmp_path)
    good = cases.pop("good")
    assert store.verify(tmp_path / good).status == "ok"
    for name, reason in cases.items():
        with pytest.raises(store.BadResult, match=reason):
            store.verify(tmp_path / name)


def test_load_skips_bad_files_and_names_them(tmp_path):
    cases = _tampered(tmp_path)
    errors: list = []
    df = store.load(tmp_path, errors=errors)
    assert df["hash"].unique().tolist() == [cases["good"][: -len(".parquet")]]
    named = sorted(Path(p).name for p, _ in errors)
    assert named == sorted(k for k in cases if k != "good")


def test_completed_quarantines_bad_files_so_a_sweep_recomputes_them(tmp_path):
    cases = _tampered(tmp_path)
    problems: list = []
    done = store.completed(tmp_path, problems=problems)
    assert list(done) == [cases["good"][: -len(".parquet")]]
    assert sorted(n for n, _ in problems) == sorted(k for k in cases if k != "good")
    moved = sorted(p.name for p in (tmp_path / store.QUARANTINE).iterdir())
    assert moved == sorted(k for k in cases if k != "good")
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == [cases["good"]]
    # The next call finds a clean folder.
    again: list = []
    assert store.completed(tmp_path, problems=again) == done and again == []


def test_completed_removes_temporaries_of_dead_writers_only(tmp_path):
    from partialfed.experiments import _atomic

    host = _atomic._host()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tmp_path / f".{'a' * 32}.parquet.{host}.{dead}-x1.tmp"
    live = tmp_path / f".{'b' * 32}.parquet.{host}.{os.getpid()}-x2.tmp"
    foreign = tmp_path / f".{'c' * 32}.parquet.otherhost.{dead}-x3.tmp"
    for p in (stale, live, foreign):
        p.write_bytes(b"partial")
    store.completed(tmp_path)
    assert not stale.exists() and live.exists() and foreign.exists()


def test_a_sweep_recomputes_a_tampered_run(tmp_path):
    from partialfed.experiments import config
    from partialfed.experiments.sweep import run_sweep

    sweep = config.from_dict(
        {"name": "t", "family": "quadratic", "seeds": 2, "problem": {"n": 4}, "run": {"T": 3}}
    )
    first = run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    assert first.computed == 2
    victim = sorted(tmp_path.glob("*.parquet"))[0]
    reference = store.verify(victim).frame
    victim.write_bytes(victim.read_bytes()[:-40])  # truncated
    again = run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    assert (again.computed, again.skipped) == (1, 1)
    assert [Path(n).name for n, _ in again.quarantined] == [victim.name]
    pd.testing.assert_frame_equal(store.verify(victim).frame, reference)


@pytest.mark.parametrize("first", ["store_frame", "store"])
def test_either_store_module_can_be_imported_first(first):
    # store re-exports store_frame's names, and store_frame imports store: a fresh interpreter
    # that imports store_frame first used to fail with a circular ImportError.
    code = (
        f"import partialfed.experiments.{first}\n"
        "from partialfed.experiments.store import load, flatten_spec, spec_columns, swept_columns\n"
        "from partialfed.experiments import store, store_frame\n"
        "assert store.load is store_frame.load\n"
        "try:\n"
        "    store.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
