"""The partialfed command line, end to end (subprocesses) and in process (error paths)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partialfed.experiments import cli, store


def _partialfed(*args, cwd=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "partialfed.experiments.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_run_then_plot_end_to_end(tmp_path, tiny_path):
    out = tmp_path / "res"
    done = _partialfed("run", tiny_path, "--out", out, "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["total"], report["computed"], report["skipped"]) == (8, 8, 0)
    assert [row["algorithm"] for row in report["table"]] == ["fedalt", "fedsim"]
    assert all(row["ok"] == 4 and row["gap"] > 0 for row in report["table"])
    assert len(list(out.glob("*.parquet"))) == 8

    again = _partialfed("run", tiny_path, "--out", out, "--set", "seeds=3", "--scheduler", "serial")
    assert again.returncode == 0, again.stderr
    assert "4 computed, 8 skipped" in again.stdout
    assert "fedalt" in again.stdout and "grad_u_sq" in again.stdout

    plotted = _partialfed("plot", out, "--out", tmp_path / "fig", "--json")
    assert plotted.returncode == 0, plotted.stderr
    files = json.loads(plotted.stdout)["files"]
    assert len(files) == 4 and all(Path(f).is_file() for f in files)


def test_usage_and_input_errors_exit_2_with_one_line(tmp_path, tiny_path):
    bad = _partialfed("run", tiny_path, "--set", "detla=1", "--out", tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "Did you mean 'delta'" in bad.stderr and str(tiny_path) in bad.stderr
    assert list(tmp_path.iterdir()) == []
    usage = _partialfed("run")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "quik"], ["Did you mean 'quick'"]),
        (["run", "quick", "--set", "m=99"], ["[run] m", "Got 99"]),
        (["run", "quick", "--set", "gamma_u=-1"], ["'gamma_u'"]),
        (["run", "quick", "--scheduler", "threads"], ["'--scheduler'"]),
        (["run", "quick", "--workers", "0"], ["--workers"]),
        (["run", "quick", "--set", "oops"], ["key=value"]),
        (["plot", "no/such/folder"], ["DIRECTORY"]),
        (["frobnicate"], ["invalid choice"]),
        (["run", "quick", "--bogus"], ["unrecognized"]),
    ],
)
def test_error_paths_in_process(capsys, tmp_path, argv, words):
    if argv[0] == "run" and "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err


def test_help_has_an_example_for_every_verb(capsys):
    assert cli.main(["--help"]) == 0
    top = capsys.readouterr().out
    for name in cli.VERBS:
        assert name in top
        assert cli.main([name, "--help"]) == 0
        text = capsys.readouterr().out
        assert "examples:" in text and f"partialfed {name}" in text


def _theory_describe():
    try:
        from partialfed import theory
    except ImportError:
        return None
    return getattr(theory, "describe_bound", None)


@pytest.mark.skipif(
    _theory_describe() is None, reason="partialfed.theory.describe_bound not available yet"
)
def test_bound_verb(capsys):
    from partialfed import theory

    assert cli.main(["bound", "--json"]) == 0
    names = json.loads(capsys.readouterr().out)["bounds"]
    assert names == sorted(theory.BOUNDS) and names
    name = names[0]
    assert cli.main(["bound", name]) == 0
    assert capsys.readouterr().out.strip() == theory.describe_bound(name).strip()
    assert cli.main(["bound", name, "--latex"]) == 0
    assert capsys.readouterr().out.strip() == theory.describe_bound(name, latex=True).strip()
    assert cli.main(["bound", name + "x"]) == 2
    assert "Unknown bound" in capsys.readouterr().err


# The CLI in a child process whose sweep, once it has stored its first run, creates a marker
# and blocks until interrupted: the test sends SIGINT only then, so the signal always lands
# mid-sweep (however loaded the machine), never after the sweep finished.
INTERRUPTIBLE = """
import signal, sys
from pathlib import Path
from partialfed.experiments import cli, store
marker, real = Path(sys.argv[1]), store.write_bytes
def write_bytes(*args, **kwargs):
    path = real(*args, **kwargs)
    if not marker.exists():
        marker.touch()
        while True:
            signal.pause()  # until SIGINT raises KeyboardInterrupt here
    return path
store.write_bytes = write_bytes
sys.exit(cli.main(sys.argv[2:]))
"""


def test_ctrl_c_leaves_complete_files_and_rerun_finishes(tmp_path, tiny_path):
    out, marker = tmp_path / "res", tmp_path / "stored-one"
    grid = ["--set", "T=200", "--set", "eval_every=100", "--set", "seeds=6"]
    grid += ["--out", str(out), "--workers", "1"]
    cmd = [sys.executable, "-c", INTERRUPTIBLE, str(marker), "run", str(tiny_path), *grid]
    # Python ignores Ctrl-C for good when it starts with SIGINT ignored, as a background job of
    # a shell (nohup, `&`) is: give the child the default disposition whatever ours is.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    stored = list(out.glob("*.parquet"))
    assert len(stored) == 1
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".claim-*"))
    assert len(store.completed(out)) == len(stored)
    again = _partialfed("run", tiny_path, *grid, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["skipped"], report["computed"]) == (1, 23)


def test_default_output_folders_are_ignored_by_git():
    """``partialfed run`` and ``partialfed reproduce`` write to ``partialfed-results/<name>`` and
    ``partialfed-report`` in the working folder by default; run in a checkout, they must not turn
    up as untracked files."""
    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["partialfed-results/quick/a.parquet", "partialfed-report/report.md"]
    done = subprocess.run(["git", "check-ignore", *names], cwd=root, capture_output=True, text=True)
    assert done.stdout.split() == names, done.stdout + done.stderr
