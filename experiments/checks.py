"""Verdicts of measurement against theory: strict checks, exponent fits, calibration.

- :func:`strict_check` -- for a bound without free constants: pick step sizes that satisfy its
  conditions, simulate, and decide ``measured <= bound`` with a one-sided 95% confidence bound
  over seeds; report the tightness ``measured / bound``.
- :func:`exponent_check` -- for a bound with free constants: sweep one variable (``T``, ``m``,
  ``sigma``, ``delta``) in a regime where one term dominates, fit the log-log slope with a 95%
  interval, and compare with the exponent theory predicts (agreement within +-0.05).
- :func:`calibrate` -- fit a bound's free constants on training cells, predict held-out cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize, stats

from partialfed import theory
from partialfed.experiments.cell import RUN_FIELDS, Cell
from partialfed.experiments.measure import (
    MeasuredLHS,
    confidence,
    lhs_per_run,
    per_round,
    simulate,
)
from partialfed.experiments.steps import MaxStep, stepped

__all__ = [
    "Check",
    "ExponentStudy",
    "StrictResult",
    "ExponentResult",
    "CalibrationResult",
    "strict_check",
    "fit_slope",
    "exponent_check",
    "calibrate",
    "lemma_check",
]

TOLERANCE = 0.05  # exponent agreement, as the issue states


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

    ``verdict`` is ``"holds"`` when the one-sided 95% upper confidence bound of the measured
    left-hand side is at most the bound, ``"violated"`` when the lower one exceeds it, and
    ``"inconclusive"`` otherwise. ``ratio = measured.mean / bound_value`` (tightness).
    ``cell`` is the check's cell with the chosen steps; ``results`` its runs, one per seed.
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
        }


def _verdict(measured: MeasuredLHS, bound_value: float) -> str:
    if measured.upper <= bound_value:
        return "holds"
    if measured.lower > bound_value:
        return "violated"
    return "inconclusive"


def strict_check(
    check: Check, *, scale: float = 1.0, runner: Callable | None = None
) -> StrictResult:
    """Run ``check`` and decide whether the measured left-hand side stays below the bound.

    ``scale`` multiplies the bound (``0.5`` shows that the check can fail).
    """
    bound = theory.get_bound(check.bound)
    if bound.has_free_constants:
        raise ValueError(
            f"Bound '{bound.name}' has free constants "
            f"{sorted(s.name for s in bound.free_constants)}; use exponent_check or calibrate."
        )
    check.cell.validate()
    cell = stepped(check.cell, check.steps, bound)
    results = simulate(check.cells(cell), runner)
    per_seed, bound_values, values = [], [], {}
    for result in results:
        values = cell.values(result.frame)
        per_seed.append(lhs_per_run(result.frame, bound, values))
        bound_values.append(float(bound.evaluate(values, ignore_extra=True)))
    # With a common initial point Delta_F0 is shared; Delta_FT (pathwise bounds) is per run:
    # compare the per-run differences, so the verdict is right in both cases.
    rhs = scale * float(np.mean(bound_values))
    diffs = confidence(np.array(per_seed) - scale * np.array(bound_values))
    measured = confidence(per_seed)
    verdict = _verdict(replace(measured, upper=rhs + diffs.upper, lower=rhs + diffs.lower), rhs)
    return StrictResult(
        check, cell, measured, rhs, scale, bound.provenance, verdict, values, tuple(results)
    )


# ---------------------------------------------------------------------------------------------
# Exponent fits
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slope:
    """A least-squares log-log slope with a two-sided 95% interval."""

    slope: float
    low: float
    high: float
    intercept: float


def fit_slope(x, y, level: float = 0.95) -> Slope:
    """Fit ``log y = a + b log x`` by least squares; ``b`` with its ``level`` interval.

    Every (x, y) pair is one observation (pass one per seed to let seed noise widen the
    interval).
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if lx.size < 3 or np.ptp(lx) == 0:
        raise ValueError("fit_slope needs at least 3 points with at least 2 distinct x values.")
    res = stats.linregress(lx, ly)
    half = float(stats.t.ppf(0.5 + level / 2, lx.size - 2) * res.stderr)
    return Slope(
        float(res.slope), float(res.slope - half), float(res.slope + half), float(res.intercept)
    )


@dataclass(frozen=True)
class ExponentResult:
    """Measured slope against theory's exponent for one swept variable."""

    label: str
    variable: str
    xs: tuple
    measured: tuple  # mean LHS per x
    fit: Slope
    expected: float
    tolerance: float = TOLERANCE
    bound: str = ""
    cells: tuple = field(default=(), repr=False)  # (symbol values, mean LHS) per x

    @property
    def verdict(self) -> str:
        """``agrees`` (within the tolerance), ``faster`` (the measured quantity falls faster than
        the bound's exponent: the bound is not tight in this variable) or ``slower`` (it falls
        slower: a contradiction of the bound's rate in this regime)."""
        gap = self.fit.slope - self.expected
        if abs(gap) <= self.tolerance:
            return "agrees"
        return "faster" if gap < 0 else "slower"


@dataclass(frozen=True)
class ExponentStudy:
    """One exponent check: sweep ``variable`` over ``xs`` and fit the slope of the bound's LHS.

    Parameters
    ----------
    label : str
    bound : str
        A key of ``theory.BOUNDS`` (with free constants: only its exponents are checked).
    cell : Cell
        The problem and run at which ``variable`` (a run field or a knob) is swept.
    variable : str
    xs : tuple
        Values of ``variable``.
    expected : float
        Theory's exponent.
    steps : step rule, optional
        Sets the steps of each swept cell (e.g. ``Eta`` with the theorem's tuned ``eta(T)``);
        ``None`` keeps the cell's steps.
    seeds : tuple of int
        Every run starts from ``problem.init(0)``.
    why : str
        Which term of the bound leads in this regime, for the report.
    """

    label: str
    bound: str
    cell: Cell
    variable: str
    xs: tuple
    expected: float
    steps: object = None
    seeds: tuple = (0, 1, 2)
    why: str = ""

    def swept(self) -> list[Cell]:
        """The study's cell at each of ``xs``, with its steps."""
        out = []
        for x in self.xs:
            if self.variable in RUN_FIELDS:
                cell = self.cell.with_run(**{self.variable: x})
            else:
                cell = self.cell.with_knobs(**{self.variable: x})
            out.append(stepped(cell, self.steps))
        return out


def exponent_check(study: ExponentStudy, runner: Callable | None = None) -> ExponentResult:
    """Sweep ``study.variable`` and fit the log-log slope of the bound's measured left-hand side.

    Every (x, seed) run is one observation of the fit.
    """
    bound = theory.get_bound(study.bound)
    cells = study.swept()
    seeded = [replace(c.with_run(seed=s), init_seed=0) for c in cells for s in study.seeds]
    results = iter(simulate(seeded, runner))
    xs_all, ys_all, means, kept = [], [], [], []
    for x, cell in zip(study.xs, cells, strict=True):
        vals, d0 = [], []
        for _ in study.seeds:
            frame = next(results).frame
            values = cell.values(frame)
            vals.append(lhs_per_run(frame, bound, values))
            d0.append(values["Delta_F0"])
        xs_all += [x] * len(vals)
        ys_all += vals
        means.append(float(np.mean(vals)))
        kept.append(({**values, "Delta_F0": float(np.mean(d0))}, means[-1]))
    fit = fit_slope(xs_all, ys_all)
    return ExponentResult(
        study.label,
        study.variable,
        tuple(study.xs),
        tuple(means),
        fit,
        study.expected,
        bound=study.bound,
        cells=tuple(kept),
    )


# ---------------------------------------------------------------------------------------------
# Calibration of free constants
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationResult:
    """Fitted free constants and held-out prediction ratios (predicted / measured)."""

    bound: str
    constants: dict
    train_ratios: tuple
    test_ratios: tuple

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.test_ratios))

    @property
    def worst_ratio(self) -> float:
        r = np.asarray(self.test_ratios)
        return float(r[np.argmax(np.abs(np.log(r)))])


def calibrate(
    bound_name: str, train: Sequence[tuple[dict, float]], test: Sequence[tuple[dict, float]]
) -> CalibrationResult:
    """Fit the free constants of a bound to measured values, then predict held-out ones.

    Parameters
    ----------
    train, test : sequences of ``(values, measured)``
        ``values`` are symbol values of a cell (``Cell.values``), ``measured`` its mean LHS.

    The constants are positive, so they are fitted in log scale by least squares on
    ``log(bound) - log(measured)``.
    """
    bound = theory.get_bound(bound_name)
    names = sorted(s.name for s in bound.free_constants)
    if not names:
        raise ValueError(f"Bound '{bound_name}' has no free constants to calibrate.")

    def predict(theta, cells):
        consts = dict(zip(names, np.exp(theta), strict=True))
        return np.array(
            [
                float(bound.evaluate({**v, **consts}, ignore_extra=True, check=False))
                for v, _ in cells
            ]
        )

    y = np.log([m for _, m in train])

    def resid(theta):
        return np.log(predict(theta, train)) - y

    sol = optimize.least_squares(resid, np.zeros(len(names)), bounds=(-30, 30))
    consts = dict(zip(names, np.exp(sol.x).tolist(), strict=True))
    tr = predict(sol.x, train) / np.array([m for _, m in train])
    te = predict(sol.x, test) / np.array([m for _, m in test]) if test else np.array([])
    return CalibrationResult(bound_name, consts, tuple(tr.tolist()), tuple(te.tolist()))


# ---------------------------------------------------------------------------------------------
# Per-round lemma checks (derived bounds)
# ---------------------------------------------------------------------------------------------


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
        excess of ``lhs - rhs`` beyond the margin; negative when it holds everywhere).
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
    diffs = np.array([lemma.lhs_minus_rhs({**fixed, **_used(lemma, r)}) for r in rounds])
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
    return {
        "name": lemma.name,
        "kind": "pathwise" if pathwise else "in expectation",
        "rounds": int(excess.size),
        "violations": int(np.sum(excess > 0)),
        "worst": float(np.max(excess)),
    }
