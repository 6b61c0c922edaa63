"""Counter-based random numbers for the kernels.

Every random number in a run is a pure function of ``(seed, stream, round, device, step, index)``:
it is produced by hashing that tuple, never by advancing a generator state. A run is therefore
bitwise identical for any number of threads and any order in which devices are processed, and a
plain-NumPy reference can regenerate exactly the same noise (tests/reference/).

The hash is the SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) applied to a running combination of the counters. Normal variates use
the Box-Muller transform on two independent uniforms.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

# Streams: one independent family of random numbers per purpose.
STREAM_SAMPLING = 1  # which devices take part in a round
STREAM_NOISE_U = 2  # additive Gaussian noise on u-gradients
STREAM_NOISE_V = 3  # additive Gaussian noise on v-gradients
STREAM_BATCH = 4  # minibatch indices of finite-sum families

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_TWO_PI = 6.283185307179586
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True, inline="always")
def uniform(kk, j):
    """The ``j``-th uniform in (0, 1) of key ``kk`` (53-bit resolution, never exactly 0)."""
    # uint64(kk): a key passed in from Python arrives as int64, and int64 + uint64 would
    # promote to float64.
    z = _mix(uint64(kk) + (uint64(j) + uint64(1)) * _GOLDEN)
    return (float(z >> uint64(11)) + 0.5) * _INV_2_53


@njit(cache=True, nogil=True, inline="always")
def normal_pair(kk, p):
    """Standard normals ``2p`` and ``2p+1`` of key ``kk``: both outputs of one Box-Muller
    transform of uniforms ``2p`` and ``2p+1`` (independent N(0, 1) variables)."""
    r = np.sqrt(-2.0 * np.log(uniform(kk, 2 * p)))
    a = _TWO_PI * uniform(kk, 2 * p + 1)
    return r * np.cos(a), r * np.sin(a)


@njit(cache=True, nogil=True, inline="always")
def normal(kk, j):
    """The ``j``-th standard normal of key ``kk`` (component ``j % 2`` of pair ``j // 2``)."""
    z0, z1 = normal_pair(kk, j // 2)
    return z0 if j % 2 == 0 else z1


@njit(cache=True, nogil=True, inline="always")
def add_normals(g, scale, kk):
    """``g[c] += scale * normal(kk, c)`` for every c, one Box-Muller transform per pair."""
    d = g.shape[0]
    for p in range(d // 2):
        z0, z1 = normal_pair(kk, p)
        g[2 * p] += scale * z0
        g[2 * p + 1] += scale * z1
    if d % 2:
        z0, _ = normal_pair(kk, d // 2)
        g[d - 1] += scale * z0


@njit(cache=True, nogil=True)
def normal_vector(seed, stream, t, i, k, d):
    """``d`` standard normals for the counter ``(seed, stream, t, i, k)`` (for references/tests)."""
    out = np.zeros(d)
    add_normals(out, 1.0, key(seed, stream, t, i, k))
    return out


@njit(cache=True, nogil=True)
def batch_indices(seed, t, i, k, size, b):
    """``b`` indices drawn uniformly with replacement from ``range(size)`` for step ``k``."""
    kk = key(seed, STREAM_BATCH, t, i, k)
    out = np.empty(b, dtype=np.int64)
    for j in range(b):
        out[j] = min(int(uniform(kk, j) * size), size - 1)
    return out


@njit(cache=True, nogil=True)
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
    return np.sort(perm[:m].copy())
