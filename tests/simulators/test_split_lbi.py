"""``simulators.split_lbi``: input validation, the path's methods, divergence bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed import simulators, synthetic

C = np.array([4.0, -2.0, 0.5, 0.0])


def grad(w):
    r = w - C
    return 0.5 * float(r @ r), r


KW = dict(kappa=5.0, alpha=0.02, nu=1.0, iters=600)


@pytest.mark.parametrize(
    "change,exc,words",
    [
        (dict(kappa=0.0), ValueError, "'kappa'"),
        (dict(alpha=-1.0), ValueError, "'alpha'"),
        (dict(nu=float("inf")), ValueError, "'nu'"),
        (dict(iters=0), ValueError, "'iters'"),
        (dict(iters=2.5), TypeError, "'iters'"),
        (dict(record_every=0), ValueError, "'record_every'"),
        (dict(lifted=np.ones(4)), ValueError, "boolean mask"),
        (dict(lifted=np.ones(3, bool)), ValueError, "shape (4,)"),
        (dict(z0=np.ones(3)), ValueError, "'z0'"),
        (dict(device=0), ValueError, "'device'"),
    ],
)
def test_bad_parameters_are_named(change, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(")", r"\)")):
        simulators.split_lbi(grad, np.zeros(4), **{**KW, **change})


@pytest.mark.parametrize("w0", [np.zeros((2, 2)), np.array([0.0, np.nan, 0, 0]), 3.0])
def test_bad_w0(w0):
    with pytest.raises(ValueError, match="'w0'"):
        simulators.split_lbi(grad, w0, **KW)


def test_problem_needs_device_and_matching_w0():
    p = synthetic.make("quadratic", n=2, d_u=2, d_v=1, seed=0)
    with pytest.raises(ValueError, match="'device'"):
        simulators.split_lbi(p, np.zeros(3), **KW)
    with pytest.raises(ValueError, match="d_u \\+ d_v = 3"):
        simulators.split_lbi(p, np.zeros(4), device=0, **KW)
    with pytest.raises(ValueError, match="'device'"):
        simulators.split_lbi(p, np.zeros(3), device=2, **KW)
    with pytest.raises(TypeError, match="'grad'"):
        simulators.split_lbi("f", np.zeros(3), **KW)


def test_path_order_support_and_sparse_estimate():
    path = simulators.split_lbi(grad, np.zeros(4), record_every=10, **KW)
    # Larger targets enter first; the zero target never does.
    assert path.order().tolist() == [0, 1, 2, 3]
    assert path.entry[3] == -1 and 0 < path.entry[0] < path.entry[1] < path.entry[2]
    k = int(path.entry[1])
    row = int(np.searchsorted(path.steps, k))
    assert path.support(k).tolist() == (path.Gamma[row] != 0).tolist()
    assert path.support(k)[:2].all() and path.support(0).sum() == 0
    est = path.sparse_estimate(row)
    assert np.array_equal(est, np.where(path.Gamma[row] != 0, path.W[row], 0.0))
    assert not path.support(k)[2] and est[2] == 0 and path.W[row, 2] != 0
    # The lifted loss adds ||W - Gamma||^2/(2 nu) to the loss.
    gap = path.lifted_loss - path.loss
    assert np.allclose(gap, np.sum((path.W - path.Gamma) ** 2, axis=1) / 2)
    with pytest.raises(ValueError, match="'k'"):
        path.support(KW["iters"] + 1)
    with pytest.raises(ValueError, match="'r'"):
        path.sparse_estimate(len(path.steps))
    with pytest.raises(ValueError):
        path.W[0, 0] = 1.0  # read-only


def test_not_lifted_coordinates_take_plain_steps():
    lifted = np.array([True, False, True, True])
    path = simulators.split_lbi(grad, np.zeros(4), lifted=lifted, **KW)
    assert np.all(path.Gamma[:, 1] == 0) and np.all(path.Z[:, 1] == 0) and path.entry[1] == -1
    # Plain gradient descent with step kappa alpha on (w - c)^2/2 in coordinate 1.
    want = C[1] * (1 - (1 - KW["kappa"] * KW["alpha"]) ** path.steps)
    assert np.allclose(path.W[:, 1], want, rtol=1e-12, atol=1e-12)
    assert 1 not in path.order().tolist()
    assert path.sparse_estimate()[1] == path.W[-1, 1]  # kept: it has no Gamma


def test_divergence_is_recorded_not_raised():
    path = simulators.split_lbi(grad, np.ones(4), kappa=1.0, alpha=50.0, nu=1.0, iters=500)
    assert 0 < path.diverged_at <= 500
    assert np.isnan(path.W[-1]).all() and np.isnan(path.increments[path.diverged_at - 1 :]).all()
