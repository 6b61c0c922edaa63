r"""Nonconvex-regularised logistic regression with a personal head.

The single-model family is docs/references.md#synthetic-nonconvex-logistic.

.. math::

    F_i(u, v) = \frac{1}{N_i} \sum_{j=1}^{N_i} \ell\big(y_{ij}(a_{ij}^\top u + c_{ij}^\top v)\big)
                + \lambda \sum_k \phi(u_k) + \lambda \sum_k \phi(v_k),
    \qquad \ell(z) = \log(1 + e^{-z}), \quad \phi(t) = \frac{t^2}{1 + t^2}.

A finite sum: ``Problem.sizes = N_i`` and minibatches of ``batch`` samples drawn uniformly with
replacement give the stochastic gradients (the regulariser's gradient is always exact).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed._constraints import Interval, validate_args
from partialfed.synthetic._linalg import gram_top, row_norms
from partialfed.synthetic._objective import register, register_hvp
from partialfed.synthetic._problem import NOISE, SEED, Constants, Problem

OWNER = "synthetic.make('logistic')"
_CHUNK = 8192


class LogisticData(NamedTuple):
    """Features ``A (n N, d_u)`` and ``C (n N, d_v)`` (float32), labels ``y (n N,)``, device
    ``i``'s rows ``start[i]:start[i + 1]`` (int64) and ``par = [lam]``."""

    A: np.ndarray
    C: np.ndarray
    y: np.ndarray
    start: np.ndarray
    par: np.ndarray


@njit(cache=True, nogil=True)
def _margin(A, C, y, row, u, v):
    """``z = y (a^T u + c^T v)`` for sample ``row``."""
    z = 0.0
    for c in range(u.shape[0]):
        z += A[row, c] * u[c]
    for c in range(v.shape[0]):
        z += C[row, c] * v[c]
    return y[row] * z


@njit(cache=True, nogil=True)
def _softplus_neg(z):
    """``ell(z) = log(1 + exp(-z))``, overflow-free."""
    if z > 0.0:
        return math.log1p(math.exp(-z))
    return -z + math.log1p(math.exp(z))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss(data, i, u, v):
    A, C, y, start, par = data
    lam = par[0]
    lo = start[i]
    N = start[i + 1] - lo
    s = 0.0
    for j in range(N):
        s += _softplus_neg(_margin(A, C, y, lo + j, u, v))
    s /= N  # (1/N_i) sum_j ell(y_ij (a_ij^T u + c_ij^T v))
    r = 0.0
    for c in range(u.shape[0]):
        r += u[c] * u[c] / (1.0 + u[c] * u[c])
    for c in range(v.shape[0]):
        r += v[c] * v[c] / (1.0 + v[c] * v[c])
    return s + lam * r  # + lam (sum_k phi(u_k) + sum_k phi(v_k))


@njit(cache=True, nogil=True)
def _grad_block(data, i, u, v, out, idx, which):
    """``which = 0``: grad_u, ``1``: grad_v; exact (``idx`` empty) or on the minibatch ``idx``."""
    A, C, y, start, par = data
    lam = par[0]
    M = A if which == 0 else C
    x = u if which == 0 else v
    for c in range(out.shape[0]):
        out[c] = 0.0
    lo = start[i]
    exact = idx.shape[0] == 0
    nb = start[i + 1] - lo if exact else idx.shape[0]
    for jj in range(nb):
        row = lo + jj if exact else lo + idx[jj]
        z = _margin(A, C, y, row, u, v)
        s = -y[row] / (1.0 + math.exp(z))  # ell'(z) y = -y sigmoid(-z)
        for c in range(out.shape[0]):
            out[c] += s * M[row, c]
    for c in range(out.shape[0]):
        q = 1.0 + x[c] * x[c]
        out[c] = out[c] / nb + lam * 2.0 * x[c] / (q * q)  # + lam phi'(x_c)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    _grad_block(data, i, u, v, out, idx, 0)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    _grad_block(data, i, u, v, out, idx, 1)


register(LogisticData, _loss, _grad_u, _grad_v)


@njit(cache=True, nogil=True, error_model="numpy")
def _hvp(data, i, u, v, pu, pv, out_u, out_v, idx):
    """Exact Hessian-vector product (of the minibatch ``idx`` when given): the data term
    ``(1/N) sum_j ell''(z_j) y_j^2 (x_j^T p) x_j`` with ``x_j = (a_j, c_j)`` and
    ``ell''(z) = e^{-|z|} / (1 + e^{-|z|})^2``, plus ``lam phi''(x_c) p_c`` with
    ``phi''(t) = (2 - 6 t^2) / (1 + t^2)^3``."""
    A, C, y, start, par = data
    lam = par[0]
    out_u[:] = 0.0
    out_v[:] = 0.0
    lo = start[i]
    exact = idx.shape[0] == 0
    nb = start[i + 1] - lo if exact else idx.shape[0]
    for jj in range(nb):
        row = lo + jj if exact else lo + idx[jj]
        z = _margin(A, C, y, row, u, v)
        e = math.exp(-abs(z))
        xp = 0.0
        for c in range(u.shape[0]):
            xp += A[row, c] * pu[c]
        for c in range(v.shape[0]):
            xp += C[row, c] * pv[c]
        s = e / ((1.0 + e) * (1.0 + e)) * y[row] * y[row] * xp
        for c in range(u.shape[0]):
            out_u[c] += s * A[row, c]
        for c in range(v.shape[0]):
            out_v[c] += s * C[row, c]
    for c in range(u.shape[0]):
        t2 = u[c] * u[c]
        q = 1.0 + t2
        out_u[c] = out_u[c] / nb + lam * (2.0 - 6.0 * t2) / (q * q * q) * pu[c]
    for c in range(v.shape[0]):
        t2 = v[c] * v[c]
        q = 1.0 + t2
        out_v[c] = out_v[c] / nb + lam * (2.0 - 6.0 * t2) / (q * q * q) * pv[c]


register_hvp(LogisticData, _hvp)


#: What each knob of ``logistic`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "samples": [Interval(int, 1, 10**6)],
    "heterogeneity": [Interval(float, 0.0, 1e3)],
    "lam": [Interval(float, 0.0, 1e6)],
    "batch": [Interval(int, 0, "samples")],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def logistic(
    *,
    n: int = 20,
    d_u: int = 5,
    d_v: int = 2,
    samples: int = 20,
    heterogeneity: float = 1.0,
    lam: float = 0.1,
    batch: int = 0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Logistic regression, shared body ``u``, personal head ``v``, nonconvex regulariser.

    .. math::

        F_i(u, v) = \frac1N \sum_j \log\big(1 + e^{-y_{ij}(a_{ij}^\top u + c_{ij}^\top v)}\big)
                    + \lambda \sum_k \Big(\frac{u_k^2}{1+u_k^2} + \frac{v_k^2}{1+v_k^2}\Big)

    Data (seeded): device ``i`` draws ``x_ij = (a_ij, c_ij) ~ N(m_i, I)`` with a device shift
    ``m_i = heterogeneity g_i``, labels ``y_ij = sign(w_i^T x_ij + 0.1 e_ij)`` from a device
    model ``w_i = w_0 + heterogeneity zeta_i`` (``g, zeta, e`` standard normal; ``w_0`` has norm
    3). ``N_i = samples``. Features are stored as float32 (the data are those float32 values;
    all arithmetic is float64).

    Constants (all **certified** upper bounds; ``F_low`` a certified lower bound), with
    ``lam_A,i = lambda_max(A_i^T A_i / N)``, ``lam_C,i`` likewise, ``ell'' <= 1/4``,
    ``phi'' in [-1/2, 2]``:

    - ``L_u = max_i lam_A,i / 4 + 2 lam``: the u-Hessian is ``(1/N) sum ell'' a a^T +
      lam diag(phi''(u))``, between ``-lam/2`` and ``lam_A,i/4 + 2 lam``.
    - ``L_v = max_i lam_C,i / 4 + 2 lam`` (0 when ``d_v = 0``).
    - ``L_uv = L_vu = max_i sqrt(lam_A,i lam_C,i) / 4``: the cross block
      ``(1/N) sum_j w_j a_j c_j^T`` with ``0 < w_j <= 1/4`` has norm at most
      ``(1/4N) ||A_i||_2 ||C_i||_2`` (Cauchy-Schwarz; the weights differ per sample, so
      ``||A_i^T C_i|| / 4N`` would *not* be a bound).
    - ``delta``: the regulariser cancels in ``grad_u F_i - grad_u F``; the data part
      ``g_i = (1/N) sum_j ell'(z_j) y_j a_j`` has ``|ell'| < 1``, so
      ``||g_i|| <= G_i = min((1/N) sum_j ||a_ij||, sqrt(lam_A,i))`` and the diversity
      ``= mean ||g_i||^2 - ||mean g||^2 <= mean_i G_i^2 = delta^2``; ``rho = 0``.
    - ``sigma_u^2 = noise_u^2 + (1/b) max_i (1/N) sum_j ||a_ij||^2`` when ``batch = b > 0``
      (variance of a with-replacement minibatch mean is ``Var/b`` and a per-sample gradient
      has norm ``<= ||a_ij||``); exactly the knob when ``batch = 0``. Likewise ``sigma_v``.
    - ``F_low = 0`` (both terms are non-negative).

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1), body dimension (>= 1), head dimension (>= 0).
    samples : int
        ``N_i``, samples per device, in [1, 10^6].
    heterogeneity : float
        Scale of the device feature shifts and model perturbations, >= 0.
    lam : float
        Weight of the nonconvex regulariser, >= 0.
    batch : int
        Minibatch size in [0, samples] (0: exact gradients).
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0 (not the constants
        ``sigma_u``, ``sigma_v``, which also count minibatch variance).
    seed : int
        Instance seed.
    """
    N, het = samples, heterogeneity
    if n * N * (d_u + d_v) > 4 * 10**8:
        raise ValueError(
            f"The 'samples' parameter of {OWNER} must keep n*samples*(d_u+d_v) <= 4e8 features "
            f"(memory; here n*(d_u+d_v) = {n * (d_u + d_v)}). Got {N}."
        )
    rng = np.random.default_rng([seed, 0x106])
    d = d_u + d_v
    w0 = rng.standard_normal(d)
    w0 *= 3.0 / np.linalg.norm(w0)
    X = np.empty((n, N, d), dtype=np.float32)
    y = np.empty((n, N))
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        shift = het * rng.standard_normal((m, 1, d))
        Xc = shift + rng.standard_normal((m, N, d))
        wi = w0 + het * rng.standard_normal((m, d))
        score = np.einsum("msd,md->ms", Xc, wi) + 0.1 * rng.standard_normal((m, N))
        X[lo : lo + m] = Xc
        y[lo : lo + m] = np.where(score >= 0, 1.0, -1.0)
    A3, C3 = X[:, :, :d_u], X[:, :, d_u:]
    constants = logistic_constants(A3, C3, lam, batch, noise_u, noise_v)
    A = np.ascontiguousarray(A3.reshape(n * N, d_u))
    C = np.ascontiguousarray(C3.reshape(n * N, d_v))
    del X, A3, C3
    data = LogisticData(
        A, C, y.reshape(n * N), np.arange(n + 1, dtype=np.int64) * N, np.array([lam])
    )

    def init(seed_):
        g = np.random.default_rng([seed_, 0x1717])
        return 0.1 * g.standard_normal(d_u), 0.1 * g.standard_normal((n, d_v))

    return Problem(
        name="logistic",
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d_u=d_u,
            d_v=d_v,
            samples=N,
            heterogeneity=het,
            lam=lam,
            batch=batch,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        sizes=np.full(n, N, dtype=np.int64),
        batch=batch,
        noise_u=noise_u,
        noise_v=noise_v,
        description="nonconvex-regularised logistic regression, personal head",
    )


def logistic_constants(A3, C3, lam, batch, noise_u, noise_v) -> Constants:
    """The constants of the ``logistic`` loss on device features ``A3 (n, N, d_u)``,
    ``C3 (n, N, d_v)`` with labels in ``{-1, +1}`` (derivations in :func:`logistic`; they hold
    for any such labels, so ``synthetic.teacher`` uses them too)."""
    d_v = C3.shape[2]
    lam_A, lam_C = gram_top(A3), gram_top(C3)
    na, nc = row_norms(A3), row_norms(C3)
    G = np.minimum(na.mean(axis=1), np.sqrt(lam_A))
    mb_u = float(np.max(np.mean(na**2, axis=1))) / batch if batch else 0.0
    mb_v = float(np.max(np.mean(nc**2, axis=1))) / batch if batch else 0.0
    sig_kind = "certified" if batch else "exact"
    return Constants(
        L_u=float(lam_A.max() / 4 + 2 * lam),
        L_v=float(lam_C.max() / 4 + 2 * lam) if d_v else 0.0,
        L_uv=float(np.max(np.sqrt(lam_A * lam_C)) / 4),
        L_vu=float(np.max(np.sqrt(lam_A * lam_C)) / 4),
        sigma_u=math.sqrt(noise_u**2 + mb_u),
        sigma_v=math.sqrt(noise_v**2 + mb_v),
        delta=float(np.sqrt(np.mean(G**2))),
        rho=0.0,
        F_low=0.0,
        kind={
            "L_u": "certified",
            "L_v": "certified" if d_v else "exact",
            "L_uv": "certified" if d_v else "exact",
            "L_vu": "certified" if d_v else "exact",
            "sigma_u": sig_kind,
            "sigma_v": sig_kind if d_v else "exact",
            "delta": "certified",
            "rho": "exact",
            "F_low": "certified",
        },
        notes={
            "L_u": "max_i lambda_max(A_i^T A_i/N)/4 + 2 lam (logistic'' <= 1/4, phi'' <= 2)",
            "L_uv": "max_i ||A_i|| ||C_i|| / (4N) (Cauchy-Schwarz)",
            "delta": "mean_i min(mean_j ||a_ij||, sqrt(lambda_max(A_i^T A_i/N)))^2",
            "sigma_u": "additive noise_u^2 + max_i mean_j ||a_ij||^2 / batch"
            if batch
            else "additive noise only",
            "F_low": "both terms are non-negative",
        },
    )
