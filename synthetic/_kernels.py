"""Jitted helpers shared by every family: whole-population metrics.

Objective functions follow one calling convention (the ``Problem`` contract, see
``synthetic._problem``)::

    loss(data, i, u, v) -> float                  # F_i(u, v), noise free
    grad_u(data, i, u, v, out, idx) -> None        # out[:] = grad_u F_i(u, v)   (idx empty)
    grad_v(data, i, u, v, out, idx) -> None        #   or the minibatch estimate on samples idx

``data`` is a tuple of arrays owned by the family.
"""

# The objective's functions: generated modules bind them (see synthetic._codegen); this module
# is a template and its kernels are only called through ``synthetic._codegen.specialise``.
loss = grad_u = grad_v = None

# partialfed:template-body
import numpy as np  # noqa: E402, I001
from numba import njit, prange  # noqa: E402

#: Number of fixed partial sums for population reductions. Fixed (not one per thread), so the
#: floating-point summation order, and hence every metric, is the same for any thread count.
N_CHUNKS = 64


@njit(cache=True)
def chunk_metrics(data, U, V, lo, hi, gsum, gu, gv, idx):
    """Accumulate the metrics of devices ``lo..hi-1`` (sequential, in index order).

    ``U`` has one row (shared u) or one row per device (per-device u, the ``local`` baseline).
    Returns ``(sum loss, sum ||grad_u F_i||^2, sum ||grad_v F_i||^2)`` and adds the u-gradients
    into ``gsum``.
    """
    shared = U.shape[0] == 1
    lsum = 0.0
    usq = 0.0
    vsq = 0.0
    for i in range(lo, hi):
        u = U[0] if shared else U[i]
        lsum += loss(data, i, u, V[i])
        grad_u(data, i, u, V[i], gu, idx)
        grad_v(data, i, u, V[i], gv, idx)
        for c in range(gu.shape[0]):
            gsum[c] += gu[c]
            usq += gu[c] * gu[c]
        for c in range(gv.shape[0]):
            vsq += gv[c] * gv[c]
    return lsum, usq, vsq


@njit(parallel=True, cache=True)
def population_metrics(data, U, V):
    """Return ``(F, ||grad_u F||^2, mean_i ||grad_u F_i||^2, mean_i ||grad_v F_i||^2)``.

    ``F = (1/n) sum_i F_i(u, v_i)`` and ``grad_u F = (1/n) sum_i grad_u F_i(u, v_i)``. The sums
    run over ``N_CHUNKS`` fixed blocks of devices in parallel, then over the blocks in order.
    """
    n = V.shape[0]
    d_u = U.shape[1]
    d_v = V.shape[1]
    nc = min(N_CHUNKS, n)
    gsums = np.zeros((nc, d_u))
    parts = np.zeros((nc, 3))
    for c in prange(nc):
        lo = (c * n) // nc
        hi = ((c + 1) * n) // nc
        gu = np.empty(d_u)
        gv = np.empty(d_v)
        idx = np.empty(0, dtype=np.int64)
        a, b, e = chunk_metrics(data, U, V, lo, hi, gsums[c], gu, gv, idx)
        parts[c, 0] = a
        parts[c, 1] = b
        parts[c, 2] = e
    g = np.zeros(d_u)
    tot = np.zeros(3)
    for c in range(nc):
        for j in range(d_u):
            g[j] += gsums[c, j]
        for j in range(3):
            tot[j] += parts[c, j]
    gnorm = 0.0
    for j in range(d_u):
        gnorm += (g[j] / n) ** 2
    return tot[0] / n, gnorm, tot[1] / n, tot[2] / n


@njit(parallel=True, cache=True)
def point_gradients(data, I, U, V, IDX, GU, GV):
    """Row ``r``: ``GU[r], GV[r] = grad F_{I[r]}(U[r], V[r])`` on the minibatch ``IDX[r]``.

    ``IDX`` has shape ``(R, b)``; ``b = 0`` gives exact gradients. Used by
    ``synthetic.estimate`` to evaluate many (device, point) pairs in one call.
    """
    for r in prange(I.shape[0]):
        grad_u(data, I[r], U[r], V[r], GU[r], IDX[r])
        grad_v(data, I[r], U[r], V[r], GV[r], IDX[r])


@njit(parallel=True, cache=True)
def point_losses(data, I, U, V, out):
    """Row ``r``: ``out[r] = F_{I[r]}(U[r], V[r])``."""
    for r in prange(I.shape[0]):
        out[r] = loss(data, I[r], U[r], V[r])


@njit(parallel=True, cache=True)
def population_gradients(data, u, V, g, GV):
    """``g = grad_u F(u, V)`` (mean over devices, fixed summation order) and
    ``GV[i] = grad_v F_i(u, v_i)``; returns ``F(u, V)``."""
    n = V.shape[0]
    d_u = u.shape[0]
    nc = min(N_CHUNKS, n)
    gsums = np.zeros((nc, d_u))
    lsums = np.zeros(nc)
    for c in prange(nc):
        lo = (c * n) // nc
        hi = ((c + 1) * n) // nc
        gu = np.empty(d_u)
        idx = np.empty(0, dtype=np.int64)
        s = 0.0
        for i in range(lo, hi):
            s += loss(data, i, u, V[i])
            grad_u(data, i, u, V[i], gu, idx)
            grad_v(data, i, u, V[i], GV[i], idx)
            for j in range(d_u):
                gsums[c, j] += gu[j]
        lsums[c] = s
    tot = 0.0
    for j in range(d_u):
        g[j] = 0.0
    for c in range(nc):
        tot += lsums[c]
        for j in range(d_u):
            g[j] += gsums[c, j]
    for j in range(d_u):
        g[j] /= n
    return tot / n
