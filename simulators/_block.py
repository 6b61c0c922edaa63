"""The per-device work of a round of ``simulators._kernels.run_rounds``: ``_clients``.

``_block`` runs the local updates of one block of sampled devices (FedAlt's phases, FedSim's
joint steps, with their noise and minibatches); ``run_rounds`` calls it once per block from
``prange``. It is compiled without numba's reference counting (``_clients_bare``) for the
families of ``simulators._local.BARE_DATA``, whose gradients allocate nothing, else with it
(``_clients_counted``); ``_clients`` chooses between the two at compile time.

Like ``simulators._kernels``, the code after the ``# partialfed:template-body`` line is a
template: for a user's objective ``partialfed._codegen`` joins it, with ``grad_u``/``grad_v``
bound to that objective, before the round kernel's (``simulators._api.KERNEL_MODULES``).
"""

from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit
from numba.core import types
from numba.extending import overload

from partialfed.simulators._local import (
    BARE_DATA,
    BLOWUP,
    CHECK_U,
    CHECK_V,
    LOAD,
    PHASE_JOINT,
    PHASE_U,
    PHASE_V,
    STORE_U,
    STORE_V,
    V_OWN,
    _draw_batch,
)
from partialfed.simulators._rng import (
    STREAM_NOISE_U,
    STREAM_NOISE_V,
    fill_normals,
    noise_key,
)
from partialfed.synthetic._objective import descent


def _descend_u(data, i, u, v, g, idx, gamma):
    """``u -= gamma grad_u F_i(u, v)``, full batch: the family's fused step where one is
    registered (``synthetic._objective.register_descent``: the same bits in one pass), else
    ``grad_u`` into the buffer ``g`` and a second pass (jitted code only)."""
    raise NotImplementedError("_descend_u is callable from jitted code only")


def _descend_v(data, i, u, v, g, idx, gamma):
    """``v -= gamma grad_v F_i(u, v)``, full batch, as ``_descend_u``."""
    raise NotImplementedError("_descend_v is callable from jitted code only")


@overload(_descend_u, inline="always")
def _descend_u_impl(data, i, u, v, g, idx, gamma):
    fused = descent(data)
    if fused is not None:
        step = fused[0]

        def impl(data, i, u, v, g, idx, gamma):
            step(data, i, u, v, gamma)

        return impl

    def two_passes(data, i, u, v, g, idx, gamma):
        grad_u(data, i, u, v, g, idx)
        for q in range(u.shape[0]):
            u[q] -= gamma * g[q]

    return two_passes


@overload(_descend_v, inline="always")
def _descend_v_impl(data, i, u, v, g, idx, gamma):
    fused = descent(data)
    if fused is not None:
        step = fused[1]

        def impl(data, i, u, v, g, idx, gamma):
            step(data, i, u, v, gamma)

        return impl

    def two_passes(data, i, u, v, g, idx, gamma):
        grad_v(data, i, u, v, g, idx)
        for q in range(v.shape[0]):
            v[q] -= gamma * g[q]

    return two_passes


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


def _joint_steps(data, i, u, v, g_u, g_v, idx, steps):
    """FedSim's ``tau_u`` joint steps without noise, full batch: the family's fused
    ``descend_joint`` in a loop (inlined: no call in it) where one is registered, else
    ``_joint_plain`` (jitted code only)."""
    raise NotImplementedError("_joint_steps is callable from jitted code only")


@overload(_joint_steps, inline="always")
def _joint_steps_impl(data, i, u, v, g_u, g_v, idx, steps):
    fused = descent(data)
    if fused is None:

        def plain(data, i, u, v, g_u, g_v, idx, steps):
            _joint_plain(data, i, u, v, g_u, g_v, idx, steps)

        return plain
    step = fused[2]

    def impl(data, i, u, v, g_u, g_v, idx, steps):
        for _k in range(steps.tau_u):
            step(data, i, u, v, steps.gamma_u, steps.gamma_v, g_v)

    return impl


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
    reload what it keeps in registers): ``_descend_u``/``_descend_v``, inlined, the family's
    fused step where it registers one (``register_descent``; on ``separable`` FedAlt's round
    0.30 -> 0.24 ms, ``partialfed bench --roofline``), else the gradient into ``g_u``/``g_v`` and a
    second pass; FedSim's likewise in ``_joint_steps`` (the family's fused joint step in a loop
    here, else ``_joint_plain``); with noise or a minibatch
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
                _joint_steps(data, i, u, v, g_u, g_v, ix, steps)
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
                        np.int64(0),  # not a literal: one compiled _phase_drawn for both phases
                        steps.tau_v,
                        size,
                        nv,
                        yes,
                    )
                else:
                    for _k in range(steps.tau_v):
                        _descend_v(data, i, u, v, g_v, ix, steps.gamma_v)
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
                        _descend_u(data, i, u, v, g_u, ix, steps.gamma_u)
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
