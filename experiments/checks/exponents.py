"""Exponent checks: the log-log slope of a bound's measured left-hand side in one variable.

:func:`exponent_check` sweeps one variable (``T``, ``m``, a noise level ...) in a regime where one
term of the bound leads, fits the slope with a 95% interval (:func:`fit_slope`) and compares the
interval with the exponent of that term, read from the bound (``experiments.checks.expectation``).
The verdict is an equivalence test on the interval (:attr:`ExponentResult.verdict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from partialfed import theory
from partialfed.experiments.cell import RUN_FIELDS, Cell
from partialfed.experiments.checks.setting import cell_setting_reasons
from partialfed.experiments.measure import lhs_per_run, simulate
from partialfed.experiments.steps import stepped

__all__ = [
    "TOLERANCE",
    "EXPONENT_VERDICTS",
    "Slope",
    "fit_slope",
    "ExponentResult",
    "ExponentStudy",
    "exponent_check",
]

TOLERANCE = 0.05
"""Equivalence margin: an exponent within +-0.05 of theory's counts as the same."""

EXPONENT_VERDICTS = ("agrees", "contradicts", "inconclusive", "outside assumptions")
"""Exponent verdicts (:attr:`ExponentResult.verdict`)."""


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
    return linear_fit(lx, ly, level)


def linear_fit(x, y, level: float = 0.95) -> Slope:
    """Least squares ``y = a + b x``; ``b`` with its two-sided Student-t ``level`` interval
    (the regression behind :func:`fit_slope` and the semi-log fits of other checks)."""
    res = stats.linregress(x, y)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 2) * res.stderr)
    return Slope(
        float(res.slope), float(res.slope - half), float(res.slope + half), float(res.intercept)
    )


@dataclass(frozen=True)
class ExponentResult:
    """Measured slope against theory's exponent for one swept variable.

    ``expected`` is the exponent of the study's leading term (``leading``), read from the
    bound by :func:`experiments.checks.expectation.expectation`.
    """

    label: str
    variable: str
    xs: tuple
    measured: tuple  # mean LHS per x
    fit: Slope
    expected: float
    tolerance: float = TOLERANCE
    bound: str = ""
    cells: tuple = field(default=(), repr=False)  # (symbol values, mean LHS) per x
    leading: str = ""
    expectation: object = field(default=None, repr=False, compare=False)  # Expectation
    reasons: tuple = ()  # why a swept run is outside the bound's setting (theory/settings.py)

    @property
    def verdict(self) -> str:
        """An equivalence test on the 95% interval of the slope.

        ``agrees`` when the whole interval lies within ``expected +- tolerance``;
        ``contradicts`` when the interval excludes ``expected``; ``inconclusive`` otherwise
        (the interval contains ``expected`` but is too wide to tell it from a neighbour at the
        tolerance). :attr:`direction` says which way the measured slope leans. ``outside
        assumptions`` when a swept run is outside the bound's setting (:attr:`reasons`): the
        bound says nothing about the slope there.
        """
        if self.reasons:
            return "outside assumptions"
        lo, hi = self.fit.low, self.fit.high
        if self.expected - self.tolerance <= lo and hi <= self.expected + self.tolerance:
            return "agrees"
        if self.expected < lo or hi < self.expected:
            return "contradicts"
        return "inconclusive"

    @property
    def direction(self) -> str:
        """``faster`` when the fitted slope is below theory's (the measured quantity falls
        faster than the bound: not a contradiction of an upper bound, the bound is not tight in
        this variable), ``slower`` when above (it falls slower: it would cross the bound), or
        ``equal``. Extra information; the verdict is :attr:`verdict`."""
        gap = self.fit.slope - self.expected
        return "equal" if gap == 0 else "faster" if gap < 0 else "slower"

    @property
    def excludes(self) -> bool:
        """Whether the 95% interval excludes theory's exponent (the :attr:`direction` is then
        significant; with ``verdict == "agrees"`` the difference is real but within the
        tolerance)."""
        return self.expected < self.fit.low or self.fit.high < self.expected


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
    leading : str
        The term of the bound that leads in this regime: a label of
        :func:`theory.leading.step_form` (``"descent"``, ``"noise"`` or ``"drift"`` for the
        main-text FedAlt/FedSim theorems, a free constant's name otherwise) or a symbol that
        marks the term (e.g. ``"sigma"``: the term carrying it). Theory's exponent is that
        term's, computed from the bound with the study's values and step policy
        (:meth:`expectation`).
    steps : step rule, optional
        Sets the steps of each swept cell (e.g. ``Eta`` with the theorem's tuned ``eta(T)``);
        ``None`` keeps the cell's steps.
    seeds : tuple of int
        Every run starts from ``problem.init(0)``.
    why : str
        Why that term leads in this regime, for the report.
    absent : tuple of (label, reason)
        Terms of the bound the study takes as zero, each with its reason (e.g. no client drift
        with one local step, which the template cannot express); they do not compete for the
        lead in :attr:`Expectation.leads`.
    """

    label: str
    bound: str
    cell: Cell
    variable: str
    xs: tuple
    leading: str
    steps: object = None
    seeds: tuple = (0, 1, 2)
    why: str = ""
    absent: tuple = ()

    def expectation(self):
        """Theory's exponent and the terms behind it (:class:`Expectation`)."""
        from partialfed.experiments.checks.expectation import expectation

        return expectation(self)

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

    Every (x, seed) run is one observation of the fit; theory's exponent is
    ``study.expectation().exponent``. A swept run outside the bound's setting (its simulator
    algorithm, ``m = n``, ... : ``experiments.checks.setting``) makes the verdict "outside
    assumptions", with the reasons (each once).
    """
    bound = theory.get_bound(study.bound)
    expectation = study.expectation()
    cells = study.swept()
    reasons = tuple(dict.fromkeys(r for c in cells for r in cell_setting_reasons(bound, c)))
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
        expectation.exponent,
        bound=study.bound,
        cells=tuple(kept),
        leading=study.leading,
        expectation=expectation,
        reasons=reasons,
    )
