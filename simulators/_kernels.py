"""Round kernels of FedAlt, FedSim and the baselines.

One kernel runs all T rounds of one algorithm. Within a round the m sampled devices run in
parallel (``prange``); each writes its local result to its own row of a scratch array, and the
server then averages the rows sequentially in increasing device index. Every random number is
drawn from the counter-based generator of ``simulators._rng``, keyed by
``(seed, stream, round, device, step)``, so results do not depend on the thread count.

The kernel's parameters are typed records (``simulators._records``): the algorithm is an
``Alg`` member, the step parameters a ``Steps`` and the additive noise a ``Noise``, each field
named as in ``RunConfig``. The objective is called through ``synthetic._objective`` (dispatch on
the family's data type); for a user's objective ``partialfed._codegen`` generates a copy of the
code after the ``# partialfed:template-body`` line with its functions bound to ``loss``,
``grad_u``, ``grad_v`` (and synthetic's kernels joined before it).
"""

from partialfed.simulators._incremental import (  # noqa: F401
    differing_nodes,
    rebuild,
    tree_metrics,
    update,
)
from partialfed.synthetic._kernels import population_metrics, population_region, zeros  # noqa: F401
from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit, prange

from partialfed.simulators._records import Alg, Tree
from partialfed.simulators._rng import (
    STREAM_BATCH,
    STREAM_NOISE_U,
    STREAM_NOISE_V,
    add_normals,
    fill_normals,
    key,
    noise_key,
    sample_round,
    uniform,
)

BLOWUP = 1e100
CLIENT_BLOCKS = 64  # sampled devices are updated in at most this many parallel blocks
NOISE_CHUNK = 1024  # normals drawn at once per (device, phase): whole steps, at least one


@njit(cache=True, nogil=True, error_model="numpy")
def _draw_batch(seed, t, i, k, size, idx):
    """Fill ``idx`` with minibatch indices of device i, step k (uniform, with replacement)."""
    if idx.shape[0] == 0:
        return
    kk = key(seed, STREAM_BATCH, t, i, k)
    for j in range(idx.shape[0]):
        idx[j] = min(int(uniform(kk, j) * size), size - 1)


@njit(cache=True, nogil=True, error_model="numpy")
def _add_noise(g, sigma, seed, stream, t, i, k):
    """``g += xi`` with ``xi ~ N(0, sigma^2/d I)``, so ``E||xi||^2 = sigma^2`` (A2): the
    normals ``k d .. k d + d - 1`` of ``noise_key(seed, stream, t, i)`` (one step at a time;
    the round kernels draw whole phases with ``_phase``, the same numbers).

    A block of dimension 0 (``d_v = 0``) gets no noise (and no division by zero)."""
    d = g.shape[0]
    if sigma == 0.0 or d == 0:
        return
    add_normals(g, sigma / np.sqrt(d), noise_key(seed, stream, t, i), k * d)


def noise_rows(sigma, d, tau):
    """Length of a (device, phase) noise buffer: ``NOISE_CHUNK`` normals rounded down to whole
    steps of dimension ``d``, at least one step, at most ``tau``; 0 without noise."""
    if sigma == 0.0 or d == 0 or tau == 0:
        return 0
    return d * max(1, min(tau, NOISE_CHUNK // d))


@njit(cache=True, nogil=True, error_model="numpy")
def _phase(data, i, u, v, g, idx, steps, sigma, stream, t, k0, tau, size, nz, personal):
    """``tau`` local steps of one block, counters ``k0 .. k0 + tau - 1``: ``v`` (personal) or
    ``u`` moves along ``-gamma (grad f_i(u, v; z) + xi)``, one phase of FedAlt's local update
    (docs/references.md#pillutla2022-fedalt). The noise ``xi ~ N(0, sigma^2/d I)`` (A2) is drawn
    into ``nz`` for as many whole steps as it holds (``fill_normals``), then consumed step by
    step: the numbers of ``_add_noise`` at each counter, drawn in blocks."""
    x = v if personal else u
    d = x.shape[0]
    gamma = steps.gamma_v if personal else steps.gamma_u
    on = sigma != 0.0 and d > 0
    per = max(1, nz.shape[0] // max(d, 1))
    kk = noise_key(steps.seed, stream, t, i)
    scale = sigma / np.sqrt(max(d, 1))
    for k in range(k0, k0 + tau):
        off = ((k - k0) % per) * d
        if on and off == 0:
            fill_normals(nz[: min(per, k0 + tau - k) * d], scale, kk, k * d)
        _draw_batch(steps.seed, t, i, k, size, idx)
        if personal:
            grad_v(data, i, u, v, g, idx)
        else:
            grad_u(data, i, u, v, g, idx)
        if on:
            for c in range(d):
                g[c] += nz[off + c]
        for c in range(d):
            x[c] -= gamma * g[c]


@njit(cache=True, nogil=True, error_model="numpy")
def _simultaneous(data, i, ul, vl, gu, gv, idx, steps, noise, t, size, nzu, nzv):
    """FedSim's local update (docs/references.md#pillutla2022-fedsim): tau joint steps, both
    partial gradients at the same point and from the same minibatch (noise drawn as in
    ``_phase``)."""
    seed = steps.seed
    du, dv = ul.shape[0], vl.shape[0]
    on_u = noise.noise_u != 0.0 and du > 0
    on_v = noise.noise_v != 0.0 and dv > 0
    per_u = max(1, nzu.shape[0] // max(du, 1))
    per_v = max(1, nzv.shape[0] // max(dv, 1))
    ku = noise_key(seed, STREAM_NOISE_U, t, i)
    kv = noise_key(seed, STREAM_NOISE_V, t, i)
    su = noise.noise_u / np.sqrt(max(du, 1))
    sv = noise.noise_v / np.sqrt(max(dv, 1))
    tau = steps.tau_u
    for k in range(tau):
        off_u = (k % per_u) * du
        off_v = (k % per_v) * dv
        if on_u and off_u == 0:
            fill_normals(nzu[: min(per_u, tau - k) * du], su, ku, k * du)
        if on_v and off_v == 0:
            fill_normals(nzv[: min(per_v, tau - k) * dv], sv, kv, k * dv)
        _draw_batch(seed, t, i, k, size, idx)
        grad_u(data, i, ul, vl, gu, idx)
        grad_v(data, i, ul, vl, gv, idx)
        if on_u:
            for c in range(du):
                gu[c] += nzu[off_u + c]
        if on_v:
            for c in range(dv):
                gv[c] += nzv[off_v + c]
        for c in range(du):
            ul[c] -= steps.gamma_u * gu[c]
        for c in range(dv):
            vl[c] -= steps.gamma_v * gv[c]


PHASE_V = 0  # FedAlt's v-phase only
PHASE_U = 1  # FedAlt's u-phase only
PHASE_ALT = 2  # both phases (local training)
PHASE_JOINT = 3  # FedSim/FedAvg joint steps


@njit(cache=True, nogil=True, error_model="numpy")
def _clients(phase, data, S, sizes, c, nc, ul, vl, gu, gv, idx, steps, noise, t, nzu, nzv):
    """Local updates of block ``c`` of ``nc`` of the sampled devices ``S`` (rows ``j`` of the
    scratch arrays for ``j`` in ``c m / nc .. (c + 1) m / nc - 1``), one after the other. A plain
    function called once per block from ``prange``: the per-device work then compiles as
    ordinary sequential code (measured ~2x faster per thread than the same loops written inside
    the parallel region)."""
    m = S.shape[0]
    for j in range((c * m) // nc, ((c + 1) * m) // nc):
        i = S[j]
        size = sizes[i]
        # Views once per device, not per step (each view costs reference-count updates).
        u, v, g_u, g_v, ix = ul[j], vl[j], gu[j], gv[j], idx[j]
        nu, nv = nzu[c], nzv[c]
        if phase == PHASE_V or phase == PHASE_ALT:
            sv, tv = noise.noise_v, steps.tau_v
            _phase(data, i, u, v, g_v, ix, steps, sv, STREAM_NOISE_V, t, 0, tv, size, nv, True)
        if phase == PHASE_U or phase == PHASE_ALT:
            su, tv, tu = noise.noise_u, steps.tau_v, steps.tau_u
            _phase(data, i, u, v, g_u, ix, steps, su, STREAM_NOISE_U, t, tv, tu, size, nu, False)
        if phase == PHASE_JOINT:
            _simultaneous(data, i, u, v, g_u, g_v, ix, steps, noise, t, size, nu, nv)


@njit(cache=True, nogil=True, error_model="numpy")
def metrics(data, U, V, out, threads):
    """``out = (F, ||grad_u F||^2 (mean_i ||grad_u F_i(u_i, v_i)||^2 if U has n rows),
    (1/n) sum_i ||grad_v F_i||^2)``: synthetic's ``population_metrics``, reduced over its fixed
    blocks of devices in order."""
    f, gnorm, usq, vsq = population_metrics(data, U, V, threads)
    out[0] = f
    out[1] = gnorm if U.shape[0] == 1 else usq
    out[2] = vsq


@njit(cache=True, nogil=True, error_model="numpy")
def _record(data, U, V, buf, threads, tracked, r, verify):
    """``buf = (F, Delta_u, Delta_v)``: evaluated over all devices (``Tree.FULL``) or read from
    the incremental tree (``simulators._incremental``); with ``verify``, also from a
    tree rebuilt from scratch, into ``tracked.check[r]`` with its count of differing nodes."""
    if tracked.mode == Tree.FULL:
        metrics(data, U, V, buf, threads)
        return
    t = tracked
    tree_metrics(data, t.mode, U, V, t.reps, t.weights, t.tree, buf)
    if verify:
        rebuild(data, t.mode, U, V, t.spare)
        tree_metrics(data, t.mode, U, V, t.reps, t.weights, t.spare, t.check[r, :3])
        t.check[r, 3] += differing_nodes(t.tree, t.spare)


@njit(cache=True, nogil=True, error_model="numpy")
def _copy(dst, src):
    """``dst[:] = src`` as a plain loop. (Inside a ``parallel=True`` function numba turns a slice
    assignment into a parallel region of its own: one per device per round, which cost more
    than the local steps themselves.)"""
    for c in range(dst.shape[0]):
        dst[c] = src[c]


@njit(cache=True, nogil=True, error_model="numpy")
def _finite(x):
    for c in range(x.shape[0]):
        if not (abs(x[c]) < BLOWUP):
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _identity(n):
    """``np.arange(n)`` without threads (see ``zeros``)."""
    return np.arange(n)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def run_rounds(
    alg, steps, noise, data, sizes, batch, U, V, V0, rec, clients, threads, tracked, noise_len
):
    """Run ``steps.T`` rounds of algorithm ``alg`` in place on ``(U, V)``; record into ``rec``.

    Parameters
    ----------
    alg : Alg
        The algorithm (``simulators._records.Alg``).
    steps : Steps
        ``T, m, tau_u, tau_v, gamma_u, gamma_v, eval_every, seed`` as in ``RunConfig``.
    noise : Noise
        ``noise_u, noise_v``: additive gradient noise ``N(0, noise^2/d I)`` per block.
    data, sizes, batch
        The problem's data (dispatched on its type), samples per device, minibatch size.
    U : (1, d_u) or (n, d_u) array
        The server's u (one row), or every device's own u (``local``).
    V : (n, d_v) array
        Personal parameters (for ``fedavg``: n copies of the global v).
    V0 : (n, d_v) array
        Initial personal parameters (read by ``fedrecon``, which restarts from them each round).
    rec : (R, 4) or (R, 5) array
        Row r gets ``(F, Delta_u, Delta_v, Delta_u at (u^t, V^{t+1}))`` at the r-th recorded
        round (rounds 0, eval_every, 2 eval_every, ..., and T); with a fifth column, also the
        family's region value ``population_region`` at ``(u^t, V^t)``.
    clients : (T, m) int64 array
        Filled with the devices sampled in each round, ascending.
    threads : bool
        Update the sampled devices (and evaluate metrics) in parallel. ``False`` runs the same
        loop bodies with ``range``: same code and summation order, so the same bits, without
        the fixed cost of parallel regions.
    tracked : Tracked
        How the metrics are evaluated (``simulators._records.Tracked``): ``Tree.FULL``, or an
        incremental tree, built here from the initial iterate and updated after every round
        along the paths of the sampled devices (``simulators._incremental``); rebuilt at each
        recorded round instead when ``m * eval_every >= n`` (same bits, fewer leaves).
    noise_len : (2,) int64 array
        Lengths of the u- and v-noise buffers of each block of devices (``noise_rows``).

    Returns
    -------
    int
        -1 if all iterates stayed finite, else the first round t whose iterate
        ``(u^t, V^t)`` is non-finite or exceeds ``BLOWUP`` in absolute value.
    """
    T, m, eval_every, seed = steps.T, steps.m, steps.eval_every, steps.seed
    n = V.shape[0]
    d_u = U.shape[1]
    d_v = V.shape[1]
    per_device = U.shape[0] > 1
    perm = _identity(n)
    ul = np.empty((m, d_u))
    vl = np.empty((m, d_v))
    gu = np.empty((m, d_u))
    gv = np.empty((m, d_v))
    idx = np.empty((m, batch), dtype=np.int64)
    buf = np.empty(3)
    nzu = np.empty((min(m, CLIENT_BLOCKS), noise_len[0]))
    nzv = np.empty((min(m, CLIENT_BLOCKS), noise_len[1]))
    u_now = U[0].copy()
    # Blocks of devices per parallel region (results do not depend on it).
    nc = min(m, CLIENT_BLOCKS)
    # Phases of a round: FedAlt's v-phase, then its u-phase (so Delta_u can be measured at
    # (u^t, V^{t+1}) in between), or one phase (local training, joint steps).
    if alg == Alg.FEDALT or alg == Alg.FEDRECON:
        first, last = PHASE_V, PHASE_U
    elif alg == Alg.LOCAL:
        first, last = PHASE_ALT, PHASE_ALT
    else:
        first, last = PHASE_JOINT, PHASE_JOINT
    work = np.empty(m, dtype=np.int64)
    # Incremental metrics: the tree's bits depend on its leaves only, so it may be updated after
    # every round (m leaves) or rebuilt at each recorded round (n leaves), whichever touches
    # fewer leaves between two recorded rounds.
    incremental = tracked.mode != Tree.FULL
    rebuilt = incremental and m * eval_every >= n
    if incremental and not rebuilt:
        rebuild(data, tracked.mode, U, V, tracked.tree)
    r = 0
    for t in range(T + 1):
        record = t % eval_every == 0 or t == T
        if record:
            if rebuilt:
                rebuild(data, tracked.mode, U, V, tracked.tree)
            _record(data, U, V, buf, threads, tracked, r, tracked.verify)
            rec[r, 0] = buf[0]
            rec[r, 1] = buf[1]
            rec[r, 2] = buf[2]
            rec[r, 3] = np.nan
            if rec.shape[1] > 4:
                rec[r, 4] = population_region(data, U, V)
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
            _copy(vl[j], V0[i] if alg == Alg.FEDRECON else V[i])
        for phase in range(first, last + 1):
            if threads:
                for c in prange(nc):
                    _clients(
                        phase, data, S, sizes, c, nc, ul, vl, gu, gv, idx, steps, noise, t, nzu, nzv
                    )
            else:
                for c in range(nc):
                    _clients(
                        phase, data, S, sizes, c, nc, ul, vl, gu, gv, idx, steps, noise, t, nzu, nzv
                    )
            if phase == PHASE_V:
                for j in range(m):
                    _copy(V[S[j]], vl[j])
                if record:
                    # The tree still holds V^t's leaves: only Delta_u is read, and for
                    # Tree.SHARED it does not depend on V.
                    _record(data, U, V, buf, threads, tracked, r, False)
                    rec[r, 3] = buf[1]
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
        if alg == Alg.FEDAVG:
            vbar = zeros(d_v)
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
        if incremental and not rebuilt:
            update(data, tracked.mode, U, V, S, tracked.tree, work)
    return -1
