"""Every figure of partialfed: stored sweeps and verification studies (matplotlib).

Headless (matplotlib's Agg backend) unless ``MPLBACKEND`` is set or pyplot was imported first
(Jupyter keeps inline figures); one style throughout, one fixed colour and line style per
algorithm, one style file (``partialfed.mplstyle``, package data).

Modules
-------
style      the style file (``STYLE_FILE``, ``style_context``), colours, line styles, markers,
           mathtext labels and symbols, log axes (``log_axis``, ``value_ticks``), ``save``
lhs        a bound's left-hand side as an axis label (``lhs_label``) and over horizons
sweeps     figures of a result folder: ``convergence``, ``final_vs_knob``, ``plot_directory``
facets     their small-multiples layout, titled by ``run_note`` (T, m of n)
divergence how they draw runs that diverged (stopped, marked ✕, out of the y range)
studies    figures of the verification studies: ``strict_figure``, ``calibration_figure``
           (and their layout, ``panels``, and verdict colours, ``mark_verdict``)
exponents  the exponent studies' figure, ``exponent_figure``
regime     the FedAlt-vs-FedSim regime figure, ``regime_figure``
claims     the paper's claim (a): benefit over FedAvg against the personal fraction

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
from partialfed.experiments.plots import (  # noqa: E402
    claims,
    divergence,
    exponents,
    facets,
    lhs,
    regime,
    studies,
    style,
    sweeps,
)
from partialfed.experiments.plots.claims import *  # noqa: E402, F403
from partialfed.experiments.plots.divergence import *  # noqa: E402, F403
from partialfed.experiments.plots.exponents import *  # noqa: E402, F403
from partialfed.experiments.plots.facets import *  # noqa: E402, F403
from partialfed.experiments.plots.lhs import *  # noqa: E402, F403
from partialfed.experiments.plots.regime import *  # noqa: E402, F403
from partialfed.experiments.plots.studies import *  # noqa: E402, F403
from partialfed.experiments.plots.style import *  # noqa: E402, F403
from partialfed.experiments.plots.sweeps import *  # noqa: E402, F403

__all__ = [
    *style.__all__,
    *lhs.__all__,
    *divergence.__all__,
    *sweeps.__all__,
    *facets.__all__,
    *studies.__all__,
    *exponents.__all__,
    *regime.__all__,
    *claims.__all__,
]
