"""The noise generator of ``simulators._rng`` rewritten in plain NumPy (same bits).

Written from the description in ``simulators._rng`` (SplitMix64 hashes of the counter, Box-Muller
with polynomial ``log`` and ``sin``/``cos``), whole arrays at a time: the same IEEE-754 operations
in the same order, so every normal equals the kernels' bit for bit (tests/reference/
test_reference_rng.py). Only the polynomial coefficients are imported (``_rng.LOG_C`` ...), since
they are data derived once; every operation is NumPy's.
"""

from __future__ import annotations

import numpy as np

from partialfed.simulators import _rng

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)


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
    log_c = _rng.LOG_C if log_c is None else log_c
    sqrt_half = _U(_rng.SQRT_HALF_BITS)
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
    return e * _rng.LN2_HI - ((h - (s * (h + r) + e * _rng.LN2_LO)) - f)


def quarter_sincos(r):
    """``(cos, sin)((pi/2) r)`` for ``|r| <= 1/2``: Horner in ``r^2`` for the tails, the leading
    term of ``sin`` in double-double (Dekker's product), ``1 + C1 r^2`` with its rounding error
    (Fast2Sum) in ``cos``."""
    S, C = _rng.SIN_C, _rng.COS_C
    r = np.asarray(r, dtype=np.float64)
    r2 = r * r
    s = S[-2] + r2 * S[-1]
    for a in S[-3:0:-1]:  # S7 .. S1: P = S1 + r2 (S2 + ...)
        s = a + r2 * s
    c = C[-2] + r2 * C[-1]
    for b in C[-3:1:-1]:  # C7 .. C2: Q = C2 + r2 (C3 + ...)
        c = b + r2 * c
    t = S[0] * r
    s0_hi, s0_lo = _rng.dekker_split(S[0])
    r_hi, r_lo = _rng.dekker_split(r)
    t_err = ((s0_hi * r_hi - t) + s0_hi * r_lo + s0_lo * r_hi) + s0_lo * r_lo
    sin = t + ((t_err + _rng.S0_TAIL * r) + (r * r2) * s)
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
