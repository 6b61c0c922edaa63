"""Plain-NumPy reference of ``History.personal_accuracy`` (one sample at a time).

Independent of ``simulators._accuracy`` and ``synthetic._heldout``: the personal model of each
device is rebuilt from a reference run's final iterates (the iterate, the device's own ``u_i``
for ``local``, ``w - alpha grad F_i(w)`` for Per-FedAvg, Ditto's personal models), and every
test sample is scored by its own dot product.
"""

from __future__ import annotations

import numpy as np


def personal_model(oracle, alg, alpha, result, i):
    """Device ``i``'s personal model ``(u_i, v_i)`` from a reference run's ``result``."""
    if alg == "ditto":
        return result["personal_U"][i], result["personal_V"][i]
    if alg == "perfedavg":
        u, v = result["u"], result["V"][0]
        gu, gv = oracle.exact(i, u, v)
        return u - alpha * gu, v - alpha * gv
    if alg == "local":
        return result["U"][i], result["V"][i]
    return result["u"], result["V"][i]


def reference_accuracy(oracle, cfg, result, on="test"):
    """The mean over devices of the fraction of ``on`` samples (``"test"``: ``Problem.test``;
    ``"train"``: the training data) whose label is ``sign(a^T u_i + c^T v_i)`` (``sign(0) =
    +1``); NaN without a test set."""
    p = oracle.p
    if p.test is None:
        return float("nan")
    A, C, y, start = (p.test if on == "test" else p.data)[:4]
    per_device = []
    for i in range(p.n):
        u, v = personal_model(oracle, cfg.algorithm, cfg.alpha, result, i)
        hits = 0
        for r in range(start[i], start[i + 1]):
            score = float(np.dot(A[r].astype(float), u)) + float(np.dot(C[r].astype(float), v))
            hits += (1.0 if score >= 0.0 else -1.0) == y[r]
        per_device.append(hits / (start[i + 1] - start[i]))
    return float(np.mean(per_device))


def with_accuracy(oracle, cfg, result):
    """``result`` with ``personal_accuracy``: NaN at every recorded round but the last."""
    acc = np.full(len(result["rounds"]), np.nan)
    acc[-1] = reference_accuracy(oracle, cfg, result)
    result["personal_accuracy"] = acc
    return result
