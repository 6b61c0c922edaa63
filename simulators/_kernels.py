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

The per-device work of a round is ``simulators._block`` (``_clients``, one call per block of
devices from ``prange``): compiled without numba's reference counting for the families of
``simulators._local.BARE_DATA``, whose gradients allocate nothing, else with it. Its template
body comes before this one in ``simulators._api.KERNEL_MODULES``. The objective-free pieces
(constants, minibatch and noise draws, copies) are in ``simulators._local``.
"""

from partialfed.simulators._incremental import (  # noqa: F401
    differing_nodes,
    rebuild,
    tree_metrics,
    update,
)
from partialfed.synthetic._kernels import population_metrics, population_region, zeros  # noqa: F401
from partialfed.simulators._block import _clients  # noqa: F401
from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit, prange

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
from partialfed.simulators._rng import sample_round


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def metrics(data, U, V, out, threads):
    """``out = (F, ||grad_u F||^2 (mean_i ||grad_u F_i(u_i, v_i)||^2 if U has n rows),
    (1/n) sum_i ||grad_v F_i||^2)``: synthetic's ``population_metrics``, reduced over its fixed
    blocks of devices in order."""
    f, gnorm, usq, vsq = population_metrics(data, U, V, threads)
    out[0] = f
    out[1] = gnorm if U.shape[0] == 1 else usq
    out[2] = vsq


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _record(data, U, V, buf, threads, tracked, r, verify):
    """``buf = (F, Delta_u, Delta_v)``: evaluated over all devices (``Tree.FULL``) or read from
    the incremental tree (``simulators._incremental``); with ``verify``, also from a
    tree rebuilt from scratch, into ``tracked.check[r]`` with its count of differing nodes.

    Inlined into ``run_rounds`` (as ``metrics`` into it): wrappers this thin compiled as functions
    of their own cost a compilation each per data type (``partialfed bench --compile``)."""
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
    r = np.int64(0)  # an int64 from the start, not a literal (incremented below)
    no = np.bool_(False)  # a boolean like tracked.verify: both inlined _record copies alike
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
