"""Counter-based random numbers for the kernels.

Every random number in a run is a pure function of ``(seed, stream, round, device, step, index)``:
it is produced by hashing that tuple, never by advancing a generator state. A run is therefore
bitwise identical for any number of threads and any order in which devices are processed, and a
plain-NumPy reference can regenerate exactly the same noise (tests/reference/naive_rng.py).

The hash is the SplitMix64 finaliser (Steele, Lea & Flood 2014) applied to a running combination
of the counters. Normal variates use the Box-Muller transform of two independent uniforms
(Box & Muller 1958): ``sqrt(-2 log U1) (cos, sin)(2 pi U2)``. Both are cited at
docs/references.md#rng-generators.

Speed: the transform calls no libm function. ``log`` and ``sin``/``cos`` are branch-free
polynomials (``_log``, ``_quarter_sincos``), each within one ulp of libm on dense grids
(tests/reference/test_rng_accuracy.py), so the loop over the pairs of a block (``fill_normals``)
compiles to SIMD code. Their coefficients are Taylor coefficients, derived below from exact
rationals and ``pi`` to 60 digits (``mpmath``), never typed in; the leading terms of ``sin`` and
``cos`` are carried with Dekker's exact product and Fast2Sum (Dekker 1971, same anchor).

Noise is drawn per (device, phase): the key ``noise_key(seed, stream, t, i)`` and, for local
step ``k`` of a block of dimension ``d``, the normals ``k d .. k d + d - 1`` of it. The round
kernels draw whole phases into a buffer (``fill_normals``); drawing one step at a time
(``add_normals``) gives the same numbers.
"""

from __future__ import annotations

import mpmath
import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.extending import intrinsic

# Streams: one independent family of random numbers per purpose.
STREAM_SAMPLING = 1  # which devices take part in a round
STREAM_NOISE_U = 2  # additive Gaussian noise on u-gradients
STREAM_NOISE_V = 3  # additive Gaussian noise on v-gradients
STREAM_BATCH = 4  # minibatch indices of finite-sum families

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0


# -- constants of the polynomials (derived, see the module docstring) -------------------------

LOG_TERMS = 10  # R(z) = sum_{k=1..LOG_TERMS} 2 z^k / (2k + 1): remainder < 2^-60 relative
SINCOS_TERMS = 9  # Taylor terms of sin, cos of (pi/2) r, |r| <= 1/2: remainder < 2^-58 (cos)


def _derive():
    """Coefficients of ``_log`` and ``_quarter_sincos`` (Taylor series), rounded to doubles."""
    mpmath.mp.dps = 60
    ln2 = mpmath.log(2)
    ln2_hi = float(mpmath.floor(ln2 * 2**32) / 2**32)  # 32 bits: e * ln2_hi is exact, |e| < 2^11
    ln2_lo = float(ln2 - ln2_hi)
    # log((1+s)/(1-s)) = 2s + s R(s^2), R(z) = sum_k 2 z^k / (2k+1)
    log_c = tuple(float(mpmath.mpf(2) / (2 * k + 1)) for k in range(1, LOG_TERMS + 1))
    h = mpmath.pi / 2
    sin_c = tuple(
        float((-1) ** k * h ** (2 * k + 1) / mpmath.factorial(2 * k + 1))
        for k in range(SINCOS_TERMS)
    )
    cos_c = tuple(
        float((-1) ** k * h ** (2 * k) / mpmath.factorial(2 * k)) for k in range(SINCOS_TERMS)
    )
    sqrt_half_bits = int(np.array(float(mpmath.sqrt(0.5))).view(np.uint64))
    s0_tail = float(h - sin_c[0])  # pi/2 - fl(pi/2)
    return ln2_hi, ln2_lo, log_c, sin_c, cos_c, sqrt_half_bits, s0_tail


def dekker_split(a, split=float(2**27 + 1)):
    """``(hi, lo)`` with ``hi + lo == a`` exactly and 26 significant bits in ``hi`` (Dekker,
    "A floating-point technique for extending the available precision", Numer. Math. 18, 1971),
    so that products of halves are exact."""
    s = split * a
    hi = s - (s - a)
    return hi, a - hi


LN2_HI, LN2_LO, LOG_C, SIN_C, COS_C, SQRT_HALF_BITS, S0_TAIL = _derive()
_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10 = LOG_C
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8 = SIN_C
_C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = COS_C[1:]  # COS_C[0] == 1.0
_SPLIT = float(2**27 + 1)
_S0_HI, _S0_LO = dekker_split(_S0)
_S0_TAIL = S0_TAIL
_SQRT_HALF = uint64(SQRT_HALF_BITS)
_LOW52 = uint64((1 << 52) - 1)
_EIGHTH = uint64(1 << 61)  # an eighth of a turn, in units of 2^-64 turns
_LOW62 = uint64((1 << 62) - 1)


@intrinsic
def _bits(typingctx, x):
    """The IEEE-754 bits of the double ``x`` as a uint64 (a bit cast, no conversion)."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, b):
    """The double whose IEEE-754 bits are the uint64 ``b``."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# -- hashing ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mix(z):
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def key(seed, stream, t, i, k):
    """Return the 64-bit key of the counter ``(seed, stream, t, i, k)``.

    Each component is folded in with one SplitMix64 round, so keys that differ in any component
    are decorrelated.
    """
    h = _mix(uint64(seed) + _GOLDEN)
    h = _mix(h ^ (uint64(stream) + _GOLDEN))
    h = _mix(h ^ (uint64(t) + _GOLDEN))
    h = _mix(h ^ (uint64(i) + _GOLDEN))
    h = _mix(h ^ (uint64(k) + _GOLDEN))
    return h


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _hash(kk, j):
    """The ``j``-th 64-bit hash of key ``kk``."""
    # uint64(kk): a key passed in from Python arrives as int64, and int64 + uint64 would
    # promote to float64.
    return _mix(uint64(kk) + (uint64(j) + uint64(1)) * _GOLDEN)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _unit(z):
    """The uniform in (0, 1) of hash ``z``: ``(floor(z / 2^11) + 1/2) 2^-53``, never 0 or 1."""
    return (float(np.int64(z >> uint64(11))) + 0.5) * _INV_2_53


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def uniform(kk, j):
    """The ``j``-th uniform in (0, 1) of key ``kk`` (53-bit resolution, never exactly 0)."""
    return _unit(_hash(kk, j))


# -- branch-free log and sin/cos ---------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log(x):
    """Natural logarithm of a positive normal double, branch-free.

    ``x = 2^e y`` with ``y`` in ``[sqrt(1/2), sqrt(2))`` (one integer subtraction on the bits),
    ``f = y - 1`` (exact), ``s = f / (2 + f)``; then ``log y = log((1+s)/(1-s)) = 2s + s R(s^2)``
    with ``R(z) = sum_k 2 z^k / (2k+1)`` (``|s| <= 0.1716``). Since ``2s = f - s f`` and
    ``s f = h - s h`` for ``h = f^2/2``, ``log y = f - (h - s (h + R))``, which keeps the leading
    term ``f`` exact; ``e log 2`` is added in two parts (``e * LN2_HI`` is exact).
    """
    t = _bits(x) - _SQRT_HALF
    e = float(np.int64(t) >> np.int64(52))
    f = _from_bits((t & _LOW52) + _SQRT_HALF) - 1.0
    s = f / (2.0 + f)
    z = s * s
    # Horner's rule for R(z) = z (L1 + z (L2 + ... + z L10))
    r = _L9 + z * _L10
    r = _L8 + z * r
    r = _L7 + z * r
    r = _L6 + z * r
    r = _L5 + z * r
    r = _L4 + z * r
    r = _L3 + z * r
    r = _L2 + z * r
    r = z * (_L1 + z * r)
    h = 0.5 * f * f
    return e * LN2_HI - ((h - (s * (h + r) + e * LN2_LO)) - f)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _quarter_sincos(r):
    """``(cos, sin)`` of ``(pi/2) r`` for ``|r| <= 1/2``: Taylor polynomials in ``r``.

    ``sin = t + r^3 P(r^2)`` with the leading ``t = (pi/2) r`` carried to double-double (Dekker's
    exact product and the rounding error of ``pi/2``); ``cos = 1 + C1 r^2 + r^4 Q(r^2)`` with the
    rounding error of ``1 + C1 r^2`` recovered (Fast2Sum). Both within one ulp of libm.
    """
    r2 = r * r
    # Horner's rule in r^2 for the tails P = S1 + r2 (S2 + ...) and Q = C2 + r2 (C3 + ...)
    s = _S7 + r2 * _S8
    c = _C7 + r2 * _C8
    s = _S6 + r2 * s
    c = _C6 + r2 * c
    s = _S5 + r2 * s
    c = _C5 + r2 * c
    s = _S4 + r2 * s
    c = _C4 + r2 * c
    s = _S3 + r2 * s
    c = _C3 + r2 * c
    s = _S2 + r2 * s
    c = _C2 + r2 * c
    s = _S1 + r2 * s
    t = _S0 * r
    rs = _SPLIT * r
    r_hi = rs - (rs - r)
    r_lo = r - r_hi
    t_err = ((_S0_HI * r_hi - t) + _S0_HI * r_lo + _S0_LO * r_hi) + _S0_LO * r_lo
    sin = t + ((t_err + _S0_TAIL * r) + (r * r2) * s)
    x = _C1 * r2
    one = 1.0 + x
    cos = one + (((1.0 - one) + x) + (r2 * r2) * c)
    return cos, sin


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _turn_cossin(z):
    """``(cos, sin)(2 pi U)`` for the uniform angle ``U`` (in turns) of hash ``z``.

    ``z + 2^61`` splits into a quarter ``q`` (top two bits) and a remainder: the angle is
    ``(pi/2) (q + r)``, ``r = (w + 1/2) 2^-53`` for the 53-bit signed remainder ``w``, so
    ``|r| < 1/2``, and the quarter turns ``(cos, sin)`` of ``(pi/2) r`` by swaps and signs.
    """
    a = z + _EIGHTH
    q = a >> uint64(62)
    w = np.int64(a & _LOW62) - np.int64(1 << 61)
    r = (float(w >> np.int64(9)) + 0.5) * _INV_2_53
    c, s = _quarter_sincos(r)
    odd = (q & uint64(1)) == uint64(1)
    x = s if odd else c
    y = c if odd else s
    sx = 1.0 - 2.0 * float(np.int64(((q + uint64(1)) >> uint64(1)) & uint64(1)))
    sy = 1.0 - 2.0 * float(np.int64((q >> uint64(1)) & uint64(1)))
    return sx * x, sy * y


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def normal_pair(kk, p):
    """Standard normals ``2p`` and ``2p+1`` of key ``kk``: both outputs of one Box-Muller
    transform of the hashes ``2p`` (radius) and ``2p+1`` (angle), independent N(0, 1)."""
    rad = np.sqrt(-2.0 * _log(_unit(_hash(kk, 2 * p))))
    c, s = _turn_cossin(_hash(kk, 2 * p + 1))
    return rad * c, rad * s


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def normal(kk, j):
    """The ``j``-th standard normal of key ``kk`` (component ``j % 2`` of pair ``j // 2``)."""
    z0, z1 = normal_pair(kk, j // 2)
    return z0 if j % 2 == 0 else z1


@njit(cache=True, nogil=True, error_model="numpy")
def _edge_pair(kk, p):
    """``normal_pair`` as an ordinary call: the first and last pair of a block, so that only
    the vectorised loop inlines the transform (each inlined copy costs compilation time)."""
    return normal_pair(kk, p)


@njit(cache=True, nogil=True, error_model="numpy")
def add_normals(g, scale, kk, start):
    """``g[c] += scale * normal(kk, start + c)`` for every c, one Box-Muller transform per pair.

    The pair loop has no call and no branch, so it is vectorised (several pairs per SIMD
    instruction). An odd ``start`` begins with the second output of pair ``start // 2``.
    """
    d = g.shape[0]
    c = 0
    if start % 2 == 1 and d > 0:
        _, z1 = _edge_pair(kk, start // 2)
        g[0] += scale * z1
        c = 1
    p0 = (start + c) // 2
    pairs = (d - c) // 2
    for q in range(pairs):
        z0, z1 = normal_pair(kk, p0 + q)
        g[c + 2 * q] += scale * z0
        g[c + 2 * q + 1] += scale * z1
    if (d - c) % 2 == 1:
        z0, _ = _edge_pair(kk, p0 + pairs)
        g[d - 1] += scale * z0


@njit(cache=True, nogil=True, error_model="numpy")
def fill_normals(out, scale, kk, start):
    """``out[c] = scale * normal(kk, start + c)`` for every c (``add_normals`` into a buffer).

    The kernels draw one such block per (device, phase) and let each local step consume its
    part, so the vectorised pair loop runs over whole phases, not over one step's coordinates.
    """
    d = out.shape[0]
    c = 0
    if start % 2 == 1 and d > 0:
        _, z1 = _edge_pair(kk, start // 2)
        out[0] = scale * z1
        c = 1
    p0 = (start + c) // 2
    pairs = (d - c) // 2
    for q in range(pairs):
        z0, z1 = normal_pair(kk, p0 + q)
        out[c + 2 * q] = scale * z0
        out[c + 2 * q + 1] = scale * z1
    if (d - c) % 2 == 1:
        z0, _ = _edge_pair(kk, p0 + pairs)
        out[d - 1] = scale * z0


@njit(cache=True, nogil=True, error_model="numpy")
def normals(kk, start, count):
    """Standard normals ``start .. start + count - 1`` of key ``kk`` (for references/tests)."""
    out = np.empty(count)
    fill_normals(out, 1.0, kk, start)
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def noise_key(seed, stream, t, i):
    """Key of the additive noise of device ``i`` in round ``t`` on ``stream``: local step ``k``
    of a block of dimension ``d`` uses its normals ``k d .. k d + d - 1``."""
    return key(seed, stream, t, i, 0)


@njit(cache=True, nogil=True, error_model="numpy")
def normal_vector(seed, stream, t, i, k, d):
    """The ``d`` standard normals of local step ``k`` (``noise_key``; for references/tests)."""
    return normals(noise_key(seed, stream, t, i), k * d, d)


@njit(cache=True, nogil=True, error_model="numpy")
def log_values(x):
    """``_log`` of every element of ``x`` (for the accuracy tests)."""
    out = np.empty_like(x)
    for c in range(x.shape[0]):
        out[c] = _log(x[c])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def quarter_values(r):
    """``_quarter_sincos`` of every element of ``r``, as ``(cos, sin)`` (for the tests)."""
    c = np.empty_like(r)
    s = np.empty_like(r)
    for j in range(r.shape[0]):
        c[j], s[j] = _quarter_sincos(r[j])
    return c, s


@njit(cache=True, nogil=True, error_model="numpy")
def turn_values(z):
    """``_turn_cossin`` of every angle hash in ``z`` (uint64), as ``(cos, sin)``."""
    c = np.empty(z.shape[0])
    s = np.empty(z.shape[0])
    for j in range(z.shape[0]):
        c[j], s[j] = _turn_cossin(z[j])
    return c, s


@njit(cache=True, nogil=True, error_model="numpy")
def batch_indices(seed, t, i, k, size, b):
    """``b`` indices drawn uniformly with replacement from ``range(size)`` for step ``k``."""
    kk = key(seed, STREAM_BATCH, t, i, k)
    out = np.empty(b, dtype=np.int64)
    for j in range(b):
        out[j] = min(int(uniform(kk, j) * size), size - 1)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _radix_sorted(x, n):
    """A sorted copy of the integers ``x`` in ``range(n)``: least-significant-digit radix sort,
    one stable counting pass per byte of ``n - 1`` (same result as ``np.sort``, which costs
    seconds of compilation)."""
    a = x.copy()
    b = np.empty_like(a)
    count = np.empty(257, dtype=np.int64)
    shift = 0
    while shift < 63 and ((n - 1) >> shift) > 0:
        count[:] = 0
        for j in range(a.shape[0]):
            count[((a[j] >> shift) & 255) + 1] += 1
        for c in range(256):
            count[c + 1] += count[c]
        for j in range(a.shape[0]):
            digit = (a[j] >> shift) & 255
            b[count[digit]] = a[j]
            count[digit] += 1
        a, b = b, a
        shift += 8
    return a


@njit(cache=True, nogil=True, error_model="numpy")
def sample_round(seed, t, perm, m):
    """Sample ``m`` of ``n = len(perm)`` devices uniformly without replacement for round ``t``.

    A partial Fisher-Yates shuffle of the persistent permutation ``perm`` (modified in place, so
    the cost is O(m) per round even for millions of devices); the result is returned sorted, which
    fixes the order of the server's reduction.
    """
    n = perm.shape[0]
    kk = key(seed, STREAM_SAMPLING, t, 0, 0)
    for j in range(m):
        r = j + min(int(uniform(kk, j) * (n - j)), n - j - 1)
        tmp = perm[j]
        perm[j] = perm[r]
        perm[r] = tmp
    return _radix_sorted(perm[:m], n)
