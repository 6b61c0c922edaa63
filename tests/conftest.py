"""Session-wide set-up of the test suite.

Under ``pytest -n N --dist loadgroup`` (pytest-xdist, as in README.md) each worker process
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for ``--dist loadgroup``: one per test file (a worker runs a whole file, so its
    module fixtures are computed once), except ``tests/reliability``, which runs whole on one
    worker because its last module checks the bad-input counts of all the others."""
    for item in items:
        path = Path(str(item.fspath))
        group = "reliability" if path.parent.name == "reliability" else path.stem
        item.add_marker(pytest.mark.xdist_group(group))
