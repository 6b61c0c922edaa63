"""Calibration: fit a bound's free constants on training cells, predict held-out cells.

A bound with calibrated constants is a *fit* of its shape to measurements, not a bound: nothing
guarantees the measured quantity stays below it. What it can show is whether the shape predicts
cells it was not fitted on -- other horizons ``T``, other instances -- and which of its
constants the data determine at all (:attr:`CalibrationResult.warnings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from partialfed import theory

__all__ = ["LOG_BOUND", "CalibrationResult", "calibrate"]

LOG_BOUND = 30.0
"""Fitted constants are searched in ``[e^-30, e^30]``."""

_SINGULAR = 1e-6  # singular value of the Jacobian, relative to the largest: not identifiable
_FLAT = 0.01  # RMS change of the log-residuals over a factor 10 in a constant: flat profile


@dataclass(frozen=True)
class CalibrationResult:
    """Fitted free constants and prediction ratios (fitted curve / measured) per cell.

    Attributes
    ----------
    bound : str
    constants : dict
        Fitted (and ``fixed``) constants.
    train_ratios : tuple
    test_ratios : tuple
        Every held-out cell, group after group.
    groups : dict
        Held-out group name -> its ratios (e.g. ``"T = 1600..3200"``, ``"other instance"``).
    warnings : tuple of str
        One line per constant (or combination) the training cells do not determine: a
        (near-)zero singular value of the Jacobian of the log-residuals, a flat profile (a
        factor 10 in the constant, the others refitted, changes the fit by less than 1% RMS)
        or a constant at the search bound ``e^+-30``.
    non_identifiable : tuple of str
        The constants named in ``warnings``.
    fixed : dict
        Constants held at given values (not fitted).
    """

    bound: str
    constants: dict
    train_ratios: tuple
    test_ratios: tuple
    groups: dict = field(default_factory=dict)
    warnings: tuple = ()
    non_identifiable: tuple = ()
    fixed: dict = field(default_factory=dict)

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.test_ratios))

    @property
    def worst_ratio(self) -> float:
        r = np.asarray(self.test_ratios)
        return float(r[np.argmax(np.abs(np.log(r)))])

    def group_summary(self) -> dict:
        """Group -> (cells, median ratio, worst ratio), the worst being farthest from 1."""
        out = {}
        for name, r in self.groups.items():
            r = np.asarray(r, float)
            worst = float(r[np.argmax(np.abs(np.log(r)))]) if r.size else float("nan")
            out[name] = (int(r.size), float(np.median(r)) if r.size else float("nan"), worst)
        return out


def _columns(bound, cells) -> dict:
    """Symbol name -> array over ``cells`` of the values the bound needs."""
    need = set(bound.required) - {s.name for s in bound.free_constants}
    return {k: np.array([float(v[k]) for v, _ in cells]) for k in sorted(need)}


def calibrate(
    bound_name: str,
    train: Sequence[tuple[dict, float]],
    test: Sequence[tuple[dict, float]] | Mapping[str, Sequence[tuple[dict, float]]] = (),
    *,
    fixed: Mapping[str, float] | None = None,
) -> CalibrationResult:
    """Fit the free constants of a bound to measured values, then predict held-out ones.

    Parameters
    ----------
    bound_name : str
        A key of ``theory.BOUNDS`` with free constants.
    train : sequence of ``(values, measured)``
        ``values`` are symbol values of a cell (``Cell.values``), ``measured`` its mean LHS.
    test : sequence or mapping of sequences
        Held-out cells; a mapping names groups (e.g. other ``T``, another instance), a plain
        sequence is the group ``"held-out"``.
    fixed : mapping, optional
        Free constants held at a value instead of fitted, e.g. ``{"c_2": 1}`` where only a
        product of constants enters the bound.

    Returns
    -------
    CalibrationResult
        With :attr:`~CalibrationResult.warnings` for constants the training cells do not
        determine.

    Notes
    -----
    The constants are positive, so they are fitted in log scale by least squares on
    ``log(fit) - log(measured)``, within ``[-LOG_BOUND, LOG_BOUND]``.
    """
    bound = theory.get_bound(bound_name)
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    every = sorted(s.name for s in bound.free_constants)
    if not every:
        raise ValueError(f"Bound '{bound_name}' has no free constants to calibrate.")
    unknown = sorted(set(fixed) - set(every))
    if unknown:
        raise ValueError(
            f"The 'fixed' parameter of calibrate must name free constants of '{bound_name}' "
            f"({', '.join(every)}). Got {unknown[0]!r}."
        )
    names = [k for k in every if k not in fixed]
    groups = dict(test) if isinstance(test, Mapping) else ({"held-out": test} if test else {})

    def predict(theta, cols):
        consts = {**fixed, **dict(zip(names, np.exp(theta), strict=True))}
        return np.asarray(bound.evaluate({**cols, **consts}, check=False), float)

    tr_cols = _columns(bound, train)
    y = np.log([m for _, m in train])

    def resid(theta):
        return np.log(predict(theta, tr_cols)) - y

    def fit(x0, lower=None, upper=None):
        lo = np.full(len(x0), -LOG_BOUND) if lower is None else lower
        hi = np.full(len(x0), LOG_BOUND) if upper is None else upper
        return optimize.least_squares(resid, x0, bounds=(lo, hi), x_scale=1.0)

    sol = fit(np.zeros(len(names)))
    warnings, flagged = _identifiability(names, sol, resid, fit, len(train))
    consts = {**fixed, **dict(zip(names, np.exp(sol.x).tolist(), strict=True))}
    tr = predict(sol.x, tr_cols) / np.exp(y)
    ratios = {
        g: tuple((predict(sol.x, _columns(bound, c)) / np.array([m for _, m in c])).tolist())
        for g, c in groups.items()
        if c
    }
    return CalibrationResult(
        bound_name,
        consts,
        tuple(tr.tolist()),
        tuple(r for g in ratios for r in ratios[g]),
        ratios,
        tuple(warnings),
        tuple(k for k in names if k in flagged),
        fixed,
    )


def _identifiability(names, sol, resid, fit, n_train):
    """Warnings for constants the fit does not determine, and the names they flag."""
    warnings, flagged = [], set()
    jac = np.asarray(sol.jac, float)
    _, s, vt = np.linalg.svd(jac, full_matrices=True)
    s = np.concatenate([s, np.zeros(len(names) - s.size)])
    top = s[0] if s.size and s[0] > 0 else 1.0
    for k in np.nonzero(s / top < _SINGULAR)[0]:
        direction = vt[k]
        parts = [names[i] for i in np.argsort(-np.abs(direction)) if abs(direction[i]) > 0.1]
        flagged.update(parts)
        combo = ", ".join(
            f"{names[i]} {direction[i] / np.abs(direction).max():+.2g}"
            for i in range(len(names))
            if abs(direction[i]) > 0.1
        )
        warnings.append(
            f"not identifiable: the fit does not change along ({combo}) in log-constants "
            f"(singular value {s[k] / top:.1e} of the Jacobian of the log-residuals relative to "
            f"the largest; {n_train} training cells, {len(names)} constants)."
        )
    rms = float(np.sqrt(np.mean(sol.fun**2)))
    for i, name in enumerate(names):
        if abs(sol.x[i]) >= LOG_BOUND - 1e-6:
            flagged.add(name)
            warnings.append(
                f"{name} = {np.exp(sol.x[i]):.3g} sits at the search bound e^"
                f"{'+' if sol.x[i] > 0 else '-'}{LOG_BOUND:g}: not identifiable."
            )
            continue
        change = []
        for step in (-np.log(10.0), np.log(10.0)):
            lo = np.full(len(names), -LOG_BOUND)
            hi = np.full(len(names), LOG_BOUND)
            x0 = sol.x.copy()
            x0[i] = np.clip(x0[i] + step, -LOG_BOUND, LOG_BOUND)
            lo[i], hi[i] = x0[i] - 1e-9, x0[i] + 1e-9
            prof = fit(np.clip(x0, lo, hi), lo, hi)
            change.append(float(np.sqrt(np.mean(prof.fun**2))) - rms)
        if min(change) < _FLAT:
            flagged.add(name)
            warnings.append(
                f"{name} = {np.exp(sol.x[i]):.3g} has a flat profile: a factor 10 "
                f"{'down' if change[0] < change[1] else 'up'}, the other constants refitted, "
                f"changes the RMS log-residual by {max(min(change), 0.0):.2g} (< {_FLAT:g})."
            )
    return warnings, flagged
