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

The per-device work of a round is ``_block`` (one call per block of devices from ``prange``):
compiled without numba's reference counting (``_clients_bare``) for the families of
``simulators._local.BARE_DATA``, whose gradients allocate nothing, else with it
(``_clients_counted``). The objective-free pieces (constants, minibatch and noise draws,
copies) are in ``simulators._local``.
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
from numba.core import types
from numba.extending import overload

from partialfed.simulators._local import (  # noqa: F401
    BARE_DATA,
    BLOWUP,
    CHECK_U,
    CHECK_V,
    CLIENT_BLOCKS,
    LOAD,
    NOISE_CHUNK,
    PHASE_ALT,
    PHASE_JOINT,
    PHASE_U,
    PHASE_V,
    STORE_U,
    STORE_V,
    V_OWN,
    _add_noise,
    _copy,
    _draw_batch,
    _finite,
    _identity,
    noise_rows,
)
from partialfed.simulators._records import Alg, Tree
from partialfed.simulators._rng import (
    STREAM_NOISE_U,
    STREAM_NOISE_V,
    fill_normals,
    noise_key,
    sample_round,
)


@njit(cache=True, nogil=True, error_model="numpy")
def _phase_drawn(data, i, u, v, g, idx, steps, sigma, stream, t, k0, k1, size, nz, personal):
    """Local steps ``k0 .. k1 - 1`` of one block of FedAlt (``v`` if ``personal``, else ``u``)
    with noise or a minibatch: the noise ``xi ~ N(0, sigma^2/d I)`` (A2) is drawn into ``nz``
    for as many whole steps as it holds (``fill_normals``), then consumed step by step (the
    numbers of ``_add_noise`` at each counter, in blocks); the minibatch of each step is drawn
    into ``idx`` (``_draw_batch``).

    Not inlined (one gradient call site per function; see ``_block``). It inherits numba's
    reference counting from its caller: none from ``_clients_bare``."""
    x = v if personal else u
    d = x.shape[0]
    gamma = steps.gamma_v if personal else steps.gamma_u
    on = sigma != 0.0 and d > 0
    per = max(1, nz.shape[0] // max(d, 1))
    kk = noise_key(steps.seed, stream, t, i)
    scale = sigma / np.sqrt(max(d, 1))
    for k in range(k0, k1):
        off = ((k - k0) % per) * d
        if on and off == 0:
            fill_normals(nz[: min(per, k1 - k) * d], scale, kk, k * d)
        _draw_batch(steps.seed, t, i, k, size, idx)
        if personal:
            grad_v(data, i, u, v, g, idx)
        else:
            grad_u(data, i, u, v, g, idx)
        if on:
            for q in range(d):
                g[q] += nz[off + q]
        for q in range(d):
            x[q] -= gamma * g[q]


@njit(cache=True, nogil=True, error_model="numpy")
def _joint_plain(data, i, u, v, g_u, g_v, idx, steps):
    """FedSim's ``tau_u`` joint steps without noise, full batch: both partial gradients at the
    same point, then both blocks move (reference counting as ``_phase_drawn``)."""
    for _k in range(steps.tau_u):
        grad_u(data, i, u, v, g_u, idx)
        grad_v(data, i, u, v, g_v, idx)
        for q in range(u.shape[0]):
            u[q] -= steps.gamma_u * g_u[q]
        for q in range(v.shape[0]):
            v[q] -= steps.gamma_v * g_v[q]


@njit(cache=True, nogil=True, error_model="numpy")
def _joint_drawn(data, i, u, v, g_u, g_v, idx, steps, noise, t, size, nzu, nzv):
    """FedSim's joint steps with noise or a minibatch: both partial gradients at the same point
    and from the same minibatch, noise drawn as in ``_phase_drawn``."""
    seed = steps.seed
    du, dv = u.shape[0], v.shape[0]
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
        grad_u(data, i, u, v, g_u, idx)
        grad_v(data, i, u, v, g_v, idx)
        if on_u:
            for q in range(du):
                g_u[q] += nzu[off_u + q]
        if on_v:
            for q in range(dv):
                g_v[q] += nzv[off_v + q]
        for q in range(du):
            u[q] -= steps.gamma_u * g_u[q]
        for q in range(dv):
            v[q] -= steps.gamma_v * g_v[q]


def _block(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t):
    """Local updates of block ``c`` of ``nc`` of the sampled devices ``S`` (rows ``j`` of the
    scratch arrays for ``j`` in ``c m / nc .. (c + 1) m / nc - 1``), one after the other, with
    the copies in and out of ``(U, V)`` and the blow-up checks that the bits of ``todo`` ask for
    (``simulators._local``: here, in parallel, rather than in the serial part of the round).

    ``phase`` ``PHASE_V``/``PHASE_U``/``PHASE_ALT``: FedAlt's local update
    (docs/references.md#pillutla2022-fedalt), ``tau_v`` steps of ``v`` (counters
    ``0 .. tau_v - 1``) and/or ``tau_u`` steps of ``u`` (counters ``tau_v .. tau_v + tau_u - 1``)
    along ``-gamma (grad f_i(u, v; z) + xi)``. ``PHASE_JOINT``: FedSim's
    (docs/references.md#pillutla2022-fedsim), ``tau_u`` joint steps, both partial gradients at
    the same point and from the same minibatch. The noise ``xi ~ N(0, noise^2/d I)`` (A2) is
    drawn into ``nzu[c]``/``nzv[c]`` for as many whole steps as they hold (``fill_normals``),
    then consumed step by step: the numbers of ``_add_noise`` at each counter, in blocks.

    Without noise and with the full batch (``idx`` empty) FedAlt's steps run here in a loop
    with no call in it (measured ~10% faster: a call, even one never taken, makes the loop
    reload what it keeps in registers), FedSim's in ``_joint_plain``; with noise or a minibatch
    in ``_phase_drawn``/``_joint_drawn``, called once per device. Each compiled function holds
    at most one call site of ``grad_u`` and of ``grad_v``: numba's SSA check warns on two
    inlined copies of an objective in one function."""
    U, V, V_in = iterates
    ul, vl, gu, gv, idx, nzu, nzv, fin = scratch
    m = S.shape[0]
    d_u, d_v = ul.shape[1], vl.shape[1]
    per_device = U.shape[0] > 1
    batch = idx.shape[1] > 0
    on_u = noise.noise_u != 0.0 and d_u > 0
    on_v = noise.noise_v != 0.0 and d_v > 0
    # Scratch of the block, not of each device: the gradients and the minibatch are rewritten at
    # every step, and rows per device made a round's working set overflow the L2 cache.
    g_u, g_v, ix, nu, nv = gu[c], gv[c], idx[c], nzu[c], nzv[c]
    # Not literals, so that _phase_drawn compiles once for both blocks.
    yes, no = np.bool_(True), np.bool_(False)
    stream_v, stream_u = np.int64(STREAM_NOISE_V), np.int64(STREAM_NOISE_U)
    for j in range((c * m) // nc, ((c + 1) * m) // nc):
        i = S[j]
        size = sizes[i]
        u = ul[j]
        v = V[i] if todo & V_OWN else vl[j]
        if todo & LOAD:
            ui = i if per_device else 0
            for q in range(d_u):
                u[q] = U[ui, q]
            if not todo & V_OWN:
                for q in range(d_v):
                    v[q] = V_in[i, q]
        if phase == PHASE_JOINT:
            if on_u or on_v or batch:
                _joint_drawn(data, i, u, v, g_u, g_v, ix, steps, noise, t, size, nu, nv)
            else:
                _joint_plain(data, i, u, v, g_u, g_v, ix, steps)
        else:
            # FedAlt's v-phase, then its u-phase (each unless phase is the other one).
            if phase != PHASE_U:
                if on_v or batch:
                    _phase_drawn(
                        data,
                        i,
                        u,
                        v,
                        g_v,
                        ix,
                        steps,
                        noise.noise_v,
                        stream_v,
                        t,
                        0,
                        steps.tau_v,
                        size,
                        nv,
                        yes,
                    )
                else:
                    for _k in range(steps.tau_v):
                        grad_v(data, i, u, v, g_v, ix)
                        for q in range(d_v):
                            v[q] -= steps.gamma_v * g_v[q]
            if phase != PHASE_V:
                k0, k1 = steps.tau_v, steps.tau_v + steps.tau_u
                if on_u or batch:
                    _phase_drawn(
                        data,
                        i,
                        u,
                        v,
                        g_u,
                        ix,
                        steps,
                        noise.noise_u,
                        stream_u,
                        t,
                        k0,
                        k1,
                        size,
                        nu,
                        no,
                    )
                else:
                    for _k in range(k0, k1):
                        grad_u(data, i, u, v, g_u, ix)
                        for q in range(d_u):
                            u[q] -= steps.gamma_u * g_u[q]
        if todo & STORE_V:
            for q in range(d_v):
                V[i, q] = v[q]
        if todo & STORE_U:
            for q in range(d_u):
                U[i, q] = u[q]
        if todo & (CHECK_V | CHECK_U):
            ok = True
            if todo & CHECK_V:
                for q in range(d_v):
                    ok &= abs(v[q]) < BLOWUP  # False for NaN too
            if todo & CHECK_U:
                for q in range(d_u):
                    ok &= abs(u[q]) < BLOWUP
            fin[j] = ok


# Reference counting off (numba's ``_nrt=False``), for the families of ``BARE_DATA`` only:
# safe because nothing in ``_block`` then owns memory. Its arrays are the caller's, which holds
# them for the whole call; the rows and slices it takes of them are views that do not outlive
# it; it allocates nothing (numba refuses to compile an allocation without NRT), and those
# families' gradients call no function that could return a new array (its reference would be
# lost). The counts it skips (about 20 atomic updates per local step: the views, the
# unpacking of the data NamedTuple in every gradient call) took about half the time of a round.
_clients_bare = njit(cache=True, nogil=True, error_model="numpy", _nrt=False)(_block)
# ``_block`` with reference counting, for every other objective (user objectives included).
# The two share ``_block``'s cache index, but never a signature (their data types differ).
_clients_counted = njit(cache=True, nogil=True, error_model="numpy")(_block)


def _clients(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t):
    """The local updates of one block of devices (``_block``): ``_clients_bare`` for data of a
    type in ``BARE_DATA``, else ``_clients_counted`` (chosen at compile time). Called once per
    block from ``prange``: the per-device work then compiles as ordinary sequential code
    (measured ~2x faster per thread than the same loops written inside the parallel region)."""
    raise NotImplementedError("_clients is callable from jitted code only")


@overload(_clients)
def _clients_impl(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t):
    args = (todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t)
    bare = getattr(data, "instance_class", None) in BARE_DATA
    fn = _clients_bare if bare else _clients_counted
    # Compiled here, once per data type (literal arguments widened).
    fn.compile(tuple(types.unliteral(a) for a in args))

    def impl(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t):
        fn(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t)

    return impl


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
    gu = np.empty((min(m, CLIENT_BLOCKS), d_u))
    gv = np.empty((min(m, CLIENT_BLOCKS), d_v))
    idx = np.empty((min(m, CLIENT_BLOCKS), batch), dtype=np.int64)
    fin = np.empty(m, dtype=np.bool_)
    work = np.empty(m, dtype=np.int64)
    buf = np.empty(3)
    nzu = np.empty((min(m, CLIENT_BLOCKS), noise_len[0]))
    nzv = np.empty((min(m, CLIENT_BLOCKS), noise_len[1]))
    u_now = U[0].copy()
    V_in = V0 if alg == Alg.FEDRECON else V  # where the local v starts
    iterates = (U, V, V_in)
    scratch = (ul, vl, gu, gv, idx, nzu, nzv, fin)
    # Blocks of devices per parallel region (results do not depend on it).
    nc = min(m, CLIENT_BLOCKS)
    two_phases = alg == Alg.FEDALT or alg == Alg.FEDRECON
    # After the last phase: the local v go back to V (FedAvg: their mean, below) and the local
    # u to U (one u per device; a shared u: their mean, below), each checked for blow-up.
    # FedAvg's local v start from V (n copies of the global v) and go into their mean, and
    # FedRecon's start from V0: both work on the scratch vl. Every other algorithm updates each
    # sampled device's row of V in place (V_OWN: no copy in or out; the rows are distinct).
    own = 0 if alg == Alg.FEDAVG or alg == Alg.FEDRECON else V_OWN
    final = own
    if alg != Alg.FEDAVG:
        final |= CHECK_V if own else STORE_V | CHECK_V
    if per_device:
        final |= STORE_U | CHECK_U
    # Incremental metrics: the tree's bits depend on its leaves only, so it may be updated after
    # every round (m leaves) or rebuilt at each recorded round (n leaves), whichever touches
    # fewer leaves between two recorded rounds.
    incremental = tracked.mode != Tree.FULL
    rebuilt = incremental and m * eval_every >= n
    if incremental and not rebuilt:
        rebuild(data, tracked.mode, U, V, tracked.tree)
    r = np.int64(0)  # not a literal: _record compiles once, not also for r = 0
    no = np.bool_(False)  # likewise for its verify flag
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
            S = perm  # the identity while m == n (never shuffled); only read
        else:
            S = sample_round(seed, t, perm, m)
        for j in range(m):
            clients[t, j] = S[j]
        # Phases of a round: FedAlt's v-phase, then its u-phase, where Delta_u is measured at
        # (u^t, V^{t+1}) in between; else one phase (FedAlt's two phases device by device, local
        # training, joint steps): the same steps per device, one parallel region.
        if two_phases and record:
            first, last = PHASE_V, PHASE_U
        elif two_phases or alg == Alg.LOCAL:
            first, last = PHASE_ALT, PHASE_ALT
        else:
            first, last = PHASE_JOINT, PHASE_JOINT
        for phase in range(first, last + 1):
            todo = own | (LOAD if phase == first else 0)
            if phase == PHASE_V and not own:
                todo |= STORE_V
            if phase == last:
                todo |= final
            if threads:
                for c in prange(nc):
                    _clients(
                        todo,
                        phase,
                        data,
                        S,
                        sizes,
                        np.int64(c),
                        nc,
                        iterates,
                        scratch,
                        steps,
                        noise,
                        t,
                    )
            else:
                for c in range(nc):
                    _clients(todo, phase, data, S, sizes, c, nc, iterates, scratch, steps, noise, t)
            if phase == PHASE_V:
                # The tree still holds V^t's leaves: only Delta_u is read, and for
                # Tree.SHARED it does not depend on V.
                _record(data, U, V, buf, threads, tracked, r, no)
                rec[r, 3] = buf[1]
        if record:
            r += 1
        # Server: plain mean of the sampled devices' u (slide 31), summed in device order.
        ok = True
        if final != 0:
            for j in range(m):
                ok &= fin[j]
        if not per_device:
            for c in range(d_u):
                u_now[c] = 0.0
            for j in range(m):
                for c in range(d_u):
                    u_now[c] += ul[j, c]
            for c in range(d_u):
                u_now[c] /= m
            _copy(U[0], u_now)
            ok = ok and _finite(u_now)
        if alg == Alg.FEDAVG:
            vbar = zeros(d_v)
            for j in range(m):
                for c in range(d_v):
                    vbar[c] += vl[j, c]
            for c in range(d_v):
                vbar[c] /= m
            ok = ok and _finite(vbar)
            for i in range(n):
                for c in range(d_v):
                    V[i, c] = vbar[c]
        if not ok:
            return t + 1
        if incremental and not rebuilt:
            update(data, tracked.mode, U, V, S, tracked.tree, work)
    return -1
