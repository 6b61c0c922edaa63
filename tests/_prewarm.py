"""Compile the kernels that both pytest-xdist workers need, once, before they start.

``python tests/_prewarm.py PART PARTS`` compiles share ``PART`` (0-based) of ``JOBS`` into the
kernel cache of ``PARTIALFED_CACHE_DIR``; ``tests/conftest.py`` starts ``PARTS`` of them at once
(one per core) into one folder, then copies it into each worker's folder. Without it each worker
compiled the same round kernels on a cold cache: measured on the suite of 2026-12-04, the two
workers' caches had most of their signatures in common (see ``tests/conftest.py``).

The jobs are those of ``partialfed bench --compile`` (``experiments/bench_compile.workload``):
the round kernel ``run_rounds`` per data type, the Per-FedAvg/Ditto kernel ``run_meta_rounds``
for the families the tests run it on, and the population metrics called from Python. Only the
compilation is shared; nothing here runs a test or changes what a test checks.
"""

from __future__ import annotations

import sys


def _jobs() -> list:
    """``(dispatcher, arguments)`` pairs, the costliest first (one round kernel each)."""
    from partialfed.experiments import bench_compile
    from partialfed.simulators import _kernels, _meta_rounds, _warm

    problems = bench_compile._problems()
    jobs = [(_kernels.run_rounds, _warm._arguments(p)) for p in problems]
    args = list(_warm._arguments(problems[0]))
    args[3] = bench_compile._interpolant_data()
    jobs.append((_kernels.run_rounds, tuple(args)))
    for p in problems:
        if type(p.data).__name__ in META_DATA:
            jobs.append((_meta_rounds.run_meta_rounds, _warm._meta_arguments(p)))
    return jobs


#: Data types whose ``run_meta_rounds`` the tests compile on both workers.
META_DATA = ("QuadraticData", "LogcoshData", "LogisticData")


def main(part: int, parts: int) -> None:
    from partialfed.experiments import bench_compile

    for i, (dispatcher, arguments) in enumerate(_jobs()):
        if i % parts == part:
            bench_compile._compile(dispatcher, arguments)
    if part == parts - 1:
        from partialfed import synthetic
        from partialfed.synthetic import _kernels as metric_kernels

        sep = synthetic.make("separable", n=4, d_u=2, d_v=2)
        u, V = sep.init(0)
        metric_kernels.population_metrics(sep.data, u[None, :], V, False)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
