"""Symbolic convergence bounds of partially personalized federated learning (sympy + numpy).

Modules
-------
symbols      every symbol once, with assumptions (``SYMBOLS``)
bound        the :class:`Bound` data type (re-exports the names of the next two)
bound_parts  its parts: ``Measured`` (of ``Term``, ``At``) and ``Condition``
bound_evaluation  its numeric evaluation (``Bound.evaluate``, ``weights``), ``validate_values``
pillutla2022 FedAlt / FedSim (Pillutla et al., ICML 2022): main-text theorems, step sizes,
             tuned rates (re-exports the names of the next two)
pillutla2022_assumptions  assumptions A0-A3 as data, the definitions of ``chi``
pillutla2022_comparison   the verified slide-40 comparison, the reconstructed variances behind
             it, ``favoured``
classic      GD/SGD with explicit constants, tight GD, FedSGD anchor, local-SGD template
fallah2020   Per-FedAvg: lemma constants, Theorem 4.5 template, exact quadratic closed forms
regimes      regime boundaries, the (1 + chi^2)^{1/2} factor, exponents in T
leading      a bound's terms as functions of eta, named, and their exponents in a swept
             variable (what an exponent study expects)
derived      bounds proved in this project (optional; maintained separately)
derived_diversity  the partial-participation ones under the global diversity assumption A3'
derived_local_fedsim  FedSim with tau >= 1 local joint steps (client drift), A3 and A3'
derived_local_fedalt  FedAlt with tau_u >= 1 local steps on u (client drift)
split_lbi    Split LBI (Fu et al. 2020): the recalled global-convergence theorem, the derived
             step condition, the rate classes of a KL exponent (not a Bound; not in BOUNDS)

Registry: ``BOUNDS`` (name -> Bound), :func:`get_bound`, :func:`describe_bound`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from partialfed._constraints import suggest
from partialfed.theory import classic, fallah2020, leading, pillutla2022, regimes, settings
from partialfed.theory.bound import (
    ASSUMPTION_CONSTANTS,
    CLASSIC_CONSTANTS,
    PROVENANCES,
    At,
    Bound,
    Condition,
    Measured,
    Term,
    Uses,
    Where,
    validate_values,
)
from partialfed.theory.pillutla2022 import (
    BOXED_CONDITION,
    SIG_ALT1,
    SIG_SIM1,
    Favoured,
    favoured,
    main_bound,
)
from partialfed.theory.regimes import (
    boundary,
    delta_dominated_factor,
    leading_factor,
    term_exponents,
)
from partialfed.theory.symbols import DESCRIPTIONS, FREE_CONSTANTS, SYMBOLS, symbol

__all__ = [
    "At",
    "Bound",
    "Condition",
    "Measured",
    "Term",
    "Uses",
    "Where",
    "ASSUMPTION_CONSTANTS",
    "CLASSIC_CONSTANTS",
    "PROVENANCES",
    "validate_values",
    "SYMBOLS",
    "DESCRIPTIONS",
    "FREE_CONSTANTS",
    "symbol",
    "BOUNDS",
    "get_bound",
    "describe_bound",
    "main_bound",
    "favoured",
    "Favoured",
    "BOXED_CONDITION",
    "SIG_ALT1",
    "SIG_SIM1",
    "boundary",
    "leading_factor",
    "delta_dominated_factor",
    "term_exponents",
    "classic",
    "fallah2020",
    "leading",
    "pillutla2022",
    "regimes",
    "settings",
]


def _collect() -> dict[str, Bound]:
    out: dict[str, Bound] = {}
    modules = [pillutla2022, classic, fallah2020]
    # theory/derived.py (in-project bounds) is written separately; include it when present.
    # theory/derived_diversity.py: the same settings under the global diversity assumption A3'.
    # theory/derived_local_fedsim.py: FedSim with tau >= 1 local steps.
    # theory/derived_local_fedalt.py: FedAlt with tau_u >= 1 local steps on u.
    for name in (
        "partialfed.theory.derived",
        "partialfed.theory.derived_diversity",
        "partialfed.theory.derived_local_fedsim",
        "partialfed.theory.derived_local_fedalt",
    ):
        if importlib.util.find_spec(name) is not None:
            modules.append(importlib.import_module(name))
    for mod in modules:
        for name, b in getattr(mod, "BOUNDS", {}).items():
            if name in out:
                raise RuntimeError(f"Duplicate bound name {name!r} in {mod.__name__}.")
            out[name] = b
    return out


BOUNDS: dict[str, Bound] = _collect()
"""Every bound of the package, by name."""


def get_bound(name: str) -> Bound:
    """Return the bound called ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`BOUNDS`.

    Returns
    -------
    Bound

    Raises
    ------
    ValueError
        Unknown name; the message suggests close names and lists all.
    """
    try:
        return BOUNDS[name]
    except KeyError:
        hint = suggest(name, BOUNDS)
        raise ValueError(
            f"Unknown bound {name!r}.{hint} Known bounds: {', '.join(sorted(BOUNDS))}."
        ) from None


def _fmt_value(v: np.ndarray) -> str:
    v = np.asarray(v)
    if v.ndim == 0:
        return f"{float(v):.6g}"
    return np.array2string(v, precision=6)


def describe_bound(name: str, values: Mapping[str, Any] | None = None, latex: bool = False) -> str:
    """Text for ``partialfed bound NAME [--set k=v ...] [--latex]``.

    Parameters
    ----------
    name : str
        Bound name (see :data:`BOUNDS`).
    values : dict, optional
        Symbol values (floats or arrays). If they cover every required symbol (free constants
        included), the bound's value is shown; otherwise the bound with the given values
        substituted, and what is still missing.
    latex : bool
        Return LaTeX of ``lhs <= rhs`` instead of plain text.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown bound, unknown/unused parameter, invalid value or violated condition.
    """
    b = get_bound(name)
    values = dict(values or {})
    validate_values(values, owner=f"Bound {name!r}")  # before any numpy on the raw values
    if values:
        required = set(b.required)
        missing = required - set(values)
        if not missing:
            val = b.evaluate(values)
            if latex:
                subs = {
                    SYMBOLS[k]: sp.Float(float(v)) for k, v in values.items() if np.ndim(v) == 0
                }
                rhs = b.rhs.subs(subs)
                if rhs.is_Number:  # the substituted bound is its value: say it once
                    return rf"{b.lhs.latex()} \le {_fmt_value(val)}"
                return rf"{b.lhs.latex()} \le {sp.latex(rhs)} = {_fmt_value(val)}"
            return (
                f"{b.describe()}\n  values:      "
                + ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(values.items()))
                + f"\n  value:       {_fmt_value(val)}"
            )
        scalars = {k: v for k, v in values.items() if np.ndim(v) == 0}
        b2 = b.substitute(scalars)
        if latex:
            return b2.latex()
        fc = sorted(s.name for s in b.free_constants)
        still = sorted(missing)
        note = f"\n  missing:     {', '.join(still)}"
        if set(still) & set(fc):
            note += " (free constants must be given or fitted)"
        return b2.describe() + note
    return b.latex() if latex else b.describe()
