"""``History.personal_accuracy``: a plain NumPy recomputation from the run's own final
iterates, the Bayes bound of ``teacher`` (no algorithm beats ``1 - flip`` beyond sampling
error on a large test set), and two wrong accuracies that the bound catches (measured on the
training data; against labels that were never flipped)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partialfed import simulators, synthetic
from partialfed.synthetic._heldout import HeldOut, accuracy, per_device_accuracy

ALGORITHMS = sorted(simulators.ALGORITHMS)
FLIP = 0.2
TEST = 4000  # test samples per device: 20,000 in all


@pytest.fixture(scope="module")
def problem():
    # 8 training samples per device in d = 10 (separable through the origin): local training
    # fits its training labels, flipped ones included.
    return synthetic.make(
        "teacher", n=5, d_u=6, d_v=4, planted=4, samples=8, test_samples=TEST, flip=FLIP, lam=0.0
    )


def _config(p, alg, **kw):
    c = p.constants
    base = dict(T=200, m=p.n, tau_u=2, tau_v=2, gamma_u=1 / c.L_u, gamma_v=1 / c.L_v)
    return simulators.RunConfig(alg, **{**base, "eval_every": 50, "alpha": 0.5, **kw})


@pytest.fixture(scope="module")
def runs(problem):
    return {a: simulators.run(problem, _config(problem, a)) for a in ALGORITHMS}


def _models(p, h):
    """The personal models, rebuilt from the History (not from simulators._accuracy)."""
    if h.personal_U is not None:  # ditto
        return h.personal_U, h.personal_V
    if h.algorithm == "perfedavg":
        rows = [p.grad(i, h.u, h.V[0]) for i in range(p.n)]
        a = h.config.alpha
        return (
            np.array([h.u - a * gu for gu, _ in rows]),
            np.array([h.V[0] - a * gv for _, gv in rows]),
        )
    U = h.U if h.U is not None else np.tile(h.u, (p.n, 1))
    return U, h.V


def _numpy_accuracy(data, U, V) -> float:
    A, C, y, start = (np.asarray(x) for x in data[:4])
    per = []
    for i in range(len(start) - 1):
        lo, hi = start[i], start[i + 1]
        score = A[lo:hi].astype(float) @ U[i] + C[lo:hi].astype(float) @ V[i]
        per.append(np.mean(np.where(score >= 0, 1.0, -1.0) == y[lo:hi]))
    return float(np.mean(per))


def beats_bayes(acc: float, bayes: float, rows: int, z: float = 4.0) -> bool:
    """Whether ``acc`` exceeds the Bayes accuracy by more than ``z`` binomial standard errors
    of a mean over ``rows`` test samples."""
    return acc > bayes + z * math.sqrt(bayes * (1 - bayes) / rows)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_accuracy_is_the_numpy_recomputation_at_round_T(problem, runs, alg):
    h = runs[alg]
    assert h.status == "ok"
    assert np.all(np.isnan(h.personal_accuracy[:-1]))
    want = _numpy_accuracy(problem.test, *_models(problem, h))
    assert h.personal_accuracy[-1] == pytest.approx(want, abs=1e-12)
    assert h.to_frame()["personal_accuracy"].iloc[-1] == h.personal_accuracy[-1]


def test_no_algorithm_beats_the_bayes_accuracy(problem, runs):
    rows = problem.n * TEST
    assert problem.test.bayes == 1 - FLIP
    for alg, h in runs.items():
        assert not beats_bayes(h.personal_accuracy[-1], problem.test.bayes, rows), alg
    # and the bound is attained by the teachers themselves (within sampling error)
    t = problem.test
    teach = accuracy(t, t.teacher_U, t.teacher_V)
    assert abs(teach - t.bayes) < 4 * math.sqrt(t.bayes * (1 - t.bayes) / rows)
    # the personalised algorithms learn something: above chance on every run
    assert min(h.personal_accuracy[-1] for h in runs.values()) > 0.5


def test_mutant_accuracy_on_training_data_is_caught(problem, runs):
    """Scored on the 8 training samples it fits, local training's "test accuracy" beats the
    Bayes bound (the same check, on the test set's size, that the real column passes)."""
    h = runs["local"]
    train = accuracy(problem.data, *_models(problem, h))
    rows = problem.n * TEST
    assert not beats_bayes(h.personal_accuracy[-1], problem.test.bayes, rows)
    assert beats_bayes(train, problem.test.bayes, rows)


def test_mutant_accuracy_on_unflipped_labels_is_caught():
    """Against the teachers' own labels (no flips), a well-trained model beats 1 - flip."""
    p = synthetic.make("teacher", n=4, d_u=3, d_v=2, samples=400, test_samples=TEST, flip=FLIP)
    h = simulators.run(p, _config(p, "fedalt"))
    t = p.test
    dev = np.repeat(np.arange(p.n), TEST)
    score = np.einsum("rj,rj->r", t.A, t.teacher_U[dev]) + np.einsum(
        "rj,rj->r", t.C, t.teacher_V[dev]
    )
    clean = HeldOut(t.A, t.C, np.where(score >= 0, 1.0, -1.0), t.start)
    rows = p.n * TEST
    assert not beats_bayes(h.personal_accuracy[-1], t.bayes, rows)
    assert beats_bayes(accuracy(clean, *_models(p, h)), t.bayes, rows)


def test_families_without_a_test_set_give_nan():
    q = synthetic.make("logistic", n=4)
    assert q.test is None
    assert np.all(
        np.isnan(simulators.run(q, _config(q, "fedalt", T=3, eval_every=3)).personal_accuracy)
    )


def test_accuracy_refuses_wrong_shapes_naming_them(problem):
    t = problem.test
    with pytest.raises(ValueError, match="'U'"):
        per_device_accuracy(t, np.zeros((problem.n + 1, problem.d_u)), t.teacher_V)
    with pytest.raises(ValueError, match="'V'"):
        per_device_accuracy(t, t.teacher_U, np.zeros((problem.n, problem.d_v + 1)))
