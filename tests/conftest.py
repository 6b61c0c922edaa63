"""Session-wide set-up of the test suite.

Under ``pytest -n N --dist loadfile`` (pytest-xdist, as in README.md) each worker process
compiles into a kernel cache folder of its own (``<cache root>/xdist-<worker>``), inherited by
the subprocesses it starts, so that no worker's tests depend on what the other one compiled
first. (With one shared folder, a child process of
``test_simulators_reproducible.py::test_thread_count_in_new_process`` died with SIGSEGV on
2026-12-03: a Per-FedAvg/Ditto entry cached without its threading-layer launcher, numba issue
#8578, now repaired by ``partialfed._cache``; see ``tests/test_cache.py``.)
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _cache_base() -> Path:
    """The same default as partialfed._cache._default_root, read before partialfed is imported."""
    base = os.environ.get("PARTIALFED_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = str((Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "partialfed")
    return Path(base)


if _WORKER and not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["PARTIALFED_CACHE_DIR"] = str(_cache_base() / f"xdist-{_WORKER}")


def pytest_sessionstart(session):
    """On a cold cache, compile the kernels every worker needs once, before the workers start.

    Runs in the pytest-xdist controller only (before its own ``pytest_sessionstart`` starts the
    workers), when none of the workers' folders exists yet (a fresh clone, as in CI): one
    ``tests/_prewarm.py`` process per worker compiles its share of the round kernels into a
    fresh ``<cache root>/xdist-warm-*`` folder of this session's own, which is copied into each
    ``xdist-gwN``. Any failure (an unwritable folder, a child that fails or takes more than
    ``PREWARM_TIMEOUT``) is one line on stderr and the workers compile for themselves. Each worker
    still has a folder of its own, and every worker starts from the same entries, whichever
    finishes first. On a cold cache the two workers otherwise compiled the same round kernels
    side by side (each about a minute per data type on 2 busy cores). ``PARTIALFED_NO_PREWARM=1``
    turns it off."""
    import sys

    config = session.config
    workers = getattr(config.option, "numprocesses", None) or 0
    if _WORKER or not isinstance(workers, int) or workers < 1 or config.option.collectonly:
        return
    if os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("PARTIALFED_NO_PREWARM") == "1":
        return
    targets = [_cache_base() / f"xdist-gw{i}" for i in range(workers)]
    if any(t.exists() for t in targets):
        return
    print(
        "pre-compiling the round kernels for the workers (PARTIALFED_NO_PREWARM=1 skips this)",
        file=sys.stderr,
        flush=True,
    )
    try:
        _prewarm(targets, min(workers, os.cpu_count() or 1))
    except (OSError, subprocess.SubprocessError) as exc:  # the workers compile for themselves
        print(f"pre-compiling skipped: {type(exc).__name__}: {exc}", file=sys.stderr)


#: Seconds the pre-compilation may take before it is given up (the workers then compile).
PREWARM_TIMEOUT = 1800


def _prewarm(targets: list[Path], parts: int) -> None:
    """Compile into a fresh folder of this session's own, then copy it into each target that
    does not exist yet (copy, then rename: a target is either absent or complete)."""
    import shutil
    import sys
    import tempfile

    base = _cache_base()
    base.mkdir(parents=True, exist_ok=True)
    warm = Path(tempfile.mkdtemp(dir=base, prefix="xdist-warm-"))
    env = {**os.environ, "PARTIALFED_CACHE_DIR": str(warm)}
    script = str(Path(__file__).with_name("_prewarm.py"))
    procs = [
        subprocess.Popen([sys.executable, script, str(i), str(parts)], env=env)
        for i in range(parts)
    ]
    try:
        deadline = time.monotonic() + PREWARM_TIMEOUT
        codes = [p.wait(timeout=max(deadline - time.monotonic(), 1)) for p in procs]
        if any(codes) or not (warm / "numba").is_dir():
            print(f"pre-compiling failed (exit codes {codes})", file=sys.stderr)
            return
        for t in targets:
            staging = t.with_name(f"{t.name}.{os.getpid()}.tmp")
            shutil.copytree(warm, staging, symlinks=True)
            try:
                os.rename(staging, t)
            except OSError:  # another session made it meanwhile: keep theirs
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(warm, ignore_errors=True)


#: Work units (files, and ``tests/reliability``) that take longest, handed out first so that
#: no long one starts last while the other worker idles (longest-first scheduling); the other
#: units follow in pytest-xdist's order (most tests first). Measured with ``--durations`` on a
#: cold cache, 2026-12-04 (see the commit message); only the order of the units changes.
LONGEST_FIRST = (
    "tests/checks/test_cli_verify.py",
    "tests/reliability",
    "tests/notebooks/test_notebooks.py",
    "tests/test_install.py",
)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with ``tests/reliability`` as one unit: a worker runs a whole test
    file (its module fixtures are computed once), and the reliability folder whole, because its
    last module checks the bad-input counts of all the others. (``--dist loadgroup`` with
    ``xdist_group`` marks would say the same, but with pytest 9 and pytest-xdist 3.8 its
    groups were split across workers, measured 2026-12-03.) The units are handed out in the
    order of ``LONGEST_FIRST``, then the rest."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndReliability(LoadFileScheduling):
        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/reliability/"):
                return "tests/reliability"
            return super()._split_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not self._ordered:  # the first assignment: the queue is complete
                self._ordered = True
                rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
                units = sorted(self.workqueue.items(), key=lambda u: rank.get(u[0], len(rank)))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return FilesAndReliability(config, log)
