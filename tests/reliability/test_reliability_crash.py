"""Crash safety: a sweep killed with SIGKILL at random moments loses nothing that was finished.

A small script runs ``run_sweep`` on the local process pool (2 workers, one run per task) in its
own process group; after a warm-up sweep that compiles the kernels, the group is killed with
SIGKILL 4 times (random delays, seeded): once during start-up; once surely mid-sweep, when the
restarted sweep has stored its first new run and waits (it says so by a marker file: no timing
involved); then twice at a random moment after the restarted sweep stored its first new run.
The sweep is restarted after each kill
(and takes over the claims, ``experiments.claims``, the killed one left). After every kill:
``store.load`` reports no broken file and every ``*.parquet`` reads with pyarrow. Each restart
computes exactly the runs that are missing (``skipped`` = files present, ``computed`` = total -
files present, from its JSON report). The final DataFrame equals that of an uninterrupted sweep
in another folder (timings dropped).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pandas.testing import assert_frame_equal

from partialfed.experiments import store

TOTAL = 24
SCRIPT = textwrap.dedent(
    f"""
    import json, signal, sys
    from pathlib import Path
    from partialfed.experiments import config, store, sweep
    if len(sys.argv) > 2:  # after storing one run, say so in this marker file and wait
        marker, real = Path(sys.argv[2]), store.write_bytes
        def write_bytes(*args, **kwargs):
            path = real(*args, **kwargs)
            marker.touch()
            while True:
                signal.pause()  # until killed
        store.write_bytes = write_bytes
    s = config.from_dict({{
        "name": "crash", "family": "quadratic", "seeds": 4,
        "problem": {{"n": 8, "d_u": 3, "d_v": 2, "noise_u": 0.1}},
        "run": {{"algorithm": ["fedalt", "fedsim", "fedavg"], "T": 40000, "m": 3,
                 "gamma_u": [0.05, 0.1], "gamma_v": 0.05, "eval_every": 500}},
    }})
    assert len(s) == {TOTAL}
    r = sweep.run_sweep(s, sys.argv[1], scheduler="local", workers=2, chunksize=1,
                        progress=False)
    print(json.dumps(r.as_dict()))
    """
)


def _start(directory: Path, marker: Path | None = None) -> subprocess.Popen:
    """Start the sweep script in a new process group (so the pool workers die with it);
    with ``marker``, it stops once it has stored one run and creates that file."""
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(directory), *([str(marker)] if marker else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "NUMBA_NUM_THREADS": "1"},
    )


def _finish(directory: Path) -> tuple[dict, float, float]:
    """Run the sweep to completion.

    Returns
    -------
    tuple
        Its JSON report, the seconds until the first result file appeared (start-up) and the
        seconds from then to the end (computing).
    """
    start = time.perf_counter()
    first = None
    proc = _start(directory)
    while proc.poll() is None:
        if first is None and any(directory.glob("*.parquet")):
            first = time.perf_counter() - start
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    wall = time.perf_counter() - start
    first = wall if first is None else first
    return json.loads(out.strip().splitlines()[-1]), first, wall - first


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.parquet"))


def _assert_store_intact(directory: Path) -> int:
    """Every result file loads; returns how many there are."""
    files = _files(directory)
    for path in files:
        pq.read_table(path)  # raises on a torn file
    problems: list = []
    if files:
        store.load(directory, errors=problems)
    assert problems == [], problems
    return len(files)


def _final_frame(directory: Path) -> pd.DataFrame:
    df = store.load(directory).drop(columns=["elapsed_s"])
    return df.sort_values(["hash", "round"]).reset_index(drop=True)


def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    # A first sweep compiles the kernels (the cache may be cold, e.g. a fresh pytest-xdist
    # worker's folder), so that the reference measures the start-up every later attempt has:
    # timed against a cold start-up, the first kill came after the whole sweep had finished.
    _finish(tmp_path / "warm-up")
    report, startup, compute = _finish(reference)
    assert report["computed"] == TOTAL and report["statuses"] == {"ok": TOTAL}

    rng = random.Random(20240601)
    mid_sweep = 0
    for attempt in range(4):
        before = _assert_store_intact(killed) if killed.exists() else 0
        remaining = (TOTAL - before) / TOTAL
        marker = tmp_path / f"stored-{attempt}"
        proc = _start(killed, marker if attempt == 1 else None)
        if attempt == 0:  # somewhere in the start-up (imports, pool, first compilations)
            time.sleep(rng.uniform(0.2, 0.9) * startup)
        elif attempt == 1:  # surely mid-sweep: it has stored one run and waits (a marker)
            while not marker.exists():
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.01)
        else:  # once this attempt has stored a run, somewhere in the rest of the sweep
            while len(_files(killed)) <= before and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3 * remaining) * compute)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        after = _assert_store_intact(killed)
        mid_sweep += before < after < TOTAL
    assert mid_sweep >= 1, "the kills should land while runs are being stored"

    present = _assert_store_intact(killed)
    report, _, _ = _finish(killed)
    assert report["total"] == TOTAL
    assert report["skipped"] == present
    assert report["computed"] == TOTAL - present
    assert report["skipped"] + report["computed"] == TOTAL
    assert _assert_store_intact(killed) == TOTAL
    assert_frame_equal(_final_frame(killed), _final_frame(reference))
