"""Verdicts of measurement against theory: strict checks, exponent fits, calibration.

- :mod:`.assumptions` -- :func:`assumption_reasons` (whether a problem's constants cover a
  bound's proof, ``Bound.uses``, on the runs; else the strict verdict is "outside assumptions");
- :mod:`.setting` -- :func:`cell_setting_reasons` (whether a run is in its bound's setting:
  ``Bound.simulators``, ``Bound.setting`` such as ``m = n``; else "outside assumptions");
- :mod:`.strict` -- :func:`strict_check` (a bound without free constants: pick step sizes that
  satisfy its conditions, simulate, decide ``measured <= bound`` with a one-sided 95% confidence
  bound over seeds) and :func:`lemma_check` (per-round lemmas along the same runs);
- :mod:`.exponents` -- :func:`exponent_check` (sweep one variable where one term leads, fit
  the log-log slope with a 95% interval, an equivalence test against theory's exponent);
- :mod:`.expectation` -- :func:`expectation` (theory's exponent: the named leading term of the
  bound, with the study's values and step policy substituted);
- :mod:`.split_lbi` -- :func:`lbi_check` (the global-convergence theorem of Split LBI: finite
  length, convergence to a critical point and the rate class of a KL exponent, on the objectives
  of :mod:`.split_lbi_objectives`);
- :mod:`.calibration` -- :func:`calibrate` (fit a bound's free constants on training cells,
  predict held-out groups, warn on constants the data do not determine; a fit, not a bound).
"""

from partialfed.experiments.checks.assumptions import assumption_reasons
from partialfed.experiments.checks.calibration import CalibrationResult, calibrate
from partialfed.experiments.checks.expectation import Expectation, expectation
from partialfed.experiments.checks.exponents import (
    EXPONENT_VERDICTS,
    TOLERANCE,
    ExponentResult,
    ExponentStudy,
    Slope,
    exponent_check,
    fit_slope,
)
from partialfed.experiments.checks.setting import cell_setting_reasons
from partialfed.experiments.checks.split_lbi import LBIResult, LBIStudy, lbi_check
from partialfed.experiments.checks.strict import (
    VERDICTS,
    Check,
    StrictResult,
    lemma_check,
    strict_check,
)

__all__ = [
    "Check",
    "ExponentStudy",
    "StrictResult",
    "ExponentResult",
    "CalibrationResult",
    "Slope",
    "TOLERANCE",
    "EXPONENT_VERDICTS",
    "Expectation",
    "expectation",
    "strict_check",
    "fit_slope",
    "exponent_check",
    "calibrate",
    "lemma_check",
    "assumption_reasons",
    "cell_setting_reasons",
    "VERDICTS",
    "LBIStudy",
    "LBIResult",
    "lbi_check",
]
