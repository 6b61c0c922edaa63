"""Progress of the verification verbs: a bar per study counting its runs, and a line before a
family's round kernel compiles.

``reproduce``, ``check`` and ``regime`` open one :class:`Study` per study (strict checks,
mutation, exponents, calibration, regime map, worst-case search). A study's
:meth:`Study.runner` wraps the runner the checks call (``runner(cells) -> results``) so that
every run moves the bar: cells executed in this process one at a time, or a runner that reports
its runs (``reports_runs``: ``sweep.cached_runner``, the worst-case search's), or, for any other
runner, all of a call's cells when it returns.

Before a run that would compile Numba code, a line says so: ``compiling kernels for <family>
(first run only)``. It is decided by ``simulators.kernel_state`` (the dispatcher's compiled
signatures and the on-disk cache index), once per family in this process, before
the run starts; a pool's workers load from the same on-disk cache, so the parent's answer holds
for them.

Everything goes to stderr. With ``bars=False`` (the default when stderr is not a terminal, in
tests, under ``--quiet`` or ``--json``) no tqdm bar is drawn; the lines go through ``log`` if
one is given, and with neither a study's runner is the runner it wraps.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager

__all__ = ["Progress", "Study", "wanted"]

#: ``(family, meta)`` pairs whose kernel state was looked up in this process (a family's
#: problems share one data type, hence one compiled variant of each round kernel: ``meta`` for
#: the Per-FedAvg/Ditto kernel, the other for the rest).
_LOOKED_UP: set = set()

#: Seconds between redraws of a bar whose count does not move (a long run, a compilation):
#: its clock keeps going, so no study looks stalled.
REDRAW_S = 1.0


def wanted(progress: bool | None, quiet: bool = False) -> bool:
    """Whether to draw bars: ``progress`` when given (``--progress``/``--no-progress``), else
    when stderr is a terminal and output is not ``quiet`` (``--quiet``, ``--json``)."""
    if progress is not None:
        return bool(progress)
    return not quiet and sys.stderr.isatty()


class Progress:
    """Bars and lines on stderr for one command.

    Parameters
    ----------
    bars : bool
        Draw a tqdm bar per study (and look up whether kernels will compile).
    log : callable, optional
        ``log(line)`` for the one-line messages shown without bars (``reproduce``'s
        ``[strict 3/49] ...`` lines); ``None``: none.
    file : file, optional
        Where bars and lines go (default ``sys.stderr``).
    """

    def __init__(self, bars: bool = False, log: Callable[[str], None] | None = None, file=None):
        self.bars = bool(bars)
        self._log = log
        self._file = file

    @property
    def active(self) -> bool:
        """Whether anything is shown (bars or log lines)."""
        return self.bars or self._log is not None

    @property
    def file(self):
        """Where bars and lines go (``sys.stderr`` unless a file was given)."""
        return self._file if self._file is not None else sys.stderr

    def line(self, text: str) -> None:
        """One line, written above the bars (or through ``log`` when there are none)."""
        if self.bars:
            from tqdm.auto import tqdm

            tqdm.write(text, file=self.file)
            self.file.flush()
        elif self._log is not None:
            self._log(text)

    @contextmanager
    def study(self, name: str, total: int | None = None, unit: str = "run"):
        """A :class:`Study` named ``name`` expecting ``total`` runs (``None``: unknown);
        ``unit`` names what it counts."""
        study = Study(self, name, total, unit)
        try:
            yield study
        finally:
            study.close()

    def announce(self, cells: Sequence) -> None:
        """Say ``compiling kernels for <family> (first run only)`` when the round kernel of a
        cell's problem is neither compiled in this process nor in the on-disk cache."""
        if not self.active:
            return
        from partialfed.simulators import ALGORITHMS, kernel_state

        for cell in cells:
            kind = (cell.family, ALGORITHMS[cell.run.algorithm].meta)
            if kind in _LOOKED_UP:  # before building: a pool's parent builds one
                continue
            try:
                problem = cell.problem()
            except Exception:  # noqa: BLE001 - the run itself reports a problem that fails
                continue
            _LOOKED_UP.add(kind)
            try:
                state = kernel_state(problem, cell.run.algorithm)
            except Exception:  # noqa: BLE001 - a message is not worth failing a run for
                continue
            if state == "cold":
                self.line(f"compiling kernels for {cell.family} (first run only)")


class Study:
    """One study's bar (see :meth:`Progress.study`)."""

    def __init__(self, progress: Progress, name: str, total: int | None, unit: str = "run"):
        self.progress = progress
        self.name = name
        self.done = 0
        self._bar = None
        if progress.bars:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=name,
                unit=unit,
                file=progress.file,
                dynamic_ncols=True,
                leave=True,
            )
            self._stop = threading.Event()
            self._redraw = threading.Thread(target=self._redraw_loop, daemon=True)
            self._redraw.start()

    def _redraw_loop(self) -> None:
        while not self._stop.wait(REDRAW_S):
            bar = self._bar
            if bar is not None:
                bar.refresh()

    def item(self, line: str, short: str | None = None) -> None:
        """What the study is doing now: the bar's text (``short``, default ``line``), or
        ``line`` through the progress's ``log`` when there is no bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(short if short is not None else line, refresh=True)
        else:
            self.progress.line(line)

    def tick(self, k: int = 1) -> None:
        """``k`` more runs done."""
        self.done += k
        if self._bar is not None:
            if self._bar.total is not None and self._bar.n + k > self._bar.total:
                self._bar.total = self._bar.n + k  # more runs than expected: never past 100%
            self._bar.update(k)

    def runner(self, inner: Callable | None = None) -> Callable | None:
        """A runner that moves this study's bar and announces compilations (``inner`` itself
        when nothing is shown).

        ``inner=None`` executes each cell in this process (``experiments.cell.execute``), one
        bar step per run.
        """
        if not self.progress.active:
            return inner

        def run(cells):
            cells = list(cells)
            if inner is None:
                from partialfed.experiments.cell import execute

                out = []
                for cell in cells:
                    self.progress.announce([cell])
                    out.append(execute(cell))
                    self.tick()
                return out
            if getattr(inner, "reports_runs", False):
                return inner(cells, on_todo=self.progress.announce, on_run=self.tick)
            self.progress.announce(cells)
            out = inner(cells)
            self.tick(len(cells))
            return out

        run.reports_runs = False
        return run

    def close(self) -> None:
        """Stop redrawing and close the bar (it stays on screen)."""
        if self._bar is not None:
            self._stop.set()
            self._redraw.join()
            self._bar.close()
            self._bar = None
