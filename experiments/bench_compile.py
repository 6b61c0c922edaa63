"""Cold compilation time of the kernels ``partialfed reproduce --quick`` uses (``bench --compile``).

A fresh interpreter with an empty ``PARTIALFED_CACHE_DIR`` compiles the same set of jitted
functions and signatures that ``reproduce --quick`` compiles, on tiny problems (``workload``),
and numba's event API (``numba.core.event``, kind ``"numba:compile"``) records how long each
compilation took. Compilations nest (a kernel compiles its callees while it is typed), so every
signature is reported with its *inclusive* time and its *self* time (inclusive minus that of
the compilations nested in it); the self times add up to the total. A second fresh interpreter
on the same cache folder then repeats the workload: it must compile nothing (cached
thereafter) and says how long it took to load.

The set was taken from one ``reproduce --quick`` run with a fresh cache and every compile event
recorded (``python -m partialfed.experiments.bench_compile --record OUT.json -- reproduce
--quick ...``): ``workload`` reproduces its signatures (``compare`` lists any difference).

Target (GitHub issue 12): the cold total <= 20 s on an idle machine. The numbers depend on the
machine's load: compare them with ``uptime`` (reported with them), not across machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

TARGET_SECONDS = 20.0
_KIND = "numba:compile"


# -- recording --------------------------------------------------------------------------------


def _name(dispatcher) -> str:
    """``module.qualname`` of a dispatcher's Python function, without the ``partialfed.``."""
    fn = dispatcher.py_func
    module = fn.__module__.removeprefix("partialfed.")
    return f"{module}.{fn.__qualname__}"


@contextmanager
def recording():
    """Record every numba compilation inside the block.

    Yields a list that, when the block ends, holds one dict per compiled signature: ``name``
    (``module.qualname``), ``args`` (numba's types, as text), ``parallel``, ``inclusive`` and
    ``self`` seconds, ``depth`` (0 for a compilation not nested in another).
    """
    from numba.core import event

    raw: list[tuple[bool, float, object]] = []

    class _Listener(event.Listener):
        def on_start(self, ev):
            raw.append((True, time.perf_counter(), ev))

        def on_end(self, ev):
            raw.append((False, time.perf_counter(), ev))

    rows: list[dict] = []
    with event.install_listener(_KIND, _Listener()):
        yield rows
    stack: list[list] = []
    for start, t, ev in raw:
        if start:
            stack.append([ev.data, t, 0.0])
            continue
        data, t0, nested = stack.pop()
        spent = t - t0
        disp = data["dispatcher"]
        rows.append(
            dict(
                name=_name(disp),
                args=", ".join(str(a) for a in data["args"]),
                parallel=bool(disp.targetoptions.get("parallel", False)),
                inclusive=spent,
                self=spent - nested,
                depth=len(stack),
            )
        )
        if stack:
            stack[-1][2] += spent


def by_function(rows: list[dict]) -> list[dict]:
    """Self seconds summed per function (``name``), with its count of signatures, largest first."""
    acc: dict[str, dict] = defaultdict(lambda: dict(self=0.0, signatures=0, parallel=False))
    for r in rows:
        a = acc[r["name"]]
        a["self"] += r["self"]
        a["signatures"] += 1
        a["parallel"] |= r["parallel"]
    out = [dict(name=k, **v) for k, v in acc.items()]
    return sorted(out, key=lambda r: -r["self"])


def compare(recorded: list[dict], measured: list[dict]) -> dict:
    """Signatures (``name``, ``args``) compiled in ``recorded`` (e.g. a ``reproduce --quick``
    run) but not in ``measured`` (``workload``), and the other way round."""
    a = {(r["name"], r["args"]) for r in recorded}
    b = {(r["name"], r["args"]) for r in measured}
    return dict(missing=sorted(a - b), extra=sorted(b - a))


# -- what reproduce --quick compiles, on tiny problems --------------------------------------


def _problems() -> list:
    """One tiny problem per data type that ``reproduce --quick`` runs (``synthetic.make``)."""
    from partialfed import synthetic

    return [
        synthetic.make("quadratic", n=4, d_u=2, d_v=2),
        synthetic.make("quadratic", n=4, d_u=2, d_v=2, chi=0.0, hessian_spread=0.5),
        synthetic.make("separable", n=4, d_u=2, d_v=2),
        synthetic.make("logcosh", n=4, d_u=2, d_v=2),
        synthetic.make("logistic", n=4, d_u=2, d_v=2, samples=3),
        synthetic.make("representation", n=4, samples=3),
        synthetic.make("sawtooth"),
    ]


def _interpolant_data():
    """A tiny ``InterpolantData`` (the PEP worst case's family; built for its types only)."""
    import numpy as np

    from partialfed.synthetic.interpolant import InterpolantData

    n, K, d = 2, 2, 3
    return InterpolantData(
        np.array([1.0, 2.0]), np.zeros((n, K, d)), np.zeros((n, K)), np.full(n, K, dtype=np.int64)
    )


def _compile(dispatcher, arguments) -> None:
    """Compile ``dispatcher`` for the numba types of ``arguments`` (without running it)."""
    dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in arguments))


#: Data types whose Per-FedAvg/Ditto kernel (``run_meta_rounds``) reproduce --quick compiles.
META_DATA = ("LogcoshData", "LogisticData")


def workload() -> None:
    """Compile what ``reproduce --quick`` compiles: ``run_rounds`` for each data type it runs,
    ``run_meta_rounds`` for ``META_DATA``, and the helpers its problems and metrics call
    from Python (through the tiny problems' constructors and one metrics call).

    Not reproduced (about 2 s of 600 under load): ``reproduce`` also calls a logistic problem's
    ``_grad_u``/``_grad_v`` and logcosh's ``_phi`` from Python, and compiles one more variant of
    the objective's dispatch wrappers."""
    from partialfed.simulators import _kernels, _meta_rounds, _warm
    from partialfed.synthetic import _kernels as metric_kernels

    problems = _problems()
    for p in problems:
        _compile(_kernels.run_rounds, _warm._arguments(p))
        if type(p.data).__name__ in META_DATA:
            _compile(_meta_rounds.run_meta_rounds, _warm._meta_arguments(p))
    args = list(_warm._arguments(problems[0]))
    args[3] = _interpolant_data()
    _compile(_kernels.run_rounds, args)
    # Called from Python: the population metrics of a separable problem.
    sep = problems[2]
    u, V = sep.init(0)
    metric_kernels.population_metrics(sep.data, u[None, :], V, False)


# -- the benchmark: a cold and a warm fresh interpreter ---------------------------------------


def _child(out: str) -> None:
    """In a fresh interpreter: import, record and run ``workload``, write the JSON to ``out``."""
    t0 = time.perf_counter()
    import partialfed.simulators  # noqa: F401 - the import, timed apart from the compilation

    imported = time.perf_counter() - t0
    t1 = time.perf_counter()
    with recording() as rows:
        workload()
    wall = time.perf_counter() - t1
    with open(out, "w") as f:
        json.dump(dict(rows=rows, import_s=imported, workload_s=wall), f)


def _interpreter(cache: str) -> dict:
    """Run ``_child`` in a fresh interpreter with ``PARTIALFED_CACHE_DIR=cache``."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PARTIALFED_CACHE_DIR"] = cache
    out = os.path.join(cache, "bench-compile.json")
    cmd = [sys.executable, "-m", "partialfed.experiments.bench_compile", "--child", out]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench --compile: the child failed:\n{done.stderr[-2000:]}")
    with open(out) as f:
        return json.load(f)


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - no load average on this platform
        return []


def compile_benchmark() -> dict:
    """Cold compile of ``workload`` in a fresh interpreter with an empty cache, then a warm one.

    Returns
    -------
    dict
        ``cold`` and ``warm``: ``rows`` (one per compiled signature, see ``recording``),
        ``functions`` (``by_function``), ``total_s`` (sum of self times), ``workload_s`` (wall
        time of the workload: compilation, cache writes and the tiny runs), ``import_s``;
        ``target_s``, ``meets_target`` (cold total <= target) and ``load`` (1, 5, 15 min load
        averages before and after).
    """
    load = [_load()]
    with tempfile.TemporaryDirectory(prefix="partialfed-bench-compile-") as cache:
        cold = _interpreter(cache)
        warm = _interpreter(cache)
    load.append(_load())
    for r in (cold, warm):
        r["functions"] = by_function(r["rows"])
        r["total_s"] = sum(x["self"] for x in r["rows"])
    return dict(
        cold=cold,
        warm=warm,
        target_s=TARGET_SECONDS,
        meets_target=cold["total_s"] <= TARGET_SECONDS,
        load=load,
    )


def compile_report(result: dict) -> str:
    """Text table of ``compile_benchmark``: self seconds per function, signatures, totals."""
    cold, warm = result["cold"], result["warm"]
    lines = [
        "cold compilation of the kernels of 'partialfed reproduce --quick' (fresh interpreter, "
        "empty PARTIALFED_CACHE_DIR)",
        f"{'function':<52} {'sigs':>4} {'self s':>7}",
    ]
    for f in cold["functions"]:
        par = " (parallel)" if f["parallel"] else ""
        lines.append(f"{f['name'] + par:<52} {f['signatures']:>4} {f['self']:>7.2f}")
    verdict = "meets" if result["meets_target"] else "misses"
    lines += [
        f"{'total':<52} {len(cold['rows']):>4} {cold['total_s']:>7.2f}",
        f"target <= {result['target_s']:.0f} s: {verdict} it (workload wall "
        f"{cold['workload_s']:.1f} s incl. cache writes; import {cold['import_s']:.1f} s)",
        f"warm (same cache, new interpreter): {len(warm['rows'])} compilations, workload "
        f"{warm['workload_s']:.1f} s",
        "load average (1, 5, 15 min) before / after: "
        + " / ".join(", ".join(f"{x:.2f}" for x in ld) for ld in result["load"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m partialfed.experiments.bench_compile``: ``--child OUT`` (used by
    ``compile_benchmark``) or ``--record OUT -- VERB ARGS...`` (run a ``partialfed`` command in
    this process and write every compile event to ``OUT``)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--child":
        _child(argv[1])
        return 0
    if len(argv) >= 3 and argv[0] == "--record" and argv[2] == "--":
        from partialfed.experiments.cli import main as cli

        t0 = time.perf_counter()
        with recording() as rows:
            rc = cli(argv[3:])
        with open(argv[1], "w") as f:
            json.dump(dict(rows=rows, wall_s=time.perf_counter() - t0, rc=rc), f, indent=1)
        return rc
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
