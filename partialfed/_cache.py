"""Where partialfed keeps compiled code: a private per-user cache folder, never site-packages.

Numba's default for ``cache=True`` writes ``__pycache__/*.nbi`` and ``*.nbc`` beside each source
file. For an installed package that is site-packages, and what it leaves there survives
``pip uninstall``: the empty ``partialfed/synthetic/__pycache__`` folders then make a namespace
package that shadows a later editable install. So the kernels of this package are cached under

    $NUMBA_CACHE_DIR                 when set (numba's own setting), else
    $PARTIALFED_CACHE_DIR/numba      when set, else
    $XDG_CACHE_HOME/partialfed/numba or ~/.cache/partialfed/numba

and the kernel modules generated for user objectives (``partialfed._codegen``) under
``.../kernels`` beside it (their numba entries go under ``.../numba`` like the others).

A cached kernel's machine code contains the functions it calls from other modules (the round
kernel inlines each family's objective, found by dispatch on the data type, and the random
generator), but numba's cache only checks the source of the kernel's own file. So the stamp
of every cached function here is a digest of the jitted sources of partialfed's kernel
folders (``synthetic/`` and ``simulators/``): editing any of them recompiles instead of loading
a stale kernel.

Processes that compile at the same time (the workers of a local pool, two sweeps) share the
folder. Numba writes an entry as two files, the index (signature -> data file name) and the
data file, with no lock between the two writes, so two processes adding different signatures
at once can pick the same data file name and leave the index naming one signature with the
other's machine code: loading it later crashed a process (SIGSEGV, seen 2026-12-02 after the
two workers of ``reproduce --quick`` compiled the Per-FedAvg kernel together). Here an entry is
saved and loaded under an exclusive ``flock`` on a lock file beside the index (POSIX only;
elsewhere numba's behaviour is unchanged).

The lock did not end the crashes: a fresh process whose first kernel was the Per-FedAvg/Ditto
round kernel (``run_meta_rounds``) loaded from the cache died with SIGSEGV in its first call,
every time with the same cache folder (seen 2026-12-03 with another developer's folder; a
``pytest -n 2`` child whose first run is Ditto died the same way, which fits this cause). That
is a numba bug (numba issue #8578, still open in 0.68), and it needs no concurrency. Machine
code that enters numba's threading layer (a ``parallel=True`` function, or a thread-free one
that calls one, as ``run_meta_rounds`` calls the population metrics) needs the layer launched
before it runs, and a cache entry carries the call that launches it (``reload_init``). Numba
adds that call for a function it compiles and for callees compiled in the same process, but
not for a callee *loaded from the cache*. So a process that loaded ``population_metrics`` (cached
by an earlier FedAlt run in another process) and then compiled ``run_meta_rounds`` saved an entry
without it, and a later process that called that entry before any other parallel code entered
an unlaunched threading layer. Parallel test workers and sweeps sharing one folder make that
order of events likely. Here every entry saved or loaded in partialfed's folders whose object
code names a threading-layer symbol gets numba's own launcher added to its ``reload_init``:
new entries are whole, and entries written before the fix load safely.

The folder is created with mode 0700. One owned by another user, or writable by group or
others, is refused (numba unpickles the index files it finds there): then a fresh private
folder from ``tempfile.mkdtemp`` is used for this process, with a warning, rather than a shared
path.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import warnings
from pathlib import Path

__all__ = ["cache_root", "kernel_dir", "install_numba_locator", "sources_digest"]

_ROOT: Path | None = None
_DIRS: set[str] = set()
_SOURCE_DIGEST: str | None = None
#: Lines that put a file's code or types into a kernel: jitted functions, and the NamedTuple and
#: IntEnum classes kernels take (numba keys a NamedTuple type by its class and field types, not
#: its field names, and an IntEnum member by its class only, so editing one must recompile).
_JITTED = re.compile(rb"^(@(njit|overload)\b|class \w+\((NamedTuple|IntEnum)\))", re.MULTILINE)

#: The subpackages whose jitted code calls each other's (their sources stamp every cache entry).
KERNEL_PACKAGES = ("synthetic", "simulators")


def _default_root() -> Path:
    env = os.environ.get("PARTIALFED_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "partialfed"


def _private(path: Path) -> Path:
    """Create ``path`` (mode 0700) or check an existing one; raise ``OSError`` if unsafe."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise OSError(f"{path} belongs to another user (uid {st.st_uid})")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OSError(f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})")
    probe = path / f".write-test-{os.getpid()}"
    probe.write_text("")
    probe.unlink()
    return path


def cache_root() -> Path:
    """The private cache folder of this user (created on first call)."""
    global _ROOT
    if _ROOT is None:
        wanted = _default_root()
        try:
            _ROOT = _private(wanted)
        except OSError as exc:
            _ROOT = Path(tempfile.mkdtemp(prefix="partialfed-cache-"))
            warnings.warn(
                f"partialfed cannot use the cache folder {wanted} ({exc}); compiled kernels go to "
                f"{_ROOT} for this process only. Set PARTIALFED_CACHE_DIR to a private folder.",
                RuntimeWarning,
                stacklevel=2,
            )
    return _ROOT


def kernel_dir() -> Path:
    """Folder of the generated kernel modules (their entries are cached, stamped and locked as
    those of partialfed's own kernel folders)."""
    folder = _private(cache_root() / "kernels")
    install_numba_locator(folder)
    return folder


def sources_digest() -> str:
    """SHA-256 of the jitted ``*.py`` sources of ``KERNEL_PACKAGES`` (once per process).

    A file counts if a line starts with ``@njit`` or ``@overload``, or defines a NamedTuple or
    IntEnum class (the records and data types kernels take): validation code cannot enter a
    kernel, and editing it should not recompile every kernel.
    """
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for name in KERNEL_PACKAGES:
            # Editable layout: the folders are the repository's top level, beside partialfed/;
            # installed layout: partialfed/<name>/.
            folder = here / name if (here / name).is_dir() else here.parent / name
            for path in sorted(folder.glob("*.py")):
                text = path.read_bytes()
                if _JITTED.search(text):  # only jitted code and kernel types enter a kernel
                    h.update(path.name.encode() + b"\0" + text + b"\0")
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _locator_class():
    from numba.core import caching, config

    base = getattr(caching, "UserWideCacheLocator", None) or caching._UserWideCacheLocator

    class PartialfedCacheLocator(base):
        """Caches the functions of partialfed's own source folders under ``cache_root()``."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            sub = self.get_suitable_cache_subpath(py_file)
            # NUMBA_CACHE_DIR is the user's choice of place; the stamp below applies there too.
            root = Path(config.CACHE_DIR) if config.CACHE_DIR else cache_root() / "numba"
            self._cache_path = str(root / sub)
            _LOCKED.add(self._cache_path)

        def get_source_stamp(self):
            return (super().get_source_stamp(), sources_digest())

        @classmethod
        def from_function(cls, py_func, py_file):
            folder = os.path.dirname(os.path.abspath(py_file))
            if folder not in _DIRS:
                return None
            return super().from_function(py_func, py_file)

    return PartialfedCacheLocator


def install_numba_locator(folder: str | os.PathLike) -> None:
    """Cache the ``cache=True`` functions of the modules in ``folder`` under ``cache_root()``.

    Call it before the module's ``@njit(cache=True)`` decorators run (numba picks a function's
    cache location when it is decorated). ``NUMBA_CACHE_DIR``, when set, is where the entries
    go; this locator comes first even then, so that its source stamp still applies.
    """
    from numba.core import caching

    _DIRS.add(os.path.abspath(os.fspath(folder)))
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    classes = impl._locator_classes
    if not any(getattr(c, "__name__", "") == "PartialfedCacheLocator" for c in classes):
        classes.insert(0, _locator_class())
    _lock_cache_entries(caching)


#: Cache folders of partialfed's locator: their entries are saved and loaded under a lock.
_LOCKED: set[str] = set()


def _entry_lock(index_path: str):
    """An exclusive ``flock`` on ``<index>.lock`` (a no-op context without ``fcntl``)."""
    import contextlib

    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def held():
        with open(index_path + ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    return held()


def _lock_cache_entries(caching) -> None:
    """Make numba's ``IndexDataCacheFile.save``/``load`` hold :func:`_entry_lock` for the
    folders of :data:`_LOCKED`, so that an index entry and its data file change together."""
    cls = caching.IndexDataCacheFile
    if getattr(cls, "_partialfed_locked", False):
        return
    save, load = cls.save, cls.load

    def locked_save(self, key, data):
        if self._cache_path not in _LOCKED:
            return save(self, key, data)
        with _entry_lock(self._index_path):
            return save(self, key, _with_parallel_reload(data))

    def locked_load(self, key):
        if self._cache_path not in _LOCKED:
            return load(self, key)
        with _entry_lock(self._index_path):
            return _with_parallel_reload(load(self, key))

    for wrapper, method in ((locked_save, save), (locked_load, load)):
        wrapper.__name__ = method.__name__
        wrapper.__doc__ = method.__doc__
    cls.save, cls.load = locked_save, locked_load
    cls._partialfed_locked = True


#: Symbols that numba's threading layer gives the JIT when it is launched
#: (``numba.np.ufunc.parallel._launch_threads``); object code naming one needs it launched first.
_BACKEND_SYMBOLS = (
    b"numba_parallel_for",
    b"do_scheduling_signed",
    b"do_scheduling_unsigned",
    b"allocate_sched",
    b"deallocate_sched",
    b"get_num_threads",
    b"set_num_threads",
    b"get_thread_id",
    b"get_sched_size",
    b"set_parallel_chunksize",
    b"get_parallel_chunksize",
)


def _launcher():
    """Numba's own reload hook for cached parallel code (``typed_passes._reload_parfors``)."""
    from numba.core import typed_passes

    return typed_passes._reload_parfors


def _with_parallel_reload(data):
    """``data`` (a cache entry as ``CompileResult._reduce`` makes it, or ``None``) with numba's
    threading-layer launcher in its ``reload_init`` when its object code refers to the threading
    layer and the launcher is missing (numba issue #8578, see the module docstring); any other
    value is returned unchanged."""
    try:
        (_name, kind, payload), reload_init = data[0], data[7]
    except (TypeError, ValueError, IndexError, KeyError):
        return data
    if kind != "object" or len(data) != 9 or not isinstance(reload_init, (list, tuple)):
        return data
    code = payload[0] if isinstance(payload, (tuple, list)) and payload else None
    if not isinstance(code, bytes) or not any(s + b"\0" in code for s in _BACKEND_SYMBOLS):
        return data
    launch = _launcher()
    if any(getattr(fn, "__name__", None) == launch.__name__ for fn in reload_init):
        return data
    return (*data[:7], [*reload_init, launch], *data[8:])
