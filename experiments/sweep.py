"""Run a grid of cells once each, on a local process pool, serially, or on a Dask cluster.

Every executor (``experiments.executors``) runs the same task, ``run_chunk``: it executes a
chunk of cells (``experiments.cell.execute``) and returns each run encoded as Parquet bytes.
The calling process writes them atomically into the store, so a sweep interrupted at any
moment leaves only complete files, and a rerun computes only what is missing (``force=True``
recomputes everything).

Sweeps running at the same time on one result folder (two terminals, two jobs of a batch
system on a shared disk) share the work: each chunk's runs are claimed when the executor
draws it (``experiments.claims``); a run another live sweep has claimed is left to it, and at
the end each sweep waits until the runs claimed by other sweeps of the same host are stored
(or takes them over when their claimant gave up or died). Each run is computed once and both
sweeps return with every run stored. Runs held by a sweep on another host are not waited for:
the report lists them as ``claimed_elsewhere``.

Schedulers
----------
``"auto"`` (default)
    ``"serial"`` for a small sweep, ``"local"`` otherwise: serial when ``workers`` is not given
    and the runs still to compute have an estimated work below ``executors.SERIAL_WORK``
    coordinate operations (about two seconds of simulation; starting a pool costs about as
    much, see ``executors.choose_scheduler``).
``"serial"``
    In this process, one run after another (for debugging: breakpoints and tracebacks work).
``"local"``
    loky's reusable process pool (fresh interpreters, no ``fork``: Numba and ``fork`` do not
    mix), one worker per core unless ``workers`` says otherwise; each worker uses one Numba
    thread. The workers stay up for the next sweep of the process (``executors``).
``"dask-local"``
    A ``distributed.LocalCluster`` of worker processes started for the sweep.
``"tcp://HOST:PORT"``
    An existing Dask scheduler; its workers need partialfed installed. A ``distributed.Client``
    may be passed instead of a string.

Examples
--------
>>> from partialfed.experiments import config, sweep
>>> s = config.load("quick")                                   # doctest: +SKIP
>>> report = sweep.run_sweep(s, "results/quick")               # doctest: +SKIP
>>> report.computed, report.skipped                            # doctest: +SKIP
(16, 0)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from partialfed.experiments import store
from partialfed.experiments.cell import Cell, execute, one_line
from partialfed.experiments.claims import Claims
from partialfed.experiments.config import Sweep
from partialfed.experiments.executors import (
    SCHEDULERS,
    check_scheduler,
    choose_scheduler,
    fit_workers,
    make_executor,
)
from partialfed.experiments.sweep_report import SweepInterrupted, SweepReport

__all__ = [
    "SCHEDULERS",
    "SweepReport",
    "SweepInterrupted",
    "run_chunk",
    "run_sweep",
    "make_executor",
    "check_scheduler",
    "choose_scheduler",
    "cached_runner",
]

Runner = Callable[[Cell], store.RunResult]


def run_chunk(
    cells: Sequence[Cell],
    runner: Runner | None = None,
    threads: int | None = None,
    keep: bool = False,
) -> list[tuple]:
    """The task every executor runs: execute ``cells`` and encode each result.

    Parameters
    ----------
    cells : sequence of Cell
    runner : callable, optional
        ``runner(cell) -> RunResult``; default ``experiments.cell.execute``. Must be picklable
        (a module-level function) for process-based executors.
    threads : int, optional
        Numba threads to use in this worker (``None``: leave as is).
    keep : bool
        Also return each run as a read of its file would give it (``store.encode_stored``):
        a sweep in this process keeps them instead of reading the files back.

    Returns
    -------
    list of (hash, status, parquet bytes, RunResult or None)
    """
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    runner = execute if runner is None else runner
    out = []
    for cell in cells:
        try:
            result = runner(cell)
            payload, stored = store.encode_stored(result, keep)
        except Exception as exc:  # noqa: BLE001 - a runner or encoder bug fails this run only
            result = store.RunResult(
                spec=cell.spec(),
                frame=pd.DataFrame(columns=["round", *store.METRICS]),
                status="error",
                message=one_line(exc),
            )
            payload, stored = store.encode_stored(result, keep)
        out.append((cell.hash, result.status, payload, stored))
    return out


def run_sweep(
    cells: Sweep | Sequence[Cell],
    directory: str | Path,
    *,
    scheduler="auto",
    workers: int | None = None,
    force: bool = False,
    retry_errors: bool = False,
    progress: bool | None = None,
    chunksize: int | None = None,
    runner: Runner | None = None,
    executor=None,
    on_todo: Callable[[list], None] | None = None,
    on_run: Callable[[int], None] | None = None,
    keep: dict | None = None,
) -> SweepReport:
    """Compute every cell not yet stored in ``directory`` and store it.

    Parameters
    ----------
    cells : Sweep or sequence of Cell
        A loaded configuration or its cells.
    directory : str or Path
        Result folder (created if missing).
    scheduler : str or distributed.Client
        Where to run (see the module docstring). Default ``"auto"``: serially for a small
        sweep, else on a local process pool.
    workers : int, optional
        Worker processes (``local``, ``dask-local``); default one per core.
    force : bool
        Recompute and replace runs already stored.
    retry_errors : bool
        Recompute stored runs whose status is ``error`` (diverged runs are results, not errors).
    progress : bool, optional
        Show a tqdm bar on stderr; default only when stderr is a terminal.
    chunksize : int, optional
        Runs per task; default about four tasks per worker, at most 64 runs each.
    runner : callable, optional
        ``runner(cell) -> RunResult`` replacing ``execute`` (for tests; must be picklable).
    executor : optional
        An executor from ``make_executor`` to reuse (then ``scheduler``/``workers`` are ignored
        and it is not closed).
    on_todo : callable, optional
        ``on_todo(cells)`` with the cells about to be computed, before any is (for progress
        messages, e.g. that kernels will compile).
    on_run : callable, optional
        ``on_run(k)`` each time ``k`` more runs are done: those already stored at the start,
        then each run as it is stored (a progress bar of the caller's).
    keep : dict, optional
        Hash -> ``RunResult`` of the runs this sweep read (verifying what was stored) or
        computed in this process (serial), each as a read of its file gives it; runs computed
        by worker processes or stored by another sweep are not in it (read them).

    Returns
    -------
    SweepReport

    Raises
    ------
    SweepInterrupted
        On Ctrl-C (a ``KeyboardInterrupt``); what was stored before stays stored.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    cells = list(cells.cells if isinstance(cells, Sweep) else cells)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
        raise ValueError(
            f"The 'chunksize' parameter of run_sweep must be an int >= 1. Got {chunksize!r}."
        )
    if keep is not None and not isinstance(keep, dict):
        raise TypeError(
            f"The 'keep' parameter of run_sweep must be a dict or None. Got {type(keep).__name__}."
        )
    hashes = [c.hash for c in cells]
    unique = dict(zip(hashes, cells, strict=True))
    # The files as they are before this sweep looks: a run stored later was stored by another
    # sweep (experiments.claims), even one that replaced a file (force).
    seen = {h: _signature(directory / f"{h}.parquet") for h in unique}
    bad: list = []
    done = {} if force else store.completed(directory, hashes=unique, problems=bad, keep=keep)
    todo = [c for h, c in unique.items() if h not in done or (retry_errors and done[h] == "error")]
    for c in todo if keep is not None else ():  # an error run computed again is not kept as read
        keep.pop(c.hash, None)
    # Runs of one problem go to the same chunk, so a worker builds each problem once.
    todo.sort(key=lambda c: store.canonical_json({"f": c.family, "p": dict(c.knobs)}))
    report = SweepReport(
        directory=directory, hashes=hashes, total=len(unique), skipped=len(unique) - len(todo)
    )
    report.quarantined = bad
    tick = on_run if on_run is not None else (lambda k: None)
    tick(len(cells) - len(todo))  # stored runs (and repeated cells) count at once
    if not todo:
        report.scheduler = str(scheduler) if executor is None else executor.name
        report.wall_s = time.perf_counter() - start
        return report
    if on_todo is not None:
        on_todo(todo)

    own = executor is None
    if own:
        check_scheduler(scheduler)
        scheduler = choose_scheduler(scheduler, todo, workers)
        if scheduler in ("local", "dask-local"):  # processes started here: one per run at most
            workers = fit_workers(workers, len(todo))
    executor = make_executor(scheduler, workers) if own else executor
    report.scheduler, report.workers = executor.name, executor.workers
    size = chunksize or max(1, min(64, math.ceil(len(todo) / (4 * executor.workers))))
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=len(todo), unit="run", file=sys.stderr, disable=not progress, leave=False)
    claims = Claims(directory)
    pending, away = todo, {}
    # runs computed in this process are kept as they are; a worker's would travel back twice
    in_process = keep is not None and executor.name == "serial"
    try:
        while pending:
            busy: list = []
            tasks = _claimed_tasks(pending, size, claims, seen, report, tick, busy, away)
            tasks = ((chunk, runner, executor.threads, in_process) for chunk in tasks)
            for exc, outcome in executor.map_unordered(run_chunk, tasks):
                if exc is not None:  # a crashed task loses its chunk only
                    report.lost_messages.append(one_line(exc))
                    continue
                for h, status, payload, stored in outcome:
                    store.write_bytes(directory, f"{h}.parquet", payload, sync_dir=False)
                    if stored is not None:
                        keep[h] = stored
                    claims.release(h)
                    report.computed += 1
                    report.statuses[status] += 1
                    bar.update(1)
                    tick(1)
            # What this sweep still holds was lost (a crashed task): give it up, so that a
            # sweep waiting for it takes it. Runs another live sweep of this host holds: wait
            # until it stores them, or gives them up (lost, interrupted, killed): then the next
            # pass takes them.
            claims.release_all()
            pending = [
                c for c in busy if not _stored_elsewhere(directory, c.hash, seen, report, tick)
            ]
            if pending:
                time.sleep(CLAIM_POLL_S)
    except BaseException as exc:
        bar.close()
        claims.release_all()
        if own:
            executor.close(cancel=True)
        if not isinstance(exc, KeyboardInterrupt):
            raise
        # A Ctrl-C between creating a temporary file and renaming it (e.g. inside mkstemp)
        # can leave one behind; remove those of this sweep's runs, which nothing else writes.
        store.remove_temporaries(directory, sorted(claims.ever))
        store.sync_directory(directory)
        report.wall_s = time.perf_counter() - start
        raise SweepInterrupted(report) from None
    bar.close()
    claims.release_all()
    store.sync_directory(directory)
    if own:
        executor.close()
    for h in away:  # held by a sweep on another host: stored by now, or left to it
        if not _stored_elsewhere(directory, h, seen, report, tick):
            report.claimed_elsewhere.append(h)
    report.lost = len(todo) - report.computed - report.elsewhere - len(report.claimed_elsewhere)
    report.wall_s = time.perf_counter() - start
    return report


#: Seconds between looks at runs that another live sweep on this host has claimed.
CLAIM_POLL_S = 0.2


def _signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _stored_elsewhere(directory: Path, h: str, seen: dict, report: SweepReport, tick) -> bool:
    """Whether another sweep has validly stored run ``h`` since this one looked (a file that
    was not there then, or another one: ``seen`` holds the signatures of the files then);
    such a run is counted in ``report.elsewhere``."""
    path = directory / f"{h}.parquet"
    signature = _signature(path)
    if signature is None or signature == seen.get(h):
        return False
    try:
        store.verify(path)
    except store.BadResult:
        return False
    report.elsewhere += 1
    tick(1)
    return True


def _claimed_tasks(cells, size, claims, seen, report, tick, busy: list, away: dict):
    """The chunks of ``cells`` to compute, each claimed only when the executor draws it.

    Runs another sweep holds go to ``busy`` (a live sweep of this host, as cells) or ``away``
    (a sweep of another host, by hash); a run another sweep stored between this sweep's first
    look and its claim is counted in ``report.elsewhere`` and released.
    """
    for i in range(0, len(cells), size):
        chunk = cells[i : i + size]
        taken, here, elsewhere = claims.take([c.hash for c in chunk])
        taken, here = set(taken), set(here)
        busy += [c for c in chunk if c.hash in here]
        away.update(dict.fromkeys(elsewhere))
        fresh = []
        for c in chunk:
            if c.hash not in taken:
                continue
            if _stored_elsewhere(claims.directory, c.hash, seen, report, tick):
                claims.release(c.hash)
            else:
                fresh.append(c)
        if fresh:
            yield fresh


def cached_runner(directory: str | Path, **kwargs) -> Callable[[Sequence[Cell]], list]:
    """A ``runner(cells) -> list of RunResult`` that sweeps through the store.

    For the checks (``experiments.checks``), which take one result per cell, in order: each
    call runs ``run_sweep(cells, directory, **kwargs)`` (so runs already stored are not
    recomputed and any executor can be used). The results are those the sweep verified or
    computed in this process (``keep``), the others read back from their files: the same
    ``RunResult`` either way.

    The runner also takes ``on_todo`` and ``on_run`` (passed to ``run_sweep``, for a progress
    bar) and says so with the attribute ``reports_runs = True``.

    Raises
    ------
    RuntimeError
        When a run could not be computed (its task was lost, or a sweep on another host holds
        it); rerunning retries it.
    """
    directory = Path(directory)

    def runner(cells: Sequence[Cell], *, on_todo=None, on_run=None) -> list:
        kept: dict = {}
        report = run_sweep(
            list(cells), directory, on_todo=on_todo, on_run=on_run, keep=kept, **kwargs
        )
        missing = [h for h in report.hashes if not (directory / f"{h}.parquet").is_file()]
        if missing:
            why = list(report.lost_messages)
            if report.claimed_elsewhere:
                why.append(f"{len(report.claimed_elsewhere)} claimed by a sweep on another host")
            raise RuntimeError(
                f"{len(missing)} run(s) were not computed ({'; '.join(why)}); call again to retry."
            )
        return [kept.get(h) or store.read(directory / f"{h}.parquet") for h in report.hashes]

    runner.reports_runs = True
    return runner
