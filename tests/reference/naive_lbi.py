"""A plain-Python reference of Split LBI, one coordinate at a time, with no attempt at speed.

Written from the update rules of Fu et al. (docs/references.md#fu2020-update), not from
``simulators.split_lbi``: with the lifted loss ``Lbar(W, G) = L(W) + sum_{j lifted}
(W_j - G_j)^2 / (2 nu)``, one iteration is, coordinate by coordinate,

- lifted ``j``:  ``r = W_j - G_j``; ``W_j <- W_j - kappa alpha (dL/dW_j + r / nu)``;
  ``Z_j <- Z_j + alpha r / nu``; ``G_j <- kappa * soft(Z_j)`` with ``soft(z) = z - 1`` above 1,
  ``z + 1`` below -1 and 0 in between;
- other ``j``:  ``W_j <- W_j - kappa alpha dL/dW_j`` (``G_j = Z_j = 0``),

all partial derivatives taken at the old point. Every iteration is kept (lists of floats).
"""

from __future__ import annotations

import math


def soft(z: float) -> float:
    """Soft threshold at level 1, written by cases."""
    if z > 1.0:
        return z - 1.0
    if z < -1.0:
        return z + 1.0
    return 0.0


def reference_lbi(grad, w0, kappa, alpha, nu, iters, lifted=None, z0=None):
    """Every iterate of Split LBI.

    Returns a dict of lists: ``W``, ``G``, ``Z`` (lists of lists, iterations 0..iters),
    ``loss``, ``lifted_loss``, ``grad_norm`` (per iteration), ``entry`` (first iteration each
    lifted coordinate has ``G != 0``, -1 otherwise) and ``increments`` (per step).
    """
    d = len(w0)
    lifted = [True] * d if lifted is None else [bool(x) for x in lifted]
    W = [float(x) for x in w0]
    Z = [0.0] * d if z0 is None else [float(z) if lifted[j] else 0.0 for j, z in enumerate(z0)]
    G = [kappa * soft(Z[j]) if lifted[j] else 0.0 for j in range(d)]
    out = {k: [] for k in ("W", "G", "Z", "loss", "lifted_loss", "grad_norm", "increments")}
    entry = [0 if (lifted[j] and G[j] != 0.0) else -1 for j in range(d)]
    for k in range(iters + 1):
        loss, g = grad(list(W))
        g = [float(x) for x in g]
        penalty, sq = 0.0, 0.0
        for j in range(d):
            r = (W[j] - G[j]) if lifted[j] else 0.0
            penalty += r * r / (2.0 * nu)
            gw = g[j] + r / nu
            sq += gw * gw + (r / nu) ** 2
        out["W"].append(list(W))
        out["G"].append(list(G))
        out["Z"].append(list(Z))
        out["loss"].append(float(loss))
        out["lifted_loss"].append(float(loss) + penalty)
        out["grad_norm"].append(math.sqrt(sq))
        if k == iters:
            break
        step_sq = 0.0
        for j in range(d):
            if lifted[j]:
                r = W[j] - G[j]
                w_new = W[j] - kappa * alpha * (g[j] + r / nu)
                Z[j] = Z[j] + alpha * r / nu
                g_new = kappa * soft(Z[j])
            else:
                w_new = W[j] - kappa * alpha * g[j]
                g_new = 0.0
            step_sq += (w_new - W[j]) ** 2 + (g_new - G[j]) ** 2
            W[j], G[j] = w_new, g_new
            if lifted[j] and entry[j] < 0 and G[j] != 0.0:
                entry[j] = k + 1
        out["increments"].append(math.sqrt(step_sq))
    out["entry"] = entry
    return out
