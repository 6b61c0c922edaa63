"""The NumPy generator of ``naive_rng`` reproduces the kernels' normals bit for bit.

The reference is independent of ``_rng``'s numbers: it derives the polynomial coefficients
itself (``naive_rng.derive``, exact rationals; ``_rng`` uses ``mpmath``), so the bitwise
comparison checks the kernels' coefficients too, not only their arithmetic."""

from __future__ import annotations

import naive_rng
import numpy as np
import pytest
from naive_rng import key, log, normal_vector, normals

from partialfed.simulators import _rng


def test_keys_match():
    for counter in ((0, 1, 0, 0, 0), (7, 2, 3, 999, 4), (2**40, 3, 10**6, 12345, 0)):
        assert int(key(*counter)[0]) == int(_rng.key(*counter)) % 2**64


@pytest.mark.parametrize("start", [0, 1, 2, 7, 10**9 + 1])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 10, 41, 1000])
def test_normals_are_bitwise_equal(start, count):
    kk = np.uint64(_rng.key(5, _rng.STREAM_NOISE_U, 3, 17, 0) % 2**64)
    got = _rng.normals(kk, start, count)
    want = normals(kk, start, count)
    assert got.shape == want.shape == (count,)
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_step_vectors_are_bitwise_equal():
    for seed, stream, t, i, k, d in ((0, 2, 0, 0, 0, 5), (3, 3, 11, 4, 2, 7), (9, 2, 5, 1, 3, 40)):
        got = _rng.normal_vector(seed, stream, t, i, k, d)
        assert np.array_equal(got, normal_vector(seed, stream, t, i, k, d))


def test_the_two_derivations_of_the_coefficients_agree():
    """Derived apart (exact fractions here, mpmath in ``_rng``), rounded to the same doubles."""
    assert not any(v is _rng for v in vars(naive_rng).values())  # the reference imports none
    for name, value in naive_rng.derive().items():
        assert value == getattr(_rng, name), name


def test_a_coefficient_one_ulp_off_changes_the_normals():
    """Sensitivity: the leading log coefficient one ulp off (as a wrong one in ``_rng`` would
    be) changes some of 2^16 normals (a rounding of ``sqrt(-2 log U)`` absorbs most), so the
    bitwise comparison would fail on it."""
    kk = np.uint64(_rng.key(1, 2, 3, 4, 0) % 2**64)
    wrong = list(naive_rng.LOG_C)
    wrong[0] = np.nextafter(wrong[0], 1.0)
    x = np.linspace(0.001, 0.999, 2001)
    assert not np.array_equal(log(x), log(x, tuple(wrong)))
    n = 2**16
    kernel = _rng.normals(kk, 0, n)
    off = normals(kk, 0, n, log_fn=lambda u: log(u, tuple(wrong)))
    assert not np.array_equal(off, kernel)
    assert np.array_equal(normals(kk, 0, n), kernel)
