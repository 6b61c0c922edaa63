"""Synthetic partially personalized objectives with exact or certified constants.

>>> from partialfed import synthetic
>>> p = synthetic.make("quadratic", n=20, d_u=5, d_v=3, delta=1.0, chi=0.5, seed=0)
>>> p.constants.chi  # doctest: +ELLIPSIS
0.5...
"""

from __future__ import annotations

import inspect as _inspect
from pathlib import Path as _Path

from partialfed._cache import install_numba_locator
from partialfed._constraints import check_names, validate_params

install_numba_locator(_Path(__file__).parent)  # before any @njit(cache=True) below

from partialfed.synthetic._custom import custom
from partialfed.synthetic._memory import check_memory
from partialfed.synthetic._problem import (
    CONSTANT_NAMES,
    KINDS,
    Constants,
    Problem,
    Region,
    personal_optima,
)
from partialfed.synthetic._registry import (
    FAMILIES,
    factory_of,
    family_names,
    knobs_of_factory,
    register,
    unregister,
)
from partialfed.synthetic.estimate import estimate_constants, local_lipschitz

__all__ = [
    "Constants",
    "Region",
    "personal_optima",
    "Problem",
    "FAMILIES",
    "make",
    "knobs_of",
    "register",
    "unregister",
    "family_names",
    "KINDS",
    "CONSTANT_NAMES",
    "estimate_constants",
    "local_lipschitz",
    "custom",
]


def knobs_of(name: str) -> dict:
    """The knobs of family ``name`` with their defaults.

    ``name`` is a built-in family (``FAMILIES``), a name given to ``register``, or an import
    reference ``'module:function'`` (see ``docs/families.md``); the knobs are the keyword
    parameters of its factory.
    """
    return knobs_of_factory(factory_of(name))


def make(name: str, **knobs) -> Problem:
    """Build a problem of family ``name`` with the given knobs.

    ``name`` is a built-in family (``FAMILIES``), a name given to ``register``, or an import
    reference ``'module:function'``, imported in the calling process. Unknown knobs are rejected
    with the list of allowed ones and a suggestion.
    """
    factory = factory_of(name)
    check_names(knobs, knobs_of(name), f"synthetic.make({name!r})", noun="knob")
    constraints = getattr(factory, "_parameter_constraints", None)
    if isinstance(name, str) and constraints is not None:
        # The knobs' ranges first (their messages say what is allowed), then the memory the
        # problem needs, before building it: refuse what cannot fit, naming the size knobs.
        given = _inspect.signature(factory).bind(**knobs)
        given.apply_defaults()
        validate_params(given.arguments, constraints, f"synthetic.make({name!r})")
        check_memory(name, knobs)
    problem = factory(**knobs)
    if not isinstance(problem, Problem):
        raise TypeError(
            f"The factory of family {name!r} must return a synthetic.Problem. "
            f"Got {type(problem).__name__}."
        )
    return problem
