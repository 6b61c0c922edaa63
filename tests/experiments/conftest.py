"""Fixtures of the experiments tests: a tiny configuration and its results, computed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from partialfed.experiments import config, sweep

HERE = Path(__file__).parent
TINY = HERE / "tiny.toml"


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    """The tiny configuration: 2 deltas x 2 algorithms x 2 seeds, 20 rounds, n = 8."""
    return TINY


@pytest.fixture(scope="session")
def tiny_sweep():
    return config.load(TINY)


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory, tiny_sweep) -> Path:
    """A result folder holding the tiny sweep (computed serially, once per session)."""
    out = tmp_path_factory.mktemp("tiny-results")
    report = sweep.run_sweep(tiny_sweep, out, scheduler="serial", progress=False)
    assert report.computed == len(tiny_sweep) == 8
    return out


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(*folders)``: from then on, a file opened for writing in them cannot
    be filled: its writes are taken, but flushing or closing it raises ``OSError(ENOSPC)``.

    Both ways of opening are caught: by path (``open``, ``Path.write_text``, matplotlib) and by
    file descriptor (``os.fdopen``, resolved through ``/proc/self/fd``).
    """
    import builtins
    import errno
    import io
    import os

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc (Linux)")
    real_open = io.open

    class Full:
        """Takes every write into a buffer that never reaches the disk: flushing or closing
        raises ENOSPC, as on a full disk (the file stays as the open left it, empty)."""

        def __init__(self, fh):
            self._fh = fh
            self._raised = False

        def write(self, data):
            return len(data)

        def _full(self):
            self._raised = True
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            self._full()

        def close(self):
            self._fh.close()
            if not self._raised:
                self._full()

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    def arm(*folders):
        folders = {Path(f).resolve() for f in folders}

        def fake_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            where = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else file
            if any(c in mode for c in "wax") and Path(where).resolve().parent in folders:
                return Full(fh)
            return fh

        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(builtins, "open", fake_open)

    return arm
