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
from pathlib import Path

import pytest

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and not os.environ.get("NUMBA_CACHE_DIR"):
    # The same default as partialfed._cache._default_root, read before partialfed is imported.
    _base = os.environ.get("PARTIALFED_CACHE_DIR")
    if not _base:
        _xdg = os.environ.get("XDG_CACHE_HOME")
        _base = str((Path(_xdg).expanduser() if _xdg else Path.home() / ".cache") / "partialfed")
    os.environ["PARTIALFED_CACHE_DIR"] = str(Path(_base) / f"xdist-{_WORKER}")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with ``tests/reliability`` as one unit: a worker runs a whole test
    file (its module fixtures are computed once), and the reliability folder whole, because its
    last module checks the bad-input counts of all the others. (``--dist loadgroup`` with
    ``xdist_group`` marks would say the same, but with pytest 9 and pytest-xdist 3.8 its
    groups were split across workers, measured 2026-12-03.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndReliability(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/reliability/"):
                return "tests/reliability"
            return super()._split_scope(nodeid)

    return FilesAndReliability(config, log)
