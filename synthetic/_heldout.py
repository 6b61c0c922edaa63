"""Held-out test sets of the classification families, and the accuracy of linear classifiers.

A family whose model is the linear classifier ``sign(a^T u + c^T v)`` (labels in ``{-1, +1}``)
may give its problem a :class:`HeldOut` (``Problem.test``): fresh samples of each device's
distribution that no gradient sees. :func:`accuracy` is the personalised test accuracy
``(1/n) sum_i (1/N_i) sum_j [y_ij = sign(a_ij^T u_i + c_ij^T v_i)]`` of per-device models
``(u_i, v_i)`` (``sign(0) = +1``, the families' own convention for labels).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from partialfed._constraints import Array, Interval, validate

__all__ = ["HeldOut", "accuracy", "check_heldout"]

#: Rows scored at once (bounds the temporary arrays of :func:`accuracy`).
_ROWS = 1 << 18


class HeldOut(NamedTuple):
    """Test samples of every device: features ``A (rows, d_u)`` and ``C (rows, d_v)``, labels
    ``y (rows,)`` in ``{-1, +1}``, device ``i``'s rows ``start[i]:start[i + 1]`` (the layout of
    ``synthetic.logistic.LogisticData``); ``bayes`` the Bayes accuracy of each device's
    distribution when the family knows it (NaN otherwise); ``teacher_U (n, d_u)``,
    ``teacher_V (n, d_v)`` a Bayes classifier per device when known (else ``None``)."""

    A: np.ndarray
    C: np.ndarray
    y: np.ndarray
    start: np.ndarray
    bayes: float = float("nan")
    teacher_U: np.ndarray | None = None
    teacher_V: np.ndarray | None = None


def check_heldout(test: HeldOut, n: int, d_u: int, d_v: int, owner: str) -> HeldOut:
    """``test`` if its arrays fit ``n`` devices of dimensions ``d_u``, ``d_v``; else ValueError.

    A wrong layout would not fail later: rows past ``start[-1]`` would be scored for the last
    device (an accuracy above 1 is possible), and labels outside ``{-1, +1}`` never match.
    """
    y = np.asarray(test.y)
    rows = y.shape[0] if y.ndim == 1 else -1
    start = np.asarray(test.start)
    problems = []
    if rows < 0:
        problems.append(f"y must be one-dimensional (shape {y.shape})")
    elif not np.isin(y, (-1.0, 1.0)).all():
        problems.append("y must hold labels in {-1, +1}")
    for name, arr, d in (("A", test.A, d_u), ("C", test.C, d_v)):
        if np.shape(arr) != (rows, d):
            problems.append(f"{name} must have shape ({rows}, {d}), got {np.shape(arr)}")
    if start.shape != (n + 1,) or start.dtype.kind not in "iu":
        problems.append(f"start must be {n + 1} integers (got shape {start.shape})")
    elif start[0] != 0 or start[-1] != rows or np.any(np.diff(start) < 1):
        problems.append(f"start must rise from 0 to {rows} with at least one row per device")
    if problems:
        raise ValueError(
            f"The 'test' parameter of {owner} is not a valid HeldOut: " + "; ".join(problems) + "."
        )
    return test


def per_device_accuracy(data, U, V) -> np.ndarray:
    """Accuracy of device ``i``'s model ``(U[i], V[i])`` on its rows of ``data`` (a
    :class:`HeldOut` or a tuple with the same first four fields, e.g. training data)."""
    A, C, y, start = data[:4]
    n = start.shape[0] - 1
    U = validate(U, "U", "accuracy", Array((n, A.shape[1])))
    V = validate(V, "V", "accuracy", Array((n, C.shape[1])))
    dev = np.repeat(np.arange(n), np.diff(start))
    hits = np.empty(y.shape[0], dtype=bool)
    for lo in range(0, y.shape[0], _ROWS):
        sl = slice(lo, lo + _ROWS)
        rows = dev[sl]
        score = np.einsum("rj,rj->r", A[sl], U[rows]) + np.einsum("rj,rj->r", C[sl], V[rows])
        hits[sl] = np.where(score >= 0.0, 1.0, -1.0) == y[sl]
    counts = np.diff(start)
    validate(int(counts.min()), "test samples per device", "accuracy", Interval(int, 1, None))
    return np.add.reduceat(hits.astype(float), start[:-1]) / counts


def accuracy(data, U, V) -> float:
    """``(1/n) sum_i`` accuracy of ``(U[i], V[i])`` on device ``i``'s rows of ``data``."""
    return float(np.mean(per_device_accuracy(data, U, V)))
