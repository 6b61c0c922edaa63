"""The counter-based generator: one definition of every normal, right moments, any caller."""

from __future__ import annotations

import numpy as np

from partialfed.simulators import _rng


def test_normal_vector_is_normal_elementwise_for_python_keys():
    # A key computed in Python comes back as an int (int64 to numba): same numbers.
    kk = _rng.key(1, 2, 3, 4, 5)
    v = _rng.normal_vector(1, 2, 3, 4, 5, 7)
    assert np.array_equal(v, [_rng.normal(kk, j) for j in range(7)])


def test_normals_have_unit_variance_and_gaussian_kurtosis():
    x = np.concatenate([_rng.normal_vector(0, 2, t, 0, 0, 1001) for t in range(200)])
    se = 1 / np.sqrt(x.size)
    assert abs(x.mean()) < 4 * se
    assert abs(x.var() - 1) < 4 * np.sqrt(2) * se
    assert abs(np.mean(x**4) - 3) < 4 * np.sqrt(96) * se
    # the two outputs of one Box-Muller transform are uncorrelated
    pairs = x[: x.size // 2 * 2].reshape(-1, 2)
    assert abs(np.mean(pairs[:, 0] * pairs[:, 1])) < 4 * se * np.sqrt(2)


def test_counters_decorrelate_streams():
    a = _rng.normal_vector(0, _rng.STREAM_NOISE_U, 0, 0, 0, 5000)
    b = _rng.normal_vector(0, _rng.STREAM_NOISE_V, 0, 0, 0, 5000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(5000)
    assert not np.array_equal(a, _rng.normal_vector(1, _rng.STREAM_NOISE_U, 0, 0, 0, 5000))
