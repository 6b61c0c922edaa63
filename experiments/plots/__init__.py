"""Every figure of partialfed: stored sweeps and verification studies (matplotlib).

Headless (matplotlib's Agg backend) unless ``MPLBACKEND`` is set or pyplot was imported first
(Jupyter keeps inline figures); one style throughout, one fixed colour and line style per
algorithm.

Modules
-------
style      colours, line styles, axis labels, the rc ``STYLE``, ``color_of`` and ``save``
sweeps     figures of a result folder: ``convergence``, ``final_vs_knob``, ``plot_directory``
studies    figures of the verification studies: ``strict_figure``, ``exponent_figure``,
           ``calibration_figure`` (and their layout, ``panels``)
regime     the FedAlt-vs-FedSim regime figure, ``regime_figure``

Every public name is available here, as ``plots.NAME``.

Examples
--------
>>> from partialfed.experiments import plots, store
>>> df = store.load("results/quick")                     # doctest: +SKIP
>>> fig = plots.convergence(df, "gap").figure            # doctest: +SKIP
>>> plots.plot_directory("results/quick")                # doctest: +SKIP
[PosixPath('results/quick/plots/quadratic-convergence.png'), ...]
"""

from __future__ import annotations

import os
import sys

import matplotlib

if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # headless by default; Jupyter (MPLBACKEND) keeps inline figures

# Re-export every public name of the submodules (each declares its own __all__).
from partialfed.experiments.plots import regime, studies, style, sweeps  # noqa: E402
from partialfed.experiments.plots.regime import *  # noqa: E402, F403
from partialfed.experiments.plots.studies import *  # noqa: E402, F403
from partialfed.experiments.plots.style import *  # noqa: E402, F403
from partialfed.experiments.plots.sweeps import *  # noqa: E402, F403

__all__ = [*style.__all__, *sweeps.__all__, *studies.__all__, *regime.__all__]
