"""Where the time of ``partialfed reproduce --quick`` goes (``partialfed bench --profile-quick``).

A sampling profiler of the main thread: every ``interval`` seconds a second thread reads the
main thread's Python stack (``sys._current_frames``) and charges the time since the previous
sample to one category. The round kernels are compiled with ``nogil=True``, so while one runs
the sampler gets the interpreter at once and finds the main thread stopped on the Python line
that called it; a deterministic profiler (``cProfile``) cannot see those calls at all (a Numba
``Dispatcher`` is not a Python function, so its time lands on the caller).

Categories (the first rule that matches a sample):

``imports``
    any frame of the stack is importing a module (``importlib._bootstrap``);
``kernels``
    the innermost frame is stopped on a call whose callee is a Numba dispatcher
    (``numba.core.dispatcher.Dispatcher``, or a ``DUFunc``): time inside compiled code;
``numba``
    the innermost non-standard-library frame is Numba's or llvmlite's Python code (type
    dispatch, loading the kernel cache, compiling);
``sympy``, ``matplotlib``, ``parquet`` (pandas, pyarrow), ``numpy`` (numpy, scipy), ``pep``
(the PEP solvers: PEPit, cvxpy and its solvers)
    the innermost non-standard-library frame belongs to that library;
``python``
    anything else: partialfed's own Python code, the standard library, other libraries.

Target (GitHub issue 12): with the kernel cache warm, at least half of the warm ``reproduce
--quick`` is spent in kernels. :func:`profile_reproduce` runs that command in this process
with a fresh output folder, so every run is computed (the result store is empty); the kernel
cache (``$PARTIALFED_CACHE_DIR``) and the PEP cache under it are used as they are. Run it in a
fresh interpreter (``python -m partialfed.experiments.bench_profile``, as ``partialfed bench
--profile-quick`` does) so that the imports are counted.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import io
import json
import linecache
import os
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

__all__ = ["CATEGORIES", "TARGET_KERNEL_SHARE", "Sampler", "profile_reproduce", "profile_report"]

#: The categories of a sample, in the order the report prints them.
CATEGORIES = (
    "kernels",
    "numba",
    "sympy",
    "matplotlib",
    "parquet",
    "numpy",
    "pep",
    "imports",
    "python",
)

#: Issue 12: the share of the warm ``reproduce --quick`` spent in kernels.
TARGET_KERNEL_SHARE = 0.5

#: Top-level package -> category (the innermost non-standard-library frame decides).
_LIBRARIES = {
    "numba": "numba",
    "llvmlite": "numba",
    "sympy": "sympy",
    "mpmath": "sympy",
    "matplotlib": "matplotlib",
    "PIL": "matplotlib",
    "pandas": "parquet",
    "pyarrow": "parquet",
    "numpy": "numpy",
    "scipy": "numpy",
    "PEPit": "pep",
    "cvxpy": "pep",
    "scs": "pep",
    "clarabel": "pep",
    "ecos": "pep",
    "osqp": "pep",
}

_STDLIB = os.path.normcase(sysconfig.get_paths()["stdlib"]) + os.sep
_MISSING = object()


def _package_of(filename: str) -> str | None:
    """The top-level package of a file under ``site-packages`` (or a partialfed source folder:
    ``None``); ``"<stdlib>"`` for the standard library and frozen modules."""
    if filename.startswith("<frozen"):
        return "<stdlib>"
    norm = os.path.normcase(filename)
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        k = norm.rfind(marker)
        if k >= 0:
            return filename[k + len(marker) :].split(os.sep, 1)[0]
    if norm.startswith(_STDLIB):
        return "<stdlib>"
    return None


def _static_lookup(obj, name: str):
    """``obj.name`` without running a property or ``__getattr__`` (``_MISSING`` otherwise)."""
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict) and name in d:
        return d[name]
    import inspect

    try:
        value = inspect.getattr_static(obj, name)
    except AttributeError:
        return _MISSING
    if hasattr(type(value), "__get__") and not callable(value):
        return _MISSING  # a property or another data descriptor: not evaluated
    return value


class _Callees:
    """The callee expression of each call instruction (``Name`` or ``a.b.c`` chains), parsed
    once per ``(code, offset)`` from the instruction's source span (``co_positions``)."""

    def __init__(self):
        self._chains: dict[tuple, tuple | None] = {}

    def chain(self, code, lasti: int) -> tuple | None:
        key = (code, lasti)
        if key not in self._chains:
            self._chains[key] = self._parse(code, lasti)
        return self._chains[key]

    @staticmethod
    def _parse(code, lasti: int) -> tuple | None:
        try:
            line, end, col, end_col = list(code.co_positions())[lasti // 2]
        except (IndexError, ValueError):
            return None
        if None in (line, end, col, end_col):
            return None
        lines = [linecache.getline(code.co_filename, k) for k in range(line, end + 1)]
        if not lines or not lines[0]:
            return None
        # Columns are UTF-8 byte offsets.
        raw = [s.encode() for s in lines]
        raw[-1] = raw[-1][:end_col]
        raw[0] = raw[0][col:]
        try:
            node = ast.parse(b"".join(raw).decode(), mode="eval").body
        except (SyntaxError, UnicodeDecodeError, ValueError):
            return None
        if not isinstance(node, ast.Call):
            return None
        names, f = [], node.func
        while isinstance(f, ast.Attribute):
            names.append(f.attr)
            f = f.value
        if not isinstance(f, ast.Name):
            return None
        return (f.id, *reversed(names))

    @staticmethod
    def resolve(chain: tuple, frame):
        """The object ``chain`` names in ``frame`` (``_MISSING`` if it cannot be read safely)."""
        head, *rest = chain
        obj = frame.f_locals.get(head, _MISSING)
        if obj is _MISSING:
            obj = frame.f_globals.get(head, _MISSING)
        if obj is _MISSING:
            obj = getattr(builtins, head, _MISSING)
        for name in rest:
            if obj is _MISSING:
                break
            obj = _static_lookup(obj, name)
        return obj


class Sampler:
    """Sample the stack of the thread that creates it every ``interval`` seconds.

    Use as a context manager; afterwards ``seconds`` maps each of :data:`CATEGORIES` to the
    time charged to it and ``where`` maps ``(category, "file:function <- file:function")``
    to seconds: the innermost frame that decided the category, and the innermost frame of
    partialfed's own code below it.

    Parameters
    ----------
    interval : float
        Seconds between samples, in (0, 1].
    """

    def __init__(self, interval: float = 0.002):
        if not (isinstance(interval, int | float) and 0 < interval <= 1):
            raise ValueError(
                f"The 'interval' parameter of Sampler must be a number in (0, 1]. Got {interval!r}."
            )
        self.interval = float(interval)
        self.seconds = dict.fromkeys(CATEGORIES, 0.0)
        self.where: Counter = Counter()
        self.samples = 0
        self.wall = 0.0
        self._target = threading.get_ident()
        self._stop = threading.Event()
        self._callees = _Callees()
        self._thread = threading.Thread(target=self._loop, name="bench-profile", daemon=True)
        self._kinds: tuple = ()

    def __enter__(self) -> Sampler:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.wall = time.perf_counter() - self._start

    def _loop(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._target)
            now = time.perf_counter()
            if frame is None:
                continue
            category, where = self.classify(frame)
            self.seconds[category] += now - last
            self.where[(category, where)] += now - last
            self.samples += 1
            last = now
            del frame

    def _dispatchers(self) -> tuple:
        """Numba's dispatcher classes, once Numba is imported (never imported from here: the
        main thread may be importing it, and its imports are part of what is measured)."""
        if len(self._kinds) < 2:
            kinds = (
                getattr(sys.modules.get("numba.core.dispatcher"), "Dispatcher", None),
                getattr(sys.modules.get("numba.np.ufunc.dufunc"), "DUFunc", None),
            )
            if kinds[0] is None:
                return ()
            self._kinds = tuple(k for k in kinds if k is not None)
        return self._kinds

    def classify(self, frame) -> tuple[str, str]:
        """``(category, "file:function")`` of one stack, ``frame`` its innermost frame."""
        stack = []
        f = frame
        while f is not None:
            stack.append(f)
            f = f.f_back
        if any(s.f_code.co_filename.startswith("<frozen importlib._bootstrap") for s in stack):
            return "imports", _where(stack[-1])
        leaf = stack[0]
        chain = self._callees.chain(leaf.f_code, leaf.f_lasti)
        if chain is not None and isinstance(_Callees.resolve(chain, leaf), self._dispatchers()):
            return "kernels", f"{_where(leaf)}: {'.'.join(chain)}"
        owner = next((s for s in stack if _package_of(s.f_code.co_filename) is None), None)
        via = "" if owner is None else f" <- {_where(owner)}"
        for s in stack:
            package = _package_of(s.f_code.co_filename)
            if package == "<stdlib>":
                continue
            category = _LIBRARIES.get(package, "python")
            return category, _where(s) + ("" if s is owner else via)
        return "python", _where(leaf) + via


def _where(frame) -> str:
    parts = Path(frame.f_code.co_filename).parts
    return f"{'/'.join(parts[-2:])}:{frame.f_code.co_name}"


def profile_reproduce(out: str | Path | None = None, interval: float = 0.002) -> dict:
    """Run ``partialfed reproduce --quick --out OUT --quiet`` in this process under a
    :class:`Sampler` and return where its time went.

    Parameters
    ----------
    out : path, optional
        An output folder that does not exist yet (every run is then computed); default a fresh
        temporary folder, removed afterwards.
    interval : float
        Seconds between samples.

    Returns
    -------
    dict
        ``wall_s``, ``samples``, ``seconds`` and ``share`` per category, ``top`` (the 25
        places, outside kernels, that took longest: ``[category, where, seconds]``),
        ``phases`` (the report's own wall-clock seconds per phase, from its
        ``results.json``), the ``command``, ``kernel_cache`` and the ``target`` share of
        kernels.
    """
    import shutil

    from partialfed._cache import cache_root

    temporary = out is None
    folder = Path(tempfile.mkdtemp(prefix="partialfed-profile-")) / "report" if temporary else out
    if Path(folder).exists():
        raise ValueError(
            f"The 'out' parameter of profile_reproduce must name a folder that does not exist "
            f"yet (so that every run is computed). Got {str(folder)!r}."
        )
    argv = ["reproduce", "--quick", "--out", str(folder), "--quiet"]
    phases = {}
    try:
        with Sampler(interval) as sampler, contextlib.redirect_stdout(io.StringIO()):
            from partialfed.experiments.cli import main

            code = main(argv)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            phases = json.loads((Path(folder) / "results.json").read_text())["run"]["phases"]
    finally:
        if temporary:
            shutil.rmtree(Path(folder).parent, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"'partialfed {' '.join(argv)}' failed with exit status {code}.")
    total = sum(sampler.seconds.values()) or 1.0
    top = sorted(
        ((c, w, s) for (c, w), s in sampler.where.items() if c != "kernels"), key=lambda t: -t[2]
    )[:25]
    return {
        "command": "partialfed " + " ".join(argv),
        "kernel_cache": str(cache_root()),
        "wall_s": sampler.wall,
        "samples": sampler.samples,
        "interval_s": sampler.interval,
        "seconds": sampler.seconds,
        "share": {k: v / total for k, v in sampler.seconds.items()},
        "top": [[c, w, s] for c, w, s in top],
        "phases": phases,
        "target": TARGET_KERNEL_SHARE,
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def profile_report(result: dict) -> str:
    """The text table of :func:`profile_reproduce`'s result."""
    share, seconds = result["share"], result["seconds"]
    lines = [
        f"{result['command']} ({result['wall_s']:.1f} s wall, {result['samples']} samples "
        f"every {1e3 * result['interval_s']:.0f} ms; kernel cache {result['kernel_cache']})",
        f"{'category':<12} {'seconds':>9} {'share':>7}",
    ]
    lines += [f"{k:<12} {seconds[k]:>9.2f} {share[k]:>7.1%}" for k in CATEGORIES]
    met = "met" if share["kernels"] >= result["target"] else "not met"
    lines.append(f"kernels {share['kernels']:.1%} (target >= {result['target']:.0%}: {met})")
    lines.append("slowest places outside the kernels:")
    lines += [f"  {s:>7.2f} s  {c:<10} {w}" for c, w, s in result["top"][:15]]
    if result.get("phases"):
        lines.append(
            "the report's phases (wall s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in result["phases"].items())
        )
    if result.get("load"):
        lines.append("load average at the end: " + ", ".join(f"{x:.2f}" for x in result["load"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m partialfed.experiments.bench_profile [--json] [--interval S]``."""
    p = argparse.ArgumentParser(prog="python -m partialfed.experiments.bench_profile")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--interval", type=float, default=0.002, help="seconds between samples")
    p.add_argument("--out", default=None, help="keep the report here (a new folder)")
    args = p.parse_args(argv)
    result = profile_reproduce(args.out, interval=args.interval)
    print(json.dumps(result, indent=2) if args.json else profile_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
