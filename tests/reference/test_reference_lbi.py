"""``simulators.split_lbi`` agrees with the plain-Python reference ``naive_lbi`` to 1e-12.

Cases: a coupled quadratic and a quartic (callables), all and some coordinates lifted, a
non-zero ``z0``, ``record_every`` of 1 and > 1, and a ``Problem`` device (the contract's exact
gradients, ``w = concat(u, v)``). Each comparison also fails on a mutated solver (the mutants of
``test_mutants_disagree``), so the agreement is not vacuous.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from naive_lbi import reference_lbi

from partialfed import simulators, synthetic

# The module (the package exports its function under the same name).
lbi_module = importlib.import_module("partialfed.simulators.split_lbi")
RTOL = 1e-12
RNG = np.random.default_rng(7)
D = 6
A = RNG.normal(size=(D, D))
H = A @ A.T / D + 0.5 * np.eye(D)
C = np.array([3.0, -2.0, 0.0, 1.0, -0.5, 0.1])


def quadratic(w):
    w = np.asarray(w, float)
    r = w - C
    return 0.5 * float(r @ H @ r), H @ r


def quartic(w):
    w = np.asarray(w, float)
    r = w - C
    return float(np.sum(r**4)) + 0.25 * float(np.sum(r**2)), 4 * r**3 + 0.5 * r


def close(name, got, want):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, name
    scale = max(float(np.max(np.abs(want))), 1e-300)
    err = float(np.max(np.abs(got - want)))
    assert err <= RTOL * scale, f"{name}: max error {err:.3g} (scale {scale:.3g})"


def compare(grad, w0, *, ref_grad=None, **kw):
    path = simulators.split_lbi(grad, w0, **kw)
    kw = dict(kw)
    kw.pop("device", None)
    every = kw.pop("record_every", 1)
    ref = reference_lbi(ref_grad or grad, list(w0), **kw)
    rows = path.steps
    assert rows[0] == 0 and rows[-1] == kw["iters"]
    assert np.all(np.diff(rows) > 0) and np.all((rows % every == 0) | (rows == kw["iters"]))
    for name, key in (("W", "W"), ("Gamma", "G"), ("Z", "Z")):
        close(name, getattr(path, name), np.asarray(ref[key])[rows])
    for name in ("loss", "lifted_loss", "grad_norm"):
        close(name, getattr(path, name), np.asarray(ref[name])[rows])
    close("increments", path.increments, ref["increments"])
    assert path.entry.tolist() == ref["entry"]
    return path


CASES = [
    ("quadratic-all", quadratic, dict(kappa=4.0, alpha=0.05, nu=1.0, iters=300)),
    ("quadratic-every7", quadratic, dict(kappa=4.0, alpha=0.05, nu=1.0, iters=300, record_every=7)),
    (
        "quadratic-some-z0",
        quadratic,
        dict(
            kappa=2.0,
            alpha=0.1,
            nu=0.5,
            iters=200,
            lifted=np.array([True, False, True, True, False, True]),
            z0=np.array([1.5, 9.0, -0.3, -2.0, 9.0, 0.0]),
        ),
    ),
    ("quartic-all", quartic, dict(kappa=3.0, alpha=0.01, nu=2.0, iters=400, record_every=3)),
]


@pytest.mark.parametrize("name,grad,kw", CASES, ids=[c[0] for c in CASES])
def test_split_lbi_agrees_with_reference(name, grad, kw):
    path = compare(grad, np.linspace(-1.0, 1.0, D), **kw)
    assert np.any(path.entry > 0), "the case must have coordinates entering along the path"


def test_problem_device_agrees_with_reference():
    p = synthetic.make("quadratic", n=3, d_u=3, d_v=2, seed=1)
    u0, V0 = p.init(0)
    w0 = np.r_[u0, V0[1]]

    def oracle(w):
        w = np.asarray(w, float)
        gu, gv = p.grad(1, w[:3], w[3:])
        return p.loss(1, w[:3], w[3:]), np.r_[gu, gv]

    kw = dict(kappa=2.0, alpha=0.2 / p.constants.L_u, nu=1.0, iters=150, record_every=4)
    path = compare(p, w0, ref_grad=oracle, device=1, **kw)
    assert path.d == 5


def _mutated(monkeypatch, kind):
    """A solver with one mutation of (S2)-(S4)."""
    real = lbi_module.shrink
    if kind == "threshold":
        monkeypatch.setattr(lbi_module, "shrink", lambda z, t=1.0: real(z, 0.5))
    elif kind == "kappa":
        monkeypatch.setattr(lbi_module, "shrink", lambda z, t=1.0: real(z, t) / 2)


@pytest.mark.parametrize("kind", ["threshold", "kappa"])
def test_mutants_disagree(monkeypatch, kind):
    _mutated(monkeypatch, kind)
    with pytest.raises(AssertionError):
        compare(quadratic, np.linspace(-1.0, 1.0, D), **CASES[0][2])
