"""Claims: concurrent sweeps on one result folder share the work instead of repeating it.

Before a sweep (``experiments.sweep.run_sweep``) hands a chunk of runs to its executor, it
claims each run: a file ``.claim-<hash>`` in the result folder holding the claimant's host,
process id and process start time. A run claimed by another live sweep is not computed;
when the claimant stores the run it deletes its claim (and deletes the rest when it ends, is
interrupted or fails). A claim whose process is gone (same host: the process id is not
running, or is running but started at another time, i.e. a reused id) is stale and taken
over, so a sweep killed with SIGKILL blocks nothing. A claim from another host cannot be
checked from here: it is honoured, and the sweep reports such runs as claimed elsewhere.

Taking and judging claims happens under a lock of the whole folder (``fcntl.flock`` on
``.claims.lock``), held for one chunk's claims at a time, so two sweeps never both take a run
and nobody reads a claim half written. Where ``fcntl`` is missing (Windows) or the folder
cannot hold the lock file, claims are off and every run counts as taken (concurrent sweeps
may then compute a run twice; the store stays correct either way, each file being written
atomically).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from partialfed.experiments._atomic import _alive, _host

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["CLAIM_PREFIX", "LOCK_NAME", "Claims"]

#: Name prefix of a claim file in a result folder: ``.claim-<hash>``.
CLAIM_PREFIX = ".claim-"

#: The lock file that serialises taking claims in a result folder.
LOCK_NAME = ".claims.lock"


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, Linux ``/proc``), else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return -1
    return int(fields[19])


class Claims:
    """The claims of one sweep (this process) in ``directory``.

    Attributes
    ----------
    directory : Path
    enabled : bool
        False where claims cannot be kept (no ``fcntl``, or the lock file cannot be opened).
    mine : set of str
        The hashes this sweep holds now.
    ever : set of str
        Every hash this sweep has held (its temporaries are its own to clean).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.enabled = fcntl is not None
        self.mine: set[str] = set()
        self.ever: set[str] = set()
        pid = os.getpid()
        self._record = json.dumps({"host": _host(), "pid": pid, "start": _start_time(pid)})

    def path(self, h: str) -> Path:
        """The claim file of run ``h``."""
        return self.directory / f"{CLAIM_PREFIX}{h}"

    @contextlib.contextmanager
    def _locked(self):
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _holder(self, h: str) -> str | None:
        """``None`` if run ``h`` is free (no claim, or a stale one), ``"here"`` if a live
        process of this host holds it, ``"elsewhere"`` if a process of another host does."""
        try:
            holder = json.loads(self.path(h).read_text())
            host, pid, start = holder["host"], int(holder["pid"]), holder.get("start")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError):
            return None  # written by a claimant killed half way (writes hold the lock)
        if host != _host():
            return "elsewhere"
        if not _alive(pid):
            return None
        now = _start_time(pid)
        if now == -1 or (start is not None and now is not None and now != start):
            return None  # a zombie, or the id now belongs to another process
        return "here"

    def take(self, hashes: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
        """Claim every free run of ``hashes``.

        Returns
        -------
        taken, here, elsewhere : lists of str
            The runs this sweep now holds (claimed now or before), those held by a live sweep
            on this host, and those held by a sweep on another host.
        """
        hashes = list(hashes)
        if not self.enabled:
            self.mine.update(hashes)
            self.ever.update(hashes)
            return hashes, [], []
        try:
            with self._locked():
                return self._take(hashes)
        except OSError:  # the folder cannot hold the lock or a claim file: no claims
            self.enabled = False
            return self.take(hashes)

    def _take(self, hashes: list[str]) -> tuple[list[str], list[str], list[str]]:
        taken, here, elsewhere = [], [], []
        for h in hashes:
            holder = None if h in self.mine else self._holder(h)
            if holder == "here":
                here.append(h)
            elif holder == "elsewhere":
                elsewhere.append(h)
            else:
                if h not in self.mine:
                    self._write(h)
                taken.append(h)
        return taken, here, elsewhere

    def _write(self, h: str) -> None:
        path = self.path(h)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale claim (checked under the lock)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._record)
        self.mine.add(h)
        self.ever.add(h)

    def release(self, h: str) -> None:
        """Give up the claim of run ``h`` (once it is stored, or the sweep ends)."""
        if h in self.mine:
            self.mine.discard(h)
            if self.enabled:
                with contextlib.suppress(OSError):
                    self.path(h).unlink()

    def release_all(self) -> None:
        """Give up every claim of this sweep."""
        for h in list(self.mine):
            self.release(h)
