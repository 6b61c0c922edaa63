"""Numba simulators of FedAlt, FedSim and baselines, bitwise reproducible.

>>> from partialfed import synthetic, simulators
>>> p = synthetic.make("quadratic", n=10, seed=0)
>>> h = simulators.run(p, simulators.RunConfig("fedalt", T=5, m=3))
>>> h.loss.shape
(6,)
"""

from pathlib import Path as _Path

from partialfed._cache import install_numba_locator

install_numba_locator(_Path(__file__).parent)  # before any @njit(cache=True) below

from partialfed.simulators._api import (
    ALGORITHMS,
    METRICS,
    PERSONAL_METRICS,
    REGION,
    Algorithm,
    History,
    RunConfig,
    run,
)
from partialfed.simulators._warm import kernel_state
from partialfed.simulators.split_lbi import LBIPath, split_lbi

__all__ = [
    "ALGORITHMS",
    "METRICS",
    "PERSONAL_METRICS",
    "REGION",
    "Algorithm",
    "History",
    "RunConfig",
    "run",
    "kernel_state",
    "LBIPath",
    "split_lbi",
]
