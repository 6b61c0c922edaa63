"""Strict checks: a bound without free constants against the measured left-hand side.

:func:`strict_check` picks step sizes that satisfy the bound's conditions, simulates, and decides
``measured <= bound`` with a one-sided 95% confidence bound over seeds; it reports the tightness
``measured / bound``. It first asks whether the run is in the bound's setting (its simulator
algorithm, ``m = n``, ``tau_u = 1``, ...: ``experiments.checks.setting``), then whether the
problem's constants cover the bound's proof on those runs (``experiments.checks.assumptions``):
if not, the verdict is "outside assumptions", with reasons; a run that diverged is "violated".
:func:`lemma_check` evaluates a per-round lemma along the same runs and carries the same label.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from partialfed import theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.checks.assumptions import assumption_reasons
from partialfed.experiments.checks.exact import exact_lhs
from partialfed.experiments.checks.setting import cell_setting_reasons
from partialfed.experiments.measure import (
    MeasuredLHS,
    confidence,
    lhs_per_run,
    per_round,
    simulate,
)
from partialfed.experiments.steps import MaxStep, stepped

__all__ = ["Check", "StrictResult", "VERDICTS", "strict_check", "lemma_check"]

#: The verdicts of a strict check.
VERDICTS = ("holds", "violated", "inconclusive", "outside assumptions")


@dataclass(frozen=True)
class Check:
    """One configuration on which a bound is checked strictly.

    Parameters
    ----------
    bound : str
        A key of ``theory.BOUNDS``.
    cell : Cell
        The problem and run; its seed is replaced by each of ``seeds`` and its steps by those of
        ``steps``. All runs start from the initial point of ``cell.init_seed`` (0 unless set),
        so ``Delta_F0`` is one number and the expectation is over sampling and noise only.
    seeds : tuple of int
        Seeds of sampling and noise.
    steps : step rule
        Default ``MaxStep()``: the largest steps the bound's conditions allow (see
        ``experiments.steps``); ``None`` keeps the cell's steps.
    label : str
    """

    bound: str
    cell: Cell
    seeds: tuple = (0, 1, 2, 3, 4)
    steps: object = MaxStep()
    label: str = ""

    def cells(self, cell: Cell | None = None) -> list[Cell]:
        """One cell per seed (of ``cell``, default the check's), starting from ``init_seed``."""
        cell = self.cell if cell is None else cell
        init = 0 if cell.init_seed is None else cell.init_seed
        return [replace(cell.with_run(seed=s), init_seed=init) for s in self.seeds]


@dataclass(frozen=True)
class StrictResult:
    """Verdict of a strict check.

    ``verdict`` (one of :data:`VERDICTS`) is

    * ``"outside assumptions"`` when the run is not in the bound's setting (its algorithm is not
      one of ``Bound.simulators``, or a condition of ``Bound.setting`` fails, e.g. ``m < n`` for
      a full-participation bound: ``experiments.checks.setting``), or when the problem's
      constants do not cover the bound's proof on these runs (``Bound.uses`` against
      ``Constants.kind`` and ``Constants.regions``, see ``experiments.checks.assumptions``): the
      measurement is not scored;
    * otherwise ``"violated"`` when a run diverged (its step sizes satisfy the bound's
      conditions, which are checked on evaluation, so the bound claims a finite value);
    * otherwise ``"inconclusive"`` when there is one seed and the runs are stochastic (noise or
      device sampling): one draw has no confidence interval;
    * otherwise ``"holds"`` when the one-sided 95% upper confidence bound of the measured
      left-hand side is at most the bound, ``"violated"`` when the lower one exceeds it, and
      ``"inconclusive"`` in between, up to a relative rounding tolerance ``ROUNDING`` (1e-9).

    ``reasons`` says why, one sentence each, for ``"outside assumptions"`` (the constant, its
    kind, the bound's use), for a diverged ``"violated"`` and for a single stochastic seed;
    empty otherwise.
    ``ratio = measured.mean / bound_value`` (tightness). ``cell`` is the check's cell with the
    chosen steps; ``results`` its runs, one per seed. ``exact`` (``strict_check(...,
    exact=True)`` on a quadratic cell) is the exact expected left-hand side and its verdict
    without an interval (``experiments.checks.exact.ExactLHS``); ``None`` otherwise.
    """

    check: Check
    cell: Cell
    measured: MeasuredLHS
    bound_value: float
    scale: float
    provenance: str
    verdict: str
    values: dict = field(repr=False, default_factory=dict)
    results: tuple = field(repr=False, default=())
    reasons: tuple = ()
    exact: object = None

    @property
    def ratio(self) -> float:
        return self.measured.mean / self.bound_value if self.bound_value > 0 else math.inf

    @property
    def frames(self) -> tuple:
        """The runs' per-round frames (``round`` and the metrics), one per seed."""
        return tuple(r.frame for r in self.results)

    def as_dict(self) -> dict:
        """JSON-able summary (``partialfed check --json``, the report's ``results.json``)."""
        return {
            "bound": self.check.bound,
            "provenance": self.provenance,
            "label": self.check.label,
            "family": self.cell.family,
            "problem": dict(self.cell.knobs),
            "run": {k: v for k, v in self.cell.run.as_dict().items() if k != "seed"},
            "seeds": len(self.check.seeds),
            "measured": self.measured.mean,
            "measured_upper95": self.measured.upper,
            "measured_lower95": self.measured.lower,
            "bound_value": self.bound_value,
            "scale": self.scale,
            "ratio": self.ratio,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "exact": None if self.exact is None else self.exact.as_dict(),
        }


#: Relative rounding tolerance of a verdict: a bound attained with equality (a tight instance)
#: must not flip on the last bits of a float sum (the same tolerance as :func:`lemma_check`).
ROUNDING = 1e-9


def _verdict(measured: MeasuredLHS, bound_value: float) -> str:
    slack = ROUNDING * abs(bound_value)
    if measured.upper <= bound_value + slack:
        return "holds"
    if measured.lower > bound_value + slack:
        return "violated"
    return "inconclusive"


def _bound_value(bound: theory.Bound, values: dict, outside: bool) -> float:
    """The bound at a run's values. ``outside``: the run is outside the bound's setting, so the
    verdict is "outside assumptions" whatever the value, and its steps need not satisfy the
    conditions (the cell's own when none does, or a rule such as ``Eta`` that ignores them):
    evaluate without the conditions, NaN where even that is undefined (e.g. a diverged run's
    ``Delta_FT < 0``), rather than raise."""
    if not outside:
        return float(bound.evaluate(values, ignore_extra=True))
    try:
        return float(bound.evaluate(values, ignore_extra=True, check=False))
    except ValueError:
        return float("nan")


def _stochastic(cell: Cell) -> bool:
    """Whether the runs of ``cell`` depend on their seed: gradient noise (the A2 constants,
    minibatch variance included) or device sampling (``m < n``)."""
    p = cell.problem()
    return p.constants.sigma_u > 0 or p.constants.sigma_v > 0 or cell.run.m < p.n


def strict_check(
    check: Check,
    *,
    scale: float = 1.0,
    runner: Callable | None = None,
    bound: theory.Bound | None = None,
    exact: bool = False,
) -> StrictResult:
    """Run ``check`` and decide whether the measured left-hand side stays below the bound.

    ``scale`` multiplies the bound (``0.5`` shows that the check can fail). ``bound`` replaces
    the registered bound ``check.bound`` (e.g. a wrong variant of it, to show that the check
    catches it). ``exact=True`` also evaluates the left-hand side exactly where the cell allows
    it (the quadratic family, FedAlt/FedSim/FedAvg, a ``mean`` aggregate:
    ``experiments.checks.exact``), into ``StrictResult.exact``.
    """
    bound = theory.get_bound(check.bound) if bound is None else bound
    if bound.has_free_constants:
        raise ValueError(
            f"Bound '{bound.name}' has free constants "
            f"{sorted(s.name for s in bound.free_constants)}; use exponent_check or calibrate."
        )
    problem = check.cell.validate()
    if problem.d_v == 0 and "L_v" in bound.required:
        raise ValueError(
            f"Bound '{bound.name}' needs personal variables (L_v > 0): the knob d_v = 0 leaves "
            "none, so L_v = 0; set d_v >= 1, or check a bound without L_v (sgd_nonconvex, "
            "fedsgd_partial)."
        )
    # The setting (algorithm, m = n, tau_u = 1, ...) is decided on the cell, before any step
    # selection: a run outside it is one the bound makes no claim about (theory/settings.py).
    outside = cell_setting_reasons(bound, check.cell)
    try:
        cell = stepped(check.cell, check.steps, bound)
    except ValueError:
        if not outside:
            raise
        cell = check.cell  # no step satisfies the conditions here: measure at the cell's own
    results = simulate(check.cells(cell), runner)
    per_seed, bound_values, values = [], [], {}
    for result in results:
        values = cell.values(result.frame)
        per_seed.append(lhs_per_run(result.frame, bound, values))
        bound_values.append(_bound_value(bound, values, bool(outside)))
    # With a common initial point Delta_F0 is shared; Delta_FT (pathwise bounds) is per run:
    # compare the per-run differences, so the verdict is right in both cases.
    rhs = scale * float(np.mean(bound_values))
    diffs = confidence(np.array(per_seed) - scale * np.array(bound_values))
    measured = confidence(per_seed)
    verdict = _verdict(replace(measured, upper=rhs + diffs.upper, lower=rhs + diffs.lower), rhs)
    frames = [r.frame for r in results]
    reasons = outside + assumption_reasons(bound, cell.problem(), frames, cell.run, check.seeds)
    diverged = [
        f"the run with seed {seed} diverged ({r.message or 'non-finite iterate'}) with steps "
        "that satisfy the bound's conditions"
        for seed, r in zip(check.seeds, results, strict=True)
        if r.status == "diverged"
    ]
    if reasons:
        verdict = "outside assumptions"
    elif diverged:
        verdict, reasons = "violated", diverged
    elif len(results) < 2 and _stochastic(cell):
        verdict = "inconclusive"
        reasons = [
            "one seed of a stochastic run (noise or device sampling): no confidence interval, "
            "so the single measurement decides nothing; use at least 2 seeds"
        ]
    exact_result = None
    if exact:
        start = check.cells(cell)[0]
        outside = reasons if verdict == "outside assumptions" else ()
        exact_result = exact_lhs(start, bound, scale=scale, reasons=outside)
    return StrictResult(
        check,
        cell,
        measured,
        rhs,
        scale,
        bound.provenance,
        verdict,
        values,
        tuple(results),
        tuple(reasons),
        exact_result,
    )


def _used(lemma, r: dict) -> dict:
    return {k: v for k, v in r.items() if k in lemma.required}


def lemma_check(result: StrictResult, lemma, level: float = 0.95) -> dict:
    """Evaluate a per-round lemma along the runs of a strict check.

    A lemma that holds pathwise (exact gradients, full participation) is checked at every round
    of every run, up to a relative rounding tolerance of 1e-9. Otherwise it holds in
    expectation; since it is linear in the measured quantities, it is evaluated on the seed
    means per round, and a round counts as a violation only when the excess is larger than the
    one-sided confidence margin over seeds at level ``1 - (1 - level)/T`` (Bonferroni over the
    ``T`` rounds tested, so that a lemma that holds raises no alarm with probability at least
    ``level``).

    Returns
    -------
    dict
        ``name, kind ("pathwise" or "in expectation"), rounds, violations, worst`` (largest
        excess of ``lhs - rhs`` beyond the margin; negative when it holds everywhere),
        ``verdict`` (``"outside assumptions"`` when the strict check is, with its ``reasons``;
        else ``"violated"`` if any round violates it, ``"holds"`` otherwise).
    """
    from partialfed.theory.derived import MEASURED_AT

    T = result.cell.run.T
    p = result.cell.problem()
    consts = result.cell.values()
    fixed = {k: consts[k] for k in lemma.required if k not in MEASURED_AT}
    rounds = [per_round(f, MEASURED_AT, T) for f in result.frames]
    # The A2 constants (minibatch variance included), not the additive-noise knobs.
    exact = lemma.holds_pathwise(p.constants.sigma_u, p.constants.sigma_v)
    pathwise = exact and result.cell.run.m == p.n
    outside = result.verdict == "outside assumptions"
    try:
        diffs = np.array([lemma.lhs_minus_rhs({**fixed, **_used(lemma, r)}) for r in rounds])
    except ValueError:
        if not outside:
            raise
        # outside the setting with steps that break the lemma's conditions (strict_check
        # evaluates such runs too): the lemma is not evaluated; the label is the strict check's
        return {
            "name": lemma.name,
            "kind": "pathwise" if pathwise else "in expectation",
            "rounds": 0,
            "violations": 0,
            "worst": float("nan"),
            "verdict": "outside assumptions",
            "reasons": list(result.reasons),
        }
    if pathwise:
        scale = np.array([np.abs(r["F_t"]) + np.abs(r["F_next"]) + 1.0 for r in rounds])
        excess = diffs - 1e-9 * scale
    else:
        mean = diffs.mean(axis=0)
        if diffs.shape[0] > 1:
            sd = diffs.std(axis=0, ddof=1)
            corrected = 1.0 - (1.0 - level) / T
            margin = stats.t.ppf(corrected, diffs.shape[0] - 1) * sd / math.sqrt(diffs.shape[0])
        else:
            margin = np.zeros_like(mean)
        excess = mean - margin - 1e-9 * (np.abs(rounds[0]["F_t"]) + 1.0)
    violations = int(np.sum(excess > 0))
    return {
        "name": lemma.name,
        "kind": "pathwise" if pathwise else "in expectation",
        "rounds": int(excess.size),
        "violations": violations,
        "worst": float(np.max(excess)),
        # the lemma's proof uses the bound's assumptions: labelled like the strict check
        "verdict": "outside assumptions" if outside else "violated" if violations else "holds",
        "reasons": list(result.reasons) if outside else [],
    }
