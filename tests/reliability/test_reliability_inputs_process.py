"""Generated bad command lines, each in a fresh ``python -m partialfed.experiments.cli`` process.

The in-process suites call ``experiments.cli.main``; here every command line is a real process
(its own interpreter, imports, exit status and stderr), two at a time. The command lines are
drawn from a seeded generator over every verb: unknown verbs and options, missing arguments,
values of the wrong type, and out-of-range or malformed values of ``--workers``,
``--scheduler``, ``--seeds``, ``--scale``, ``--eta``, ``--metric``, ``--format``, ``--clock``
and of the result folder. All are invalid and fail before any simulation (the verbs check
their options before the heavy imports: a process costs about 0.05 s).

Each must exit with status 2 and print one line on stderr that starts with ``partialfed`` and
names the option, with nothing on stdout (0 silent accepts), no ``Traceback`` (0 tracebacks),
no negative exit status and no mention of Numba (0 crashes inside it), within a timeout per
process (0 hangs).

Size: ``PROCESS_RUNS`` command lines (3,000: about 75 s on 2 free cores); set
``PARTIALFED_FUZZ=nightly`` for 30,000, or ``PARTIALFED_FUZZ=<count>``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reliability_helpers import PROCESSES, names_parameter

#: Command lines per run of the suite (CI); ``PARTIALFED_FUZZ=nightly`` asks for ``NIGHTLY``.
PROCESS_RUNS = 3_000
NIGHTLY = 30_000
#: Seconds one process may take before it counts as a hang.
TIMEOUT = 60
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def fuzz_size() -> int:
    """``PROCESS_RUNS``, or what ``PARTIALFED_FUZZ`` asks for (``nightly`` or a count)."""
    wanted = os.environ.get("PARTIALFED_FUZZ", "").strip()
    if wanted == "nightly":
        return NIGHTLY
    return int(wanted) if wanted.isdigit() and int(wanted) > 0 else PROCESS_RUNS


def _word(rng: random.Random, lo: int = 1, hi: int = 8) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(rng.randint(lo, hi)))


def _not_int(rng: random.Random) -> str:
    return rng.choice(
        [_word(rng), f"{rng.uniform(-9, 9):.2f}", "1e3", "0x1f", "", "nan", "1_", "--"]
    )


def _not_float(rng: random.Random) -> str:
    return rng.choice([_word(rng, 2), "1..2", "", "0x", "1e", "--"])[:8] or "x"


def _bad_address(rng: random.Random) -> str:
    host = rng.choice(["localhost", "10.0.0.1", "h", "node-1"])
    return rng.choice(
        [
            _word(rng),
            f"tcp://{host}:{_word(rng)}",
            f"tcp://{host}",
            f"tcp://:{rng.randint(1, 65535)}",
            f"tcp://{host}:0",
            f"tcp://{host}:{rng.randint(65536, 10**6)}",
            f"{_word(rng, 2, 4)}x://{host}:8786",
            f"tcp://{host}:-{rng.randint(1, 99)}",
            f"tcp://{host} x:1",
        ]
    )


_EXEC_VERBS = {"run": ["run", "quick"], "check": ["check", "fedsgd_partial"], "regime": ["regime"]}


def _EVERY_VERB(folder: Path) -> list[list[str]]:  # noqa: N802 - a table, built per folder
    """A valid start of a command line for every verb."""
    return [
        ["run", "quick"],
        ["plot", str(folder)],
        ["bound", "sgd_nonconvex"],
        ["check", "fedsgd_partial"],
        ["regime"],
        ["reproduce"],
        ["bench"],
    ]


def _case(rng: random.Random, folder: Path) -> tuple[list[str], str]:
    """One invalid command line and the option (or value) its message must name."""
    kind = rng.randrange(12)
    verb = rng.choice(sorted(_EXEC_VERBS))
    head = _EXEC_VERBS[verb]
    if kind == 0:
        option = "--zz" + _word(rng)
        return [*rng.choice(_EVERY_VERB(folder)), option, "1"], option
    if kind == 1:
        base = ["reproduce"] if rng.random() < 0.25 else head
        return [*base, "--workers", _not_int(rng)], "--workers"
    if kind == 2:
        return [*head, "--workers", str(rng.randint(-(10**6), 0))], "--workers"
    if kind == 3:
        return [*head, "--scheduler", _bad_address(rng)], "--scheduler"
    if kind == 4:
        value = rng.choice(["nan", "inf", "-inf", "0", "-0", f"-{rng.uniform(0, 9):.3g}"])
        value = rng.choice([value, _not_float(rng)])
        return ["check", "fedsgd_partial", f"--scale={value}"], "--scale"
    if kind == 5:
        which = rng.choice(["check", "regime"])
        top = 10_000 if which == "check" else 1000
        value = rng.choice(
            [str(rng.randint(-(10**4), 0)), str(rng.randint(top + 1, 10**9)), _not_int(rng)]
        )
        return [*_EXEC_VERBS[which], f"--seeds={value}"], "--seeds"
    if kind == 6:
        value = rng.choice(["nan", "inf", "0", f"-{rng.uniform(0, 9):.3g}", _not_float(rng)])
        return ["regime", f"--eta={value}"], "--eta"
    if kind == 7:
        metric = rng.choice(["status", "hash", "message", "delta", _word(rng)])
        return ["plot", str(folder), "--metric", metric], "--metric"
    if kind == 8:
        missing = folder / ("no-" + _word(rng))
        return ["plot", str(missing)], str(missing)
    if kind == 9:
        option = rng.choice(["--format", "--clock"])
        base = ["plot", str(folder)] if option == "--format" else ["bench"]
        return [*base, option, _word(rng, 1, 5).replace("png", "x").replace("pdf", "x")], option
    if kind == 10:
        word = "zz" + _word(rng)
        return [word], word
    verb, missing = rng.choice([("run", "config"), ("plot", "directory"), ("check", "bound")])
    return [verb], missing


def _cases(count: int, folder: Path) -> list[tuple[list[str], str]]:
    rng = random.Random(20261202)
    return [_case(rng, folder) for _ in range(count)]


def _run(case, env) -> str | None:
    """Run one command line; None if it failed as it must, else what went wrong."""
    argv, name = case
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "partialfed.experiments.cli", *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"{argv}: hang (no exit within {TIMEOUT} s)"
    err = proc.stderr
    lines = err.strip().splitlines()
    problems = []
    if proc.returncode < 0:
        problems.append(f"killed by signal {-proc.returncode}")
    elif proc.returncode != 2:
        problems.append(f"exit status {proc.returncode}")
    if "Traceback" in err:
        problems.append("traceback")
    if "numba" in err.lower():
        problems.append("numba in stderr")
    if proc.stdout.strip():
        problems.append(f"stdout {proc.stdout[:80]!r}")
    if len(lines) != 1 or not lines[0].startswith("partialfed"):
        problems.append(f"stderr {err[:200]!r}")
    elif not names_parameter(lines[0], name):
        problems.append(f"{name!r} not named in {lines[0]!r}")
    return f"{argv}: {'; '.join(problems)}" if problems else None


def test_generated_bad_command_lines_in_fresh_processes(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    cases = _cases(fuzz_size(), folder)
    env = {k: v for k, v in os.environ.items() if k != "PARTIALFED_DEBUG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda c: _run(c, env), cases))
    PROCESSES["test_generated_bad_command_lines_in_fresh_processes"] += len(outcomes)
    failures = [o for o in outcomes if o is not None]
    assert not failures, f"{len(failures)} of {len(cases)} failed, e.g. {failures[:5]}"
    # every kind of case was drawn
    assert {tuple(a[:1]) for a, _ in cases} >= {("run",), ("check",), ("regime",), ("plot",)}


def test_fuzz_size_follows_the_environment(monkeypatch):
    monkeypatch.setenv("PARTIALFED_FUZZ", "nightly")
    assert fuzz_size() == NIGHTLY
    monkeypatch.setenv("PARTIALFED_FUZZ", "120")
    assert fuzz_size() == 120
    monkeypatch.delenv("PARTIALFED_FUZZ")
    assert fuzz_size() == PROCESS_RUNS >= 3000
