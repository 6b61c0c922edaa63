"""Numeric evaluation of a :class:`~theory.bound.Bound` (mixed into it as :class:`BoundEvaluation`).

:func:`validate_values` checks numeric values of symbols (finite; > 0 or >= 0 as
``theory.symbols`` declares) and converts them to float arrays. The right-hand side and the
conditions are lambdified once per bound (cached), evaluated vectorised over numpy arrays with
broadcasting; bad keys, values and violated conditions raise one-line messages that name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import sympy as sp

from partialfed._constraints import Array, Interval, check_names, suggest, validate
from partialfed.theory.bound_parts import _names
from partialfed.theory.symbols import NONNEGATIVE, POSITIVE, SYMBOLS

__all__ = ["BoundEvaluation", "compiled", "constraint_of", "validate_values"]

_RTOL = 1e-12

#: What a value of each kind of symbol accepts: a finite real number or a non-empty array of
#: them, > 0 for the symbols in ``POSITIVE``, >= 0 for those in ``NONNEGATIVE``.
_POSITIVE = Array(within=Interval(float, 0.0, None, closed="neither"))
_NONNEGATIVE = Array(within=Interval(float, 0.0, None))
_REAL = Array()


def constraint_of(name: str) -> Array:
    """The constraint on a numeric value of symbol ``name`` (see ``theory.symbols``)."""
    if name in POSITIVE:
        return _POSITIVE
    return _NONNEGATIVE if name in NONNEGATIVE else _REAL


def validate_values(values: Mapping[str, Any], *, owner: str = "value") -> dict[str, np.ndarray]:
    """Check numeric values of symbols and convert them to float arrays.

    Parameters
    ----------
    values : mapping of str to float or array-like
        Symbol name -> value.
    owner : str
        Used in messages, e.g. ``"Bound 'fedalt_main'"``.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    ValueError
        If a value is not numeric, is NaN or infinite, is <= 0 for a positive symbol or < 0 for
        a nonnegative one. The message names the parameter.
    """
    if not isinstance(values, Mapping):
        raise TypeError(
            f"The 'values' parameter of {owner} must be a mapping of symbol names to numbers. "
            f"Got {type(values).__name__}."
        )
    return {name: validate(v, name, owner, constraint_of(name)) for name, v in values.items()}


class BoundEvaluation:
    """The numeric side of :class:`~theory.bound.Bound`: ``evaluate`` (also ``__call__``) and
    ``weights``. It reads the bound's ``name``, ``rhs``, ``lhs``, ``conditions``,
    ``free_constants`` and ``required``."""

    @cached_property
    def _compiled(self):
        args = tuple(SYMBOLS[name] for name in self.required)
        rhs = compiled(self.rhs, args)
        conds = []
        for c in self.conditions:
            if not c.checkable:
                continue
            rel = c.relation
            if rel is sp.true:
                continue
            if rel is sp.false:
                conds.append((c, None, None, None))
                continue
            lhs_f, rhs_f = compiled(rel.lhs, args), compiled(rel.rhs, args)
            conds.append((c, type(rel), lhs_f, rhs_f))
        return args, rhs, conds

    def _check_keys(self, values: Mapping[str, Any], ignore_extra: bool) -> dict[str, Any]:
        required = set(self.required)
        used = {}
        for k, v in values.items():
            if k in required:
                used[k] = v
                continue
            if k in SYMBOLS and ignore_extra:
                continue
            if k in SYMBOLS:
                raise ValueError(
                    f"Bound {self.name!r} does not use {k!r} (it uses: "
                    f"{', '.join(self.required)}; pass ignore_extra=True to skip it)."
                    + suggest(k, self.required)
                )
            check_names([k], self.required, f"Bound {self.name!r}")
        missing = required - set(used)
        fc = {s.name for s in self.free_constants}
        missing_plain = sorted(missing - fc)
        if missing_plain:
            raise ValueError(
                f"Bound {self.name!r} needs a value for {missing_plain[0]!r}"
                + (f" (and {', '.join(missing_plain[1:])})" if len(missing_plain) > 1 else "")
                + f"; required: {', '.join(sorted(required - fc))}"
                + (f"; free constants: {', '.join(sorted(fc))}" if fc else "")
                + "."
            )
        missing_fc = sorted(missing & fc)
        if missing_fc:
            raise ValueError(
                f"Bound {self.name!r} has free constants {', '.join(sorted(fc))} that must be "
                f"given or fitted (missing: {', '.join(missing_fc)})."
            )
        return used

    def _check_conditions(self, arrays: list[np.ndarray], given: Mapping[str, np.ndarray]):
        _, _, conds = self._compiled
        for c, kind, lf, rf in conds:
            if kind is None:
                raise ValueError(f"Bound {self.name!r}: condition {c.label} is violated.")
            a = np.asarray(lf(*arrays), dtype=float)
            b = np.asarray(rf(*arrays), dtype=float)
            tol = _RTOL * np.maximum(np.abs(a), np.abs(b))
            if kind is sp.LessThan:
                ok = a <= b + tol
            elif kind is sp.StrictLessThan:
                ok = a < b
            elif kind is sp.GreaterThan:
                ok = a >= b - tol
            elif kind is sp.StrictGreaterThan:
                ok = a > b
            elif kind is sp.Equality:
                ok = np.abs(a - b) <= 1e-9 * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
            else:  # pragma: no cover - constructed bounds only use the kinds above
                raise TypeError(f"unsupported relation {kind}")
            ok = np.broadcast_to(ok, np.broadcast(a, b).shape)
            if not np.all(ok):
                idx = np.unravel_index(np.argmin(ok), ok.shape) if ok.ndim else ()
                av = np.broadcast_to(a, ok.shape)[idx]
                bv = np.broadcast_to(b, ok.shape)[idx]
                rel = c.relation
                where = f" (first at index {tuple(int(i) for i in idx)})" if ok.ndim else ""
                raise ValueError(
                    f"Bound {self.name!r}: condition {c.label} is violated{where}: "
                    f"{_fmt_side(rel.lhs)}={float(av):.6g}, {_fmt_side(rel.rhs)}={float(bv):.6g}."
                )

    def evaluate(
        self,
        values: Mapping[str, Any] | None = None,
        /,
        *,
        ignore_extra: bool = False,
        check: bool = True,
        **kwargs: Any,
    ) -> np.ndarray:
        """Evaluate the right-hand side numerically.

        Parameters
        ----------
        values : mapping, optional (positional only)
            Symbol name -> value; merged with ``kwargs``.
        ignore_extra : bool
            Ignore known symbols that this bound does not use (handy with a full constants
            dict). Unknown names always raise.
        check : bool
            Check the conditions (default). ``False`` evaluates outside them (for plots).
        **kwargs : float or array-like
            Symbol values; arrays broadcast against each other.

        Returns
        -------
        numpy.ndarray
            The bound, with the broadcast shape of the inputs (0-d for scalars).

        Raises
        ------
        ValueError
            Missing symbol or free constant, unknown key (with "did you mean"), invalid value
            (NaN, inf, wrong sign) or violated condition; the message names the culprit.
        """
        if values is not None and not isinstance(values, Mapping):
            raise TypeError(
                f"The 'values' parameter of Bound {self.name!r}.evaluate must be a mapping of "
                f"symbol names to numbers. Got {type(values).__name__}."
            )
        merged = dict(values or {})
        merged.update(kwargs)
        used = self._check_keys(merged, ignore_extra)
        arrays_by_name = validate_values(used, owner=f"Bound {self.name!r}")
        args, rhs, _ = self._compiled
        arrays = [arrays_by_name[s.name] for s in args]
        if check:
            self._check_conditions(arrays, arrays_by_name)
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        except ValueError:
            shaped = ", ".join(
                f"{s.name!r} (shape {a.shape})" for s, a in zip(args, arrays, strict=True) if a.ndim
            )
            raise ValueError(
                f"Bound {self.name!r}: the array values do not broadcast together: {shaped}."
            ) from None
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.asarray(rhs(*arrays), dtype=float)
        if not np.all(np.isfinite(out)):
            big = max(
                args, key=lambda s: float(np.max(np.abs(arrays_by_name[s.name]))), default=None
            )
            raise ValueError(
                f"Bound {self.name!r} is not finite at these values (overflow or a zero "
                f"denominator); check the largest input"
                + (f", {big.name!r}." if big is not None else ".")
            )
        return np.broadcast_to(out, shape).copy() if out.shape != shape else out

    __call__ = evaluate

    def weights(self, values: Mapping[str, Any] | None = None, /, **kwargs) -> dict[str, Any]:
        """Numeric weights of the left-hand side terms.

        Parameters
        ----------
        values, **kwargs
            Symbol values; symbols not in the weights are ignored.

        Returns
        -------
        dict
            quantity -> float (or array).
        """
        merged = dict(values or {})
        merged.update(kwargs)
        out = {}
        for q in dict.fromkeys(self.lhs.quantities):
            w = self.lhs.weight(q)
            names = _names(w.free_symbols)
            missing = [s for s in names if s not in merged]
            if missing:
                raise ValueError(
                    f"Bound {self.name!r}: the weight {w} of {q} needs a value for {missing[0]!r}."
                )
            vals = validate_values({k: merged[k] for k in names}, owner=f"Bound {self.name!r}")
            f = _weight_function(w, tuple(names))
            out[q] = np.asarray(f(*(vals[k] for k in names)), dtype=float)
        return out


def _weight_function(w: sp.Expr, names: tuple):
    """``w`` compiled for numpy, arguments ``names`` (cached: a strict check weighs every run)."""
    return compiled(w, tuple(SYMBOLS[k] for k in names))


@lru_cache(maxsize=2048)
def compiled(expr: sp.Expr, args: tuple, modules: str = "numpy"):
    """``sympy.lambdify(args, expr, modules)``, cached on the expression and its arguments.

    Printing an expression to Python is most of what evaluating a bound costs: the report
    evaluates the same right-hand sides and conditions for every seed of every check, and a
    mutant shares all but one of its bound's expressions. Sympy expressions and symbols are
    immutable and hashable, so an equal key always compiles to the same function. No
    docstring is made (``docstring_limit=0``): printing the expression for it cost a third of
    the time.

    Parameters
    ----------
    expr : sympy expression
    args : tuple of sympy.Symbol
        The function's arguments, in order.
    modules : str
        Lambdify's ``modules`` (``"numpy"``, or ``"math"`` for scalars).

    Returns
    -------
    callable
    """
    return sp.lambdify(list(args), expr, modules=modules, docstring_limit=0)


def _fmt_side(e: sp.Expr) -> str:
    return str(e).replace(" ", "")
