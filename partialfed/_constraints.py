"""Parameter constraints as data, and the one validator that checks them.

Every public entry point of partialfed declares what each of its parameters accepts in a dict
(as scikit-learn's ``_parameter_constraints``)::

    _parameter_constraints = {
        "algorithm": [Options(str, ALGORITHMS)],
        "T": [Interval(int, 1, 10**7)],
        "eval_every": [Interval(int, 1, "T")],  # a bound may name an earlier parameter
        "clusters": [Interval(int, 1, 1024), None],  # several constraints: any one suffices
    }

and checks its arguments with :func:`validate_params` (or :func:`validate` for one value, or the
:func:`validate_args` decorator for a function). Every message has one form, naming the parameter,
its owner and what is allowed::

    The 'm' parameter of RunConfig must be an int in [1, 20]. Got 0.

and unknown names get the closest valid name once (:func:`check_names`)::

    Unknown parameter 'detla' of quadratic; allowed: n, d_u, .... Did you mean 'delta'?

A wrong type raises ``TypeError``, a value of the right type outside what is allowed raises
``ValueError`` (options and arrays always ``ValueError``). This module imports only the standard
library and numpy, so ``theory`` (sympy and numpy only) may use it too.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "Options",
    "Array",
    "validate",
    "validate_params",
    "validate_args",
    "check_names",
    "suggest",
    "fmt_value",
]

#: A bound of an ``Interval``: a number, ``None`` (unbounded), the name of an earlier parameter,
#: or a function of the values validated so far.
BoundSpec = float | int | str | Callable[[Mapping[str, Any]], float] | None


def fmt_value(value: Any) -> str:
    """A one-line repr of ``value``, at most 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _fmt_num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def suggest(word: Any, options: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the option closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class Interval:
    """Numbers of one type in an interval.

    Parameters
    ----------
    type : {int, float}
        ``int``: integral numbers (Python or numpy ints, never bools); ``float``: finite real
        numbers (ints and numpy floats included, never bools).
    left, right : number, str, callable or None
        The ends; ``None`` is unbounded, a str names an earlier parameter whose validated value
        is the end, a callable gets the values validated so far.
    closed : {"both", "left", "right", "neither"}
        Which ends belong to the interval.
    """

    def __init__(self, type, left: BoundSpec, right: BoundSpec, *, closed: str = "both"):
        if type not in (int, float):
            raise TypeError(f"Interval type must be int or float, not {type!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval closed must be both, left, right or neither: {closed!r}")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def bounds(self, context: Mapping[str, Any]) -> tuple:
        """The numeric ends, with names and callables resolved against ``context``."""

        def resolve(end):
            if isinstance(end, str):
                return context[end]
            return end(context) if callable(end) else end

        return resolve(self.left), resolve(self.right)

    def type_ok(self, value) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        return isinstance(value, numbers.Integral if self.type is int else numbers.Real)

    def check(self, value, context: Mapping[str, Any]):
        """The converted value (``int`` or ``float``), or raise ``_Reject``."""
        if not self.type_ok(value):
            raise _Reject(TypeError)
        if self.type is int:
            v = int(value)
        else:
            try:
                v = float(value)
            except OverflowError:  # an int too large for a float
                raise _Reject(ValueError) from None
            if not math.isfinite(v):
                raise _Reject(ValueError)
        lo, hi = self.bounds(context)
        lo_open = self.closed in ("right", "neither")
        hi_open = self.closed in ("left", "neither")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise _Reject(ValueError)
        if hi is not None and (v >= hi if hi_open else v > hi):
            raise _Reject(ValueError)
        return v

    def text(self, context: Mapping[str, Any]) -> str:
        """The interval in the usual notation, e.g. ``[0, 1)``."""
        lo, hi = self.bounds(context)
        left = "(" if lo is None or self.closed in ("right", "neither") else "["
        right = ")" if hi is None or self.closed in ("left", "neither") else "]"
        lo_s = "-inf" if lo is None else _fmt_num(lo)
        hi_s = "inf" if hi is None else _fmt_num(hi)
        return f"{left}{lo_s}, {hi_s}{right}"

    def describe(self, context: Mapping[str, Any]) -> str:
        kind = "an int" if self.type is int else "a finite real number"
        return f"{kind} in {self.text(context)}"


class Options:
    """One of a fixed set of values (strings, in practice).

    Parameters
    ----------
    type : type
        The type of the options, e.g. ``str``.
    options : iterable
        The allowed values, listed in this order in messages.
    """

    def __init__(self, type, options: Iterable):
        self.type, self.options = type, tuple(options)

    def type_ok(self, value) -> bool:
        return isinstance(value, self.type)

    def check(self, value, context):
        if not isinstance(value, self.type) or value not in self.options:
            raise _Reject(ValueError, suggest(value, self.options) if self.type_ok(value) else "")
        return value

    def describe(self, context) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


class Array:
    """A finite float64 array (returned C-contiguous).

    Only integer and real entries are accepted: complex, boolean, string or object arrays are
    refused rather than converted (a cast would drop imaginary parts or turn True into 1.0).

    Parameters
    ----------
    shape : tuple or None
        The exact shape; an entry may name an earlier (int) parameter. ``None``: a real number
        or a non-empty array of any shape.
    within : Interval or None
        An interval (of type float) every entry must lie in.
    """

    def __init__(self, shape: tuple | None = None, *, within: Interval | None = None):
        self.shape, self.within = (None if shape is None else tuple(shape)), within

    def type_ok(self, value) -> bool:
        return True

    def _shape(self, context) -> tuple | None:
        if self.shape is None:
            return None
        return tuple(context[s] if isinstance(s, str) else s for s in self.shape)

    def check(self, value, context):
        want = self._shape(context)
        if isinstance(value, str | bytes | bool | np.bool_):
            raise _Reject(ValueError)
        if np.ma.is_masked(value):  # np.asarray would drop the mask and use the hidden values
            raise _Reject(ValueError, got="Got a masked array with masked entries (fill them).")
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError, OverflowError):
            raise _Reject(ValueError, got=f"Got {fmt_value(value)}.") from None
        if raw.dtype.kind not in "iuf":
            got = f"Got an array of dtype {raw.dtype}." if isinstance(value, np.ndarray) else ""
            raise _Reject(ValueError, got=got)
        try:
            arr = np.array(raw, np.float64, order="C")
        except OverflowError:  # ints too large for a float
            raise _Reject(ValueError) from None
        if want is None and arr.size == 0:
            raise _Reject(ValueError, got="Got an empty array.")
        if want is not None and arr.shape != want:
            got = "x".join(str(s) for s in arr.shape) if arr.ndim else "scalar"
            raise _Reject(ValueError, got=f"Got shape {got}.")
        if not np.all(np.isfinite(arr)):
            raise _Reject(ValueError, got="Got NaN or inf entries." if arr.ndim else "")
        if self.within is not None:
            lo, hi = self.within.bounds(context)
            lo_open = self.within.closed in ("right", "neither")
            hi_open = self.within.closed in ("left", "neither")
            bad = np.zeros(arr.shape, bool)
            if lo is not None:
                bad |= arr <= lo if lo_open else arr < lo
            if hi is not None:
                bad |= arr >= hi if hi_open else arr > hi
            if np.any(bad):
                raise _Reject(ValueError, got=f"Got {float(arr[bad].flat[0])!r}.")
        return arr

    def describe(self, context) -> str:
        want = self._shape(context)
        if want is None:
            text = "a finite real number or a non-empty array of them"
        else:
            text = f"a finite float array of shape {'x'.join(map(str, want)) or 'scalar'}"
        if self.within is not None:
            text += " in " + self.within.text(context)
        return text


class _Boolean:
    def type_ok(self, value) -> bool:
        return isinstance(value, bool | np.bool_)

    def check(self, value, context):
        if not self.type_ok(value):
            raise _Reject(TypeError)
        return bool(value)

    def describe(self, context) -> str:
        return "a bool"


class _NoneConstraint:
    def type_ok(self, value) -> bool:
        return value is None

    def check(self, value, context):
        if value is not None:
            raise _Reject(TypeError)
        return None

    def describe(self, context) -> str:
        return "None"


class _Reject(Exception):
    """Internal: a constraint refuses a value (the exception type to raise, extra text)."""

    def __init__(self, exc: type, hint: str = "", got: str = ""):
        super().__init__(exc, hint, got)
        self.exc, self.hint, self.got = exc, hint, got


def _as_constraint(c):
    if c is None:
        return _NoneConstraint()
    if c == "boolean":
        return _Boolean()
    if isinstance(c, Interval | Options | Array):
        return c
    raise TypeError(f"not a constraint: {c!r}")


def validate(value, name: str, owner: str, *constraints, context: Mapping | None = None):
    """Check one value against ``constraints`` (any one suffices) and return it converted.

    Parameters
    ----------
    value
        The value given.
    name, owner : str
        The parameter and what it belongs to, for the message (``'m'``, ``"RunConfig"``).
    *constraints
        ``Interval``, ``Options``, ``Array``, ``"boolean"`` or ``None`` (the value ``None``).
    context : mapping, optional
        Values of earlier parameters, for bounds and shapes that name them.

    Returns
    -------
    The value converted by the first constraint it satisfies (``int``, ``float``, float64
    array, ...).

    Raises
    ------
    TypeError, ValueError
        One line: ``The 'name' parameter of owner must be ... . Got ... .``
    """
    context = {} if context is None else context
    cs = [_as_constraint(c) for c in constraints]
    rejects = []
    for c in cs:
        try:
            return c.check(value, context)
        except _Reject as r:
            rejects.append(r)
    # TypeError only when no constraint accepts the value's type.
    exc = TypeError if all(r.exc is TypeError for r in rejects) else ValueError
    allowed = " or ".join(c.describe(context) for c in cs)
    got = next((r.got for r in rejects if r.got), "") or f"Got {fmt_value(value)}."
    hint = next((r.hint for r in rejects if r.hint), "")
    raise exc(f"The '{name}' parameter of {owner} must be {allowed}. {got}{hint}")


def validate_params(
    values: Mapping[str, Any], constraints: Mapping[str, list], owner: str
) -> dict[str, Any]:
    """Check every value with a declared constraint, in the order of ``constraints``.

    A bound or shape naming another parameter sees that parameter's converted value, so list it
    first. Names in ``values`` without constraints pass unchecked (use :func:`check_names` to
    refuse unknown names).

    Returns
    -------
    dict
        ``values`` with the checked ones converted.
    """
    out = dict(values)
    done: dict[str, Any] = {}
    for name, cs in constraints.items():
        if name in out:
            out[name] = done[name] = validate(out[name], name, owner, *cs, context=done)
    return out


def check_names(
    given: Iterable[str], allowed: Iterable[str], owner: str, *, noun: str = "parameter"
) -> None:
    """Refuse the first name of ``given`` that is not in ``allowed``, with a suggestion.

    Raises
    ------
    ValueError
        ``Unknown parameter 'x' of owner; allowed: a, b. Did you mean 'y'?``
    """
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            raise ValueError(
                f"Unknown {noun} {fmt_value(key)} of {owner}; allowed: {', '.join(allowed)}."
                + suggest(key, allowed)
            )


def validate_args(constraints: Mapping[str, list], owner: str):
    """Decorate a function so that its arguments are checked against ``constraints`` first.

    The function receives the converted values; its ``_parameter_constraints`` attribute holds
    the constraints and ``inspect.signature`` still shows its own parameters.
    """

    def decorate(fn):
        sig = inspect.signature(fn)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"{fn.__name__} has no parameters {sorted(unknown)} to constrain")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            checked = validate_params(bound.arguments, constraints, owner)
            bound.arguments.update(checked)
            return fn(*bound.args, **bound.kwargs)

        wrapper._parameter_constraints = constraints
        return wrapper

    return decorate
