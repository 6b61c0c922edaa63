"""Every figure of partialfed: stored sweeps and verification studies (matplotlib).

Headless (matplotlib's Agg backend) unless ``MPLBACKEND`` is set or pyplot was imported first
(Jupyter keeps inline figures); one style throughout, one fixed colour and line style per
algorithm.

Modules
-------
style      colours, line styles, axis labels, the rc ``STYLE``, ``color_of`` and ``save``
sweeps     figures of a result folder: ``convergence``, ``final_vs_knob``, ``plot_directory``
studies    figures of the verification studies: ``strict_figure``, ``exponent_figure``,
           ``regime_figure``, ``calibration_figure`` (and their layout, ``panels``)

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

from partialfed.experiments.plots.studies import (  # noqa: E402
    calibration_figure,
    exponent_figure,
    panels,
    regime_figure,
    strict_figure,
)
from partialfed.experiments.plots.style import (  # noqa: E402
    COLORS,
    LABELS,
    LINESTYLES,
    STYLE,
    color_of,
    file_stem,
    label,
    save,
)
from partialfed.experiments.plots.sweeps import (  # noqa: E402
    KNOB_PREFERENCE,
    convergence,
    final_vs_knob,
    plot_directory,
)

__all__ = [
    "COLORS",
    "LINESTYLES",
    "LABELS",
    "STYLE",
    "KNOB_PREFERENCE",
    "color_of",
    "label",
    "save",
    "file_stem",
    "convergence",
    "final_vs_knob",
    "plot_directory",
    "panels",
    "strict_figure",
    "exponent_figure",
    "regime_figure",
    "calibration_figure",
]
