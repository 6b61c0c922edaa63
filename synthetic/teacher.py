r"""Logistic regression on labels of planted device teachers, with a held-out test set.

docs/references.md#synthetic-teacher. The loss is ``logistic``'s (its kernels and constants):

.. math::

    F_i(u, v) = \frac{1}{N_i} \sum_{j=1}^{N_i} \log\big(1 + e^{-y_{ij}(a_{ij}^\top u +
                c_{ij}^\top v)}\big) + \lambda \sum_k \phi(u_k) + \lambda \sum_k \phi(v_k),
    \qquad \phi(t) = \frac{t^2}{1 + t^2},

but the labels come from a teacher per device whose heterogeneity is planted on the last
``planted`` coordinates of ``w = (u, v)`` (as ``logcosh``'s ``planted``): a sweep of ``d_v`` at
fixed ``d_u + d_v`` moves the shared/personal boundary across a fixed planted structure. Labels
are flipped with probability ``flip``, so the Bayes accuracy of every device is ``1 - flip``,
and each device has ``test_samples`` fresh samples (``Problem.test``) for the personalised test
accuracy (``History.personal_accuracy``).
"""

from __future__ import annotations

import numpy as np

from partialfed._constraints import Interval, validate_args
from partialfed.synthetic._heldout import HeldOut
from partialfed.synthetic._problem import NOISE, SEED, Problem, check_size
from partialfed.synthetic.logistic import (
    LogisticData,
    _grad_u,
    _grad_v,
    _loss,
    logistic_constants,
)

OWNER = "synthetic.make('teacher')"
_CHUNK = 4096

#: What each knob of ``teacher`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "planted": [Interval(int, 0, lambda p: p["d_u"] + p["d_v"]), None],
    "samples": [Interval(int, 1, 10**6)],
    "test_samples": [Interval(int, 1, 10**6)],
    "flip": [Interval(float, 0.0, 0.5)],
    "heterogeneity": [Interval(float, 0.0, 1e3)],
    "lam": [Interval(float, 0.0, 1e6)],
    "batch": [Interval(int, 0, "samples")],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


def _draw(rng, W, N, flip):
    """``N`` samples per teacher row of ``W (m, d)``: float32 features ``N(0, I)``, labels
    ``sign(w_i^T x)`` (``sign(0) = +1``) of the stored features, each flipped with
    probability ``flip``."""
    X = rng.standard_normal((W.shape[0], N, W.shape[1])).astype(np.float32)
    clean = np.where(np.einsum("msd,md->ms", X.astype(np.float64), W) >= 0.0, 1.0, -1.0)
    flipped = rng.random(clean.shape) < flip
    return X, np.where(flipped, -clean, clean)


@validate_args(_parameter_constraints, OWNER)
def teacher(
    *,
    n: int = 20,
    d_u: int = 5,
    d_v: int = 2,
    planted: int | None = None,
    samples: int = 50,
    test_samples: int = 200,
    flip: float = 0.1,
    heterogeneity: float = 1.0,
    lam: float = 0.01,
    batch: int = 0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Logistic regression with planted device teachers and label flips (a classification
    family with a known Bayes accuracy and a held-out test set).

    Data (seeded): a shared direction ``w_0`` (standard normal, unit norm) and device teachers
    ``w_i = w_0 + heterogeneity (0, zeta_i)`` whose last ``K = planted`` coordinates carry
    ``zeta_i`` (standard normal; ``K = d_v`` by default), the first ``d - K`` the common
    ``w_0``. Device ``i`` draws ``x_ij ~ N(0, I_d)`` (stored as float32; all arithmetic is
    float64) and ``y_ij = s_ij sign(w_i^T x_ij)`` with independent flips ``s_ij = -1`` of
    probability ``flip`` (``sign(0) = +1``). ``x = (a, c)`` splits at ``d_u``.

    **Bayes accuracy** (exact): for ``flip <= 1/2``, ``P(y = +1 | x) = 1 - flip`` where
    ``w_i^T x >= 0`` and ``flip`` elsewhere, so ``sign(w_i^T x)`` is a Bayes classifier and
    every classifier's accuracy on device ``i`` is at most ``1 - flip`` (equality for
    ``sign(w_i^T x)``; every classifier has ``1/2`` at ``flip = 1/2``). ``Problem.test`` holds
    ``test_samples`` fresh samples per device (labels flipped alike), ``bayes = 1 - flip`` and
    the teachers ``(w_i[:d_u], w_i[d_u:])``.

    Constants: those of ``logistic`` on the training features (``logistic_constants``; all
    certified upper bounds, ``F_low = 0`` certified): they hold for any labels in
    ``{-1, +1}``.

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1), body dimension (>= 1), head dimension (>= 0).
    planted : int or None
        Coordinates that differ across the devices' teachers, the last ones of ``w``, in
        ``[0, d_u + d_v]`` (default ``d_v``).
    samples, test_samples : int
        Training and test samples per device, in [1, 10^6].
    flip : float
        Label-flip probability, in [0, 1/2] (Bayes accuracy ``1 - flip``).
    heterogeneity : float
        Scale of the teachers' device parts ``zeta_i``, >= 0.
    lam : float
        Weight of the nonconvex regulariser, >= 0.
    batch : int
        Minibatch size in [0, samples] (0: exact gradients).
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0.
    seed : int
        Instance seed.
    """
    d = d_u + d_v
    check_size(n, d, OWNER)
    if n * (samples + test_samples) * d > 4 * 10**8:
        raise ValueError(
            f"The 'samples' and 'test_samples' parameters of {OWNER} must keep "
            f"n*(samples+test_samples)*(d_u+d_v) <= 4e8 features (memory; here n*(d_u+d_v) = "
            f"{n * d}). Got samples={samples}, test_samples={test_samples}."
        )
    K = d_v if planted is None else planted
    rng = np.random.default_rng([seed, 0x7EAC])
    w0 = rng.standard_normal(d)
    w0 /= np.linalg.norm(w0)
    W = np.tile(w0, (n, 1))
    W[:, d - K :] += heterogeneity * rng.standard_normal((n, K))
    X = np.empty((n, samples, d), dtype=np.float32)
    y = np.empty((n, samples))
    Xt = np.empty((n, test_samples, d), dtype=np.float32)
    yt = np.empty((n, test_samples))
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        X[lo:hi], y[lo:hi] = _draw(rng, W[lo:hi], samples, flip)
        Xt[lo:hi], yt[lo:hi] = _draw(rng, W[lo:hi], test_samples, flip)
    constants = logistic_constants(X[:, :, :d_u], X[:, :, d_u:], lam, batch, noise_u, noise_v)

    def rows(Z, N):
        """``LogisticData``'s layout: ``(A, C, y, start)`` of ``Z = (features, labels)``."""
        F, lab = Z
        A = np.ascontiguousarray(F[:, :, :d_u].reshape(n * N, d_u))
        C = np.ascontiguousarray(F[:, :, d_u:].reshape(n * N, d_v))
        return A, C, lab.reshape(n * N), np.arange(n + 1, dtype=np.int64) * N

    train = rows((X, y), samples)
    del X
    data = LogisticData(*train, np.array([lam]))
    test = HeldOut(
        *rows((Xt, yt), test_samples),
        bayes=1.0 - flip,
        teacher_U=np.ascontiguousarray(W[:, :d_u]),
        teacher_V=np.ascontiguousarray(W[:, d_u:]),
    )

    def init(seed_):
        g = np.random.default_rng([seed_, 0x1717])
        return 0.1 * g.standard_normal(d_u), 0.1 * g.standard_normal((n, d_v))

    return Problem(
        name="teacher",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d_u=d_u,
            d_v=d_v,
            planted=K,
            samples=samples,
            test_samples=test_samples,
            flip=flip,
            heterogeneity=heterogeneity,
            lam=lam,
            batch=batch,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        sizes=np.full(n, samples, dtype=np.int64),
        batch=batch,
        noise_u=noise_u,
        noise_v=noise_v,
        description="logistic regression on planted device teachers, label flips, test set",
        test=test,
    )
