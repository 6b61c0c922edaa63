"""The executors of a sweep: serially, on a local process pool, or on a Dask cluster.

Each executor maps one task function over task argument tuples and yields ``(exception,
result)`` pairs as tasks finish (``map_unordered``), and can be closed, cancelling what is left
(``close(cancel=True)``). Tasks are drawn from their iterable lazily, at most two per worker in
flight, so that a sweep claims runs only as they start (``experiments.claims``); on the local
pool, a worker that dies fails the tasks in flight and the rest go to a fresh pool.
``run_sweep`` (``experiments.sweep``) owns the store; executors only run ``run_chunk`` and
return its encoded results. The schedulers are described in ``experiments.sweep``.

The local pool is loky's reusable executor (``loky.get_reusable_executor``): its workers are
started by a fresh interpreter that does not import the caller's ``__main__`` (so a script
without ``if __name__ == "__main__":`` can start a sweep), they stay up for the next sweep of
the same process (``IDLE_TIMEOUT`` seconds), and each exits within a second of the parent's
death (a watchdog thread, ``_init_worker``: loky's own workers were seen alive 8 s after
their parent was killed with SIGKILL).
A pool is reused only while the parent's environment and ``sys.path`` are those its workers
were started with (registered families reach workers through an environment variable,
``synthetic._registry.ENV_VAR``); otherwise a fresh pool is started.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, wait

from partialfed.experiments._address import SCHEDULERS, check_scheduler_text
from partialfed.experiments.cell import one_line

__all__ = [
    "SCHEDULERS",
    "IDLE_TIMEOUT",
    "SERIAL_WORK",
    "check_scheduler",
    "choose_scheduler",
    "estimated_work",
    "fit_workers",
    "make_executor",
]

#: ``auto`` runs a sweep serially when its estimated work (``estimated_work``) is below this
#: many coordinate operations. Measured 2026-12-02 on 2 cores, load average about 2
#: (docs/configs.md#when-auto-runs-serially): 64 quick runs at T = 5000 (5.1e7 operations)
#: took 2.6 s serially and 2.2 s on a fresh 2-worker pool; at T = 2000 (2.0e7) 1.3 s against
#: 1.6 s; at T = 20000 (2.0e8) 8.7 s against 5.4 s.
SERIAL_WORK = 5e7

#: Seconds an idle worker of the local pool waits for the next sweep before it exits.
IDLE_TIMEOUT = 300

#: ``sys.path`` of the process when the current local pool was started (workers keep theirs).
_POOL_PATH: tuple | None = None


class _Serial:
    name = "serial"
    workers = 1
    threads = None

    def map_unordered(self, fn, tasks: Iterable[tuple]) -> Iterator:
        for args in tasks:
            try:
                yield None, fn(*args)
            except Exception as exc:  # noqa: BLE001 - reported by run_sweep
                yield exc, None

    def close(self, cancel: bool = False) -> None:
        pass


def _ignore_sigint() -> None:
    # Workers leave Ctrl-C to the parent, which cancels the sweep and stops them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _watch_parent(parent: int, every: float) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)  # the parent died (SIGKILL, crash): nobody will read this worker's results


def _init_worker(parent: int) -> None:
    """Initializer of a local pool's worker: ignore Ctrl-C; exit within a second of the
    parent's death (otherwise an orphan would wait for loky's idle timeout)."""
    _ignore_sigint()
    threading.Thread(target=_watch_parent, args=(parent, 1.0), daemon=True).start()


class _Pool:
    name = "local"
    threads = 1

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = self._get_pool()

    def _get_pool(self):
        """loky's reusable pool: the running one while the environment and ``sys.path`` are
        unchanged and no worker died, else a fresh one."""
        global _POOL_PATH
        from loky import get_reusable_executor

        path = tuple(sys.path)
        pool = get_reusable_executor(
            max_workers=self.workers,
            timeout=IDLE_TIMEOUT,
            initializer=_init_worker,
            initargs=(os.getpid(),),
            # Workers see the environment they were started with: a changed one (a family
            # registered since, PYTHONPATH) or a changed sys.path needs fresh workers.
            env=dict(os.environ),
            reuse="auto" if path == _POOL_PATH else False,
        )
        _POOL_PATH = path
        return pool

    def _submit(self, fn, args):
        try:
            return self._pool.submit(fn, *args)
        except Exception:  # noqa: BLE001 - a worker died and broke the pool: start a fresh one
            self._pool = self._get_pool()
            return self._pool.submit(fn, *args)

    def map_unordered(self, fn, tasks: Iterable[tuple]) -> Iterator:
        # Tasks are drawn lazily, two per worker in flight: the sweep claims a chunk's runs
        # only when it is drawn (experiments.claims), so a concurrent sweep can take the rest.
        # A worker that dies fails the tasks in flight; the rest go to a fresh pool.
        tasks, pending = iter(tasks), set()
        while True:
            for args in itertools.islice(tasks, max(0, 2 * self.workers - len(pending))):
                pending.add(self._submit(fn, args))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                yield exc, (None if exc else fut.result())

    def close(self, cancel: bool = False) -> None:
        # Without cancel the workers stay up for the next sweep (loky stops idle ones).
        if cancel:
            self._pool.shutdown(wait=True, kill_workers=True)


class _Dask:
    threads = 1

    def __init__(self, scheduler, workers: int | None):
        try:
            import distributed
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError(
                f"The 'scheduler' parameter of run_sweep is {scheduler!r}, which needs Dask: "
                "pip install 'partialfed[dask]'."
            ) from None
        self._distributed = distributed
        self._cluster = None
        self._own_client = True
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
            self._own_client = False
            self.name = "dask"
        elif scheduler == "dask-local":
            self._cluster = distributed.LocalCluster(
                n_workers=workers or _cores(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = distributed.Client(self._cluster)
            self.name = "dask-local"
        else:
            try:
                self.client = distributed.Client(scheduler, timeout="10s")
            except OSError as exc:
                raise ValueError(
                    f"The 'scheduler' parameter of run_sweep could not reach {scheduler!r}: "
                    f"{one_line(exc)}"
                ) from None
            self.name = str(scheduler)
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))

    def map_unordered(self, fn, tasks: Iterable[tuple]) -> Iterator:
        # Drawn lazily, two tasks per worker in flight (see _Pool.map_unordered).
        tasks, self._futures = iter(tasks), []
        running = self._distributed.as_completed()

        def submit(k: int) -> None:
            for args in itertools.islice(tasks, k):
                fut = self.client.submit(fn, *args, pure=False)
                self._futures.append(fut)
                running.add(fut)

        submit(2 * self.workers)
        while running.count():
            fut = next(running)
            try:
                yield None, fut.result()
            except Exception as exc:  # noqa: BLE001 - reported by run_sweep
                yield exc, None
            submit(1)

    def close(self, cancel: bool = False) -> None:
        if cancel and getattr(self, "_futures", None):
            self.client.cancel(self._futures)
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def estimated_work(cells) -> float:
    """Coordinate operations of ``cells``: per run, ``T`` times ``simulators``' work per round
    (``m (tau_u + tau_v) d + 2 n d / eval_every``, ``d = d_u + d_v``) from the cell's ``n``,
    ``d_u``, ``d_v`` knobs; ``inf`` when a cell's family has no such knobs."""
    total = 0.0
    for cell in cells:
        knobs, run = dict(cell.knobs), cell.run
        try:
            n, d = int(knobs["n"]), int(knobs["d_u"]) + int(knobs["d_v"])
        except (KeyError, TypeError, ValueError):
            return float("inf")
        per_round = run.m * (run.tau_u + run.tau_v) * d + 2 * n * d / run.eval_every
        total += run.T * per_round
    return total


def choose_scheduler(scheduler, cells, workers: int | None = None):
    """``scheduler`` itself, or for ``"auto"``: ``"local"`` when ``workers`` is given or the
    estimated work of ``cells`` is at least ``SERIAL_WORK``, else ``"serial"`` (a small sweep
    does not pay for starting a process pool)."""
    if scheduler != "auto":
        return scheduler
    if workers is not None:
        return "local"
    return "serial" if estimated_work(cells) < SERIAL_WORK else "local"


def check_scheduler(scheduler) -> None:
    """Raise a one-line ``ValueError`` unless ``scheduler`` names an executor."""
    if type(scheduler).__name__ == "Client":
        return
    check_scheduler_text(scheduler)


def fit_workers(workers: int | None, runs: int) -> int | None:
    """``workers`` capped at ``runs`` (the runs left to compute: more processes would idle),
    with a ``UserWarning`` when it asks for more processes than this machine has cores.

    Parameters
    ----------
    workers : int or None
        The requested worker processes (``None``: the executor's default, one per core).
    runs : int
        Runs to compute.
    """
    if type(workers) is not int or workers < 1:
        return workers  # None (the default), or invalid: make_executor says why
    cores = _cores()
    if workers > cores:
        import warnings

        warnings.warn(
            f"workers = {workers} is above the {cores} cores of this machine; processes share "
            f"them (using {min(workers, max(runs, 1))}: at most one per run to compute)",
            UserWarning,
            stacklevel=3,
        )
    return max(1, min(workers, runs))


def make_executor(scheduler="local", workers: int | None = None):
    """Build an executor for ``scheduler`` (see the module docstring).

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``"serial"``, ``"local"``, ``"dask-local"``, ``"tcp://HOST:PORT"`` or a Client
        (``"auto"`` is resolved by ``choose_scheduler`` before; here it means ``"local"``).
    workers : int, optional
        Worker processes for ``"local"``/``"dask-local"``; default one per core.
    """
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise ValueError(
            f"The 'workers' parameter of run_sweep must be an int >= 1. Got {workers!r}."
        )
    check_scheduler(scheduler)
    if scheduler == "serial":
        return _Serial()
    if scheduler in ("local", "auto"):
        return _Pool(workers or _cores())
    return _Dask(scheduler, workers)
