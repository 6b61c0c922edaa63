"""Compile the kernels that both pytest-xdist workers need, once, before they start.

``python tests/_prewarm.py PART PARTS`` compiles share ``PART`` (0-based) of ``_jobs()`` into the
kernel cache of ``PARTIALFED_CACHE_DIR``; ``tests/conftest.py`` starts ``PARTS`` of them at once
(one per core) into one folder, then copies it into each worker's folder. Without it, on a cold
cache each worker compiled the round kernels of every data type its files ran, and the two
workers' caches shared several of them (the quadratic's, the representation's, ...).

The jobs are those of ``partialfed bench --compile`` (``experiments/bench_compile.workload``):
the round kernel ``run_rounds`` per data type, the Per-FedAvg/Ditto kernel ``run_meta_rounds``
for the families the tests run it on, and the population metrics called from Python. Only the
compilation is shared; nothing here runs a test or changes what a test checks.
"""

from __future__ import annotations

import sys


def _jobs() -> list[list]:
    """``(dispatcher, arguments)`` pairs grouped by data type: ``run_rounds`` (about a minute on
    a busy core) and, for ``META_DATA``, ``run_meta_rounds`` (a third of that; it shares the
    type's objective with ``run_rounds``, so the two go to the same process)."""
    from partialfed.experiments import bench_compile
    from partialfed.simulators import _kernels, _meta_rounds, _warm

    groups = []
    problems = bench_compile._problems()
    for p in problems:
        group = [(_kernels.run_rounds, _warm._arguments(p))]
        if type(p.data).__name__ in META_DATA:
            group.append((_meta_rounds.run_meta_rounds, _warm._meta_arguments(p)))
        groups.append(group)
    args = list(_warm._arguments(problems[0]))
    args[3] = bench_compile._interpolant_data()
    groups.append([(_kernels.run_rounds, tuple(args))])
    return groups


#: Data types whose ``run_meta_rounds`` (Per-FedAvg, Ditto) the tests compile: those seen in the
#: workers' caches after a cold run of the suite (2026-12-04).
META_DATA = (
    "QuadraticData",
    "SeparableData",
    "LogcoshData",
    "LogisticData",
    "RepresentationData",
    "SawtoothData",
)


def _share(groups: list[list], parts: int) -> list[list]:
    """Split ``groups`` over ``parts`` processes, the largest first to the least loaded."""
    loads = [[0, []] for _ in range(parts)]
    for group in sorted(groups, key=len, reverse=True):
        least = min(loads, key=lambda x: x[0])
        least[0] += 2 + len(group)  # run_rounds (the first job) weighs about 3 meta kernels
        least[1].extend(group)
    return [jobs for _, jobs in loads]


def main(part: int, parts: int) -> None:
    from partialfed import synthetic
    from partialfed.experiments import bench_compile
    from partialfed.synthetic import _kernels as metric_kernels

    for dispatcher, arguments in _share(_jobs(), parts)[part]:
        bench_compile._compile(dispatcher, arguments)
    if part == parts - 1:  # called from Python by the metrics (the separable problem's types)
        sep = synthetic.make("separable", n=4, d_u=2, d_v=2)
        u, V = sep.init(0)
        metric_kernels.population_metrics(sep.data, u[None, :], V, False)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
