"""Round kernel of the full-personalisation baselines Per-FedAvg and Ditto.

The round structure is FedAvg's (``simulators._kernels.run_rounds`` with ``Alg.FEDAVG``): ``m``
devices sampled uniformly without replacement (``sample_round``, the same draws as every other
algorithm), local work from the broadcast global ``w = (u, v)``, then the server's plain mean of
the sampled devices' ``u`` and ``v`` summed in increasing device index; ``V`` holds ``n``
copies of the global ``v``. The per-device work is in ``simulators._meta_kernels``, whose
point helpers (``hvp_at``, ``fd_hvp_at``, ``meta_grad_at``) are reachable from this module for
any problem: ``problem.kernels(simulators._api.META_KERNEL_MODULES).hvp_at(...)``.

The kernel is compiled without ``parallel=True``: the sampled devices are updated one after the
other (``threads`` only reaches the population metrics). A parallel build compiled about twice
as slowly (measured: 35 s against 18 s for one family on a loaded 2-core machine) and these
baselines run at small sizes; the block structure (``_meta_clients``) is kept so that a
``prange`` can be put back.
"""

from partialfed.simulators._kernels import (  # noqa: F401
    CLIENT_BLOCKS,
    _copy,
    _finite,
    _identity,
    metrics,
)
from partialfed.simulators._meta_kernels import (  # noqa: F401
    ditto_local,
    fd_hvp_at,
    hvp_at,
    meta_grad_at,
    meta_metrics,
    perfedavg_local,
    personal_loss,
)
from partialfed.synthetic._kernels import population_region, zeros  # noqa: F401

# partialfed:template-body
import numpy as np
from numba import njit

from partialfed.simulators._records import Alg
from partialfed.simulators._rng import sample_round


@njit(cache=True, nogil=True, error_model="numpy")
def _meta_clients(
    alg, data, S, sizes, c, nc, ul, vl, pul, pvl, ug, vg, Wu, Wv, idx, steps, meta, noise, t
):
    """Local work of block ``c`` of ``nc`` of the sampled devices ``S`` (as ``_clients``)."""
    m = S.shape[0]
    for j in range((c * m) // nc, ((c + 1) * m) // nc):
        i = S[j]
        size = sizes[i]
        if alg == Alg.DITTO:
            ditto_local(
                data,
                i,
                ul[j],
                vl[j],
                pul[j],
                pvl[j],
                ug,
                vg,
                Wu[j],
                Wv[j],
                idx[j],
                steps,
                meta,
                noise,
                t,
                size,
            )
        else:
            perfedavg_local(
                data, i, ul[j], vl[j], Wu[j], Wv[j], idx[j], steps, meta, noise, t, size
            )


@njit(cache=True, nogil=True, error_model="numpy")
def run_meta_rounds(
    alg, steps, meta, noise, data, sizes, batch, U, V, PU, PV, rec, rec_meta, clients, threads
):
    """Run ``steps.T`` rounds of Per-FedAvg or Ditto in place; record into ``rec``/``rec_meta``.

    Parameters
    ----------
    alg : Alg
        ``Alg.PERFEDAVG`` or ``Alg.DITTO``.
    steps, noise, data, sizes, batch, clients, threads
        As for ``simulators._kernels.run_rounds``.
    meta : Meta
        ``alpha, variant, hf_delta, ditto_lam`` as in ``RunConfig``.
    U : (1, d_u) array
        The global u.
    V : (n, d_v) array
        n copies of the global v.
    PU, PV : (n, d_u), (n, d_v) arrays
        Ditto's personal models (read only by Ditto; ``(0, d)`` arrays otherwise).
    rec : (R, 4) or (R, 5) array
        As for ``run_rounds``: ``(F, Delta_u, Delta_v, NaN[, region])`` at the global model.
    rec_meta : (R, 2) array
        ``(||grad F~(w)||^2, personalised loss)``: for Per-FedAvg ``meta_metrics``; for Ditto
        ``(NaN, (1/n) sum_i F_i(u_i, v_i))`` at the personal models.

    Returns
    -------
    int
        -1, or the first round whose iterate (global or personal) is non-finite or beyond
        ``BLOWUP``.
    """
    T, m, eval_every, seed = steps.T, steps.m, steps.eval_every, steps.seed
    n = V.shape[0]
    d_u = U.shape[1]
    d_v = V.shape[1]
    ditto = alg == Alg.DITTO
    perm = _identity(n)
    ul = np.empty((m, d_u))
    vl = np.empty((m, d_v))
    pul = np.empty((m if ditto else 0, d_u))
    pvl = np.empty((m if ditto else 0, d_v))
    Wu = np.empty((m, 4, d_u))
    Wv = np.empty((m, 4, d_v))
    idx = np.empty((m, batch), dtype=np.int64)
    buf = np.empty(3)
    mbuf = np.empty(2)
    u_now = U[0].copy()
    vg = V[0].copy()
    nc = min(m, CLIENT_BLOCKS)
    r = 0
    for t in range(T + 1):
        if t % eval_every == 0 or t == T:
            metrics(data, U, V, buf, threads)
            rec[r, 0] = buf[0]
            rec[r, 1] = buf[1]
            rec[r, 2] = buf[2]
            rec[r, 3] = np.nan
            if rec.shape[1] > 4:
                rec[r, 4] = population_region(data, U, V)
            if ditto:
                rec_meta[r, 0] = np.nan
                rec_meta[r, 1] = personal_loss(data, PU, PV)
            else:
                meta_metrics(data, n, U[0], V[0], meta.alpha, mbuf)
                rec_meta[r, 0] = mbuf[0]
                rec_meta[r, 1] = mbuf[1]
            r += 1
        if t == T:
            break
        if m == n:
            S = perm.copy()
        else:
            S = sample_round(seed, t, perm, m)
        for j in range(m):
            clients[t, j] = S[j]
        _copy(vg, V[0])
        for j in range(m):
            i = S[j]
            _copy(ul[j], U[0])
            _copy(vl[j], vg)
            if ditto:
                _copy(pul[j], PU[i])
                _copy(pvl[j], PV[i])
        for c in range(nc):
            _meta_clients(
                alg, data, S, sizes, c, nc, ul, vl, pul, pvl, U[0], vg, Wu, Wv, idx, steps, meta,
                noise, t,
            )  # fmt: skip
        # Server: plain means of the sampled devices' u and v, in device order (FedAvg's).
        for c in range(d_u):
            s = 0.0
            for j in range(m):
                s += ul[j, c]
            u_now[c] = s / m
        _copy(U[0], u_now)
        ok = _finite(u_now)
        vbar = zeros(d_v)
        for j in range(m):
            for c in range(d_v):
                vbar[c] += vl[j, c]
        for c in range(d_v):
            vbar[c] /= m
        ok = ok and _finite(vbar)
        for i in range(n):
            _copy(V[i], vbar)
        if ditto:
            for j in range(m):
                _copy(PU[S[j]], pul[j])
                _copy(PV[S[j]], pvl[j])
                ok = ok and _finite(pul[j]) and _finite(pvl[j])
        if not ok:
            return t + 1
    return -1
