"""Speed of what a user types first: ``partialfed --help`` and a small ``partialfed run``.

Each command runs in a fresh interpreter (a subprocess, as a user starts it), best of
``repeats`` (the commands take turns). Absolute seconds depend on the machine and its load, so
each is also given as a ratio against a reference measured by the same benchmark process:

- ``--help`` and ``run`` against a bare interpreter start (``python -c pass``): the price of
  partialfed's imports and work beyond Python's own start-up;
- ``run quick`` on the process pool (``--scheduler local``) and with the default rule
  (``--scheduler auto``) against the same sweep run serially: whether a small sweep pays for a
  pool (it should not, ``executors.SERIAL_WORK``);
- the serial sweep against the same 16 runs simulated in the benchmark process with warm
  kernels (``cell.execute`` in a loop): the overhead of a command over its simulations.

Every ``run`` recomputes its runs (``--force``) in a temporary folder; the kernels are loaded
from the on-disk cache (one warm-up run first), so no compilation is timed.

Usage::

    partialfed bench --cli
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["cli_benchmark", "cli_report"]

CONFIG = "quick"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "partialfed.experiments.cli", *args]


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed: {done.stderr.strip()[-300:]}")
    return wall


def _best_of(commands: dict, repeats: int) -> dict:
    """Best wall time of each command; the commands take turns, so a change of load on a
    shared machine affects them alike."""
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(repeats):
        for name, cmd in commands.items():
            best[name] = min(best[name], _wall(cmd))
    return best


def _in_process(repeats: int) -> float:
    from partialfed.experiments import config
    from partialfed.experiments.cell import execute

    cells = config.load(CONFIG).cells
    for cell in cells:  # build problems and load kernels before the clock starts
        execute(cell)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for cell in cells:
            execute(cell)
        best = min(best, time.perf_counter() - start)
    return best


def cli_benchmark(repeats: int = 3) -> dict:
    """Time the commands of the module docstring; seconds and ratios.

    Parameters
    ----------
    repeats : int
        Each time is the best of this many.

    Returns
    -------
    dict
        ``seconds`` (``python``, ``help``, ``run_serial``, ``run_local``, ``run_auto``,
        ``simulation``) and ``ratios`` (``help_vs_python``, ``run_vs_python``,
        ``local_vs_serial``, ``auto_vs_serial``, ``serial_vs_simulation``).
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"The 'repeats' parameter of cli_benchmark must be >= 1. Got {repeats!r}.")
    tmp = Path(tempfile.mkdtemp(prefix="partialfed-bench-cli-"))
    try:
        out = ["--out", str(tmp / "runs"), "--force", "--json"]
        commands = {
            "python": [sys.executable, "-c", "pass"],
            "help": _command("--help"),
            "run_serial": _command("run", CONFIG, *out, "--scheduler", "serial"),
            "run_local": _command("run", CONFIG, *out, "--scheduler", "local"),
            "run_auto": _command("run", CONFIG, *out),
        }
        _wall(commands["run_serial"])  # warm the kernels' on-disk cache
        s = {**_best_of(commands, repeats), "simulation": _in_process(repeats)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = {
        "help_vs_python": s["help"] / s["python"],
        "run_vs_python": s["run_serial"] / s["python"],
        "local_vs_serial": s["run_local"] / s["run_serial"],
        "auto_vs_serial": s["run_auto"] / s["run_serial"],
        "serial_vs_simulation": s["run_serial"] / s["simulation"],
    }
    return {"config": CONFIG, "repeats": repeats, "seconds": s, "ratios": ratios}


def cli_report(result: dict) -> str:
    """The result of :func:`cli_benchmark` as lines for people."""
    s, r = result["seconds"], result["ratios"]
    return "\n".join(
        [
            f"command-line speed (best of {result['repeats']}, fresh interpreter each)",
            f"  python -c pass            {s['python']:7.2f} s   (reference)",
            f"  partialfed --help         {s['help']:7.2f} s   {r['help_vs_python']:6.1f}x python",
            f"  run {CONFIG} (serial)       {s['run_serial']:7.2f} s   "
            f"{r['run_vs_python']:6.1f}x python, "
            f"{r['serial_vs_simulation']:.1f}x its {s['simulation']:.2f} s of simulation",
            f"  run {CONFIG} (local pool)   {s['run_local']:7.2f} s   "
            f"{r['local_vs_serial']:6.2f}x serial",
            f"  run {CONFIG} (auto)         {s['run_auto']:7.2f} s   "
            f"{r['auto_vs_serial']:6.2f}x serial",
        ]
    )
