"""Session-wide set-up of the test suite.

Under ``pytest -n N --dist loadgroup`` (pytest-xdist, as in README.md) each worker process
compiles into a kernel cache folder of its own (``<cache root>/xdist-<worker>``), inherited by
the subprocesses it starts. The workers run different test files at the same moment and would
otherwise add entries to one numba cache concurrently. With one shared folder, a child process
of ``test_simulators_reproducible.py::test_thread_count_in_new_process`` died with SIGSEGV while
the other worker compiled (2026-12-03, ``-n 2`` at load 6), despite the entry lock of
``partialfed._cache`` (whose locking ``tests/test_cache.py`` checks); the cause is not found yet.
Separate folders keep the suite's runs independent of each other's compilation.
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for ``--dist loadgroup``: one per test file (a worker runs a whole file, so its
    module fixtures are computed once), except ``tests/reliability``, which runs whole on one
    worker because its last module checks the bad-input counts of all the others."""
    for item in items:
        path = Path(str(item.fspath))
        group = "reliability" if path.parent.name == "reliability" else path.stem
        item.add_marker(pytest.mark.xdist_group(group))
