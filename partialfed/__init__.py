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
from pathlib import Path

__version__ = "0.1.0"
__all__ = ["theory", "synthetic", "simulators", "experiments", "__version__"]

_SUBPACKAGES = frozenset({"theory", "synthetic", "simulators", "experiments"})

# In a source checkout the subpackages are siblings of this folder; an editable install maps
# them (setuptools' finder), and this line does the same when the checkout is imported without
# one (e.g. ``python -m pytest`` from the repository after a non-editable ``pip install .``).
# An installed copy has them inside this folder and never takes this branch.
_HERE = Path(__file__).resolve().parent
if not (_HERE / "theory").is_dir() and (_HERE.parent / "theory" / "__init__.py").is_file():
    __path__.append(str(_HERE.parent))


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"partialfed.{name}")
    raise AttributeError(f"module 'partialfed' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
