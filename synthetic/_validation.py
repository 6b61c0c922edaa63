"""One validator for every public entry point.

Messages follow one pattern, so a user always learns the parameter, its owner and what is allowed:
``The 'm' parameter of RunConfig must be an int in [1, 20]. Got 0.``
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

__all__ = ["check_int", "check_real", "check_choice", "check_array", "suggest"]


def _fmt(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _interval(lo, hi, lo_open=False, hi_open=False) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}" if isinstance(lo, float) else str(lo)
    hi_s = "inf" if hi is None else f"{hi:g}" if isinstance(hi, float) else str(hi)
    return f"{left}{lo_s}, {hi_s}{right}"


def check_int(value, name: str, owner: str, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[lo, hi]`` or raise a one-line error.

    The error is a ``TypeError`` for a wrong type, a ``ValueError`` for a value out of range.
    """
    ok_type = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    in_range = ok_type and (lo is None or value >= lo) and (hi is None or value <= hi)
    if not in_range:
        exc = ValueError if ok_type else TypeError
        raise exc(
            f"The '{name}' parameter of {owner} must be an int in {_interval(lo, hi)}. "
            f"Got {_fmt(value)}."
        )
    return int(value)


def check_real(
    value,
    name: str,
    owner: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` in the given interval or raise a one-line error."""
    ok_type = isinstance(value, numbers.Real) and not isinstance(value, bool)
    try:
        ok = ok_type and math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        ok = False
    if ok:
        v = float(value)
        ok = (lo is None or (v > lo if lo_open else v >= lo)) and (
            hi is None or (v < hi if hi_open else v <= hi)
        )
    if not ok:
        exc = ValueError if ok_type else TypeError
        raise exc(
            f"The '{name}' parameter of {owner} must be a finite real number in "
            f"{_interval(lo, hi, lo_open, hi_open)}. Got {_fmt(value)}."
        )
    return float(value)


def suggest(word: str, options: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    import difflib

    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def check_choice(value, name: str, owner: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options`` (strings) or raise with a suggestion."""
    options = list(options)
    if not isinstance(value, str) or value not in options:
        allowed = ", ".join(repr(o) for o in options)
        hint = suggest(value, options) if isinstance(value, str) else ""
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {allowed}. Got {_fmt(value)}.{hint}"
        )
    return value


def check_array(value, name: str, owner: str, shape: tuple) -> np.ndarray:
    """Return ``value`` as a finite C-contiguous float64 array of ``shape`` or raise.

    Only integer and real entries are accepted: complex, boolean, string or object arrays are
    refused rather than converted (a cast would drop imaginary parts or turn True into 1.0).
    """
    want = "x".join(str(s) for s in shape) if shape else "scalar"
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raw = None
    if raw is not None and raw.dtype.kind not in "iuf":
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float array of shape {want}. "
            f"Got an array of dtype {raw.dtype}."
        )
    try:
        arr = None if raw is None else np.array(raw, np.float64, order="C")
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.shape != tuple(shape):
        got = "x".join(str(s) for s in arr.shape) if arr is not None else type(value).__name__
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float array of shape {want}. "
            f"Got shape {got}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite float array of shape {want}. "
            "Got NaN or inf entries."
        )
    return arr


#: Largest number of per-device floats a family may allocate (n * (d_u + d_v)): 1.6 GB each.
MAX_FLOATS = 2 * 10**8


def check_size(n: int, d: int, owner: str, limit: int = MAX_FLOATS) -> None:
    """Refuse instances whose per-device arrays (n x d floats) would not fit in memory."""
    if n * d > limit:
        raise ValueError(
            f"The 'n' parameter of {owner} with d_u + d_v = {d} needs n * (d_u + d_v) <= "
            f"{limit:.0e} floats (memory). Got n={n}, n * (d_u + d_v) = {n * d}."
        )
