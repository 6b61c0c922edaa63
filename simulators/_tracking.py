"""``run``'s ``metrics`` option: which evaluation of the population metrics a run uses.

- ``"full"``: every device at every recorded round (``synthetic._kernels.population_metrics``);
- ``"incremental"``: the reduction tree of ``simulators._incremental``, updated along the paths
  of the sampled devices; only where it is exact (``exact_kind``), an error elsewhere;
- ``"verify"``: incremental, and at every recorded round a tree rebuilt from scratch as well;
  ``check_verified`` raises unless every node and every metric agree bit for bit. When
  ``m * eval_every >= n`` the kernel itself rebuilds the tree at each recorded round instead of
  updating it, so there ``verify`` compares two rebuilds and checks nothing (the update path is
  verified only with ``m * eval_every < n``);
- ``"auto"`` (the default): incremental where it is exact, full elsewhere.
"""

from __future__ import annotations

import numpy as np

from partialfed._constraints import Options, validate
from partialfed.simulators._records import Tracked, Tree
from partialfed.synthetic._objective import split_classes

__all__ = [
    "METRICS_MODES",
    "exact_kind",
    "resolve",
    "plan",
    "check_verified",
    "full_tracked",
]

#: The values of ``run``'s ``metrics`` parameter.
METRICS_MODES = ("auto", "full", "incremental", "verify")


def full_tracked() -> Tracked:
    """The state of a run with ``Tree.FULL`` (empty arrays of the types the kernel expects)."""
    empty = np.zeros((0, 3))
    return Tracked(
        int(Tree.FULL),
        False,
        np.zeros(0, dtype=np.int64),
        np.zeros(0),
        empty,
        empty.copy(),
        np.zeros((0, 4)),
    )


def exact_kind(problem, algorithm) -> tuple[Tree, str]:
    """The incremental evaluation that is exact for ``problem`` under ``algorithm`` (an
    ``Algorithm``), or ``Tree.FULL`` and the reason why none is."""
    if algorithm.meta or algorithm.global_v:
        return Tree.FULL, "an algorithm that changes every device's v each round"
    if algorithm.per_device_u:
        return Tree.PER_DEVICE, ""
    if split_classes(problem.data) is None:
        return Tree.FULL, (
            f"problem '{problem.name}', whose objective does not split into a u-part and a "
            "per-device v-part (synthetic._objective.register_split)"
        )
    return Tree.SHARED, ""


def resolve(problem, algorithm, metrics: str) -> Tree:
    """The evaluation ``run(problem, ..., metrics=metrics)`` uses under ``algorithm`` (an
    ``Algorithm``); ``metrics`` validated (module docstring)."""
    validate(metrics, "metrics", "run", Options(str, METRICS_MODES))
    kind, why = exact_kind(problem, algorithm)
    if kind == Tree.FULL and metrics in ("incremental", "verify"):
        raise ValueError(
            f"The 'metrics' parameter of run must be one of 'auto', 'full' for {why}: the "
            f"incremental metrics would not be exact. Got {metrics!r}."
        )
    return Tree.FULL if metrics == "full" else kind


def plan(problem, algorithm, metrics: str, recorded: int) -> Tracked:
    """The ``Tracked`` state for a run of ``recorded`` recorded rounds (``resolve``)."""
    kind = resolve(problem, algorithm, metrics)
    if kind == Tree.FULL:
        return full_tracked()
    reps, weights = np.zeros(0, dtype=np.int64), np.zeros(0)
    if kind == Tree.SHARED:
        classes = np.asarray(split_classes(problem.data))
        _, first, counts = np.unique(classes, return_index=True, return_counts=True)
        reps, weights = first.astype(np.int64), counts.astype(np.float64)
    leaves = 1 << max(int(problem.n) - 1, 0).bit_length()  # N >= n, a power of two
    verify = metrics == "verify"
    check = np.full((recorded if verify else 0, 4), np.nan)
    check[:, 3] = 0.0  # rounds not recorded (after a divergence) stay NaN in both
    return Tracked(
        int(kind),
        verify,
        reps,
        weights,
        np.zeros((2 * leaves, 3)),
        np.zeros((2 * leaves if verify else 0, 3)),
        check,
    )


def check_verified(tracked: Tracked, rec: np.ndarray, rounds: np.ndarray) -> None:
    """For ``metrics="verify"``: raise ``AssertionError`` at the first recorded round where the
    incremental tree or its metrics differ in any bit from the tree rebuilt from scratch."""
    if not tracked.verify:
        return
    for r in range(rounds.size):
        nodes = int(tracked.check[r, 3])
        same = np.array_equal(rec[r, :3], tracked.check[r, :3], equal_nan=True)
        if nodes or not same:
            raise AssertionError(
                f"incremental metrics differ from a full tree rebuild at round {rounds[r]}: "
                f"{nodes} tree entries differ; metrics {rec[r, :3].tolist()} vs "
                f"{tracked.check[r, :3].tolist()}"
            )
