"""The local pool (loky's reusable executor) and the ``auto`` scheduler rule."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from partialfed.experiments import cli, config, executors, sweep

NO_GUARD = textwrap.dedent(
    """
    # No `if __name__ == "__main__":` on purpose: a spawn pool would re-run this file.
    import os, sys
    from partialfed.experiments import config, executors, sweep
    s = config.load("quick")
    r = sweep.run_sweep(s, sys.argv[1], scheduler="local", workers=2, progress=False)
    print(r.summary(), flush=True)
    pool = executors.make_executor("local", 2)
    first = {res for _, res in pool.map_unordered(os.getpid, [()] * 8)}
    # The same loky executor, hence the same workers (comparing the pids that answered would
    # depend on which idle worker takes the tasks first).
    again = executors.make_executor("local", 2)
    print("reused" if again._pool is pool._pool else "new", flush=True)
    print("pids", *sorted(first), flush=True)
    if len(sys.argv) > 2:
        import time
        time.sleep(600)
    """
)


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "no_guard.py"
    path.write_text(NO_GUARD)
    return path


def test_a_script_without_main_guard_runs_a_local_sweep_and_reuses_the_pool(tmp_path):
    done = subprocess.run(
        [sys.executable, str(_script(tmp_path)), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("16 runs: 16 computed") and "on local (2 workers)" in lines[0]
    assert lines[1] == "reused"
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 16


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(_script(tmp_path)), str(tmp_path / "out"), "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        pids = []
        for line in proc.stdout:
            if line.startswith("pids"):
                pids = [int(p) for p in line.split()[1:]]
                break
        assert pids and all(_alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: no process group kill
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60  # loky's own idle timeout would be 300 s
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids)
    finally:
        proc.kill()
        proc.communicate()
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def _cells(T: int, seeds: int = 2):
    return config.load("quick", [f"T={T}", f"seeds={seeds}"]).cells


def test_auto_is_serial_for_a_small_sweep_and_a_pool_for_a_large_one():
    small, large = _cells(50), _cells(50_000, seeds=8)
    assert executors.estimated_work(small) < executors.SERIAL_WORK
    assert executors.estimated_work(large) > executors.SERIAL_WORK
    assert executors.choose_scheduler("auto", small) == "serial"
    assert executors.choose_scheduler("auto", large) == "local"
    assert executors.choose_scheduler("auto", small, workers=2) == "local"  # asked for a pool
    assert executors.choose_scheduler("serial", large) == "serial"  # an explicit choice stays
    assert executors.choose_scheduler("local", small) == "local"
    # twice the rounds, twice the work
    assert executors.estimated_work(_cells(100)) == 2 * executors.estimated_work(small)


def test_auto_sends_a_family_without_size_knobs_to_the_pool(tiny_sweep):
    from dataclasses import replace

    cell = tiny_sweep.cells[0]
    other = replace(cell, knobs=tuple((k, v) for k, v in cell.knobs if k != "n"))
    assert executors.estimated_work([other]) == float("inf")
    assert executors.choose_scheduler("auto", [other]) == "local"


def test_run_sweep_default_runs_the_quick_config_serially(tmp_path):
    report = sweep.run_sweep(config.load("quick"), tmp_path, progress=False)
    assert (report.computed, report.scheduler) == (16, "serial")


def test_the_help_states_the_threshold_of_the_code(capsys):
    assert cli.main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    number = re.search(r"estimated below (\S+) coordinate operations", text)
    assert number and float(number.group(1)) == executors.SERIAL_WORK


def test_the_cli_benchmark_reports_ratios_of_its_own_measurements():
    from partialfed.experiments.bench_cli import cli_benchmark, cli_report

    seconds = dict(python=0.02, help=0.05, run_serial=1.5, run_local=6.0, run_auto=1.2)
    seconds["simulation"] = 0.01
    ratios = dict(help_vs_python=2.5, run_vs_python=75.0, local_vs_serial=4.0)
    ratios.update(auto_vs_serial=0.8, serial_vs_simulation=150.0)
    text = cli_report({"repeats": 3, "seconds": seconds, "ratios": ratios})
    assert "2.5x python" in text and "4.00x serial" in text and "0.80x serial" in text
    with pytest.raises(ValueError, match="'repeats' parameter of cli_benchmark"):
        cli_benchmark(repeats=0)


def _crashing_runner(crash: str):
    """A runner whose worker process dies (``os._exit``) on the run ``crash``; made inside a
    function so that it reaches the workers by value."""

    def runner(cell):
        import os

        from partialfed.experiments.cell import execute

        if cell.hash == crash:
            os._exit(3)
        return execute(cell)

    return runner


def test_a_worker_that_dies_loses_only_the_tasks_in_flight(tmp_path, tiny_sweep):
    from partialfed.experiments import store

    first = min(
        tiny_sweep.cells, key=lambda c: store.canonical_json({"f": c.family, "p": dict(c.knobs)})
    )
    report = sweep.run_sweep(
        tiny_sweep,
        tmp_path,
        scheduler="local",
        workers=1,
        chunksize=1,
        runner=_crashing_runner(first.hash),
        progress=False,
    )
    # one worker, two tasks in flight: the crash fails at most those two; a fresh pool does
    # the rest
    assert 1 <= report.lost <= 2 and report.computed == 8 - report.lost, report.summary()
    assert "TerminatedWorkerError" in report.lost_messages[0]
    assert not (tmp_path / f"{first.hash}.parquet").exists()
