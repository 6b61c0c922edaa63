"""The counter-based generator: one definition of every normal, any caller, any block size."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed.simulators import _kernels, _rng


def test_normal_vector_is_normal_elementwise_for_python_keys():
    # A key computed in Python and passed back as an int: same numbers.
    kk = _rng.noise_key(1, 2, 3, 4)
    v = _rng.normal_vector(1, 2, 3, 4, 5, 7)
    assert np.array_equal(v, [_rng.normal(kk, 35 + j) for j in range(7)])


@pytest.mark.parametrize("d", [1, 2, 3, 10, 41])
def test_steps_drawn_one_at_a_time_or_as_a_phase_are_the_same_numbers(d):
    """``_add_noise`` per step (meta kernels) and ``fill_normals`` per phase (round kernels) draw
    the same normals: the step counter moves into the index, ``k d + c``."""
    tau, sigma = 5, 0.7
    g = np.zeros((tau, d))
    for k in range(tau):
        _kernels._add_noise(g[k], sigma, 3, _rng.STREAM_NOISE_V, 2, 9, k)
    kk = _rng.noise_key(3, _rng.STREAM_NOISE_V, 2, 9)
    phase = np.empty(tau * d)
    for k0 in range(0, tau, 2):  # chunks of two steps, as a small noise buffer would draw
        kn = min(k0 + 2, tau)
        _rng.fill_normals(phase[k0 * d : kn * d], sigma / np.sqrt(d), kk, k0 * d)
    assert np.array_equal(g.ravel(), phase)


def test_noise_buffer_holds_whole_steps():
    assert _kernels.noise_rows(0.0, 10, 5) == 0
    assert _kernels.noise_rows(1.0, 0, 5) == 0
    assert _kernels.noise_rows(1.0, 10, 5) == 50
    assert _kernels.noise_rows(1.0, 10, 10**6) == _kernels.NOISE_CHUNK // 10 * 10
    assert _kernels.noise_rows(1.0, 5000, 3) == 5000  # at least one step


def test_sample_round_sorts_like_numpy_without_compiling_a_sort():
    for n, m, t in ((7, 7, 0), (10, 3, 1), (300, 299, 2), (70000, 1000, 3), (2**20, 5, 4)):
        perm = np.arange(n)
        before = perm.copy()
        got = _rng.sample_round(0, t, perm, m)
        assert np.array_equal(got, np.sort(perm[:m]))
        assert got.size == m and np.unique(got).size == m
        assert np.array_equal(np.sort(perm), before)  # still a permutation
    for x, n in ((np.array([5, 3, 2**40, 0]), 2**41), (np.arange(600)[::-1].copy(), 600)):
        assert np.array_equal(_rng._radix_sorted(x, n), np.sort(x))


def test_sample_round_is_uniform_over_devices():
    n, m, T = 20, 5, 4000
    perm = np.arange(n)
    counts = np.zeros(n)
    for t in range(T):
        counts[_rng.sample_round(1, t, perm, m)] += 1
    p = m / n
    assert np.all(np.abs(counts / T - p) < 4.5 * np.sqrt(p * (1 - p) / T))
