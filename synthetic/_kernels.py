"""Jitted population metrics of any problem: ``F``, its gradients, batched point evaluations.

The kernels call ``loss``, ``grad_u`` and ``grad_v`` in the calling convention of
``synthetic._objective``, which dispatches on the type of a family's data. For a user's
objective (plain tuple data) ``partialfed._codegen`` generates a copy of the code after the
``# partialfed:template-body`` line with the user's functions bound to those three names.

Threads: every kernel with a ``prange`` takes ``threads``; ``False`` runs the same loop body
with ``range`` (same code, same summation order, same bits) and opens no parallel region, whose
fixed cost dominates on small problems. One compiled variant serves both.
"""

from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit, prange

from partialfed.synthetic._objective import region

#: Number of fixed partial sums for population reductions. Fixed (not one per thread), so the
#: floating-point summation order, and hence every metric, is the same for any thread count.
N_CHUNKS = 64


@njit(cache=True, nogil=True)
def zeros(shape):
    """``np.zeros(shape)`` compiled without threads. (Inside a ``parallel=True`` kernel numba
    turns ``np.zeros`` into a parallel region of its own, which costs more than filling a few
    numbers.)"""
    return np.zeros(shape)


@njit(cache=True, nogil=True)
def device_terms(data, i, u, v, gu, gv, idx):
    """Return ``F_i(u, v)`` and set ``gu, gv = grad_u F_i(u, v), grad_v F_i(u, v)`` (exact for an
    empty ``idx``, else on the minibatch ``idx``).

    An ordinary call, not inlined: the metric kernels (``chunk_metrics``, ``_gradients_chunk``,
    ``simulators._incremental``) share one compiled copy of the objective per data type instead
    of inlining it (and compiling it again) into each (``partialfed bench --compile``). Same
    operations, same bits.
    """
    f = loss(data, i, u, v)
    grad_u(data, i, u, v, gu, idx)
    grad_v(data, i, u, v, gv, idx)
    return f


@njit(cache=True, nogil=True)
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
        lsum += device_terms(data, i, u, V[i], gu, gv, idx)
        for c in range(gu.shape[0]):
            gsum[c] += gu[c]
            usq += gu[c] * gu[c]
        for c in range(gv.shape[0]):
            vsq += gv[c] * gv[c]
    return lsum, usq, vsq


@njit(cache=True, nogil=True)
def _metrics_chunk(data, U, V, c, nc, gsums, parts):
    """Chunk ``c`` of ``nc``: devices ``c n / nc .. (c + 1) n / nc - 1``."""
    n = V.shape[0]
    gu = np.empty(U.shape[1])
    gv = np.empty(V.shape[1])
    idx = np.empty(0, dtype=np.int64)
    a, b, e = chunk_metrics(data, U, V, (c * n) // nc, ((c + 1) * n) // nc, gsums[c], gu, gv, idx)
    parts[c, 0] = a
    parts[c, 1] = b
    parts[c, 2] = e


@njit(parallel=True, cache=True, nogil=True)
def population_metrics(data, U, V, threads):
    """Return ``(F, ||grad_u F||^2, mean_i ||grad_u F_i||^2, mean_i ||grad_v F_i||^2)``.

    ``F = (1/n) sum_i F_i(u, v_i)`` and ``grad_u F = (1/n) sum_i grad_u F_i(u, v_i)``. The sums
    run over ``N_CHUNKS`` fixed blocks of devices (in parallel if ``threads``), then over the
    blocks in order.
    """
    n = V.shape[0]
    d_u = U.shape[1]
    nc = min(N_CHUNKS, n)
    gsums = zeros((nc, d_u))
    parts = zeros((nc, 3))
    if threads:
        for c in prange(nc):
            # int64 as in the range loop below (a prange index is unsigned): one compiled
            # _metrics_chunk serves both branches.
            _metrics_chunk(data, U, V, np.int64(c), nc, gsums, parts)
    else:
        for c in range(nc):
            _metrics_chunk(data, U, V, c, nc, gsums, parts)
    g = zeros(d_u)
    tot = zeros(3)
    for c in range(nc):
        for j in range(d_u):
            g[j] += gsums[c, j]
        for j in range(3):
            tot[j] += parts[c, j]
    gnorm = 0.0
    for j in range(d_u):
        gnorm += (g[j] / n) ** 2
    return tot[0] / n, gnorm, tot[1] / n, tot[2] / n


@njit(cache=True, nogil=True)
def population_region(data, U, V):
    """``max_i region(data, i, u_i, v_i)`` (``u_i = U[0]`` when ``U`` has one row): at most 1
    exactly when every device's point lies in the family's region; NaN if any value is NaN."""
    shared = U.shape[0] == 1
    out = 0.0
    for i in range(V.shape[0]):
        r = region(data, i, U[0] if shared else U[i], V[i])
        if r != r:
            return r
        if r > out:
            out = r
    return out


@njit(cache=True, nogil=True)
def _point_gradients(data, I, U, V, IDX, GU, GV, r):
    grad_u(data, I[r], U[r], V[r], GU[r], IDX[r])
    grad_v(data, I[r], U[r], V[r], GV[r], IDX[r])


@njit(parallel=True, cache=True, nogil=True)
def point_gradients(data, I, U, V, IDX, GU, GV, threads):
    """Row ``r``: ``GU[r], GV[r] = grad F_{I[r]}(U[r], V[r])`` on the minibatch ``IDX[r]``.

    ``IDX`` has shape ``(R, b)``; ``b = 0`` gives exact gradients. Used by
    ``synthetic.estimate`` to evaluate many (device, point) pairs in one call.
    """
    if threads:
        for r in prange(I.shape[0]):
            _point_gradients(data, I, U, V, IDX, GU, GV, np.int64(r))  # as the range loop
    else:
        for r in range(I.shape[0]):
            _point_gradients(data, I, U, V, IDX, GU, GV, r)


@njit(parallel=True, cache=True, nogil=True)
def point_losses(data, I, U, V, out, threads):
    """Row ``r``: ``out[r] = F_{I[r]}(U[r], V[r])``."""
    if threads:
        for r in prange(I.shape[0]):
            out[r] = loss(data, I[r], U[r], V[r])
    else:
        for r in range(I.shape[0]):
            out[r] = loss(data, I[r], U[r], V[r])


@njit(cache=True, nogil=True)
def _gradients_chunk(data, u, V, GV, c, nc, gsums, lsums):
    n = V.shape[0]
    d_u = u.shape[0]
    gu = np.empty(d_u)
    idx = np.empty(0, dtype=np.int64)
    s = 0.0
    for i in range((c * n) // nc, ((c + 1) * n) // nc):
        s += device_terms(data, i, u, V[i], gu, GV[i], idx)
        for j in range(d_u):
            gsums[c, j] += gu[j]
    lsums[c] = s


@njit(parallel=True, cache=True, nogil=True)
def population_gradients(data, u, V, g, GV, threads):
    """``g = grad_u F(u, V)`` (mean over devices, fixed summation order) and
    ``GV[i] = grad_v F_i(u, v_i)``; returns ``F(u, V)``."""
    n = V.shape[0]
    d_u = u.shape[0]
    nc = min(N_CHUNKS, n)
    gsums = zeros((nc, d_u))
    lsums = zeros(nc)
    if threads:
        for c in prange(nc):
            _gradients_chunk(data, u, V, GV, np.int64(c), nc, gsums, lsums)  # as the range loop
    else:
        for c in range(nc):
            _gradients_chunk(data, u, V, GV, c, nc, gsums, lsums)
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
