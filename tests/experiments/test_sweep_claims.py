"""Concurrent sweeps on one result folder share the work (``experiments.claims``).

Two sweep processes run the tiny configuration (8 runs, serially, one run per chunk) on the
same folder. They are synchronised by marker files, never by time: the first one blocks in its
first run until the second has computed one, so both are sure to be running at once. Each run
is computed exactly once over both (a log line per computation), both return with every run
stored, and the store equals that of a single sweep. A claimant killed with SIGKILL blocks
nothing: its claim is stale and the waiting sweep takes the run over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pandas.testing import assert_frame_equal

from partialfed.experiments import claims, store, sweep

SCRIPT = textwrap.dedent(
    """
    import json, sys, time, types
    from pathlib import Path
    from partialfed.experiments import cell, config, sweep

    folder, role, marks, tiny = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    real_sleep = time.sleep

    def wait_for(name):
        while not (marks / name).exists():
            real_sleep(0.01)

    def runner(c):
        with open(marks / "computed.log", "a") as fh:
            fh.write(f"{role} {c.hash}\\n")
        if role in ("a", "hang") and not (marks / "a-running").exists():
            (marks / "a-running").touch()
            wait_for("b-ran" if role == "a" else "never")
        (marks / f"{role}-ran").touch()
        return cell.execute(c)

    def sleep(seconds):  # the sweep waits for another's claim: say so
        (marks / f"{role}-waiting").touch()
        real_sleep(seconds)

    sweep.time = types.SimpleNamespace(sleep=sleep, perf_counter=time.perf_counter)
    r = sweep.run_sweep(config.load(tiny), folder, scheduler="serial", chunksize=1,
                        runner=runner, progress=False)
    print(json.dumps(r.as_dict()))
    """
)

TINY = Path(__file__).with_name("tiny.toml")


def _start(folder: Path, role: str, marks: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(folder), role, str(marks), str(TINY)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, *procs: subprocess.Popen) -> None:
    """Wait for a marker file (each process still running, else its output is shown)."""
    while not path.exists():
        for proc in procs:
            assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _frame(folder: Path):
    df = store.load(folder).drop(columns=["elapsed_s"])
    return df.sort_values(["hash", "round"]).reset_index(drop=True)


def test_two_concurrent_sweeps_compute_each_run_once(tmp_path, tiny_results):
    folder, marks = tmp_path / "res", tmp_path / "marks"
    marks.mkdir()
    a = _start(folder, "a", marks)
    try:
        _wait_for(marks / "a-running", a)  # a holds its first run's claim and waits for b
        b = _start(folder, "b", marks)
        try:
            rb, ra = _report(b), _report(a)
        finally:
            b.kill()
    finally:
        a.kill()
    log = (marks / "computed.log").read_text().split()
    computed = log[1::2]
    assert len(computed) == len(set(computed)) == 8, log
    assert ra["computed"] >= 1 and rb["computed"] >= 1
    assert ra["computed"] + rb["computed"] == 8
    for r in (ra, rb):
        assert r["skipped"] + r["computed"] + r["elsewhere"] == r["total"] == 8, r
        assert (r["lost"], r["claimed_elsewhere"]) == (0, []), r
    assert len(store.completed(folder, quarantine=False)) == 8
    assert not list(folder.glob(f"{claims.CLAIM_PREFIX}*"))
    assert_frame_equal(_frame(folder), _frame(tiny_results))


def test_a_killed_claimant_blocks_nothing(tmp_path):
    folder, marks = tmp_path / "res", tmp_path / "marks"
    marks.mkdir()
    a = _start(folder, "hang", marks)  # claims its first run and never finishes it
    try:
        _wait_for(marks / "a-running", a)
        b = _start(folder, "b", marks)
        try:
            _wait_for(marks / "b-waiting", b)  # b has done the rest and waits for a's run
            os.kill(a.pid, signal.SIGKILL)
            a.wait(timeout=30)
            rb = _report(b)
        finally:
            b.kill()
    finally:
        a.kill()
    assert (rb["computed"], rb["elsewhere"], rb["lost"]) == (8, 0, 0), rb
    assert len(store.completed(folder, quarantine=False)) == 8
    assert not list(folder.glob(f"{claims.CLAIM_PREFIX}*"))


def test_claims_of_other_hosts_are_reported_not_waited_for(tmp_path, tiny_sweep):
    h = tiny_sweep.cells[0].hash
    tmp_path.joinpath(f"{claims.CLAIM_PREFIX}{h}").write_text(
        json.dumps({"host": "another-machine", "pid": os.getpid(), "start": None})
    )
    report = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (report.computed, report.claimed_elsewhere, report.lost) == (7, [h], 0)
    assert "1 claimed elsewhere" in report.summary()
    assert not (tmp_path / f"{h}.parquet").exists()
    # a stale claim of this host (a process id that is not running) is taken over
    tmp_path.joinpath(f"{claims.CLAIM_PREFIX}{h}").write_text(
        json.dumps({"host": claims._host(), "pid": 2**22 + 12345, "start": None})
    )
    report = sweep.run_sweep(tiny_sweep, tmp_path, scheduler="serial", progress=False)
    assert (report.computed, report.skipped) == (1, 7)
    assert not list(tmp_path.glob(f"{claims.CLAIM_PREFIX}*"))


def test_a_reused_process_id_does_not_keep_a_claim(tmp_path):
    c = claims.Claims(tmp_path)
    h = "0" * 32
    me = json.loads(c._record)
    if me["start"] is None:  # no /proc: the process id alone decides
        return
    c.path(h).write_text(json.dumps({**me, "start": me["start"] - 1}))
    assert c.take([h]) == ([h], [], [])
    assert json.loads(c.path(h).read_text()) == me
    c.release_all()
    assert not c.path(h).exists()
