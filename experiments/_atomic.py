"""Atomic file writes: a file is either its old content or all of its new one, never a part.

``write_bytes`` writes a temporary file in the target folder, ``fsync``s it and renames it over
the target (``os.replace``); a killed writer leaves at most a hidden ``.<name>.<pid>-*.tmp``
file. ``remove_stale_temporaries`` deletes those whose writer (same machine) is gone.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from pathlib import Path

__all__ = [
    "write_bytes",
    "write_text",
    "sync_directory",
    "remove_temporaries",
    "remove_stale_temporaries",
]

#: ``.<name>.<host>.<pid>-<random>.tmp``: the writer's host and process id, so that a later
#: process can tell a dead writer's leftover from a file being written right now.
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]*)\.(?P<pid>\d+)-[^.]*\.tmp$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64]


def write_bytes(directory: str | Path, name: str, payload: bytes, sync_dir: bool = True) -> Path:
    """Write ``payload`` to ``directory/name`` atomically (temp file, fsync, ``os.replace``).

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    name : str
        File name inside ``directory`` (no folder part).
    payload : bytes
    sync_dir : bool
        Also ``fsync`` the folder, so the rename itself survives a power cut. A sweep passes
        ``False`` and calls ``sync_directory`` once at the end (a rename lost to a power cut only
        means that run is computed again).

    Returns
    -------
    Path
        The final path. Either it holds all of ``payload`` or it is unchanged.
    """
    if not name or os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        raise ValueError(f"The 'name' parameter of write_bytes must be a file name. Got {name!r}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    prefix = f".{name}.{_host()}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        sync_directory(directory)
    return final


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see ``write_bytes``."""
    path = Path(path)
    return write_bytes(path.parent, path.name, text.encode())


def sync_directory(directory: str | Path) -> None:
    """``fsync`` a folder, making the renames done in it durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_temporaries(directory: str | Path, hashes) -> int:
    """Delete the temporary files ``write_bytes`` left for these run hashes; return how many."""
    removed = 0
    for h in hashes:
        for tmp in Path(directory).glob(f".{h}.parquet.*.tmp"):
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(directory: str | Path) -> int:
    """Delete the temporary files of writers on this machine that are no longer running.

    A temporary file of a live writer, of another machine (a shared folder) or of an older
    naming scheme is kept. Returns how many were removed.
    """
    removed, host = 0, _host()
    for tmp in Path(directory).glob(".*.tmp"):
        match = _TMP.match(tmp.name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed
