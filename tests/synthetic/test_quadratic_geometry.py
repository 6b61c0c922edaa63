"""The per-process cache of the quadratic family's geometry (synthetic/_quadratic_geometry.py)."""

import numpy as np
import pytest

from partialfed import synthetic
from partialfed.synthetic import _quadratic_geometry as geo

KNOBS = [
    dict(n=6, d_u=4, d_v=3, chi=0.6, start="top", seed=2),
    dict(n=5, d_u=3, d_v=2, chi=0.0, hessian_spread=0.4, seed=1),
    dict(n=4, d_u=2, d_v=0, chi=0.0, start="optimum"),
]


def _arrays(p):
    u0, V0 = p.init(3)
    wit = [np.asarray(x) for v in p.witnesses.values() for x in v]
    return [*p.data, u0, V0, *wit, np.array(list(p.constants.as_dict().values()))]


@pytest.mark.parametrize("knobs", KNOBS)
def test_cached_problem_is_the_fresh_one_bit_for_bit(knobs):
    geo._CACHE.clear()
    fresh = _arrays(synthetic.make("quadratic", **knobs))
    assert geo._CACHE  # kept
    for _ in range(2):
        again = _arrays(synthetic.make("quadratic", **knobs))
        assert [a.tobytes() for a in again] == [a.tobytes() for a in fresh]


def test_cache_is_read_only_and_problems_own_their_data():
    geo._CACHE.clear()
    p = synthetic.make("quadratic", **KNOBS[0])
    g = next(iter(geo._CACHE.values()))
    for a in (g.Qu, g.Qv, g.A, g.B, g.C, g.Binv, g.K, *g.top_direction()):
        assert not a.flags.writeable
    assert all(a.flags.writeable for a in p.data)  # the kernels' data: writable copies
    ref = synthetic.make("quadratic", **KNOBS[0]).data.A.copy()
    p.data.A[0, 0] += 1.0  # editing one problem leaves the cache and later problems alone
    assert np.array_equal(synthetic.make("quadratic", **KNOBS[0]).data.A, ref)


def test_one_entry_per_geometry_and_the_cache_is_bounded():
    geo._CACHE.clear()
    a = synthetic.make("quadratic", n=3, d_u=2, d_v=1, L_u=2.0, delta=0.5)
    b = synthetic.make("quadratic", n=3, d_u=2, d_v=1, L_u=2, delta=2.0, noise_v=0.3)
    assert len(geo._CACHE) == 1  # delta, noise: same geometry (validation makes L_u a float)
    assert a.data.A.tobytes() == b.data.A.tobytes()
    assert a.data.bu.tobytes() != b.data.bu.tobytes()
    for s in range(geo.CACHE_SIZE + 3):
        synthetic.make("quadratic", n=3, d_u=2, d_v=1, seed=s)
    assert len(geo._CACHE) == geo.CACHE_SIZE


def test_the_cache_is_bounded_in_bytes(monkeypatch):
    geo._CACHE.clear()
    synthetic.make("quadratic", n=2, d_u=30, d_v=10, seed=0)
    one = geo._nbytes(next(iter(geo._CACHE.values())))
    assert one >= 2 * (30 * 30 + 10 * 10) * 8  # rotations and Hessian blocks, at least
    monkeypatch.setattr(geo, "CACHE_BYTES", int(2.5 * one))
    for s in range(1, 6):
        synthetic.make("quadratic", n=2, d_u=30, d_v=10, seed=s)
    assert len(geo._CACHE) == 2  # the two most recent
    assert sum(geo._nbytes(g) for g in geo._CACHE.values()) <= geo.CACHE_BYTES
    geo._CACHE.clear()
