"""Per-device kernels of Per-FedAvg and Ditto, Hessian-vector products, meta-objective metrics.

Per-FedAvg (docs/references.md#fallah2020-algorithm) treats ``w = (u, v)`` as one model (no
personal block) and optimises the meta-objective (docs/references.md#fallah2020-objective)

    F~(w) = (1/n) sum_i F_i(w - alpha grad F_i(w)),
    grad F~_i(w) = (I - alpha hess F_i(w)) grad F_i(w - alpha grad F_i(w)).          (M1)

Ditto (docs/references.md#li2021-ditto) trains a global model by FedAvg and, on each sampled
device, a personal model ``w_i`` by steps on ``F_i(w_i) + ditto_lam/2 ||w_i - w^t||^2``.

Random numbers (``simulators._rng``), local step ``k`` of ``tau`` in round ``t`` on device ``i``:
the outer gradient ``D'`` of Per-FedAvg, and every global step of Ditto, use the step counter
``k`` (FedAvg's), the inner gradient ``D`` counter ``tau + k``, the Hessian sample ``D''`` (and
Ditto's personal steps) counter ``2 tau + k``. So with ``alpha = 0`` Per-FedAvg draws exactly
FedAvg's numbers and equals it bit for bit, and the three samples are independent.

Additive Gaussian noise perturbs gradients only: it has no Hessian noise, so an exact HVP on
``D''`` is the exact HVP (or, for a finite sum, that of the minibatch ``D''``). The
Hessian-free variant evaluates both gradients of its difference on the same ``D''`` (same
minibatch, same additive noise, which then cancels up to rounding).

HVPs: ``hvp`` dispatches, at compile time, to the family's exact one
(``synthetic._objective.register_hvp``) or else to a central finite difference of its gradients
with the relative step ``FD_EPS (1 + ||w||) / ||p||`` (user objectives included: for them
``partialfed._codegen`` binds ``grad_u``/``grad_v`` to the user's functions).
"""

from partialfed.simulators._kernels import _add_noise, _draw_batch  # noqa: F401
from partialfed.synthetic._objective import grad_u, grad_v, loss  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit
from numba.extending import overload

from partialfed.simulators._records import Variant
from partialfed.simulators._rng import STREAM_NOISE_U, STREAM_NOISE_V
from partialfed.synthetic._objective import exact_hvp

#: Relative step of the finite-difference HVP fallback: about the cube root of the machine
#: epsilon, where the O(s^2) truncation and O(eps / s) rounding errors of a central difference
#: balance.
FD_EPS = 6.0e-6


def hvp(data, i, u, v, pu, pv, out_u, out_v, idx):
    """``(out_u, out_v) = hess F_i(u, v) (pu, pv)``: exact where registered, else a central
    finite difference (jitted code only)."""
    raise NotImplementedError("hvp is callable from jitted code only")


@njit(cache=True, nogil=True, error_model="numpy")
def _grads(data, i, u, v, gu, gv, idx):
    """Both exact (or minibatch) partial gradients: one call site of each, so that a function
    needing several gradients inlines the objective's once."""
    grad_u(data, i, u, v, gu, idx)
    grad_v(data, i, u, v, gv, idx)


@njit(cache=True, nogil=True, error_model="numpy")
def fd_hvp(data, i, u, v, pu, pv, out_u, out_v, idx, s):
    """Central difference ``[grad F_i(w + s p) - grad F_i(w - s p)] / (2 s)``, ``w = (u, v)``,
    ``p = (pu, pv)``: error ``O(s^2)`` (gradients on the samples ``idx``)."""
    d_u, d_v = u.shape[0], v.shape[0]
    up, vp, um, vm = np.empty(d_u), np.empty(d_v), np.empty(d_u), np.empty(d_v)
    gpu, gpv, gmu, gmv = np.empty(d_u), np.empty(d_v), np.empty(d_u), np.empty(d_v)
    for c in range(d_u):
        up[c] = u[c] + s * pu[c]
        um[c] = u[c] - s * pu[c]
    for c in range(d_v):
        vp[c] = v[c] + s * pv[c]
        vm[c] = v[c] - s * pv[c]
    _grads(data, i, up, vp, gpu, gpv, idx)
    _grads(data, i, um, vm, gmu, gmv, idx)
    for c in range(d_u):
        out_u[c] = (gpu[c] - gmu[c]) / (2.0 * s)
    for c in range(d_v):
        out_v[c] = (gpv[c] - gmv[c]) / (2.0 * s)


@njit(cache=True, nogil=True, error_model="numpy")
def _fd_fallback(data, i, u, v, pu, pv, out_u, out_v, idx):
    """``fd_hvp`` with the relative step ``FD_EPS (1 + ||w||) / ||p||`` (zero for ``p = 0``)."""
    pp = 0.0
    ww = 0.0
    for c in range(u.shape[0]):
        pp += pu[c] * pu[c]
        ww += u[c] * u[c]
    for c in range(v.shape[0]):
        pp += pv[c] * pv[c]
        ww += v[c] * v[c]
    if pp == 0.0:
        out_u[:] = 0.0
        out_v[:] = 0.0
        return
    fd_hvp(data, i, u, v, pu, pv, out_u, out_v, idx, FD_EPS * (1.0 + np.sqrt(ww)) / np.sqrt(pp))


@overload(hvp)
def _hvp_impl(data, i, u, v, pu, pv, out_u, out_v, idx):
    fn = exact_hvp(data)
    if fn is None:

        def fallback(data, i, u, v, pu, pv, out_u, out_v, idx):
            _fd_fallback(data, i, u, v, pu, pv, out_u, out_v, idx)

        return fallback

    def impl(data, i, u, v, pu, pv, out_u, out_v, idx):
        fn(data, i, u, v, pu, pv, out_u, out_v, idx)

    return impl


@njit(cache=True, nogil=True, error_model="numpy")
def _sample_grad(data, i, u, v, gu, gv, idx, seed, noise, t, k, size):
    """Both partial gradients at ``(u, v)`` on the minibatch of counter ``k`` (if any), plus the
    additive noise of counter ``k`` on each block (as FedSim's joint step)."""
    _draw_batch(seed, t, i, k, size, idx)
    grad_u(data, i, u, v, gu, idx)
    grad_v(data, i, u, v, gv, idx)
    _add_noise(gu, noise.noise_u, seed, STREAM_NOISE_U, t, i, k)
    _add_noise(gv, noise.noise_v, seed, STREAM_NOISE_V, t, i, k)


@njit(cache=True, nogil=True, error_model="numpy")
def perfedavg_local(data, i, u, v, Wu, Wv, idx, steps, meta, noise, t, size):
    """Per-FedAvg's local update of device ``i`` on ``w = (u, v)`` in place: ``tau`` steps
    (docs/references.md#fallah2020-algorithm), with ``Wu (4, d_u)``, ``Wv (4, d_v)`` scratch.

    ``g = grad~ F_i(w, D)``, ``w~ = w - alpha g``, ``h = grad~ F_i(w~, D')``, then
    MAML: ``w <- w - beta (h - alpha hess~ F_i(w, D'') h)`` (estimate of (M1));
    FO: ``w <- w - beta h``;
    HF: ``w <- w - beta (h - alpha [grad~ F_i(w + delta h, D'') - grad~ F_i(w - delta h, D'')]
    / (2 delta))``; ``beta`` is ``gamma_u`` on the u block and ``gamma_v`` on the v block.
    """
    tau, seed, alpha = steps.tau_u, steps.seed, meta.alpha
    gu, wu, hu, qu = Wu[0], Wu[1], Wu[2], Wu[3]
    gv, wv, hv, qv = Wv[0], Wv[1], Wv[2], Wv[3]
    d_u, d_v = u.shape[0], v.shape[0]
    for k in range(tau):
        _sample_grad(data, i, u, v, gu, gv, idx, seed, noise, t, tau + k, size)  # D
        for c in range(d_u):
            wu[c] = u[c] - alpha * gu[c]
        for c in range(d_v):
            wv[c] = v[c] - alpha * gv[c]
        _sample_grad(data, i, wu, wv, hu, hv, idx, seed, noise, t, k, size)  # D'
        if meta.variant == Variant.MAML:
            _draw_batch(seed, t, i, 2 * tau + k, size, idx)  # D''
            hvp(data, i, u, v, hu, hv, qu, qv, idx)
        elif meta.variant == Variant.HF:
            delta = meta.hf_delta
            for c in range(d_u):
                wu[c] = u[c] + delta * hu[c]
            for c in range(d_v):
                wv[c] = v[c] + delta * hv[c]
            _sample_grad(data, i, wu, wv, gu, gv, idx, seed, noise, t, 2 * tau + k, size)
            for c in range(d_u):
                wu[c] = u[c] - delta * hu[c]
            for c in range(d_v):
                wv[c] = v[c] - delta * hv[c]
            _sample_grad(data, i, wu, wv, qu, qv, idx, seed, noise, t, 2 * tau + k, size)
            for c in range(d_u):
                qu[c] = (gu[c] - qu[c]) / (2.0 * delta)
            for c in range(d_v):
                qv[c] = (gv[c] - qv[c]) / (2.0 * delta)
        if meta.variant == Variant.FO:
            for c in range(d_u):
                u[c] -= steps.gamma_u * hu[c]
            for c in range(d_v):
                v[c] -= steps.gamma_v * hv[c]
        else:
            for c in range(d_u):
                u[c] -= steps.gamma_u * (hu[c] - alpha * qu[c])
            for c in range(d_v):
                v[c] -= steps.gamma_v * (hv[c] - alpha * qv[c])


@njit(cache=True, nogil=True, error_model="numpy")
def ditto_local(data, i, u, v, pu, pv, ug, vg, Wu, Wv, idx, steps, meta, noise, t, size):
    """Ditto's local work on device ``i`` (docs/references.md#li2021-ditto), in place.

    Global model ``(u, v)``: ``tau`` FedAvg steps (counters ``k``). Personal model
    ``(pu, pv)``: ``tau`` steps ``w_i <- w_i - gamma (grad~ F_i(w_i) + ditto_lam (w_i - w^t))``
    (counters ``2 tau + k``) towards the round's global model ``w^t = (ug, vg)``.
    """
    tau, seed, ditto_lam = steps.tau_u, steps.seed, meta.ditto_lam
    gu, gv = Wu[0], Wv[0]
    for k in range(tau):
        _sample_grad(data, i, u, v, gu, gv, idx, seed, noise, t, k, size)
        for c in range(u.shape[0]):
            u[c] -= steps.gamma_u * gu[c]
        for c in range(v.shape[0]):
            v[c] -= steps.gamma_v * gv[c]
    for k in range(tau):
        _sample_grad(data, i, pu, pv, gu, gv, idx, seed, noise, t, 2 * tau + k, size)
        for c in range(pu.shape[0]):
            pu[c] -= steps.gamma_u * (gu[c] + ditto_lam * (pu[c] - ug[c]))
        for c in range(pv.shape[0]):
            pv[c] -= steps.gamma_v * (gv[c] + ditto_lam * (pv[c] - vg[c]))


@njit(cache=True, nogil=True, error_model="numpy")
def meta_point(data, i, u, v, alpha, mu, mv):
    """Exact ``grad F~_i(w)`` of (M1) into ``(mu, mv)``; returns ``F_i(w - alpha grad F_i(w))``."""
    d_u, d_v = u.shape[0], v.shape[0]
    no = np.empty(0, dtype=np.int64)
    gu, gv, wu, wv = np.empty(d_u), np.empty(d_v), np.empty(d_u), np.empty(d_v)
    qu, qv = np.empty(d_u), np.empty(d_v)
    _grads(data, i, u, v, gu, gv, no)
    for c in range(d_u):
        wu[c] = u[c] - alpha * gu[c]
    for c in range(d_v):
        wv[c] = v[c] - alpha * gv[c]
    f = loss(data, i, wu, wv)
    _grads(data, i, wu, wv, gu, gv, no)
    hvp(data, i, u, v, gu, gv, qu, qv, no)
    for c in range(d_u):
        mu[c] = gu[c] - alpha * qu[c]
    for c in range(d_v):
        mv[c] = gv[c] - alpha * qv[c]
    return f


@njit(cache=True, nogil=True, error_model="numpy")
def meta_metrics(data, n, u, v, alpha, out):
    """``out = (||grad F~(w)||^2, F~(w))`` at ``w = (u, v)``, exact (via ``hvp``; summed over the
    devices in index order): the meta-stationarity of Per-FedAvg and its personalised loss
    ``(1/n) sum_i F_i(w - alpha grad F_i(w))``."""
    su, sv = np.zeros(u.shape[0]), np.zeros(v.shape[0])
    mu, mv = np.empty(u.shape[0]), np.empty(v.shape[0])
    f = 0.0
    for i in range(n):
        f += meta_point(data, i, u, v, alpha, mu, mv)
        for c in range(u.shape[0]):
            su[c] += mu[c]
        for c in range(v.shape[0]):
            sv[c] += mv[c]
    sq = 0.0
    for c in range(u.shape[0]):
        sq += (su[c] / n) ** 2
    for c in range(v.shape[0]):
        sq += (sv[c] / n) ** 2
    out[0] = sq
    out[1] = f / n


@njit(cache=True, nogil=True, error_model="numpy")
def personal_loss(data, PU, PV):
    """``(1/n) sum_i F_i(u_i, v_i)`` at the personal models (Ditto), in index order."""
    f = 0.0
    for i in range(PV.shape[0]):
        f += loss(data, i, PU[i], PV[i])
    return f / PV.shape[0]


@njit(cache=True, nogil=True, error_model="numpy")
def hvp_at(data, i, u, v, pu, pv):
    """``hess F_i(u, v) (pu, pv)`` as the kernels compute it (exact or the FD fallback)."""
    out_u, out_v = np.empty(u.shape[0]), np.empty(v.shape[0])
    hvp(data, i, u, v, pu, pv, out_u, out_v, np.empty(0, dtype=np.int64))
    return out_u, out_v


@njit(cache=True, nogil=True, error_model="numpy")
def fd_hvp_at(data, i, u, v, pu, pv, s):
    """``fd_hvp`` with step ``s`` (for tests of the finite-difference order)."""
    out_u, out_v = np.empty(u.shape[0]), np.empty(v.shape[0])
    fd_hvp(data, i, u, v, pu, pv, out_u, out_v, np.empty(0, dtype=np.int64), s)
    return out_u, out_v


@njit(cache=True, nogil=True, error_model="numpy")
def meta_grad_at(data, i, u, v, alpha):
    """``(grad F~_i(w) in u, in v, F_i(w - alpha grad F_i(w)))`` of (M1), as the metric."""
    mu, mv = np.empty(u.shape[0]), np.empty(v.shape[0])
    f = meta_point(data, i, u, v, alpha, mu, mv)
    return mu, mv, f
