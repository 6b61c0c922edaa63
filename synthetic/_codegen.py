"""Specialise kernel templates to one objective, keeping numba's on-disk cache effective.

Kernels must call an objective's jitted ``loss``/``grad_u``/``grad_v``. Passing them as
first-class arguments works, but numba's cache key then contains the functions' identities, so
every new process compiles again (seconds per kernel). Instead, a *template* is an ordinary,
importable module whose kernels call the module globals ``loss``, ``grad_u`` and ``grad_v``. For
each objective we write a small module to a cache directory: an import of the objective's three
functions under those names, followed by the template's body. Numba caches that file like any
other, so a second process, a worker of a sweep, or a test subprocess loads machine code instead
of compiling.

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
from pathlib import Path

from partialfed._cache import kernel_dir

BODY_MARKER = "# partialfed:template-body"
_MEMO: dict = {}


def cache_dir() -> Path:
    """Directory of generated kernel modules (``partialfed._cache.kernel_dir``)."""
    return kernel_dir()


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


def _body(template: str) -> str:
    source = inspect.getsource(importlib.import_module(template))
    head, sep, body = source.partition(BODY_MARKER)
    if not sep:
        raise RuntimeError(f"kernel template {template} has no '{BODY_MARKER}' line")
    return body


def specialise(template: str | tuple, loss, grad_u, grad_v, parallel: bool = True):
    """Return the module ``template`` specialised to the three objective functions.

    Parameters
    ----------
    template : str or tuple of str
        Dotted name of a template module (it has a ``# partialfed:template-body`` line; the code after
        it refers to ``loss``, ``grad_u``, ``grad_v`` as globals), or several: their bodies
        are joined in order into one module, so a later template calls an earlier one's kernels.
    loss, grad_u, grad_v : numba dispatchers
        The objective, in the calling convention of ``synthetic._kernels``.
    parallel : bool
        ``False`` compiles every ``parallel=True`` kernel of the template without threads
        (``prange`` becomes ``range``). Same code, same summation order, so the same bits; it
        avoids the cost of parallel regions on small problems, which dominates there (and is
        severe when the cores are shared).
    """
    key = (template, loss, grad_u, grad_v, parallel)
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
    templates = (template,) if isinstance(template, str) else tuple(template)
    body = "\n".join(_body(t) for t in templates)
    if not parallel:
        body = body.replace("parallel=True", "parallel=False")
    # The objective's code ends up inside the compiled kernels (inlined or linked), but numba's
    # cache only watches the generated file: a digest of the objective's source in the file
    # gives an edited objective a new file, hence a fresh compile instead of a stale kernel.
    objective = "".join(inspect.getsource(getattr(fn, "py_func", fn)) for fn in names.values())
    stamp = hashlib.sha256(objective.encode()).hexdigest()[:16]
    source = f"# objective source digest: {stamp}\n" + "\n".join(header) + "\n" + body
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"partialfed_kernels_{templates[-1].replace('.', '_')}_{digest}"
    path = cache_dir() / f"{modname}.py"
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
