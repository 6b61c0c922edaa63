"""Calibration: fit a bound's free constants on training cells, predict held-out cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from partialfed import theory

__all__ = ["CalibrationResult", "calibrate"]


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
