"""Synthetic partially personalized objectives with exact or certified constants.

>>> from partialfed import synthetic
>>> p = synthetic.make("quadratic", n=20, d_u=5, d_v=3, delta=1.0, chi=0.5, seed=0)
>>> p.constants.chi  # doctest: +ELLIPSIS
0.5...
"""

from __future__ import annotations

import inspect

from pathlib import Path as _Path

from partialfed._cache import install_numba_locator

install_numba_locator(_Path(__file__).parent)  # before any @njit(cache=True) below

from partialfed.synthetic._problem import CONSTANT_NAMES, KINDS, Constants, Problem
from partialfed.synthetic._validation import check_choice, suggest
from partialfed.synthetic.estimate import custom, estimate_constants, local_lipschitz
from partialfed.synthetic.logistic import logistic
from partialfed.synthetic.quadratic import quadratic
from partialfed.synthetic.representation import representation
from partialfed.synthetic.separable import separable

__all__ = [
    "Constants",
    "Problem",
    "FAMILIES",
    "make",
    "knobs_of",
    "KINDS",
    "CONSTANT_NAMES",
    "estimate_constants",
    "local_lipschitz",
    "custom",
]

#: Registered families: name -> factory taking keyword knobs.
FAMILIES = {
    "quadratic": quadratic,
    "separable": separable,
    "logistic": logistic,
    "representation": representation,
}


def knobs_of(name: str) -> dict:
    """The knobs of family ``name`` with their defaults."""
    check_choice(name, "name", "synthetic.make", FAMILIES)
    sig = inspect.signature(FAMILIES[name])
    return {k: p.default for k, p in sig.parameters.items()}


def make(name: str, **knobs) -> Problem:
    """Build a problem of family ``name`` (see ``FAMILIES``) with the given knobs.

    Unknown knobs are rejected with the list of allowed ones and a suggestion.
    """
    check_choice(name, "name", "synthetic.make", FAMILIES)
    allowed = knobs_of(name)
    for key in knobs:
        if key not in allowed:
            raise ValueError(
                f"Unknown knob '{key}' for family '{name}'; allowed: {', '.join(allowed)}."
                + suggest(key, allowed)
            )
    return FAMILIES[name](**knobs)
