"""Numba simulators of FedAlt, FedSim and baselines, bitwise reproducible.

>>> import synthetic, simulators
>>> p = synthetic.make("quadratic", n=10, seed=0)
>>> h = simulators.run(p, simulators.RunConfig("fedalt", T=5, m=3))
>>> h.loss.shape
(6,)
"""

from simulators._api import ALGORITHMS, METRICS, Algorithm, History, RunConfig, run

__all__ = ["ALGORITHMS", "METRICS", "Algorithm", "History", "RunConfig", "run"]
