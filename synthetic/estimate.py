"""Numerical estimates of the constants of any ``Problem``.

``estimate_constants`` measures what a family's docstring derives: Lipschitz ratios of the
partial gradients (sampled pairs plus finite-difference power iteration), the variance of the
stochastic oracle (the simulators' noise model: additive ``N(0, noise^2/d I)`` plus
with-replacement minibatches), the gradient diversity and a lower-value search. Every number
it returns is an observed quantity, so each is a lower bound on the true supremum (an upper
bound on the true infimum for ``F_low``), never a guarantee: kind ``estimate``.

A user's own objective becomes a ``Problem`` through ``synthetic.custom``
(``synthetic/_custom.py``), which calls the estimates of this module when no constants are given.
"""

from __future__ import annotations

import math

import numpy as np

from partialfed._constraints import Interval, validate_params
from partialfed.synthetic import _kernels as _metric_kernels
from partialfed.synthetic._problem import CONSTANT_NAMES, Constants, Problem
from partialfed.synthetic._progress import Stages, wanted

__all__ = ["estimate_constants", "local_lipschitz"]

_OWNER = "synthetic.estimate_constants"


class _Oracle:
    """Batched gradient and loss evaluation through the problem's specialised kernels."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.k = problem.kernels(_metric_kernels)

    def grads(self, I, U, V, IDX=None):
        R = I.shape[0]
        if IDX is None:
            IDX = np.empty((R, 0), dtype=np.int64)
        GU = np.empty((R, self.p.d_u))
        GV = np.empty((R, self.p.d_v))
        self.k.point_gradients(
            self.p.data,
            np.ascontiguousarray(I, dtype=np.int64),
            np.ascontiguousarray(U, dtype=np.float64),
            np.ascontiguousarray(V, dtype=np.float64),
            np.ascontiguousarray(IDX, dtype=np.int64),
            GU,
            GV,
            True,
        )
        return GU, GV

    def population(self, u, V):
        g = np.empty(self.p.d_u)
        GV = np.empty((self.p.n, self.p.d_v))
        F = self.k.population_gradients(self.p.data, u, V, g, GV, True)
        return F, g, GV


def _warm_up(orc: _Oracle, problem: Problem) -> None:
    """Call every kernel once at the initial point, so compiling is a stage of its own."""
    u0, V0 = problem.init(0)
    orc.grads(np.zeros(1, dtype=np.int64), u0[None, :], V0[:1])
    orc.population(u0, V0)
    problem._metrics(u0, V0)


def _unit_rows(rng, R, d):
    h = rng.standard_normal((R, d))
    norm = np.linalg.norm(h, axis=1, keepdims=True)
    return h / np.where(norm > 0, norm, 1.0)


def _norms(x):
    return np.linalg.norm(x, axis=1) if x.shape[1] else np.zeros(x.shape[0])


def local_lipschitz(problem: Problem, I, U, V, steps: int = 30, eps: float = 1e-4, seed: int = 0):
    """Largest observed Lipschitz ratios near the points ``(I[r], U[r], V[r])``.

    Power iteration with central finite differences: ``h <- (g(x + eps h) - g(x - eps h)) /
    (2 eps)`` converges to the top eigenvector (``L_u``, ``L_v``) or singular vectors (``L_uv``,
    ``L_vu``, alternating between the blocks) of the Hessian blocks at each point. Every
    reported number is the ratio ``||g(x + eps h) - g(x - eps h)|| / ||2 eps h||`` of an actual
    pair of points, so it never exceeds the true constant.

    Returns
    -------
    dict
        ``'L_u', 'L_v', 'L_uv', 'L_vu'`` -> arrays of shape ``(R,)``, the best ratio per point.
    """
    orc = _Oracle(problem)
    I = np.asarray(I, dtype=np.int64)
    U = np.atleast_2d(np.asarray(U, dtype=np.float64))
    V = np.atleast_2d(np.asarray(V, dtype=np.float64)).reshape(I.shape[0], problem.d_v)
    R = I.shape[0]
    rng = np.random.default_rng([seed, 0x11])
    out = {name: np.zeros(R) for name in ("L_u", "L_v", "L_uv", "L_vu")}
    has_v = problem.d_v > 0

    def step(h, block, which):
        """Difference of block ``which`` of the gradient along ``h`` in ``block``; ratio."""
        Up, Um, Vp, Vm = U, U, V, V
        if block == "u":
            Up, Um = U + eps * h, U - eps * h
        else:
            Vp, Vm = V + eps * h, V - eps * h
        gp = orc.grads(I, Up, Vp)
        gm = orc.grads(I, Um, Vm)
        diff = (gp[which] - gm[which]) / (2 * eps)
        return diff, _norms(diff) / np.maximum(_norms(h), 1e-300)

    hu = _unit_rows(rng, R, problem.d_u)
    hv = _unit_rows(rng, R, problem.d_v)
    hx = _unit_rows(rng, R, problem.d_v)
    for _ in range(steps):
        diff, ratio = step(hu, "u", 0)  # H_uu h
        out["L_u"] = np.maximum(out["L_u"], ratio)
        hu = diff / np.maximum(_norms(diff), 1e-300)[:, None]
        if has_v:
            diff, ratio = step(hv, "v", 1)  # H_vv h
            out["L_v"] = np.maximum(out["L_v"], ratio)
            hv = diff / np.maximum(_norms(diff), 1e-300)[:, None]
            gu, ratio = step(hx, "v", 0)  # H_uv h_v: grad_u along v
            out["L_uv"] = np.maximum(out["L_uv"], ratio)
            gu = gu / np.maximum(_norms(gu), 1e-300)[:, None]
            gv, ratio = step(gu, "u", 1)  # H_vu h_u: grad_v along u
            out["L_vu"] = np.maximum(out["L_vu"], ratio)
            hx = gv / np.maximum(_norms(gv), 1e-300)[:, None]
    return out


def _random_points(problem, rng, R, radius):
    """R (device, u, v) rows around the initial point: u0 + radius x, v0_i + radius y."""
    u0, V0 = problem.init(int(rng.integers(0, 2**31)))
    I = rng.integers(0, problem.n, R)
    U = u0[None, :] + radius * _unit_rows(rng, R, problem.d_u) * rng.uniform(0, 1, (R, 1))
    V = V0[I] + radius * _unit_rows(rng, R, problem.d_v) * rng.uniform(0, 1, (R, 1))
    return I, U, V, u0, V0


def _pair_ratios(orc, problem, rng, I, U, V, radius):
    """Max Lipschitz ratios over pairs ``x, x + r h`` with ``r`` log-uniform in the ball."""
    R = I.shape[0]
    r = radius * 10.0 ** rng.uniform(-3, 0, (R, 1))
    hu = _unit_rows(rng, R, problem.d_u) * r
    hv = _unit_rows(rng, R, problem.d_v) * r
    gu0, gv0 = orc.grads(I, U, V)
    gu1, gv1 = orc.grads(I, U + hu, V)
    gu2, gv2 = orc.grads(I, U, V + hv)
    r = r[:, 0]
    res = {"L_u": np.max(_norms(gu1 - gu0) / r), "L_vu": np.max(_norms(gv1 - gv0) / r)}
    if problem.d_v:
        res["L_v"] = np.max(_norms(gv2 - gv0) / r)
        res["L_uv"] = np.max(_norms(gu2 - gu0) / r)
    else:
        res["L_v"] = res["L_uv"] = res["L_vu"] = 0.0
    return res


def _minibatch_variance(orc, problem, rng, I, U, V, draws):
    """Max over points of the Monte-Carlo ``E||g_batch - grad||^2`` (per block)."""
    b = problem.batch
    if b == 0:
        return 0.0, 0.0
    gu, gv = orc.grads(I, U, V)
    R = I.shape[0]
    su = np.zeros(R)
    sv = np.zeros(R)
    sizes = problem.sizes[I]
    for _ in range(draws):
        IDX = np.minimum(
            (rng.uniform(0, 1, (R, b)) * sizes[:, None]).astype(np.int64), sizes[:, None] - 1
        )
        hu, hv = orc.grads(I, U, V, IDX)
        su += _norms(hu - gu) ** 2
        sv += _norms(hv - gv) ** 2
    return float(np.max(su / draws)), float(np.max(sv / draws))


#: What the settings of ``estimate_constants`` accept.
_ESTIMATE_CONSTRAINTS = {
    "n_pairs": [Interval(int, 4, 10**6)],
    "seed": [Interval(int, 0, 2**63 - 1)],
    "radius": [Interval(float, 0.0, 1e6, closed="right")],
    "power_steps": [Interval(int, 0, 1000)],
    "noise_draws": [Interval(int, 1, 10**5)],
    "descent_steps": [Interval(int, 0, 10**6)],
}


def estimate_constants(
    problem: Problem,
    n_pairs: int = 256,
    seed: int = 0,
    radius: float = 1.0,
    power_steps: int = 25,
    noise_draws: int = 64,
    descent_steps: int = 200,
    progress: bool | None = None,
) -> Constants:
    """Estimate every constant of ``problem`` numerically (kind ``estimate``).

    Parameters
    ----------
    problem : Problem
        Any problem (a family's or one from ``custom``).
    n_pairs : int
        Number of sampled (device, point) rows, in [4, 10^6]. Points lie in a ball of radius
        ``radius`` around ``problem.init(.)`` (u and each v_i perturbed by at most ``radius``).
    seed : int
        Seed of the sampling.
    radius : float
        Radius of the sampling ball, > 0.
    power_steps : int
        Finite-difference power-iteration steps per point (``local_lipschitz``), in [0, 1000].
    noise_draws : int
        Minibatches drawn per point for the variance, in [1, 10^5].
    descent_steps : int
        Full-gradient descent steps from the initial point for ``F_low``, in [0, 10^6].
    progress : bool or None
        Show the stages (compiling kernels, Lipschitz ratios, ...) as a tqdm bar on stderr;
        ``None``: only when stderr is a terminal and not in a worker process.

    Returns
    -------
    Constants
        How each value was obtained (``notes``):

        - ``L_*``: max of (a) ratios over random pairs at log-uniform distances in the ball and
          (b) ``local_lipschitz`` at the first ``min(n_pairs, 64)`` points. Lower bounds of the
          true constants on the ball; for quadratics (b) is exact up to rounding.
        - ``sigma_u^2 = problem.noise_u^2 + max_points E||g_batch - grad_u F_i||^2``: the
          additive part is exact by construction, the minibatch part is a Monte-Carlo mean
          (``noise_draws`` batches per point, the simulators' with-replacement sampling).
        - ``rho^2``: least-squares slope (clipped at 0) of the diversity against
          ``||grad_u F||^2`` over sampled population points; ``delta^2`` the largest residual
          ``diversity - rho^2 ||grad_u F||^2``, so the pair covers every sampled point.
        - ``F_low``: the smallest ``F`` seen along ``descent_steps`` of full gradient descent
          (steps ``1/L_u``, ``1/L_v`` of the estimates) and at the sampled points: an *upper*
          bound on ``inf F``.
    """
    stages = Stages(len(_STAGES), "estimate_constants", wanted(progress, _OWNER))
    try:
        return _estimate(
            problem, stages, n_pairs, seed, radius, power_steps, noise_draws, descent_steps
        )
    finally:
        stages.close()


#: The stages of ``estimate_constants``, in order (shown by its progress bar).
_STAGES = (
    "compiling kernels",
    "Lipschitz ratios of random pairs",
    "power iteration",
    "minibatch variance",
    "gradient diversity",
    "gradient descent for F_low",
)


def _estimate(problem, stages, n_pairs, seed, radius, power_steps, noise_draws, descent_steps):
    """``estimate_constants`` reporting its stages to ``stages`` (a ``_progress.Stages``)."""
    if not isinstance(problem, Problem):
        raise TypeError(
            f"The 'problem' parameter of {_OWNER} must be a synthetic.Problem. "
            f"Got {type(problem).__name__}."
        )
    checked = validate_params(
        dict(
            n_pairs=n_pairs,
            seed=seed,
            radius=radius,
            power_steps=power_steps,
            noise_draws=noise_draws,
            descent_steps=descent_steps,
        ),
        _ESTIMATE_CONSTRAINTS,
        _OWNER,
    )
    n_pairs, seed, radius = checked["n_pairs"], checked["seed"], checked["radius"]
    power_steps, noise_draws = checked["power_steps"], checked["noise_draws"]
    descent_steps = checked["descent_steps"]
    rng = np.random.default_rng([seed, 0xE57])
    stages.stage(_STAGES[0])
    orc = _Oracle(problem)
    _warm_up(orc, problem)

    # Smoothness: random pairs + power iteration.
    stages.stage(_STAGES[1])
    I, U, V, u0, V0 = _random_points(problem, rng, n_pairs, radius)
    L = _pair_ratios(orc, problem, rng, I, U, V, radius)
    stages.stage(_STAGES[2])
    if power_steps:
        R = min(n_pairs, 64)
        loc = local_lipschitz(problem, I[:R], U[:R], V[:R], steps=power_steps, seed=seed)
        L = {k: max(float(L[k]), float(loc[k].max())) for k in L}

    # Variance: additive part exact, minibatch part Monte Carlo.
    stages.stage(_STAGES[3])
    R = min(n_pairs, 32)
    mb_u, mb_v = _minibatch_variance(orc, problem, rng, I[:R], U[:R], V[:R], noise_draws)
    sigma_u = math.sqrt(problem.noise_u**2 + mb_u)
    sigma_v = math.sqrt(problem.noise_v**2 + mb_v)

    # Diversity and F: population points in the ball and along gradient descent.
    stages.stage(_STAGES[4])
    D, G, Fs = [], [], []
    n_pop = max(8, min(n_pairs // 4, 64))
    for _ in range(n_pop):
        u = u0 + radius * rng.uniform(0, 1) * _unit_rows(rng, 1, problem.d_u)[0]
        Vp = V0 + radius * rng.uniform(0, 1, (problem.n, 1)) * _unit_rows(
            rng, problem.n, problem.d_v
        )
        F, g, _ = orc.population(u, Vp)
        _, gu2, mean_sq, _ = problem._metrics(u, Vp)
        D.append(max(mean_sq - gu2, 0.0))
        G.append(gu2)
        Fs.append(F)
    stages.stage(_STAGES[5])
    gam_u = 1.0 / L["L_u"] if L["L_u"] > 0 else 1.0
    gam_v = 1.0 / L["L_v"] if L["L_v"] > 0 else 1.0
    u, Vd = u0.copy(), V0.copy()
    for t in range(descent_steps):
        F, g, GV = orc.population(u, Vd)
        if not (np.isfinite(F) and np.all(np.isfinite(g))):
            break
        Fs.append(F)
        if t % max(1, descent_steps // 16) == 0:
            _, gu2, mean_sq, _ = problem._metrics(u, Vd)
            D.append(max(mean_sq - gu2, 0.0))
            G.append(gu2)
        u = u - gam_u * g
        Vd = Vd - gam_v * GV
    D, G = np.array(D), np.array(G)
    if G.size > 1 and np.ptp(G) > 0:
        slope = np.polyfit(G, D, 1)[0]
        rho2 = max(float(slope), 0.0)
    else:
        rho2 = 0.0
    delta2 = max(float(np.max(D - rho2 * G)), 0.0)
    finite_F = [f for f in Fs if np.isfinite(f)]
    F_low = float(min(finite_F)) if finite_F else -math.inf
    if not math.isfinite(F_low):
        F_low = -1e300

    how = f"estimate: n_pairs={n_pairs}, radius={radius:g}, seed={seed}"
    return Constants(
        L_u=float(L["L_u"]),
        L_v=float(L["L_v"]),
        L_uv=float(L["L_uv"]),
        L_vu=float(L["L_vu"]),
        sigma_u=sigma_u,
        sigma_v=sigma_v,
        delta=math.sqrt(delta2),
        rho=math.sqrt(rho2),
        F_low=F_low,
        kind={name: "estimate" for name in CONSTANT_NAMES},
        notes={
            "L_u": f"max Lipschitz ratio over random pairs and FD power iteration ({how})",
            "L_v": "as L_u",
            "L_uv": "as L_u (grad_u along v)",
            "L_vu": "as L_u (grad_v along u)",
            "sigma_u": "additive noise_u^2 (exact) + Monte-Carlo minibatch variance, max over "
            "points",
            "sigma_v": "as sigma_u",
            "delta": f"max over {D.size} population points of diversity - rho^2 ||grad_u F||^2",
            "rho": "least-squares slope of diversity on ||grad_u F||^2, clipped at 0",
            "F_low": f"min F over sampled points and {descent_steps} gradient-descent steps "
            "(an upper bound on inf F)",
        },
    )
