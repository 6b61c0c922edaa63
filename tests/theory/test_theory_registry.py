"""The registry: every bound is documented, renders, evaluates, and the CLI text works."""

import numpy as np
import pytest

from partialfed import theory
from partialfed.theory import BOUNDS, PROVENANCES, describe_bound, get_bound
from partialfed.theory.symbols import FREE_CONSTANTS, SYMBOLS


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_is_documented_and_renders(name):
    b = BOUNDS[name]
    assert b.name == name
    assert b.source and b.provenance in PROVENANCES
    assert b.lhs.terms and b.algorithm
    tex = b.latex()
    assert r"\le" in tex and "None" not in tex
    assert name in repr(b)
    assert all(s.name in SYMBOLS for s in b.free_symbols)
    assert b.free_constants <= FREE_CONSTANTS
    assert b.has_free_constants == bool(b.free_constants & b.rhs.free_symbols)
    if b.provenance == "derived":
        assert not b.has_free_constants, "a derived bound must be fully explicit"
    # uncheckable conditions are documented, checkable ones are sympy relations
    for c in b.conditions:
        assert c.label


def _valid_values(b, size=None):
    rng = np.random.default_rng(0)
    vals = {}
    for k in b.required:
        vals[k] = rng.uniform(1.0, 2.0, size=size)
    for k in ("n", "T", "K", "tau", "tau_u", "tau_v"):
        if k in vals:
            vals[k] = np.full(size, 50.0) if size else 50.0
    if "m" in vals:
        vals["m"] = np.full(size, 5.0) if size else 5.0
    if "r" in vals:
        vals["r"] = 0.5
    return vals


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_evaluates_and_vectorises(name):
    b = BOUNDS[name]
    scalar = b.evaluate(_valid_values(b), check=False)
    assert scalar.shape == () and np.isfinite(scalar) and scalar > 0
    arr = b.evaluate(_valid_values(b, size=4), check=False)
    assert arr.shape == (4,) and np.all(np.isfinite(arr))
    # the vectorised result equals the element-wise one
    v = _valid_values(b, size=4)
    out = b.evaluate(v, check=False)
    for i in range(4):
        vi = {k: (x[i] if np.ndim(x) else x) for k, x in v.items()}
        assert out[i] == pytest.approx(float(b.evaluate(vi, check=False)), rel=1e-12)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_missing_symbol_is_named_for_every_bound(name):
    b = BOUNDS[name]
    vals = _valid_values(b)
    plain = [k for k in b.required if SYMBOLS[k] not in b.free_constants]
    drop = plain[0]
    with pytest.raises(ValueError, match=f"needs a value for '{drop}'"):
        b.evaluate({k: v for k, v in vals.items() if k != drop}, check=False)


def test_get_bound_did_you_mean():
    assert get_bound("gd_tight") is BOUNDS["gd_tight"]
    with pytest.raises(
        ValueError, match=r"Unknown bound 'fedalt_mian'\. Did you mean 'fedalt_main'"
    ):
        get_bound("fedalt_mian")


def test_describe_bound():
    txt = describe_bound("sgd_nonconvex")
    assert "sgd_nonconvex" in txt and "derived" in txt and "gamma <= 1/L" in txt
    val = describe_bound(
        "sgd_nonconvex", {"Delta_F0": 1.0, "gamma": 0.1, "T": 100.0, "L": 1.0, "sigma": 0.0}
    )
    assert "value:       0.2" in val
    partial = describe_bound("fedalt_main", {"n": 100.0, "m": 5.0})
    assert "missing:" in partial and "free constants must be given or fitted" in partial
    assert describe_bound("gd_tight", latex=True).startswith(r"\min")
    tex = describe_bound(
        "gd_tight", {"L": 2.0, "T": 10.0, "gamma": 0.5, "Delta_FT": 3.0}, latex=True
    )
    assert tex.endswith(r"\le 0.8") and "= 0.8" not in tex  # the number once, no "0.8 = 0.8"
    with pytest.raises(ValueError, match="condition gamma <= 1/L is violated"):
        describe_bound(
            "sgd_nonconvex", {"Delta_F0": 1.0, "gamma": 2.0, "T": 100.0, "L": 1.0, "sigma": 0.0}
        )


def test_expected_bounds_are_registered():
    expected = {
        "fedalt_main": "reconstructed",
        "fedsim_main": "reconstructed",
        "sgd_nonconvex": "derived",
        "gd_tight": "derived",
        "fedsgd_partial": "derived",
        "local_sgd_canonical": "reconstructed",
        "perfedavg_thm45": "reconstructed",
    }
    for k, prov in expected.items():
        assert BOUNDS[k].provenance == prov


def test_public_api():
    for name in theory.__all__:
        assert hasattr(theory, name), name
