"""JSON text that is valid JSON: NaN and infinities become ``null``.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which JSON does not allow (a strict
reader such as ``jq`` or a browser's ``JSON.parse`` refuses the whole file). Every JSON file and
``--json`` output of ``partialfed`` goes through :func:`dumps`. NumPy is not imported here, so
the command's start-up does not pay for it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["dumps"]


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if type(x).__module__ == "numpy":  # arrays and scalars, without importing NumPy here
        x = x.tolist()
        if isinstance(x, list):
            return _clean(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def _default(x):
    value = float(x)  # e.g. a sympy number
    return value if math.isfinite(value) else None


def dumps(obj, **kwargs) -> str:
    """``json.dumps(obj, **kwargs)`` with non-finite floats as ``null`` (NumPy values allowed)."""
    return json.dumps(_clean(obj), allow_nan=False, default=_default, **kwargs)
