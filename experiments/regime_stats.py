"""Statistics of a regime map: the best step from a grid, paired ratio intervals, wins.

Pure NumPy/SciPy on arrays of per-seed measurements, so each rule can be tested on numbers with
a known answer (tests/checks/test_regime.py).

- :func:`best_index` -- the grid point with the smallest mean measured quantity (ties: the
  smaller step; a best point at either end of the grid is flagged, since the true best step may
  lie outside it).
- :func:`paired_ratio` -- ``FedSim / FedAlt`` over seeds that share sampling and noise: the
  geometric mean of the per-seed ratios and a Student-t interval on the mean log ratio.
- :func:`winner` -- a simulated win only where that interval excludes 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["LEVEL", "PairedRatio", "best_index", "paired_ratio", "winner"]

#: Two-sided confidence level of the ratio intervals.
LEVEL = 0.95


def best_index(means) -> tuple[int, bool]:
    """Index of the smallest of ``means`` (one per grid step, steps ascending), and whether it
    lies at an end of the grid.

    Non-finite means (a diverged run) never win unless every mean is non-finite (then index 0).
    Exact ties go to the smaller step (the first index).

    Returns
    -------
    (int, bool)
        ``(index, at_edge)``; ``at_edge`` is True for index 0 or the last index (a grid of one
        point is always at its edge).
    """
    x = np.asarray(means, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"best_index needs a non-empty 1-D array of means. Got shape {x.shape}.")
    x = np.where(np.isfinite(x), x, np.inf)
    i = int(np.argmin(x))
    return i, i in (0, x.size - 1)


@dataclass(frozen=True)
class PairedRatio:
    """``FedSim / FedAlt`` over paired seeds (> 1: FedAlt better).

    Attributes
    ----------
    ratio : float
        ``exp(mean_s log(sim_s / alt_s))``, the geometric mean of the per-seed ratios.
    low, high : float
        Two-sided ``LEVEL`` Student-t interval of that geometric mean (``low = high = ratio``
        when every seed gives the same ratio; NaN for one seed or a non-finite run).
    n_seeds : int
    """

    ratio: float
    low: float
    high: float
    n_seeds: int

    @property
    def winner(self) -> str:
        """``"fedalt"``, ``"fedsim"`` or ``"unresolved"`` (:func:`winner`)."""
        return winner(self.low, self.high)


def paired_ratio(sim, alt, level: float = LEVEL) -> PairedRatio:
    """The paired ratio ``sim / alt`` of two per-seed measurements, with its interval.

    Parameters
    ----------
    sim, alt : array-like of float
        FedSim's and FedAlt's measured quantity, one value per seed, in the same seed order.
    level : float
        Two-sided confidence level, in (0, 1).
    """
    s, a = np.asarray(sim, dtype=float), np.asarray(alt, dtype=float)
    if s.shape != a.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"paired_ratio needs two 1-D arrays of the same length. Got {s.shape} and {a.shape}."
        )
    if not 0.0 < level < 1.0:
        raise ValueError(f"The 'level' parameter of paired_ratio must be in (0, 1). Got {level}.")
    ok = np.isfinite(s) & np.isfinite(a) & (s > 0) & (a > 0)
    if not ok.all():
        return PairedRatio(math.nan, math.nan, math.nan, int(s.size))
    logs = np.log(s / a)
    mean = float(np.mean(logs))
    if s.size < 2:
        return PairedRatio(math.exp(mean), math.nan, math.nan, 1)
    sd = float(np.std(logs, ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, s.size - 1)) * sd / math.sqrt(s.size)
    return PairedRatio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), int(s.size))


def winner(low: float, high: float) -> str:
    """``"fedalt"`` when the interval of ``FedSim / FedAlt`` lies above 1, ``"fedsim"`` when it
    lies below 1, otherwise (it contains 1, or is NaN) ``"unresolved"``."""
    if low > 1.0:
        return "fedalt"
    if high < 1.0:
        return "fedsim"
    return "unresolved"
