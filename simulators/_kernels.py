"""Round kernels of FedAlt, FedSim and the baselines (a template; see ``synthetic._codegen``).

One kernel runs all T rounds of one algorithm. Within a round the m sampled devices run in
parallel (``prange``); each writes its local result to its own row of a scratch array, and the
server then averages the rows sequentially in increasing device index. Every random number is
drawn from the counter-based generator of ``simulators._rng``, keyed by
``(seed, stream, round, device, step)``, so results do not depend on the thread count.

Calling convention of the objective: see ``synthetic._kernels``.
"""

# The objective's functions: generated modules bind them (see synthetic._codegen), and
# synthetic/_kernels.py's body is joined before this one (population_metrics).
loss = grad_u = grad_v = population_metrics = None

# partialfed:template-body
import numpy as np
from numba import njit, prange

from partialfed.simulators._rng import (
    STREAM_BATCH,
    STREAM_NOISE_U,
    STREAM_NOISE_V,
    add_normals,
    key,
    sample_round,
    uniform,
)

ALG_FEDALT = 0
ALG_FEDSIM = 1
ALG_FEDAVG = 2
ALG_LOCAL = 3
ALG_FEDRECON = 4

BLOWUP = 1e100
CLIENT_BLOCKS = 64  # sampled devices are updated in at most this many parallel blocks


@njit(cache=True, error_model="numpy")
def _draw_batch(seed, t, i, k, size, idx):
    """Fill ``idx`` with minibatch indices of device i, step k (uniform, with replacement)."""
    if idx.shape[0] == 0:
        return
    kk = key(seed, STREAM_BATCH, t, i, k)
    for j in range(idx.shape[0]):
        idx[j] = min(int(uniform(kk, j) * size), size - 1)


@njit(cache=True, error_model="numpy")
def _add_noise(g, sigma, seed, stream, t, i, k):
    """``g += xi`` with ``xi ~ N(0, sigma^2/d I)``, so ``E||xi||^2 = sigma^2`` (A2).

    A block of dimension 0 (``d_v = 0``) gets no noise (and no division by zero)."""
    if sigma == 0.0 or g.shape[0] == 0:
        return
    add_normals(g, sigma / np.sqrt(g.shape[0]), key(seed, stream, t, i, k))


@njit(cache=True, error_model="numpy")
def _v_step(data, i, u, v, g, idx, gamma_v, sigma_v, seed, t, k, size):
    """One personal step ``v <- v - gamma_v (grad_v f_i(u, v; z) [+ xi_v])``."""
    _draw_batch(seed, t, i, k, size, idx)
    grad_v(data, i, u, v, g, idx)
    _add_noise(g, sigma_v, seed, STREAM_NOISE_V, t, i, k)
    for c in range(v.shape[0]):
        v[c] -= gamma_v * g[c]


@njit(cache=True, error_model="numpy")
def _u_step(data, i, u, v, g, idx, gamma_u, sigma_u, seed, t, k, size):
    """One shared step ``u <- u - gamma_u (grad_u f_i(u, v; z) [+ xi_u])``."""
    _draw_batch(seed, t, i, k, size, idx)
    grad_u(data, i, u, v, g, idx)
    _add_noise(g, sigma_u, seed, STREAM_NOISE_U, t, i, k)
    for c in range(u.shape[0]):
        u[c] -= gamma_u * g[c]


@njit(cache=True, error_model="numpy")
def _simultaneous(
    data, i, ul, vl, gu, gv, idx, tau, gamma_u, gamma_v, sigma_u, sigma_v, seed, t, size
):
    """FedSim's local update (docs/references.md#pillutla2022-fedsim): tau joint steps, both partial
    gradients at the same point and from the same minibatch."""
    for k in range(tau):
        _draw_batch(seed, t, i, k, size, idx)
        grad_u(data, i, ul, vl, gu, idx)
        grad_v(data, i, ul, vl, gv, idx)
        _add_noise(gu, sigma_u, seed, STREAM_NOISE_U, t, i, k)
        _add_noise(gv, sigma_v, seed, STREAM_NOISE_V, t, i, k)
        for c in range(ul.shape[0]):
            ul[c] -= gamma_u * gu[c]
        for c in range(vl.shape[0]):
            vl[c] -= gamma_v * gv[c]


PHASE_V = 0  # FedAlt's v-phase only
PHASE_U = 1  # FedAlt's u-phase only
PHASE_ALT = 2  # both phases (local training)
PHASE_JOINT = 3  # FedSim/FedAvg joint steps


@njit(cache=True, error_model="numpy")
def _clients(
    phase,
    data,
    S,
    sizes,
    lo,
    hi,
    ul,
    vl,
    gu,
    gv,
    idx,
    tau_u,
    tau_v,
    gamma_u,
    gamma_v,
    sigma_u,
    sigma_v,
    seed,
    t,
):
    """Local updates of the sampled devices ``S[lo:hi]`` (rows ``lo..hi-1`` of the scratch
    arrays), one after the other. A plain function called once per block from ``prange``: the
    per-device work then compiles as ordinary sequential code (measured ~2x faster per thread
    than the same loops written inside the parallel region)."""
    for j in range(lo, hi):
        i = S[j]
        size = sizes[i]
        # Views once per device, not per step (each view costs reference-count updates).
        u, v, g_u, g_v, ix = ul[j], vl[j], gu[j], gv[j], idx[j]
        if phase == PHASE_V or phase == PHASE_ALT:
            for k in range(tau_v):
                _v_step(data, i, u, v, g_v, ix, gamma_v, sigma_v, seed, t, k, size)
        if phase == PHASE_U or phase == PHASE_ALT:
            for k in range(tau_u):
                _u_step(data, i, u, v, g_u, ix, gamma_u, sigma_u, seed, t, tau_v + k, size)
        if phase == PHASE_JOINT:
            _simultaneous(
                data,
                i,
                u,
                v,
                g_u,
                g_v,
                ix,
                tau_u,
                gamma_u,
                gamma_v,
                sigma_u,
                sigma_v,
                seed,
                t,
                size,
            )


@njit(cache=True, error_model="numpy")
def metrics(data, U, V, out):
    """``out = (F, ||grad_u F||^2 (mean_i ||grad_u F_i(u_i, v_i)||^2 if U has n rows),
    (1/n) sum_i ||grad_v F_i||^2)``: ``population_metrics`` of synthetic's template (joined
    before this one), reduced over its fixed blocks of devices in order."""
    f, gnorm, usq, vsq = population_metrics(data, U, V)
    out[0] = f
    out[1] = gnorm if U.shape[0] == 1 else usq
    out[2] = vsq


@njit(cache=True, error_model="numpy")
def _copy(dst, src):
    """``dst[:] = src`` as a plain loop. (Inside a ``parallel=True`` function numba turns a slice
    assignment into a parallel region of its own: one per device per round, which cost more
    than the local steps themselves.)"""
    for c in range(dst.shape[0]):
        dst[c] = src[c]


@njit(cache=True, error_model="numpy")
def _finite(x):
    for c in range(x.shape[0]):
        if not (abs(x[c]) < BLOWUP):
            return False
    return True


@njit(parallel=True, cache=True, error_model="numpy")
def run_rounds(
    alg,
    data,
    sizes,
    batch,
    U,
    V,
    V0,
    T,
    m,
    tau_u,
    tau_v,
    gamma_u,
    gamma_v,
    sigma_u,
    sigma_v,
    seed,
    eval_every,
    rec,
    clients,
):
    """Run T rounds of algorithm ``alg`` in place on ``(U, V)``; record metrics into ``rec``.

    Parameters
    ----------
    alg : int
        One of the ``ALG_*`` codes.
    U : (1, d_u) or (n, d_u) array
        The server's u (one row), or every device's own u (``local``).
    V : (n, d_v) array
        Personal parameters (for ``fedavg``: n copies of the global v).
    V0 : (n, d_v) array
        Initial personal parameters (read by ``fedrecon``, which restarts from them each round).
    rec : (R, 4) array
        Row r gets ``(F, Delta_u, Delta_v, Delta_u at (u^t, V^{t+1}))`` at the r-th recorded
        round (rounds 0, eval_every, 2 eval_every, ..., and T).
    clients : (T, m) int64 array
        Filled with the devices sampled in each round, ascending.

    Returns
    -------
    int
        -1 if all iterates stayed finite, else the first round t whose iterate
        ``(u^t, V^t)`` is non-finite or exceeds ``BLOWUP`` in absolute value.
    """
    n = V.shape[0]
    d_u = U.shape[1]
    d_v = V.shape[1]
    per_device = U.shape[0] > 1
    perm = np.arange(n)
    ul = np.empty((m, d_u))
    vl = np.empty((m, d_v))
    gu = np.empty((m, d_u))
    gv = np.empty((m, d_v))
    idx = np.empty((m, batch), dtype=np.int64)
    buf = np.empty(3)
    u_now = U[0].copy()
    nc = min(
        m, CLIENT_BLOCKS
    )  # blocks of devices per parallel region (results do not depend on it)
    r = 0
    for t in range(T + 1):
        record = t % eval_every == 0 or t == T
        if record:
            metrics(data, U, V, buf)
            rec[r, 0] = buf[0]
            rec[r, 1] = buf[1]
            rec[r, 2] = buf[2]
            rec[r, 3] = np.nan
        if t == T:
            break
        if m == n:
            S = perm.copy()  # perm is the identity while m == n (never shuffled)
        else:
            S = sample_round(seed, t, perm, m)
        for j in range(m):
            clients[t, j] = S[j]
        for j in range(m):
            i = S[j]
            _copy(ul[j], U[i] if per_device else U[0])
            _copy(vl[j], V0[i] if alg == ALG_FEDRECON else V[i])
        if alg == ALG_FEDALT or alg == ALG_FEDRECON:
            # v-phase everywhere first, so Delta_u can be measured at (u^t, V^{t+1}).
            for c in prange(nc):
                _clients(
                    PHASE_V,
                    data,
                    S,
                    sizes,
                    (c * m) // nc,
                    ((c + 1) * m) // nc,
                    ul,
                    vl,
                    gu,
                    gv,
                    idx,
                    tau_u,
                    tau_v,
                    gamma_u,
                    gamma_v,
                    sigma_u,
                    sigma_v,
                    seed,
                    t,
                )
            for j in range(m):
                _copy(V[S[j]], vl[j])
            if record:
                metrics(data, U, V, buf)
                rec[r, 3] = buf[1]
            for c in prange(nc):
                _clients(
                    PHASE_U,
                    data,
                    S,
                    sizes,
                    (c * m) // nc,
                    ((c + 1) * m) // nc,
                    ul,
                    vl,
                    gu,
                    gv,
                    idx,
                    tau_u,
                    tau_v,
                    gamma_u,
                    gamma_v,
                    sigma_u,
                    sigma_v,
                    seed,
                    t,
                )
        else:
            phase = PHASE_ALT if alg == ALG_LOCAL else PHASE_JOINT
            for c in prange(nc):
                _clients(
                    phase,
                    data,
                    S,
                    sizes,
                    (c * m) // nc,
                    ((c + 1) * m) // nc,
                    ul,
                    vl,
                    gu,
                    gv,
                    idx,
                    tau_u,
                    tau_v,
                    gamma_u,
                    gamma_v,
                    sigma_u,
                    sigma_v,
                    seed,
                    t,
                )
        if record:
            r += 1
        # Server: plain mean of the sampled devices' u (slide 31), summed in device order.
        ok = True
        if per_device:
            for j in range(m):
                _copy(U[S[j]], ul[j])
                ok = ok and _finite(ul[j])
        else:
            for c in range(d_u):
                s = 0.0
                for j in range(m):
                    s += ul[j, c]
                u_now[c] = s / m
            _copy(U[0], u_now)
            ok = _finite(u_now)
        if alg == ALG_FEDAVG:
            vbar = np.zeros(d_v)
            for j in range(m):
                for c in range(d_v):
                    vbar[c] += vl[j, c]
            for c in range(d_v):
                vbar[c] /= m
            ok = ok and _finite(vbar)
            for i in range(n):
                _copy(V[i], vbar)
        else:
            for j in range(m):
                _copy(V[S[j]], vl[j])
                ok = ok and _finite(vl[j])
        if not ok:
            return t + 1
    return -1
