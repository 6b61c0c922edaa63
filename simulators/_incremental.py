"""Population metrics maintained incrementally: a fixed reduction tree over the devices.

A round changes the state of the m sampled devices only (``V[S]``, and ``U[S]`` for ``local``).
When every population metric is a sum of per-device terms that depend on that state alone, the
terms of the other devices need not be evaluated again: each device's terms sit at a leaf of a
perfect binary tree (``Tracked.tree``), every internal node holds the sum of its two children,
and after a round only the m changed leaves and the nodes on their paths to the root are
recomputed, O(m d + m log n) work instead of O(n d). Each node is always the sum of its two
children, in that order, so the tree's bits are a function of the current leaves alone: they
equal those of a tree rebuilt from scratch (``rebuild``) whatever the history of updates, the
thread count or ``eval_every``. The summation order differs from that of ``population_metrics``
(64 fixed chunks), so the two agree to rounding, not bit for bit.

Exact cases (``Tree``), with ``F = (1/n) sum_i F_i``, ``Delta_u``, ``Delta_v`` as in ``History``:

- ``PER_DEVICE`` (one u per device, ``local``): leaf i is ``(F_i(u_i, v_i), ||grad_u F_i||^2,
  ||grad_v F_i||^2)``, a function of device i's state only; any objective.
- ``SHARED`` (shared u, an objective that splits as ``F_i = f_{k(i)}(u) + h_i(v)``,
  ``synthetic._objective.register_split``): leaf i is ``(h_i(v_i), 0, ||grad_v F_i||^2)``, a
  function of ``v_i`` only; the u-terms ``sum_i f_{k(i)}(u) = sum_k n_k f_k(u)`` and
  ``grad_u F = (1/n) sum_k n_k grad f_k(u)`` cost O(K d_u) per evaluation (K classes) and are
  summed over the classes in order. No square is expanded, so no new cancellation.

A coupled objective (``u^T Q v``, ``grad_v F_i`` depending on u) has no such per-device terms
and keeps the full evaluation.
"""

# The objective's three functions, imported under these names by generated kernels (a user
# objective) too; loss_u/loss_v below are dispatched on the data type for any objective.
from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401, I001
from partialfed.synthetic._kernels import device_terms  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit

from partialfed.simulators._records import Tree
from partialfed.synthetic._objective import loss_u, loss_v


@njit(cache=True, nogil=True, error_model="numpy")
def _leaf(data, mode, U, V, i, row, gu, gv, idx):
    """Write device i's terms into ``row`` (3 numbers, see the module docstring)."""
    u = U[i] if mode == Tree.PER_DEVICE else U[0]
    v = V[i]
    usq = 0.0
    if mode == Tree.PER_DEVICE:
        # The shared compiled copy of loss, grad_u, grad_v (not inlined here once more).
        row[0] = device_terms(data, i, u, v, gu, gv, idx)
        for c in range(gu.shape[0]):
            usq += gu[c] * gu[c]
    else:
        grad_v(data, i, u, v, gv, idx)
        row[0] = loss_v(data, i, v)
    vsq = 0.0
    for c in range(gv.shape[0]):
        vsq += gv[c] * gv[c]
    row[1] = usq
    row[2] = vsq


@njit(cache=True, nogil=True, error_model="numpy")
def _scratch(U, V):
    return np.empty(U.shape[1]), np.empty(V.shape[1]), np.empty(0, dtype=np.int64)


@njit(cache=True, nogil=True, error_model="numpy")
def rebuild(data, mode, U, V, tree):
    """Fill ``tree`` from scratch: every leaf, then the internal nodes bottom-up."""
    n = V.shape[0]
    N = tree.shape[0] // 2
    gu, gv, idx = _scratch(U, V)
    for k in range(N, 2 * N):
        for c in range(3):
            tree[k, c] = 0.0
    for i in range(n):
        _leaf(data, mode, U, V, i, tree[N + i], gu, gv, idx)
    for k in range(N - 1, 0, -1):
        for c in range(3):
            tree[k, c] = tree[2 * k, c] + tree[2 * k + 1, c]


@njit(cache=True, nogil=True, error_model="numpy")
def update(data, mode, U, V, S, tree, work):
    """Recompute the leaves of the devices ``S`` (ascending, distinct) and the nodes on their
    paths to the root; ``work`` is scratch of at least ``len(S)`` integers."""
    N = tree.shape[0] // 2
    m = S.shape[0]
    gu, gv, idx = _scratch(U, V)
    for j in range(m):
        _leaf(data, mode, U, V, S[j], tree[N + S[j]], gu, gv, idx)
        work[j] = N + S[j]
    count = m
    # All leaves are at one depth: climb level by level; sorted nodes have sorted parents, so
    # duplicates are adjacent.
    while count > 0 and work[0] > 1:
        up = 0
        for j in range(count):
            p = work[j] >> 1
            if up == 0 or work[up - 1] != p:
                work[up] = p
                up += 1
        count = up
        for j in range(count):
            k = work[j]
            for c in range(3):
                tree[k, c] = tree[2 * k, c] + tree[2 * k + 1, c]


@njit(cache=True, nogil=True, error_model="numpy")
def tree_metrics(data, mode, U, V, reps, weights, tree, out):
    """``out = (F, Delta_u, Delta_v)`` from the tree (and, for ``SHARED``, the class-wise
    u-terms at ``u = U[0]``): the quantities of ``simulators._kernels.metrics``."""
    n = V.shape[0]
    root = tree[1]
    if mode == Tree.PER_DEVICE:
        out[0] = root[0] / n
        out[1] = root[1] / n
        out[2] = root[2] / n
        return
    u = U[0]
    gu, gv, idx = _scratch(U, V)
    g = np.zeros(U.shape[1])
    fu = 0.0
    for k in range(reps.shape[0]):
        i = reps[k]
        w = weights[k]
        fu += w * loss_u(data, i, u)  # n_k f_k(u)
        grad_u(data, i, u, V[i], gu, idx)
        for c in range(gu.shape[0]):
            g[c] += w * gu[c]  # n_k grad f_k(u)
    gnorm = 0.0
    for c in range(g.shape[0]):
        gnorm += (g[c] / n) ** 2
    out[0] = (fu + root[0]) / n
    out[1] = gnorm
    out[2] = root[2] / n


@njit(cache=True, nogil=True, error_model="numpy")
def differing_nodes(a, b):
    """Number of entries where ``a`` and ``b`` differ (two NaNs count as equal)."""
    bad = 0
    for k in range(a.shape[0]):
        for c in range(a.shape[1]):
            x, y = a[k, c], b[k, c]
            if x != y and not (x != x and y != y):
                bad += 1
    return bad
