r"""Log-cosh point-mass family: Per-FedAvg's assumptions with exact constants on all of R^d.

docs/references.md#synthetic-logcosh (derived here).

.. math::

    F_i(u, v) = f_i(w) = \sum_{j=1}^{d} \phi(w_j - c_{g(i), j}), \qquad w = (u, v), \quad
    \phi(t) = a^2 \log\cosh(t / a),

with two device groups ``g in {+, -}`` of weights ``p = ceil(n/2)/n`` and ``1 - p`` whose
centres are ``c_± = c_0 ± s h`` (``h`` the planted profile, below). As a data distribution,
device ``i`` holds the point mass ``p_i = delta_{c_{g(i)}}`` and ``f_i(w) = E_{x ~ p_i}
ell(w; x)`` with ``ell(w; x) = sum_j phi(w_j - x_j)``.

Derivatives of ``phi`` (``x = t/a``): ``phi' = a tanh x`` in ``(-a, a)``, ``phi'' = sech^2 x`` in
``(0, 1]`` (1 at ``t = 0``), ``phi''' = -(2/a) sech^2 x tanh x`` with
``|phi'''| <= 4/(3 sqrt(3) a)`` (at ``tanh x = 1/sqrt(3)``). The Hessian is diagonal, so its
spectral norm is the largest entry.

**The planted personal part.** The heterogeneity sits on the last ``planted`` coordinates of
``w``: ``h_r = (r + 1)^(-decay)`` for the coordinate ``r`` places from the end (``r <
planted``), 0 before. The total dimension ``d_u + d_v`` and the planting do not depend on the
split, so sweeping ``d_v`` at fixed ``d_u + d_v`` moves the boundary between shared and
personal coordinates across a fixed planted structure: with ``d_v >= planted`` every device's
optimum ``v_i^* = c_{g(i), v}`` is personal and the shared optimum is common.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from partialfed._constraints import Interval, validate, validate_args
from partialfed.synthetic._logcosh_extrema import _F_low, _gamma_H_sq, _profile, _sup_1d
from partialfed.synthetic._logcosh_objective import (
    LogcoshData,
    _grad_u,
    _grad_v,
    _loss,
    d2phi,
    d3phi,
    dphi,
)
from partialfed.synthetic._problem import NOISE, SEED, Constants, Problem, check_size

__all__ = ["logcosh", "PerFedAvgConstants", "perfedavg_constants", "meta_exact", "RHO_FACTOR"]

OWNER = "synthetic.make('logcosh')"
#: ``sup |phi'''| = RHO_FACTOR / a``.
RHO_FACTOR = 4.0 / (3.0 * math.sqrt(3.0))


#: What each knob of ``logcosh`` accepts (checked before the body runs).
_parameter_constraints = {
    "n": [Interval(int, 1, 10**7)],
    "d_u": [Interval(int, 1, 10**4)],
    "d_v": [Interval(int, 0, 10**4)],
    "scale": [Interval(float, 1e-3, 1e3)],
    "gamma_G": [Interval(float, 0.0, 1e6), None],
    "w1": [Interval(float, 0.0, 1e6), None],
    "planted": [Interval(int, 0, lambda p: p["d_u"] + p["d_v"]), None],
    "decay": [Interval(float, 0.0, 10.0)],
    "noise_u": [NOISE],
    "noise_v": [NOISE],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def logcosh(
    *,
    n: int = 20,
    d_u: int = 5,
    d_v: int = 3,
    scale: float = 1.0,
    gamma_G: float | None = None,
    w1: float | None = None,
    planted: int | None = None,
    decay: float = 0.0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    seed: int = 0,
) -> Problem:
    r"""Log-cosh point masses: bounded gradient, Lipschitz Hessian, exact dissimilarities.

    ``F_i(u, v) = sum_j phi(w_j - c_{g(i), j})``, ``phi(t) = a^2 log cosh(t/a)``, ``a =
    scale``, ``w = (u, v)``; groups ``+`` (devices ``0 .. ceil(n/2) - 1``, weight ``p``) and
    ``-``; ``c_± = c_0 ± s h`` with ``c_0`` seeded standard normal and ``s`` solved (Brent) so
    that the gradient dissimilarity equals the knob ``gamma_G``.

    Per-FedAvg's constants (docs/references.md#fallah2020-assumptions; :func:`perfedavg_constants`,
    every one **exact**, the sup itself):

    - ``L = 1``: ``sup phi'' = 1`` at ``t = 0`` (attained at ``w = c_i``).
    - ``B = a sqrt(d)``: ``||grad f_i|| < a sqrt(d)``, approached as every ``|w_j - c_ij| -> oo``.
    - ``rho_H = 4/(3 sqrt(3) a)``: ``||hess f_i(x) - hess f_i(y)||_2 = max_j |phi''(x_j - c) -
      phi''(y_j - c)| <= sup|phi'''| max_j |x_j - y_j| <= rho_H ||x - y||``, approached for
      ``y -> x`` along one coordinate at ``tanh = 1/sqrt(3)``.
    - ``gamma_G^2 = sup_w (1/n) sum_i ||grad f_i - grad f||^2 = 4 p (1-p) a^2 sum_j tanh^2(s h_j /
      a)``: per coordinate the two-point variance ``p (1-p) (phi'(t - s_j) - phi'(t + s_j))^2``
      peaks at ``t = 0`` (its root's derivative ``phi''(t - s) - phi''(t + s)`` has the sign of
      ``t`` reversed, ``phi''`` being even and decreasing in ``|t|``), so the sup is
      attained at ``w = c_0`` for all coordinates at once; equal to the knob.
    - ``gamma_H^2 = sup_w (1/n) sum_i ||hess f_i - hess f||_2^2 = p (1-p) max_j sup_t
      Delta_j(t)^2`` with ``Delta_j(t) = phi''(t - s_j) - phi''(t + s_j)``: the deviation of
      device ``i`` is ``diag(w_± Delta_j)`` with ``w_+ = 1 - p``, ``w_- = p``, its norm ``w_±
      max_j |Delta_j|``, and ``p w_+^2 + (1-p) w_-^2 = p (1-p)``; 1-D maximisation, attained.
    - Distances (docs/references.md#fallah2020-distances, derived here for this family):
      ``W1(p_i, pbar) = w_± 2 s ||h||`` and ``TV(p_i, pbar) = w_±``; root mean squares
      ``W1_rms = 2 s ||h|| sqrt(p (1-p))``, ``TV_rms = sqrt(p (1-p))``. Since ``grad_w ell`` is
      1-Lipschitz in ``x`` (``phi'' <= 1``) and ``hess_w ell`` is ``rho_H``-Lipschitz in ``x``,
      Kantorovich-Rubinstein gives ``gamma_G <= W1_rms`` and ``gamma_H <= rho_H W1_rms``; the
      bounds ``||grad ell|| <= B`` and ``||hess ell|| <= L`` give ``gamma_G <= 2 B TV_rms`` and
      ``gamma_H <= 2 L TV_rms``.

    Pillutla et al.'s constants (A0-A3, docs/references.md#pillutla2022-assumptions):
    ``L_u = L_v = 1`` exact (``L_v = 0`` when ``d_v = 0``), ``L_uv = L_vu = 0`` exact
    (separable), ``delta^2`` = the ``u``-coordinates' part of ``gamma_G^2`` exact (attained at
    ``u = c_{0,u}``), ``rho = 0`` exact, ``sigma_u = noise_u``, ``sigma_v = noise_v`` exact,
    ``F_low = sum_{j <= d_u} min_t [p phi(t - s_j) + (1-p) phi(t + s_j)]`` exact (1-D convex;
    every ``v_i`` at its own centre contributes 0).

    Parameters
    ----------
    n, d_u, d_v : int
        Devices (>= 1; >= 2 for ``gamma_G > 0``), shared dimension (>= 1), personal dimension
        (>= 0).
    scale : float
        ``a`` in ``[1e-3, 1e3]``: ``|phi'| < a``, so it sets ``B`` and ``rho_H = 0.77/a``.
    gamma_G : float or None
        Gradient dissimilarity on ``w``, in ``[0, 2 a sqrt(p (1-p) planted))`` (default 0.5
        unless ``w1`` is given).
    w1 : float or None
        Instead of ``gamma_G``: the root mean square ``W1(p_i, pbar)`` of the devices' point
        masses to their mixture, ``>= 0`` (``s = w1 / (2 ||h|| sqrt(p (1-p)))``). Give one of
        the two.
    planted : int or None
        Heterogeneous coordinates, the last ones of ``w`` (default ``d_v``).
    decay : float
        Profile exponent in ``[0, 10]`` (0: equal shifts on the planted coordinates).
    noise_u, noise_v : float
        Standard deviations of the additive gradient noise, >= 0.
    seed : int
        Instance seed.
    """
    d = d_u + d_v
    check_size(n, d, OWNER)
    K = d_v if planted is None else planted
    a = scale
    n_plus = (n + 1) // 2
    p = n_plus / n
    if gamma_G is not None and w1 is not None:
        raise ValueError(
            f"The 'w1' parameter of {OWNER} sets the dissimilarity instead of 'gamma_G': give "
            f"one of the two. Got gamma_G={gamma_G!r} and w1={w1!r}."
        )
    if w1 is not None and w1 > 0 and (n < 2 or K == 0):
        why = "n >= 2" if n < 2 else "planted >= 1 (or d_v >= 1)"
        validate(w1, "w1", f"{OWNER} without {why}", Interval(float, 0.0, 0.0))
    h = _profile(d, K, decay)
    if w1 is not None:
        s = w1 / (2.0 * float(np.linalg.norm(h)) * math.sqrt(p * (1 - p))) if w1 > 0 else 0.0
        gamma_G = 2 * a * math.sqrt(p * (1 - p) * float(np.sum(np.tanh(s * h / a) ** 2)))
    elif gamma_G is None:
        gamma_G = 0.5
    if w1 is None and gamma_G > 0:
        if n < 2 or K == 0:
            why = "n >= 2 and planted >= 1" if n < 2 else "planted >= 1 (or d_v >= 1)"
            validate(gamma_G, "gamma_G", f"{OWNER} without {why}", Interval(float, 0.0, 0.0))
        top = 2.0 * a * math.sqrt(p * (1 - p) * K)
        validate(
            gamma_G,
            "gamma_G",
            f"{OWNER} with n={n}, planted={K}, scale={a:g} (sup 2 a sqrt(p(1-p) planted))",
            Interval(float, 0.0, top * (1 - 1e-9), closed="left"),
        )

    def gg(s):
        return 4 * p * (1 - p) * a * a * float(np.sum(np.tanh(s * h / a) ** 2))

    if w1 is not None:
        pass  # s set from w1 above
    elif gamma_G > 0:
        hi = 1.0
        while gg(hi) < gamma_G**2:
            hi *= 2.0
        s = optimize.brentq(lambda x: gg(x) - gamma_G**2, 0.0, hi, xtol=1e-15, rtol=1e-15)
    else:
        s = 0.0
    shift = s * h
    rng = np.random.default_rng([seed, 0x10C0])
    c0 = rng.standard_normal(d)
    C = np.stack([c0 + shift, c0 - shift])
    groups = np.where(np.arange(n) < n_plus, 0, 1).astype(np.int64)
    data = LogcoshData(
        np.ascontiguousarray(C[:, :d_u]),
        np.ascontiguousarray(C[:, d_u:]),
        groups,
        np.array([a]),
    )
    delta2 = 4 * p * (1 - p) * a * a * float(np.sum(np.tanh(shift[:d_u] / a) ** 2))
    # inf over (u, V): each v_i at its own centre (0), the shared u at the two-group minimum.
    F_low, t_low = _F_low(shift[:d_u], a, p)
    u_low = c0[:d_u] + t_low
    V_low = C[groups, d_u:].copy()
    witnesses = {
        "L_u": (0, C[0, :d_u].copy(), C[0, d_u:].copy()),
        "L_v": (0, C[0, :d_u].copy(), C[0, d_u:].copy()),
        "delta": (c0[:d_u].copy(), C[groups, d_u:].copy()),
        "F_low": (u_low, V_low),
    }
    constants = Constants(
        L_u=1.0,
        L_v=1.0 if d_v > 0 else 0.0,
        L_uv=0.0,
        L_vu=0.0,
        sigma_u=noise_u,
        sigma_v=noise_v,
        delta=math.sqrt(delta2),
        rho=0.0,
        F_low=F_low,
        kind={k: "exact" for k in ("L_u", "L_v", "L_uv", "L_vu", "sigma_u", "sigma_v")}
        | {"delta": "exact", "rho": "exact", "F_low": "exact"},
        notes={
            "L_u": "sup phi'' = 1 at t = 0, attained at u = c_i",
            "delta": "4 p (1-p) a^2 sum_{j in u} tanh^2(s_j/a), attained at u = c_0",
            "F_low": "sum_j min_t of the two-group 1-D marginals (convex, Brent)",
        },
    )

    def init(seed_):
        g = np.random.default_rng([seed_, 0x1C05])
        return c0[:d_u] + g.standard_normal(d_u), c0[d_u:] + g.standard_normal((n, d_v))

    return Problem(
        name="logcosh",
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
            scale=scale,
            gamma_G=gamma_G if w1 is None else None,
            w1=w1,
            planted=K,
            decay=decay,
            noise_u=noise_u,
            noise_v=noise_v,
            seed=seed,
        ),
        noise_u=noise_u,
        noise_v=noise_v,
        description="log-cosh point masses (Per-FedAvg's assumptions, planted personal part)",
        witnesses=witnesses,
    )


# ---------------------------------------------------------------------------------------------
# Per-FedAvg's constants (docs/references.md#fallah2020-assumptions; all exact here)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerFedAvgConstants:
    """The constants of Per-FedAvg's assumptions for one ``logcosh`` problem (see
    :func:`logcosh`'s docstring for the derivations).

    Attributes
    ----------
    L, B, rho_H, gamma_G, gamma_H : float
        Smoothness, gradient bound, Hessian Lipschitz constant, gradient and Hessian
        dissimilarities (all exact: the suprema).
    sigma_G, sigma_H : float
        Gradient noise (``sqrt(noise_u^2 + noise_v^2)``, additive) and Hessian noise (0: the
        simulators add no Hessian noise).
    W1_rms, TV_rms : float
        Root mean square over devices of ``W1(p_i, pbar)`` and ``TV(p_i, pbar)``.
    shift : numpy.ndarray
        ``s h``, the half-distance between the groups per coordinate of ``w``.
    p : float
        Weight of group ``+``.
    witnesses : dict
        ``"gamma_G"``: the point ``w`` attaining it; ``"gamma_H"``: ``w`` attaining it.
    """

    L: float
    B: float
    rho_H: float
    gamma_G: float
    gamma_H: float
    sigma_G: float
    sigma_H: float
    W1_rms: float
    TV_rms: float
    shift: np.ndarray
    p: float
    witnesses: dict = field(default_factory=dict)

    def values(self) -> dict:
        """The scalar constants by their theory symbol names."""
        return {
            k: getattr(self, k)
            for k in ("L", "B", "rho_H", "gamma_G", "gamma_H", "sigma_G", "sigma_H")
        }


def _check_family(problem) -> None:
    if getattr(problem, "name", None) != "logcosh" or not isinstance(problem.data, LogcoshData):
        raise ValueError(
            f"The 'problem' parameter must be a 'logcosh' problem (synthetic.make('logcosh')). "
            f"Got {getattr(problem, 'name', problem)!r}."
        )


def perfedavg_constants(problem) -> PerFedAvgConstants:
    """Per-FedAvg's constants of a ``logcosh`` problem (exact; derivations in :func:`logcosh`)."""
    _check_family(problem)
    cu, cv, g, par = problem.data
    a = float(par[0])
    C = np.concatenate([cu, cv], axis=1)
    shift = 0.5 * (C[0] - C[1])
    c0 = 0.5 * (C[0] + C[1])
    d = C.shape[1]
    n = problem.n
    p = float(np.mean(g == 0))
    gG2 = 4 * p * (1 - p) * a * a * float(np.sum(np.tanh(shift / a) ** 2))
    gH2, j, t = _gamma_H_sq(shift, a, p)
    wH = c0.copy()
    if j >= 0:
        wH[j] += t
    norm_h = float(np.linalg.norm(2 * shift))
    return PerFedAvgConstants(
        L=1.0,
        B=a * math.sqrt(d),
        rho_H=RHO_FACTOR / a,
        gamma_G=math.sqrt(gG2),
        gamma_H=math.sqrt(gH2),
        sigma_G=math.hypot(problem.noise_u, problem.noise_v),
        sigma_H=0.0,
        W1_rms=norm_h * math.sqrt(p * (1 - p)) if n > 1 else 0.0,
        TV_rms=math.sqrt(p * (1 - p)) if np.any(shift != 0) else 0.0,
        shift=shift,
        p=p,
        witnesses={"gamma_G": c0.copy(), "gamma_H": wH},
    )


def _psi1(t, a, alpha):
    """``psi'(t)``, ``psi(t) = phi(t - alpha phi'(t))``: ``(1 - alpha phi''(t)) phi'(t - alpha
    phi'(t))`` (chain rule, docs/references.md#fallah2020-objective, one coordinate)."""
    return (1 - alpha * d2phi(t, a)) * dphi(t - alpha * dphi(t, a), a)


def _psi2(t, a, alpha):
    """``psi''(t) = -alpha phi'''(t) phi'(y) + (1 - alpha phi''(t))^2 phi''(y)``, ``y = t -
    alpha phi'(t)``."""
    y = t - alpha * dphi(t, a)
    return -alpha * d3phi(t, a) * dphi(y, a) + (1 - alpha * d2phi(t, a)) ** 2 * d2phi(y, a)


def meta_exact(problem, alpha: float) -> dict[str, float]:
    """Exact constants of Per-FedAvg's meta-objective ``F~_i(w) = f_i(w - alpha grad f_i(w))`` on
    a ``logcosh`` problem (1-D maximisations; the meta-objective is separable like ``f_i``).

    ``F~_i(w) = sum_j psi(w_j - c_ij)`` with ``psi(t) = phi(t - alpha phi'(t))``, so its Hessian is
    ``diag(psi''(w_j - c_ij))``.

    Returns
    -------
    dict
        ``L_F = sup_t |psi''(t)|`` (exact smoothness of every ``F~_i``); ``grad_F_max = sqrt(d)
        sup_t |psi'(t)|`` (exact ``sup ||grad F~_i||``); ``gamma_F_sq = sum_j sup_t p (1-p)
        (psi'(t - s_j) - psi'(t + s_j))^2`` (exact meta-gradient dissimilarity).
    """
    _check_family(problem)
    validate(alpha, "alpha", "meta_exact", Interval(float, 0.0, 1.0, closed="right"))
    pc = perfedavg_constants(problem)
    a = float(problem.data.par[0])
    span = 30.0 * a
    L_F, _ = _sup_1d(lambda t: np.abs(_psi2(t, a, alpha)), -span, span, 20001)
    g1, _ = _sup_1d(lambda t: np.abs(_psi1(t, a, alpha)), -span, span, 20001)
    gF2 = 0.0
    for sj in np.unique(pc.shift[pc.shift > 0]):
        val, _ = _sup_1d(
            lambda t, sj=sj: (_psi1(t - sj, a, alpha) - _psi1(t + sj, a, alpha)) ** 2,
            -sj - span,
            sj + span,
            20001,
        )
        gF2 += pc.p * (1 - pc.p) * val * int(np.sum(pc.shift == sj))
    d = pc.shift.size
    return {"L_F": L_F, "grad_F_max": math.sqrt(d) * g1, "gamma_F_sq": gF2}
