"""Where partialfed keeps compiled code: a private per-user cache folder, never site-packages.

Numba's default for ``cache=True`` writes ``__pycache__/*.nbi`` and ``*.nbc`` beside each source
file. For an installed package that is site-packages, and what it leaves there survives
``pip uninstall``: the empty ``partialfed/synthetic/__pycache__`` folders then make a namespace
package that shadows a later editable install. So the kernels of this package are cached under

    $NUMBA_CACHE_DIR                 when set (numba's own setting, respected as is), else
    $PARTIALFED_CACHE_DIR/numba      when set, else
    $XDG_CACHE_HOME/partialfed/numba or ~/.cache/partialfed/numba

and the generated kernel modules (``simulators._codegen``) under ``.../kernels`` beside it.

The folder is created with mode 0700. One owned by another user, or writable by group or
others, is refused (numba unpickles the index files it finds there): then a fresh private
folder from ``tempfile.mkdtemp`` is used for this process, with a warning, rather than a shared
path.
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from pathlib import Path

__all__ = ["cache_root", "kernel_dir", "install_numba_locator"]

_ROOT: Path | None = None
_DIRS: set[str] = set()


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
    """Folder of the generated kernel modules."""
    return _private(cache_root() / "kernels")


def _locator_class():
    from numba.core import caching

    base = getattr(caching, "UserWideCacheLocator", None) or caching._UserWideCacheLocator

    class PartialfedCacheLocator(base):
        """Caches the functions of partialfed's own source folders under ``cache_root()``."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            sub = self.get_suitable_cache_subpath(py_file)
            self._cache_path = str(cache_root() / "numba" / sub)

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
    cache location when it is decorated). ``NUMBA_CACHE_DIR`` still wins when set, because
    numba's own locator for it stays first.
    """
    from numba.core import caching

    _DIRS.add(os.path.abspath(os.fspath(folder)))
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    classes = impl._locator_classes
    if not any(getattr(c, "__name__", "") == "PartialfedCacheLocator" for c in classes):
        classes.insert(1, _locator_class())
