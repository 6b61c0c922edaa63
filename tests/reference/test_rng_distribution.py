"""Distribution of the kernels' Gaussian noise: moments, KS, independence; and its mutants.

The noise of one run is indexed by ``(stream, round t, device i, step k, coordinate c)``.
Samples are drawn over a grid of those counters, exactly as the kernels draw them
(``_rng.normal_vector``, the normals of one local step). Every statistic is compared with
its sampling standard deviation under i.i.d. N(0, 1) (``Z`` standard deviations, a
deterministic test: the generator is a pure function of the counters).

Mutants (wrong generators, written with the NumPy generator of ``naive_rng``) must each fail
at least one check: the checks are sharp enough to see a reused counter or a broken transform.
"""

from __future__ import annotations

import numpy as np
import pytest
from naive_rng import key, normals
from scipy import stats

from partialfed.simulators import _rng

Z = 4.5  # standard deviations: a false alarm has probability ~1e-5 per statistic
STREAMS = (_rng.STREAM_NOISE_U, _rng.STREAM_NOISE_V)
ROUNDS, DEVICES, STEPS, D = 12, 20, 3, 40  # 2 * 12 * 20 * 3 * 40 = 57600 normals


def real(seed, stream, t, i, k, d):
    return _rng.normal_vector(seed, stream, t, i, k, d)


def grid(source, seed=1):
    """Normals ``x[stream, t, i, k, c]`` from ``source(seed, stream, t, i, k, d)``."""
    x = np.empty((len(STREAMS), ROUNDS, DEVICES, STEPS, D))
    for a, stream in enumerate(STREAMS):
        for t in range(ROUNDS):
            for i in range(DEVICES):
                for k in range(STEPS):
                    x[a, t, i, k] = source(seed, stream, t, i, k, D)
    return x


def failures(x) -> list[str]:
    """The checks ``x`` fails (empty if it looks like i.i.d. N(0, 1))."""
    out = []
    flat = x.ravel()
    n = flat.size
    # moments with their sampling sd under N(0, 1): mean 1/n, var 2/n, skew 6/n, kurt 24/n
    for name, value, sd in (
        ("mean", flat.mean(), np.sqrt(1 / n)),
        ("variance", flat.var() - 1, np.sqrt(2 / n)),
        ("skewness", stats.skew(flat), np.sqrt(6 / n)),
        ("excess kurtosis", stats.kurtosis(flat), np.sqrt(24 / n)),
    ):
        if abs(value) > Z * sd:
            out.append(f"{name} {value:.4g} (sd {sd:.2g})")
    if stats.kstest(flat, "norm").pvalue < 1e-4:
        out.append("KS against N(0, 1)")
    # the second output of every Box-Muller pair has the same law as the first
    if stats.ks_2samp(flat[0::2], flat[1::2]).pvalue < 1e-4:
        out.append("KS of the pairs' two outputs")
    # independence: correlation of two blocks of m values is ~ N(0, 1/m)
    pairs = {
        "streams u/v": (x[0], x[1]),
        "rounds t/t+1": (x[:, :-1], x[:, 1:]),
        "devices i/i+1": (x[:, :, :-1], x[:, :, 1:]),
        "steps k/k+1": (x[:, :, :, :-1], x[:, :, :, 1:]),
        "coordinates c/c+1": (x[..., :-1], x[..., 1:]),
        "squares of pair outputs": (x[..., 0::2] ** 2, x[..., 1::2] ** 2),
    }
    for name, (a, b) in pairs.items():
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        if abs(r) > Z / np.sqrt(a.size):
            out.append(f"correlation {name} {r:.3g}")
    # no normal is used twice (53-bit values: a repeat means a reused counter)
    if np.unique(flat).size < n:
        out.append("repeated values")
    return out


def test_kernel_noise_passes_every_check():
    assert failures(grid(real)) == []


def test_kernel_noise_ks_p_value_over_a_larger_sample():
    x = np.concatenate([_rng.normal_vector(7, 2, t, 0, 0, 5000) for t in range(40)])
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # tails: P(|z| > 3) = 0.0026998
    p3 = 2 * stats.norm.sf(3)
    assert abs(np.mean(np.abs(x) > 3) - p3) < Z * np.sqrt(p3 * (1 - p3) / x.size)


def _ref(seed, stream, t, i, k, d, *, key_of=None, start_of=None, post=None):
    kk = (key_of or (lambda: key(seed, stream, t, i, 0)))()[0]
    z = normals(kk, start_of(k, d) if start_of else k * d, d)
    return post(z) if post else z


def _key_without(part):
    def source(seed, stream, t, i, k, d):
        c = {"seed": seed, "stream": stream, "t": t, "i": i}
        c[part] = 0
        return _ref(seed, stream, t, i, k, d, key_of=lambda: key(*c.values(), 0))

    return source


def _post(fn):
    return lambda *a: _ref(*a, post=fn)


def _copy_pair(z):
    z = z.copy()
    z[1::2] = z[0::2]
    return z


def _half_circle(z):
    z = z.copy()
    z[1::2] = np.abs(z[1::2])
    return z


MUTANTS = {
    "same key on every device": _key_without("i"),
    "same key in every round": _key_without("t"),
    "u and v noise share a key": _key_without("stream"),
    "steps overlap (start k, not k d)": lambda *a: _ref(*a, start_of=lambda k, d: k),
    "radius sqrt(-log U)": _post(lambda z: z / np.sqrt(2.0)),
    "angle on half a circle": _post(_half_circle),
    "pair outputs copied": _post(_copy_pair),
    "density bump near 0": _post(lambda z: z + 1e-1 * (np.abs(z) < 0.2)),
}


def test_numpy_reference_source_is_the_kernel_noise():
    """The mutants are built on ``naive_rng``, which equals the kernels' noise bit for bit."""
    assert np.array_equal(grid(_ref)[:, :2, :3], grid(real)[:, :2, :3])


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutants_are_caught(name):
    assert failures(grid(MUTANTS[name])) != []
