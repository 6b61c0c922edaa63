"""The noise generator of ``simulators._rng`` rewritten in plain NumPy (same bits).

Written from the description in ``simulators._rng`` (SplitMix64 hashes of the counter, Box-Muller
with polynomial ``log`` and ``sin``/``cos``), whole arrays at a time: the same IEEE-754 operations
in the same order, so every normal equals the kernels' bit for bit (tests/reference/
test_reference_rng.py). Nothing numeric is imported from ``_rng``: the polynomial coefficients
are derived here on their own path (:func:`derive`: exact ``fractions.Fraction`` arithmetic, with
``pi`` from Machin's formula and ``log 2`` from the ``atanh`` series, rounded once to doubles),
where ``_rng`` derives them with ``mpmath``; the test compares the two derivations, so a wrong
coefficient in ``_rng`` fails the bitwise comparison instead of being copied into the reference.
"""

from __future__ import annotations

from fractions import Fraction
from math import factorial

import numpy as np

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)


LOG_TERMS = 10  # R(z) = sum_{k=1..10} 2 z^k / (2k + 1), the truncation _rng describes
SINCOS_TERMS = 9  # Taylor terms of sin and cos of (pi/2) r


def _atan_inv(x: int, terms: int) -> Fraction:
    """``atan(1/x) = sum_k (-1)^k / ((2k + 1) x^(2k + 1))``, exactly to ``terms`` terms."""
    return sum(Fraction((-1) ** k, (2 * k + 1) * x ** (2 * k + 1)) for k in range(terms))


def derive() -> dict:
    """The constants of the polynomial ``log`` and ``sin``/``cos``, from their definitions.

    ``pi = 16 atan(1/5) - 4 atan(1/239)`` (Machin) and ``log 2 = 2 atanh(1/3) = 2 sum_k
    3^-(2k+1) / (2k+1)``, each truncated 60 terms in (error below 1e-55); every coefficient
    is a ``Fraction`` rounded once to the nearest double (``float(Fraction)`` rounds
    correctly). ``LN2_HI`` keeps 32 bits of ``log 2`` (so ``e * LN2_HI`` is exact for the
    exponents of doubles), ``LN2_LO = fl(log 2 - LN2_HI)``; ``S0_TAIL = fl(pi/2 - fl(pi/2))``.
    """
    pi = 16 * _atan_inv(5, 60) - 4 * _atan_inv(239, 60)
    ln2 = 2 * sum(Fraction(1, (2 * k + 1) * 3 ** (2 * k + 1)) for k in range(60))
    ln2_hi = Fraction(int(ln2 * 2**32), 2**32)  # floor: ln2 > 0
    h = pi / 2
    sin_c = tuple(
        float((-1) ** k * h ** (2 * k + 1) / factorial(2 * k + 1)) for k in range(SINCOS_TERMS)
    )
    cos_c = tuple(float((-1) ** k * h ** (2 * k) / factorial(2 * k)) for k in range(SINCOS_TERMS))
    return {
        "LN2_HI": float(ln2_hi),
        "LN2_LO": float(ln2 - ln2_hi),
        "LOG_C": tuple(float(Fraction(2, 2 * k + 1)) for k in range(1, LOG_TERMS + 1)),
        "SIN_C": sin_c,
        "COS_C": cos_c,
        "SQRT_HALF_BITS": int(np.sqrt(np.float64(0.5)).view(_U)),  # IEEE sqrt: correctly rounded
        "S0_TAIL": float(h - Fraction(sin_c[0])),
    }


_C = derive()
LN2_HI, LN2_LO, LOG_C = _C["LN2_HI"], _C["LN2_LO"], _C["LOG_C"]
SIN_C, COS_C, SQRT_HALF_BITS, S0_TAIL = (
    _C["SIN_C"],
    _C["COS_C"],
    _C["SQRT_HALF_BITS"],
    _C["S0_TAIL"],
)


def dekker_split(a):
    """``(hi, lo)``, ``hi + lo == a`` exactly, 26 significant bits in ``hi`` (Veltkamp's split
    with the constant ``2^27 + 1``)."""
    c = 134217729.0 * a
    hi = c - (c - a)
    return hi, a - hi


def mix(z):
    """SplitMix64 finaliser of a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=_U)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _U(30))) * _M1
        z = (z ^ (z >> _U(27))) * _M2
    return z ^ (z >> _U(31))


def key(seed, stream, t, i, k):
    """``_rng.key``: each counter component folded in with one SplitMix64 round."""
    with np.errstate(over="ignore"):
        h = mix(np.array([seed], dtype=_U) + _GOLDEN)
        for part in (stream, t, i, k):
            h = mix(h ^ (np.array([part], dtype=_U) + _GOLDEN))
    return h


def hashes(kk, j):
    """Hashes ``j`` (an int array) of key ``kk``."""
    with np.errstate(over="ignore"):
        return mix(np.asarray(kk, dtype=_U) + (np.asarray(j, dtype=_U) + _U(1)) * _GOLDEN)


def unit(z):
    """Uniform in (0, 1): ``(floor(z / 2^11) + 1/2) 2^-53``."""
    return ((z >> _U(11)).astype(np.int64).astype(np.float64) + 0.5) * (1.0 / 2.0**53)


def log(x, log_c=None):
    """``_rng._log`` on an array: ``x = 2^e y``, ``log y = f - (h - s (h + R(s^2)))``."""
    log_c = LOG_C if log_c is None else log_c
    sqrt_half = _U(SQRT_HALF_BITS)
    with np.errstate(over="ignore"):
        t = np.asarray(x, dtype=np.float64).view(_U) - sqrt_half
    e = (t.view(np.int64) >> np.int64(52)).astype(np.float64)
    f = ((t & _U((1 << 52) - 1)) + sqrt_half).view(np.float64) - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = log_c[-2] + z * log_c[-1]
    for c in log_c[-3:0:-1]:
        r = c + z * r
    r = z * (log_c[0] + z * r)
    h = 0.5 * f * f
    return e * LN2_HI - ((h - (s * (h + r) + e * LN2_LO)) - f)


def quarter_sincos(r, sin_c=None, cos_c=None):
    """``(cos, sin)((pi/2) r)`` for ``|r| <= 1/2``: Horner in ``r^2`` for the tails, the leading
    term of ``sin`` in double-double (Dekker's product), ``1 + C1 r^2`` with its rounding error
    (Fast2Sum) in ``cos``. ``sin_c``, ``cos_c``: other coefficients (mutants); default
    :func:`derive`'s."""
    S = SIN_C if sin_c is None else sin_c
    C = COS_C if cos_c is None else cos_c
    r = np.asarray(r, dtype=np.float64)
    r2 = r * r
    s = S[-2] + r2 * S[-1]
    for a in S[-3:0:-1]:  # S7 .. S1: P = S1 + r2 (S2 + ...)
        s = a + r2 * s
    c = C[-2] + r2 * C[-1]
    for b in C[-3:1:-1]:  # C7 .. C2: Q = C2 + r2 (C3 + ...)
        c = b + r2 * c
    t = S[0] * r
    s0_hi, s0_lo = dekker_split(S[0])
    r_hi, r_lo = dekker_split(r)
    t_err = ((s0_hi * r_hi - t) + s0_hi * r_lo + s0_lo * r_hi) + s0_lo * r_lo
    sin = t + ((t_err + S0_TAIL * r) + (r * r2) * s)
    x = C[1] * r2
    one = 1.0 + x
    cos = one + (((1.0 - one) + x) + (r2 * r2) * c)
    return cos, sin


def turn_cossin(z):
    """``(cos, sin)(2 pi U)`` of the angle hashes ``z``: quarter turn, then swaps and signs."""
    with np.errstate(over="ignore"):
        a = z + _U(1 << 61)
    q = a >> _U(62)
    w = (a & _U((1 << 62) - 1)).astype(np.int64) - np.int64(1 << 61)
    r = ((w >> np.int64(9)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)
    c, s = quarter_sincos(r)
    odd = (q & _U(1)) == _U(1)
    x = np.where(odd, s, c)
    y = np.where(odd, c, s)
    sx = 1.0 - 2.0 * (((q + _U(1)) >> _U(1)) & _U(1)).astype(np.int64).astype(np.float64)
    sy = 1.0 - 2.0 * ((q >> _U(1)) & _U(1)).astype(np.int64).astype(np.float64)
    return sx * x, sy * y


def normals(kk, start, count, log_fn=log):
    """Standard normals ``start .. start + count - 1`` of key ``kk`` (pair ``p`` gives normals
    ``2p`` (cos) and ``2p + 1`` (sin))."""
    if count == 0:
        return np.zeros(0)
    p = np.arange(start // 2, (start + count - 1) // 2 + 1, dtype=np.int64)
    rad = np.sqrt(-2.0 * log_fn(unit(hashes(kk, 2 * p))))
    c, s = turn_cossin(hashes(kk, 2 * p + 1))
    z = np.empty(2 * p.size)
    z[0::2] = rad * c
    z[1::2] = rad * s
    first = start - 2 * p[0]
    return z[first : first + count]


def normal_vector(seed, stream, t, i, k, d):
    """The ``d`` normals of local step ``k``: ``k d .. k d + d - 1`` of key
    ``(seed, stream, t, i, 0)`` (``_rng.noise_key``)."""
    return normals(key(seed, stream, t, i, 0)[0], k * d, d)
