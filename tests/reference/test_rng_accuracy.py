"""Error of the generator's polynomial ``log`` and ``sin``/``cos`` against libm, in ulp.

Dense grids: every binade the Box-Muller radius can meet (uniforms in ``[2^-54, 1)``) and
the whole quarter-turn range of the angle polynomials. The error is measured in units in the
last place of libm's value (``np.spacing``). Mutants (a wrong coefficient, a truncated series)
must be far outside the bound, so the measurement is sharp.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from naive_rng import COS_C, LOG_C, SIN_C, quarter_sincos
from naive_rng import log as numpy_log

from partialfed.simulators import _rng

MAX_ULP = 1.0  # at most one step of the double grid away from libm (issue 12)


def ulp_error(got, want):
    """``max |got - want| / ulp(want)`` over the arrays."""
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want))))


def log_grid():
    """Every uniform the kernel can feed the log lies in [2^-54, 1): 4096 points per binade,
    ending at the largest double below 1, plus the tie-breaking region around sqrt(1/2)."""
    base = np.linspace(1.0, 2.0, 4096, endpoint=False)
    x = np.concatenate([base * 2.0**e for e in range(-54, 0)])
    near = np.sqrt(0.5) * (1 + np.linspace(-1e-12, 1e-12, 2001))
    return np.concatenate([x, near, [np.nextafter(1.0, 0.0), 2.0**-54]])


def test_log_within_one_ulp_of_libm():
    x = log_grid()
    ours = _rng.log_values(x)
    assert ulp_error(ours, np.log(x)) <= MAX_ULP
    # the NumPy reference computes the same bits (so its mutants below are the kernel's)
    assert np.array_equal(ours, numpy_log(x))


def _mutated(i, factor):
    c = list(LOG_C)
    c[i] = c[i] * factor
    return tuple(c)


@pytest.mark.parametrize(
    "coeffs",
    [_mutated(0, 1.001), _mutated(1, 0.99), _mutated(3, 0.5), LOG_C[:4] + (0.0,) * 6],
    ids=["L1*1.001", "L2*0.99", "L4/2", "truncated-after-4"],
)
def test_log_mutants_are_caught(coeffs):
    x = log_grid()
    assert ulp_error(numpy_log(x, coeffs), np.log(x)) > 4 * MAX_ULP


def _quarter_libm(r):
    """``(cos, sin)((pi/2) r)`` from libm with the argument carried to double-double: ``t_hi``
    is the rounded product, ``t_lo`` its rounding error (Dekker's exact product) plus the
    rounding error of ``pi/2``; first-order correction ``cos(t_hi + t_lo) ~ cos t_hi - t_lo sin
    t_hi``."""
    mpmath.mp.dps = 40
    h_hi = float(mpmath.pi / 2)
    h_lo = float(mpmath.pi / 2 - h_hi)
    t_hi = h_hi * r
    split = 134217729.0  # 2^27 + 1 (Dekker's splitting constant)
    a, b = h_hi, r
    ca, cb = split * a, split * b
    a1, b1 = ca - (ca - a), cb - (cb - b)
    a2, b2 = a - a1, b - b1
    err = ((a1 * b1 - t_hi) + a1 * b2 + a2 * b1) + a2 * b2
    t_lo = err + h_lo * r
    c, s = np.cos(t_hi), np.sin(t_hi)
    return c - t_lo * s, s + t_lo * c


def quarter_grid():
    r = np.linspace(-0.5, 0.5, 400001)
    tiny = np.geomspace(2.0**-53, 1e-3, 20001)
    return np.concatenate([r, tiny, -tiny])


def test_quarter_turn_sincos_within_one_ulp_of_libm():
    r = quarter_grid()
    c, s = _rng.quarter_values(r)
    wc, ws = _quarter_libm(r)
    nz = r != 0
    assert ulp_error(c, wc) <= MAX_ULP
    assert ulp_error(s[nz], ws[nz]) <= MAX_ULP
    assert np.all(s[~nz] == 0.0)
    assert np.array_equal((c, s), quarter_sincos(r))


def test_quarter_turn_mutants_are_caught():
    r = quarter_grid()
    wc, ws = _quarter_libm(r)
    nz = r != 0
    sin_c = SIN_C[:-2] + (0.0, 0.0)  # two terms short
    cos_c = COS_C[:-1] + (COS_C[-1] * 4,)
    c, s = quarter_sincos(r, sin_c, cos_c)
    assert ulp_error(s[nz], ws[nz]) > 4 * MAX_ULP
    assert ulp_error(c, wc) > 4 * MAX_ULP


def test_full_turn_agrees_with_libm_on_the_angle():
    """Quarter and sign logic: ``(cos, sin)`` of the hash ``z`` equal libm's at the angle
    ``2 pi (z + 2^8) / 2^64`` (the grid point of ``z``) up to the rounding of that angle."""
    z = np.arange(0, 2**64 - 2**50, 2**50 + 12345, dtype=np.uint64)
    z = np.concatenate([z, np.array([0, 2**61, 2**62, 3 * 2**62, 2**64 - 1], dtype=np.uint64)])
    c, s = _rng.turn_values(z)
    turns = (z >> np.uint64(9)).astype(np.float64) / 2.0**55 + 2.0**-56
    a = 2 * np.pi * turns
    assert np.max(np.abs(c - np.cos(a))) < 8e-15
    assert np.max(np.abs(s - np.sin(a))) < 8e-15
    assert np.max(np.abs(c * c + s * s - 1)) < 1e-15


def test_box_muller_close_to_the_libm_transform():
    """The normals differ from ``sqrt(-2 log U1) (cos, sin)(2 pi U2)`` in libm by rounding only."""
    kk = np.uint64(_rng.key(3, 2, 1, 0, 0) % 2**64)
    z = _rng.normals(kk, 0, 20000)
    j = np.arange(10000, dtype=np.uint64)
    from naive_rng import hashes, unit

    h1, h2 = hashes(kk, 2 * j), hashes(kk, 2 * j + 1)
    rad = np.sqrt(-2 * np.log(unit(h1)))
    a = 2 * np.pi * ((h2 >> np.uint64(9)).astype(np.float64) / 2.0**55 + 2.0**-56)
    assert np.max(np.abs(z[0::2] - rad * np.cos(a)) / rad) < 1e-14
    assert np.max(np.abs(z[1::2] - rad * np.sin(a)) / rad) < 1e-14
