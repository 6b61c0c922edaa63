"""The ``teacher`` family: its planted teachers (fixed across the split of a fixed total
dimension), its known Bayes accuracy, logistic's constants on its data, and its knob errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partialfed import synthetic
from partialfed.synthetic._heldout import accuracy
from partialfed.synthetic.logistic import logistic_constants


def _make(**kw):
    base = dict(n=6, d_u=5, d_v=3, planted=3, samples=20, test_samples=300, seed=4)
    return synthetic.make("teacher", **{**base, **kw})


def _w(p):
    t = p.test
    return np.hstack([t.teacher_U, t.teacher_V])


def test_teachers_share_all_but_the_planted_coordinates():
    p = _make(planted=3, heterogeneity=0.7)
    W = _w(p)
    np.testing.assert_array_equal(W[:, :5], np.tile(W[0, :5], (6, 1)))  # common shared part
    assert np.all(np.ptp(W[:, 5:], axis=0) > 0)  # each planted coordinate differs
    assert np.all(np.ptp(_w(_make(heterogeneity=0.0)), axis=0) == 0)  # no heterogeneity


def test_planting_and_data_do_not_depend_on_the_split():
    """At fixed d_u + d_v the teachers, features and labels are the same arrays, cut
    elsewhere: a d_v sweep moves the boundary across a fixed planted structure."""
    ref = _make(d_u=7, d_v=1)
    for d_v in (3, 6):
        p = _make(d_u=8 - d_v, d_v=d_v)
        np.testing.assert_array_equal(_w(p), _w(ref))
        for a, b in ((p.data, ref.data), (p.test, ref.test)):
            np.testing.assert_array_equal(np.hstack([a.A, a.C]), np.hstack([b.A, b.C]))
            np.testing.assert_array_equal(a.y, b.y)
    assert _make(d_u=7, d_v=1).knobs["planted"] == 3
    assert _make(planted=None).knobs["planted"] == 3  # default: d_v


@pytest.mark.parametrize("flip", [0.0, 0.3, 0.5])
def test_the_teachers_reach_the_bayes_accuracy(flip):
    p = _make(test_samples=3000, flip=flip)
    t = p.test
    assert t.bayes == 1 - flip
    rows = p.n * 3000
    acc = accuracy(t, t.teacher_U, t.teacher_V)
    if flip == 0:
        assert acc == 1.0 and accuracy(p.data, t.teacher_U, t.teacher_V) == 1.0
    else:
        assert abs(acc - (1 - flip)) < 4 * math.sqrt(flip * (1 - flip) / rows)
    # test labels are fresh draws, not a copy of the training set
    assert t.A.shape == (rows, 5) and not np.array_equal(t.A[:20], p.data.A[:20])


def test_constants_are_logistics_on_the_training_features():
    p = _make(batch=5, noise_u=0.2)
    A3 = p.data.A.reshape(6, 20, 5)
    C3 = p.data.C.reshape(6, 20, 3)
    want = logistic_constants(A3, C3, p.knobs["lam"], 5, 0.2, 0.0)
    assert p.constants.as_dict() == want.as_dict()
    assert dict(p.constants.kind) == dict(want.kind)
    assert p.constants.kind["L_u"] == "certified" and p.constants.kind["F_low"] == "certified"


@pytest.mark.parametrize(
    ("knob", "value"),
    [("flip", 0.6), ("flip", -0.1), ("planted", 9), ("test_samples", 0), ("samples", 0)],
)
def test_bad_knobs_are_refused_naming_them(knob, value):
    with pytest.raises(ValueError, match=f"'{knob}'"):
        _make(**{knob: value})


def test_too_many_features_names_both_sample_knobs():
    with pytest.raises(ValueError) as info:
        synthetic.make("teacher", n=10**4, d_u=100, d_v=100, samples=100, test_samples=200)
    assert "samples" in str(info.value) and "test_samples" in str(info.value)


@pytest.mark.parametrize(
    "field, bad, words",
    [
        ("y", lambda t: (t.y + 1) / 2, "labels in {-1, +1}"),  # 0/1 labels
        ("start", lambda t: np.append(t.start[:-1], t.start[-1] - 1), "rise from 0"),
        ("start", lambda t: t.start[:-1], "integers"),
        ("A", lambda t: t.A[:, :-1], "A must have shape"),
        ("C", lambda t: t.C[:-1], "C must have shape"),
    ],
)
def test_a_held_out_set_that_does_not_fit_is_refused(field, bad, words):
    """A test set with the wrong layout would be scored silently wrong (rows past start[-1]
    counted for the last device, 0/1 labels never matching): Problem refuses it."""
    from partialfed.synthetic import Problem

    p = _make()
    broken = p.test._replace(**{field: bad(p.test)})
    with pytest.raises(ValueError, match="'test' parameter") as err:
        Problem(
            name="broken",
            n=p.n,
            d_u=p.d_u,
            d_v=p.d_v,
            data=p.data,
            loss_fn=p.loss_fn,
            grad_u_fn=p.grad_u_fn,
            grad_v_fn=p.grad_v_fn,
            constants=p.constants,
            init=p.init,
            sizes=p.sizes,
            batch=p.batch,
            test=broken,
        )
    assert words in str(err.value)
