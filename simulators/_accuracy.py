"""The personalised test accuracy of a run: ``History.personal_accuracy`` at round T.

For a problem with a held-out test set (``Problem.test``, a classification family such as
``teacher``), each device's personal model at the final iterate is the one
``History.personal_loss`` evaluates (``Algorithm.personal``): the iterate ``(u, v_i)`` for
FedAlt, FedSim, FedRecon and FedAvg (its global model, no fine-tuning), the device's own
``(u_i, v_i)`` for local training, one step of local adaptation ``w - alpha grad F_i(w)`` on the
device's training loss for Per-FedAvg (docs/references.md#fallah2020-objective), and Ditto's
personal models ``w_i`` (docs/references.md#li2021-ditto). The accuracy is
``synthetic._heldout.accuracy`` of those models on the test set.
"""

from __future__ import annotations

import numpy as np

from partialfed.synthetic._heldout import accuracy

__all__ = ["personal_models", "personal_accuracy"]


def personal_models(problem, alg, alpha: float, U, V, personal):
    """``(PU (n, d_u), PV (n, d_v))``: every device's personal model at the final iterate.

    Parameters
    ----------
    problem : synthetic.Problem
    alg : simulators.Algorithm
    alpha : float
        Per-FedAvg's adaptation step (``RunConfig.alpha``).
    U : array (1, d_u) or (n, d_u)
        The kernel's u rows (one per device for ``local``).
    V : array (n, d_v)
    personal : tuple or None
        Ditto's ``(personal_U, personal_V)``.
    """
    n = problem.n
    if alg.personal == "personal_models":
        return personal
    if alg.personal == "adapted":
        u, v = U[0], V[0]
        PU, PV = np.empty((n, problem.d_u)), np.empty((n, problem.d_v))
        for i in range(n):
            gu, gv = problem.grad(i, u, v)
            PU[i], PV[i] = u - alpha * gu, v - alpha * gv  # w - alpha grad F_i(w)
        return PU, PV
    PU = U if alg.per_device_u else np.tile(U[0], (n, 1))
    return PU, V


def personal_accuracy(problem, alg, alpha: float, U, V, personal) -> float:
    """Mean over devices of the test accuracy of their personal models (NaN without a test
    set)."""
    if problem.test is None:
        return float("nan")
    return accuracy(problem.test, *personal_models(problem, alg, alpha, U, V, personal))
