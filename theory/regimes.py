"""Regimes where FedAlt or FedSim is favoured by the theory (Pillutla et al. 2022, slide 40).

The verified comparison (FLOW talk slide 40, boxed) is

``sigma_v^2/L_v (1 - 2m/n) < sigma_u^2/(m L_u) + delta^2/(m L_u) (1 - m/n)``  (FedAlt better).

This module solves its boundary (equality) for one chosen variable, vectorised over grids for
plotting, gives the factor ``sqrt(sig_sim1/sig_alt1)`` of the leading terms (reconstructed
variances) and its ``delta``-dominated limit ``(1 + chi^2)^{1/2}`` (verified, slide 40), and
reads the exponents in ``T`` of a rate.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from partialfed.theory import pillutla2022 as P
from partialfed.theory.bound import Bound, validate_values
from partialfed.theory.symbols import SYMBOLS, T, delta

__all__ = [
    "BOUNDARY_VARIABLES",
    "boundary_solutions",
    "boundary",
    "leading_factor",
    "DELTA_DOMINATED_FACTOR",
    "delta_dominated_factor",
    "grid",
    "term_exponents",
]

_BOX_ARGS = ("n", "m", "L_u", "L_v", "sigma_u", "sigma_v", "delta")
BOUNDARY_VARIABLES = _BOX_ARGS
"""Variables :func:`boundary` can solve for (those of the boxed condition)."""

_BOX_GAP = P.BOXED_CONDITION.rhs - P.BOXED_CONDITION.lhs
"""``rhs - lhs`` of the boxed condition: > 0 iff FedAlt is better (slide 40)."""


@cache
def boundary_solutions(var: str) -> tuple[sp.Expr, ...]:
    """Symbolic solutions of the slide-40 boundary (equality) for ``var``.

    Parameters
    ----------
    var : str
        One of :data:`BOUNDARY_VARIABLES`.

    Returns
    -------
    tuple of sympy.Expr
        All solutions (sympy's assumptions on ``var`` already drop impossible ones; the numeric
        :func:`boundary` keeps real, admissible values only).
    """
    if var not in _BOX_ARGS:
        raise ValueError(
            f"The 'var' parameter of boundary must be one of {list(_BOX_ARGS)}. Got {var!r}."
        )
    s = SYMBOLS[var]
    # Solve for the square when the variable enters squared (sigma_u, sigma_v, delta) so that
    # the solution is linear and its sign condition is explicit.
    if var in ("sigma_u", "sigma_v", "delta"):
        x = sp.Symbol("x_sq", real=True)
        sols = sp.solve(sp.Eq(_BOX_GAP.subs(s**2, x), 0), x)
        return tuple(sp.sqrt(e) for e in sols)
    x = sp.Symbol("x", real=True)
    sols = sp.solve(sp.Eq(sp.together(_BOX_GAP.subs(s, x)).as_numer_denom()[0], 0), x)
    return tuple(sols)


def boundary(var: str, **values: Any) -> np.ndarray:
    """Value of ``var`` at which the leading terms of FedAlt and FedSim are equal.

    Solves the verified slide-40 condition with equality. Vectorised: arrays in ``values``
    broadcast (e.g. a grid of ``m`` and ``delta`` for a phase diagram).

    Parameters
    ----------
    var : str
        Variable to solve for, one of :data:`BOUNDARY_VARIABLES`.
    **values : float or array-like
        All other variables of the boxed condition (extra known symbols are ignored).

    Returns
    -------
    numpy.ndarray
        The boundary value; ``nan`` where no admissible solution exists (e.g. ``sigma_v`` when
        ``m >= n/2``: FedAlt is then favoured for every ``sigma_v``). Admissible: ``>= 0`` for
        ``sigma_u, sigma_v, delta``; ``[1, n]`` for ``m`` (smallest root); ``>= m`` for ``n``;
        ``> 0`` for ``L_u, L_v``.

    Examples
    --------
    >>> round(float(boundary("sigma_v", n=100, m=10, L_u=1, L_v=1, sigma_u=0, delta=1)), 4)
    0.3354
    """
    sols = boundary_solutions(var)
    needed = [k for k in _BOX_ARGS if k != var]
    missing = [k for k in needed if k not in values]
    if missing:
        raise ValueError(
            f"boundary({var!r}) needs a value for {missing[0]!r}; required: {', '.join(needed)}."
        )
    v = validate_values({k: values[k] for k in needed}, owner=f"boundary({var!r})")
    args = [SYMBOLS[k] for k in needed]
    arrs = [v[k] for k in needed]
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    best = np.full(shape, np.nan)
    for e in sols:
        f = sp.lambdify(args, e, modules="numpy")
        with np.errstate(all="ignore"):
            val = np.broadcast_to(np.asarray(f(*[a.astype(complex) for a in arrs])), shape)
        real = np.abs(val.imag) <= 1e-12 * np.maximum(1.0, np.abs(val.real))
        x = np.where(real, val.real, np.nan)
        ok = np.isfinite(x)
        if var in ("sigma_u", "sigma_v", "delta"):
            ok &= x >= 0
        elif var == "m":
            ok &= (x >= 1 - 1e-12) & (x <= np.broadcast_to(v["n"], shape) * (1 + 1e-12))
        elif var == "n":
            ok &= x >= np.broadcast_to(v["m"], shape) * (1 - 1e-12)
        else:
            ok &= x > 0
        best = np.where(ok & ~(best <= x), x, best)
    return best if shape else np.asarray(best)


def leading_factor(**values: Any) -> np.ndarray:
    """``sqrt(sig_sim1/sig_alt1)``: FedSim's ``T^{-1/2}`` term over FedAlt's (reconstructed).

    Parameters
    ----------
    **values
        ``n, m, L_u, L_v, sigma_u, sigma_v, delta, chi`` (arrays broadcast).

    Returns
    -------
    numpy.ndarray
        > 1 where FedAlt is favoured (for ``chi > 0`` exactly the slide-40 condition).
    """
    f = P.favoured(**values).factor
    return np.asarray(f)


DELTA_DOMINATED_FACTOR = sp.simplify(sp.limit(sp.sqrt(P.SIG_SIM1 / P.SIG_ALT1), delta, sp.oo))
"""``lim_{delta -> oo} sqrt(sig_sim1/sig_alt1) = (1 + chi^2)^{1/2}`` (for ``m < n``): the
verified factor of slide 40 where inter-client variance dominates, computed by sympy from the
reconstructed variances."""


def delta_dominated_factor(chi_value):
    """``(1 + chi^2)^{1/2}``: FedAlt's advantage when ``delta`` dominates (slide 40, verified).

    Parameters
    ----------
    chi_value : float or array-like
        ``chi >= 0``.

    Returns
    -------
    numpy.ndarray
    """
    c = validate_values({"chi": chi_value}, owner="delta_dominated_factor")["chi"]
    return np.sqrt(1.0 + c**2)


def grid(x: str, xs, y: str, ys, **fixed: Any) -> dict[str, np.ndarray]:
    """Phase diagram of the favoured algorithm on a 2-D grid, for plotting.

    Parameters
    ----------
    x, y : str
        Names of the two varied parameters (e.g. ``"sigma_v"``, ``"delta"``).
    xs, ys : array-like
        1-D values.
    **fixed
        The other parameters of :func:`theory.pillutla2022.favoured`.

    Returns
    -------
    dict
        ``X, Y`` (meshgrid, shape ``(len(ys), len(xs))``), ``factor``, ``fedalt_better`` and,
        when ``x`` is a boundary variable, ``boundary`` (the value of ``x`` on the boundary for
        each ``y``).
    """
    X, Y = np.meshgrid(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    vals = dict(fixed)
    vals[x] = X
    vals[y] = Y
    res = P.favoured(**vals)
    out = {"X": X, "Y": Y, "factor": np.asarray(res.factor), "fedalt_better": res.fedalt_better}
    if x in _BOX_ARGS:
        bvals = {k: v for k, v in fixed.items() if k in _BOX_ARGS}
        bvals[y] = np.asarray(ys, dtype=float) if y in _BOX_ARGS else None
        if bvals.get(y) is None:
            bvals.pop(y)
        try:
            out["boundary"] = boundary(x, **bvals)
        except ValueError:
            pass
    return out


def term_exponents(expr: sp.Expr | Bound, var: sp.Symbol = T) -> list[sp.Expr]:
    """Exponents in ``var`` of the additive terms of a rate (``d log term/d log var``).

    Parameters
    ----------
    expr : sympy.Expr or Bound
        The rate (a bound's ``rhs`` is used).
    var : sympy.Symbol
        Default ``T``.

    Returns
    -------
    list of sympy.Expr
        One exponent per term that depends on ``var``, sorted descending (e.g. ``[-1/2, -2/3,
        -1]``); terms whose log-derivative is not constant are returned as expressions.
    """
    e = expr.rhs if isinstance(expr, Bound) else sp.sympify(expr)
    out = []
    for term in sp.Add.make_args(sp.expand_power_base(sp.expand(e), force=False)):
        if not term.has(var):
            continue
        out.append(sp.simplify(var * sp.diff(term, var) / term))
    return sorted(out, key=lambda z: float(z) if z.is_number else -np.inf, reverse=True)
