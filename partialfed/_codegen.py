"""Kernels generated for objectives that the kernels cannot dispatch on (user objectives).

The built-in families give their data a NamedTuple type of their own and the kernels dispatch
on it (``synthetic._objective``). A user's objective (``synthetic.custom``) comes as three
jitted functions and a plain tuple of arrays: nothing to dispatch on. Passing the functions as
first-class arguments works, but numba's cache key then contains the functions' identities, so
every new process compiles again (seconds per kernel). Instead, for each such objective we
write a small module to the cache folder: an import of the objective's three functions under
the names ``loss``, ``grad_u`` and ``grad_v``, followed by the *bodies* of the kernel modules
(the code after their ``# partialfed:template-body`` line, which refers to those three names).
Numba caches that file like any other, so a second process, a worker of a sweep, or a test
subprocess loads machine code instead of compiling.

This module sits beside ``_cache.py`` because both layers use it: ``synthetic`` for a user
objective's population metrics and constant estimates, ``simulators`` for its round kernel.
Functions that are not importable by name (defined in ``__main__`` or a notebook) are injected
into the generated module instead; those kernels still work and may compile once per process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType

from partialfed._cache import kernel_dir, sources_digest

__all__ = ["BODY_MARKER", "specialise"]

BODY_MARKER = "# partialfed:template-body"
_MEMO: dict = {}


def _importable(fn) -> tuple[str, str] | None:
    py = getattr(fn, "py_func", fn)
    mod, qual = py.__module__, py.__qualname__
    if mod in (None, "__main__") or "<locals>" in qual or "." in qual:
        return None
    try:
        found = getattr(importlib.import_module(mod), qual)
    except (ImportError, AttributeError):
        return None
    return (mod, qual) if found is fn else None


def _source_of(fn) -> str:
    """The text of the file that defines ``fn`` (its own lines when there is no file)."""
    try:
        path = inspect.getsourcefile(fn)
        if path:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
    except (OSError, TypeError):
        pass
    return inspect.getsource(fn)


def _body(template: ModuleType) -> str:
    """The code after the line that is exactly ``BODY_MARKER`` (a mention in a docstring is
    not that line)."""
    lines = inspect.getsource(template).splitlines(keepends=True)
    for k, line in enumerate(lines):
        if line.rstrip("\r\n") == BODY_MARKER:
            return "".join(lines[k + 1 :])
    raise RuntimeError(f"kernel module {template.__name__} has no '{BODY_MARKER}' line")


def specialise(templates: tuple[ModuleType, ...], loss, grad_u, grad_v) -> ModuleType:
    """Return the kernel modules ``templates`` generated for one objective (memoised).

    Parameters
    ----------
    templates : tuple of modules
        Kernel modules with a ``# partialfed:template-body`` line; the code after it calls
        ``loss``, ``grad_u``, ``grad_v`` as globals. Their bodies are joined in order into one
        module, so a later one calls an earlier one's kernels (the round kernel calls
        ``population_metrics``).
    loss, grad_u, grad_v : numba dispatchers
        The objective, in the calling convention of ``synthetic._objective``.
    """
    key = (templates, loss, grad_u, grad_v)
    if key in _MEMO:
        return _MEMO[key]
    names = {"loss": loss, "grad_u": grad_u, "grad_v": grad_v}
    header, inject = [], {}
    for alias, fn in names.items():
        where = _importable(fn)
        if where is None:
            inject[alias] = fn
        else:
            header.append(f"from {where[0]} import {where[1]} as {alias}  # noqa: F401")
    body = "\n".join(_body(t) for t in templates)
    # The objective's code ends up inside the compiled kernels (inlined or linked), but numba's
    # cache only watches the generated file: a digest of the objective's source in the file
    # gives an edited objective a new file, hence a fresh compile instead of a stale kernel.
    # The whole file of each function counts, not only its own lines: helpers it calls and
    # module constants numba freezes in are compiled into the kernel too.
    objective = "".join(_source_of(getattr(fn, "py_func", fn)) for fn in names.values())
    stamp = hashlib.sha256(objective.encode()).hexdigest()[:16]
    # Likewise the code the bodies import (the random generator, the records): the digest of
    # partialfed's jitted sources gives a changed partialfed a new file too.
    source = (
        f"# objective source digest: {stamp}\n"
        f"# partialfed kernel sources digest: {sources_digest()[:16]}\n"
        + "\n".join(header)
        + "\n"
        + body
    )
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"partialfed_kernels_{templates[-1].__name__.replace('.', '_')}_{digest}"
    path = kernel_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(inject)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    _MEMO[key] = module
    return module
