"""The exact left-hand side of a bound on a quadratic cell (no seeds, no interval).

On the quadratic family ``simulators.exact.expected`` gives every recorded metric's expectation
at every round (docs/derivations/exact_quadratic_dynamics.md). A bound's left-hand side is
linear in those metrics (``experiments.measure.lhs_per_run``: fixed weights, a mean over
rounds), so evaluated on the expected frame it *is* the expectation the bound is about, and
the verdict is ``holds`` / ``violated`` with no confidence interval (up to the rounding
tolerance ``strict.ROUNDING``). The same holds for a ``last`` aggregate; a ``min`` over rounds is
not linear in the run (the minimum of the expected series is not the expected minimum), so
:func:`exact_lhs` refuses it (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from partialfed.experiments.cell import Cell
from partialfed.experiments.checks.setting import cell_setting_reasons
from partialfed.experiments.measure import lhs_per_run

__all__ = ["ExactLHS", "MAX_WORK", "exact_frame", "exact_lhs", "exact_reason"]

#: Relative rounding tolerance of an exact verdict (as ``strict.ROUNDING``).
ROUNDING = 1e-9


@dataclass(frozen=True)
class ExactLHS:
    """The exact expected left-hand side of a strict check and its verdict.

    Attributes
    ----------
    value : float
        ``E[lhs]`` from the exact expected dynamics.
    bound_value : float
        The bound (times the check's scale) at the exact expected values (``Delta_F0`` is the
        deterministic start's; ``Delta_FT`` the expected final gap).
    verdict : str
        ``"holds"``, ``"violated"`` (``value > bound`` beyond rounding, or the expected
        dynamics diverge) or ``"outside assumptions"`` (the reasons of the Monte Carlo check).
    """

    value: float
    bound_value: float
    verdict: str

    @property
    def ratio(self) -> float:
        return self.value / self.bound_value if self.bound_value > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"value": self.value, "bound_value": self.bound_value, "verdict": self.verdict}


#: Largest ``T D^2 (d_u + d_v + 1)`` (rounds times the cost of one round of the recursion,
#: ``D = d_u + n d_v + 1`` state coordinates, docs/architecture.md) for which a strict check
#: computes the exact left-hand side. Measured 2026-12-02 on one core: ``D = 411, d_u + d_v = 401,
#: T = 25`` (1.7e9) in 1.2 s; ``D = 4004, d_u + d_v = 403, T = 25`` (1.6e11) in 97 s, the
#: noise-on-v instances of the strict plan, whose exact value is therefore left out. At the limit
#: about 10 s.
MAX_WORK = 1.5e10


def exact_reason(cell: Cell, bound=None) -> str:
    """Why the exact left-hand side is not available for ``cell`` (and ``bound``); ``""``."""
    from partialfed.simulators.exact import supports

    if cell.family != "quadratic":
        return f"the family {cell.family!r} has no exact dynamics (quadratic only)"
    problem = cell.problem()
    why = supports(problem, cell.run.algorithm)
    if why:
        return why
    D = problem.d_u + problem.n * problem.d_v + 1
    work = float(cell.run.T) * D**2 * (problem.d_u + problem.d_v + 1)
    if work > MAX_WORK:
        return (
            f"the exact recursion costs T D^2 (d_u + d_v + 1) = {work:.2g} operations (D = {D} "
            f"state coordinates, T = {cell.run.T}), more than MAX_WORK = {MAX_WORK:.2g} "
            "(simulators.exact.expected computes it without this limit)"
        )
    if bound is not None and bound.lhs.aggregate not in ("mean", "last"):
        return f"the bound's left-hand side aggregates by {bound.lhs.aggregate!r}, not linear"
    return ""


#: Exact histories kept per process (:func:`exact_frame`): a mutant of a strict check and the
#: check itself often share a cell, and the recursion costs ``T`` rounds of ``O(D^2 d)``.
EXACT_CACHE = 256


def exact_frame(cell: Cell):
    """The expected per-round frame of ``cell`` (columns of ``execute(cell).frame``), from the
    initial point of ``cell.init_seed`` (or of the run's seed, as ``execute``).

    Computed once per process for each cell (cells are frozen and compare by value, and the
    key adds each knob's type, as ``cell.problem_of`` does: ``2.0 == 2``; the recursion is
    deterministic). Each call returns its own ``ExactHistory`` (a shallow copy) whose arrays,
    shared between calls, are read-only."""
    typed = tuple((k, type(v), v) for k, v in cell.knobs)
    return replace(_exact_history(cell, typed))


@lru_cache(maxsize=EXACT_CACHE)
def _exact_history(cell: Cell, typed: tuple):
    import numpy as np

    from partialfed.simulators.exact import expected

    problem = cell.problem()
    u0 = V0 = None
    if cell.init_seed is not None:
        u0, V0 = problem.init(cell.init_seed)
    history = expected(problem, cell.run, u0=u0, V0=V0)
    for value in vars(history).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return history


def exact_lhs(cell: Cell, bound, *, scale: float = 1.0, reasons=()) -> ExactLHS | None:
    """The exact expected left-hand side of ``bound`` on ``cell`` and its verdict, or None when
    :func:`exact_reason` says it is not available.

    Parameters
    ----------
    cell : Cell
        The stepped cell of a strict check (its ``init_seed`` set).
    bound : theory.Bound
    scale : float
        Multiplies the bound, as in ``strict_check``.
    reasons : sequence of str
        The check's "outside assumptions" reasons: when non-empty the verdict is that. It is
        also that when ``cell`` is outside the bound's setting (``Bound.simulators``,
        ``Bound.setting``: ``experiments.checks.setting``), whatever ``reasons`` says.
    """
    if exact_reason(cell, bound):
        return None
    history = exact_frame(cell)
    frame = history.to_frame()
    values = cell.values(frame)
    value = lhs_per_run(frame, bound, values)
    outside = bool(reasons) or bool(cell_setting_reasons(bound, cell))
    if outside:  # no verdict to give: the steps need not satisfy the conditions (strict.py)
        try:
            rhs = scale * float(bound.evaluate(values, ignore_extra=True, check=False))
        except ValueError:
            rhs = float("nan")
    else:
        rhs = scale * float(bound.evaluate(values, ignore_extra=True))
    if outside:
        verdict = "outside assumptions"
    elif history.status != "ok" or not value <= rhs + ROUNDING * abs(rhs):
        verdict = "violated"
    else:
        verdict = "holds"
    return ExactLHS(float(value), rhs, verdict)
