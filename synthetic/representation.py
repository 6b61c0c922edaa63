r"""FedRep's linear shared-representation model: locally smooth, nonconvex.

See docs/references.md#synthetic-linear-representation (the model of FedRep,
docs/references.md#collins2021).

.. math::

    F_i(B, w) = \frac{1}{2N} \| y_i - X_i B w \|^2,
    \qquad u = \mathrm{vec}(B) \in \mathbb R^{d k} \ (\text{row-major: } B_{ac} = u_{a k + c}),
    \quad v_i = w \in \mathbb R^k.

Bilinear in ``(B, w)``, so the block smoothness constants grow with ``||w||`` and ``||B||``:
they hold on the region ``{||B||_2 <= beta_B, ||w|| <= beta_w}`` (kind ``local``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from partialfed._constraints import Interval, validate, validate_args
from partialfed.synthetic._linalg import gram_top, row_norms
from partialfed.synthetic._objective import register
from partialfed.synthetic._problem import NOISE, SEED, Constants, Problem, Region

OWNER = "synthetic.make('representation')"
_CHUNK = 8192


class RepresentationData(NamedTuple):
    """Features ``X (n N, d)`` (float32), targets ``y (n N,)``, device ``i``'s rows
    ``start[i]:start[i + 1]`` (int64) and the radii ``(beta_B, beta_w)`` of the region."""

    X: np.ndarray
    y: np.ndarray
    start: np.ndarray
    radii: np.ndarray


@njit(cache=True, nogil=True)
def _residual(X, y, row, u, v):
    """``r = x^T B w - y`` for sample ``row`` (no temporaries: O(d k))."""
    k = v.shape[0]
    z = 0.0
    for a in range(X.shape[1]):
        bw = 0.0
        for c in range(k):
            bw += u[a * k + c] * v[c]
        z += X[row, a] * bw
    return z - y[row]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _loss(data, i, u, v):
    X, y, start = data.X, data.y, data.start
    lo = start[i]
    N = start[i + 1] - lo
    s = 0.0
    for j in range(N):
        r = _residual(X, y, lo + j, u, v)
        s += r * r
    return 0.5 * s / N  # 1/(2N) ||y_i - X_i B w||^2


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_u(data, i, u, v, out, idx):
    """``grad_B F_i = (1/N) X^T r w^T`` (flattened row-major), exact or on minibatch ``idx``."""
    X, y, start = data.X, data.y, data.start
    k = v.shape[0]
    for c in range(out.shape[0]):
        out[c] = 0.0
    lo = start[i]
    exact = idx.shape[0] == 0
    nb = start[i + 1] - lo if exact else idx.shape[0]
    for jj in range(nb):
        row = lo + jj if exact else lo + idx[jj]
        r = _residual(X, y, row, u, v)
        for a in range(X.shape[1]):
            xr = X[row, a] * r
            for c in range(k):
                out[a * k + c] += xr * v[c]
    for c in range(out.shape[0]):
        out[c] /= nb


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _grad_v(data, i, u, v, out, idx):
    """``grad_w F_i = (1/N) B^T X^T r``, exact or on minibatch ``idx``."""
    X, y, start = data.X, data.y, data.start
    k = v.shape[0]
    for c in range(k):
        out[c] = 0.0
    lo = start[i]
    exact = idx.shape[0] == 0
    nb = start[i + 1] - lo if exact else idx.shape[0]
    for jj in range(nb):
        row = lo + jj if exact else lo + idx[jj]
        r = _residual(X, y, row, u, v)
        for a in range(X.shape[1]):
            xr = X[row, a] * r
            for c in range(k):
                out[c] += u[a * k + c] * xr
    for c in range(k):
        out[c] /= nb


@njit(cache=True, nogil=True, error_model="numpy")
def _region(data, i, u, v):
    """``max(||B||_2 / beta_B, ||w|| / beta_w)``: at most 1 exactly on the region
    ``R = {||B||_2 <= beta_B, ||w|| <= beta_w}`` where the constants hold. ``||B||_2^2`` is the
    largest eigenvalue of the k x k matrix ``B^T B`` (``B_ac = u[a k + c]``), in closed form for
    ``k <= 2``."""
    k = v.shape[0]
    d = u.shape[0] // k
    G = np.zeros((k, k))
    for a in range(d):
        for c in range(k):
            for e in range(k):
                G[c, e] += u[a * k + c] * u[a * k + e]
    if k == 1:
        top = G[0, 0]
    elif k == 2:  # closed form: no LAPACK call (its overhead dominated this function)
        h = 0.5 * (G[0, 0] - G[1, 1])
        top = 0.5 * (G[0, 0] + G[1, 1]) + np.sqrt(h * h + G[0, 1] * G[0, 1])
    else:
        top = np.linalg.eigvalsh(G)[-1]
    w2 = 0.0
    for c in range(k):
        w2 += v[c] * v[c]
    return max(np.sqrt(max(top, 0.0)) / data.radii[0], np.sqrt(w2) / data.radii[1])


register(RepresentationData, _loss, _grad_u, _grad_v, _region)


def _orthonormal_columns(rng, d, k):
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return q * np.sign(np.diag(r))


def _int(value, name, owner, lo, hi):
    return validate(value, name, owner, Interval(int, lo, hi))


def _dims(d, k, d_u, d_v):
    """``(d, k)`` from the knobs given (each already an int in its declared range, or None)."""
    if d is None and k is None and d_u is None and d_v is None:
        return 10, 2
    if d_v is not None:
        if k is not None and k != d_v:
            _int(k, "k", OWNER + f" (d_v={d_v} given, d_v = k)", d_v, d_v)
        k = d_v
    k = 2 if k is None else k
    if d_u is not None:
        d_u = _int(d_u, "d_u", OWNER, k, 10**5)
        if d_u % k:
            raise ValueError(
                f"The 'd_u' parameter of {OWNER} must be a multiple of k={k} (d_u = d k). "
                f"Got {d_u}."
            )
        if d is not None and d != d_u // k:
            _int(d, "d", OWNER + f" (d_u={d_u} given, d_u = d k)", d_u // k, d_u // k)
        d = d_u // k
    d = 10 if d is None else d
    _int(k, "k", OWNER + f" (k <= d = {d}: a rank-k representation of R^d)", 1, d)
    return d, k


#: What each knob of ``representation`` accepts (checked before the body runs); ``_dims``
#: then checks how ``d, k, d_u, d_v`` fit together.
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d": [Interval(int, 1, 10**4), None],
    "k": [Interval(int, 1, 10**3), None],
    "d_u": [Interval(int, 1, 10**5), None],
    "d_v": [Interval(int, 1, 10**3), None],
    "samples": [Interval(int, 1, 10**6)],
    "label_noise": [Interval(float, 0.0, 1e6)],
    "beta_B": [Interval(float, 0.0, 1e6, closed="right")],
    "beta_w": [Interval(float, 0.0, 1e6, closed="right")],
    "batch": [Interval(int, 0, "samples")],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def representation(
    *,
    n: int = 20,
    d: int | None = None,
    k: int | None = None,
    d_u: int | None = None,
    d_v: int | None = None,
    samples: int = 20,
    label_noise: float = 0.0,
    beta_B: float = 1.5,
    beta_w: float = 1.5,
    batch: int = 0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Linear shared representation ``B`` (d x k), personal heads ``w_i`` (FedRep's model).

    .. math::

        F_i(B, w) = \frac{1}{2N} \|y_i - X_i B w\|^2, \qquad
        y_{ij} = x_{ij}^\top B^* w_i^* + \text{label\_noise}\; e_{ij}

    Data (seeded): ``B^*`` has orthonormal columns (Q factor of a Gaussian matrix), heads
    ``w_i^*`` are unit vectors, ``x_ij ~ N(0, I_d)`` (stored float32), ``e_ij ~ N(0, 1)``.
    ``d_u = d k``, ``d_v = k``; give ``(d, k)`` or ``(d_u, d_v)``.

    Constants, on the region ``R = {||B||_2 <= beta_B, ||w_i|| <= beta_w for all i}``
    (kind **local**; pairs must lie in ``R``, which is convex), with
    ``S_i = X_i^T X_i / N``, ``lam_i = lambda_max(S_i)``, ``Lam = max_i lam_i``,
    ``t_i = ||X_i^T y_i|| / N``:

    - ``L_u = Lam beta_w^2``: ``grad_B F_i = S_i B w w^T - X_i^T y_i w^T / N`` is affine in
      ``B`` with operator ``S_i (.) w w^T`` of norm ``lam_i ||w||^2``: exact on ``R``.
    - ``L_v = Lam beta_B^2``: ``grad_w^2 F_i = B^T S_i B``, norm ``<= lam_i ||B||^2``, attained
      at ``B = beta_B q c^T``: exact on ``R``.
    - ``L_uv = L_vu = max_i (2 lam_i beta_B beta_w + t_i)``: the derivative of ``grad_B`` in
      ``w`` along ``h`` is ``S_i B (h w^T + w h^T) - X^T y h^T / N`` (and symmetrically), a
      certified bound on ``R``.
    - ``delta^2 = mean_i (beta_w (lam_i beta_B beta_w + t_i))^2`` with ``rho = 0``:
      ``||grad_B F_i||_F = ||w|| ||S_i B w - X^T y / N||`` and the diversity is at most
      ``mean_i ||grad_B F_i||^2``; certified on ``R``.
    - ``sigma_u^2 = noise_u^2 + (1/b) max_i mean_j (beta_w ||x_ij|| e_ij)^2`` and
      ``sigma_v^2 = noise_v^2 + (1/b) max_i mean_j (beta_B ||x_ij|| e_ij)^2`` with
      ``e_ij = ||x_ij|| beta_B beta_w + |y_ij|`` (a bound on the residual on ``R``) when
      ``batch = b > 0``: certified on ``R``; exactly the knobs when ``batch = 0``.
    - ``F_low = 0``: exact when ``label_noise = 0`` (``F(B^*, W^*) = 0``; ``witnesses``), a
      certified lower bound otherwise.

    Iterates of a run can leave ``R``; ``beta_B``, ``beta_w`` make the region explicit (the
    optimum has ``||B^*|| = ||w_i^*|| = 1``; the initial point has norms ``beta/2``).

    Parameters
    ----------
    n : int
        Devices, >= 1.
    d, k : int or None
        Ambient dimension and representation rank (default 10 and 2).
    d_u, d_v : int or None
        Alternative to ``d, k``: ``d_u = d k``, ``d_v = k``.
    samples : int
        Samples per device ``N``, in [1, 10^6].
    label_noise : float
        Standard deviation of the label noise, >= 0.
    beta_B, beta_w : float
        Radii of the region ``R``, > 0.
    batch : int
        Minibatch size in [0, samples].
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0 (not the constants
        ``sigma_u``, ``sigma_v``, which also count minibatch variance).
    seed : int
        Instance seed.
    """
    d, k = _dims(d, k, d_u, d_v)
    N, noise = samples, label_noise
    if n * N * d > 4 * 10**8:
        raise ValueError(
            f"The 'samples' parameter of {OWNER} must keep n*samples*d <= 4e8 features "
            f"(memory; here n*d = {n * d}). Got {N}."
        )
    rng = np.random.default_rng([seed, 0x4E9])
    B_star = _orthonormal_columns(rng, d, k)
    W_star = rng.standard_normal((n, k))
    W_star /= np.linalg.norm(W_star, axis=1, keepdims=True)
    X = np.empty((n, N, d), dtype=np.float32)
    y = np.empty((n, N))
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        Xc = rng.standard_normal((m, N, d)).astype(np.float32)
        X[lo : lo + m] = Xc
        theta = W_star[lo : lo + m] @ B_star.T  # rows: B* w_i*
        y[lo : lo + m] = np.einsum("msd,md->ms", Xc.astype(np.float64), theta)
        y[lo : lo + m] += noise * rng.standard_normal((m, N))
    lam = gram_top(X)
    nx = row_norms(X)
    Xy = np.empty(n)
    for lo in range(0, n, _CHUNK):
        Xy[lo : lo + _CHUNK] = np.linalg.norm(
            np.einsum("msd,ms->md", X[lo : lo + _CHUNK].astype(np.float64), y[lo : lo + _CHUNK]),
            axis=1,
        )
    t = Xy / N
    Lam = float(lam.max())
    data = RepresentationData(
        X.reshape(n * N, d),
        y.reshape(n * N),
        np.arange(n + 1, dtype=np.int64) * N,
        np.array([beta_B, beta_w], dtype=np.float64),
    )

    L_cross = float(np.max(2 * lam * beta_B * beta_w + t))
    delta = float(np.sqrt(np.mean((beta_w * (lam * beta_B * beta_w + t)) ** 2)))
    res = nx * beta_B * beta_w + np.abs(y)
    mb_u = float(np.max(np.mean((beta_w * nx * res) ** 2, axis=1))) / batch if batch else 0.0
    mb_v = float(np.max(np.mean((beta_B * nx * res) ** 2, axis=1))) / batch if batch else 0.0
    region = f"on ||B||_2 <= beta_B = {beta_B:g}, ||w_i|| <= beta_w = {beta_w:g}"
    i_top = int(np.argmax(lam))
    Xi = X[i_top].astype(np.float64)
    q_top = np.linalg.eigh(Xi.T @ Xi / N)[1][:, -1]
    e1 = np.zeros(k)
    e1[0] = 1.0
    B_half = 0.5 * beta_B * _orthonormal_columns(rng, d, k)
    witnesses = {
        "L_u": (i_top, B_half.ravel(), beta_w * e1),
        "L_v": (i_top, (beta_B * np.outer(q_top, e1)).ravel(), 0.5 * beta_w * e1),
    }
    if noise == 0:
        witnesses["F_low"] = (B_star.ravel().copy(), W_star.copy())
    constants = Constants(
        L_u=Lam * beta_w**2,
        L_v=Lam * beta_B**2,
        L_uv=L_cross,
        L_vu=L_cross,
        sigma_u=math.sqrt(noise_u**2 + mb_u),
        sigma_v=math.sqrt(noise_v**2 + mb_v),
        delta=delta,
        rho=0.0,
        F_low=0.0,
        kind={
            "L_u": "local",
            "L_v": "local",
            "L_uv": "local",
            "L_vu": "local",
            "sigma_u": "local" if batch else "exact",
            "sigma_v": "local" if batch else "exact",
            "delta": "local",
            "rho": "local",
            "F_low": "exact" if noise == 0 else "certified",
        },
        notes={
            "L_u": f"exact {region}: max_i lambda_max(X_i^T X_i/N) beta_w^2",
            "L_v": f"exact {region}: max_i lambda_max(X_i^T X_i/N) beta_B^2",
            "L_uv": f"certified {region}",
            "L_vu": f"certified {region}",
            "delta": f"certified {region}",
            "rho": f"certified {region}",
            "sigma_u": f"certified {region}" if batch else "additive noise only",
            "sigma_v": f"certified {region}" if batch else "additive noise only",
            "F_low": "F(B*, W*) = 0 (noiseless, realizable)" if noise == 0 else "F >= 0",
            "region": region,
        },
        # every local constant holds on R; the run records max(||B||/beta_B, ||w_i||/beta_w)
        regions={
            name: Region(region[3:], metric="region", upper=1.0)
            for name in ("L_u", "L_v", "L_uv", "L_vu", "delta", "rho")
            + (("sigma_u", "sigma_v") if batch else ())
        },
    )

    def init(seed_):
        g = np.random.default_rng([seed_, 0x1717])
        B0 = 0.5 * beta_B * _orthonormal_columns(g, d, k)
        W0 = g.standard_normal((n, k))
        W0 *= 0.5 * beta_w / np.linalg.norm(W0, axis=1, keepdims=True)
        return B0.ravel(), W0

    return Problem(
        name="representation",
        n=n,
        d_u=d * k,
        d_v=k,
        data=data,
        loss_fn=_loss,
        grad_u_fn=_grad_u,
        grad_v_fn=_grad_v,
        constants=constants,
        init=init,
        knobs=dict(
            n=n,
            d=d,
            k=k,
            d_u=d * k,
            d_v=k,
            samples=N,
            label_noise=noise,
            beta_B=beta_B,
            beta_w=beta_w,
            batch=batch,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        sizes=np.full(n, N, dtype=np.int64),
        batch=batch,
        noise_u=noise_u,
        noise_v=noise_v,
        description="FedRep linear representation: shared B, personal heads",
        witnesses=witnesses,
    )
