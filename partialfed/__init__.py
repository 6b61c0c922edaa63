"""partialfed: the convergence theory of partially personalized federated learning, measured.

The namespace gathers the repository's top-level folders (``pyproject.toml`` maps them with
setuptools' ``package-dir``)::

    from partialfed import synthetic, simulators, theory, experiments

``theory``      sympy bounds with source and provenance (imports only sympy and numpy)
``synthetic``   objectives with exact or certified constants (the ``Problem`` contract)
``simulators``  Numba kernels of FedAlt, FedSim and baselines behind a validated ``run``
``experiments`` configs, Cells, sweeps, the store, checks, plots, the report and the CLI

Subpackages are imported on first use, so ``import partialfed`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["theory", "synthetic", "simulators", "experiments", "__version__"]

_SUBPACKAGES = frozenset({"theory", "synthetic", "simulators", "experiments"})


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"partialfed.{name}")
    raise AttributeError(f"module 'partialfed' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
