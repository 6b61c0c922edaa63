"""Where and how long ``partialfed reproduce`` ran: the machine, the versions, the phases.

:class:`Clock` starts when the report starts: it notes the date, the load average and, per
phase, the seconds since the previous phase ended (:meth:`Clock.lap`). Its :meth:`Clock.runner`
wraps the report's runner and files every cell a study submits under the phase that is running,
so the configurations written beside the report (``experiments.report_configs``) hold exactly
the runs of each study. :func:`machine` and :func:`versions` describe the computer and the
libraries; :meth:`Clock.as_dict` puts it all in ``results.json`` and the report's headline.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata

__all__ = ["Clock", "LIBRARIES", "cpu_model", "load_average", "machine", "versions"]

#: The distributions whose versions the report names (besides Python itself).
LIBRARIES = (
    "partialfed",
    "numpy",
    "numba",
    "sympy",
    "scipy",
    "matplotlib",
    "pandas",
    "pyarrow",
)


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The processor's model name: the first ``model name`` line of ``cpuinfo`` (Linux), else
    ``platform.processor()``, else the machine type (``x86_64``)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or ``None`` where the system has none (Windows)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    """The computer: processor model, logical cores, operating system."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}".strip(),
    }


def versions() -> dict:
    """Python's version and that of every distribution of :data:`LIBRARIES` (``None`` when
    one is not installed)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class Clock:
    """Wall-clock time of the report and of each of its phases, and the cells each phase ran.

    Parameters
    ----------
    timer : callable
        Seconds as a float (default ``time.perf_counter``; tests pass their own).
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter):
        self._timer = timer
        self.start = timer()
        self._last = self.start
        self.date = datetime.now(UTC).isoformat(timespec="seconds")
        self.load_start = load_average()
        self.load_end: list[float] | None = None
        self.total: float | None = None
        self.phases: dict[str, float] = {}
        self.cells: dict[str, list] = {}
        self._pending: list = []

    def lap(self, phase: str) -> float:
        """End ``phase``: its seconds since the previous lap, and the cells run meanwhile."""
        now = self._timer()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self.cells.setdefault(phase, []).extend(self._pending)
        self._pending = []
        self._last = now
        return self.phases[phase]

    @property
    def seconds(self) -> float:
        """Seconds since the clock started."""
        return self._timer() - self.start

    def stop(self) -> float:
        """Note the total time and the load average at the end; returns the total."""
        self.total = self.seconds
        self.load_end = load_average()
        return self.total

    def runner(self, runner: Callable | None = None) -> Callable:
        """``runner`` (default: execute in this process) that also notes every cell it runs."""
        from partialfed.experiments.cell import execute

        def run(cells):
            cells = list(cells)
            self._pending.extend(cells)
            return runner(cells) if runner is not None else [execute(c) for c in cells]

        return run

    def as_dict(self) -> dict:
        """Date (UTC, ISO 8601), seconds in all and per phase, load averages, machine and
        versions, as ``results.json`` holds them."""
        return {
            "date": self.date,
            "seconds": round(self.seconds if self.total is None else self.total, 1),
            "phases": {k: round(v, 1) for k, v in self.phases.items()},
            "load_average_start": self.load_start,
            "load_average_end": self.load_end,
            "machine": machine(),
            "versions": versions(),
        }
