"""A planted family for "what to personalize": the ``logcosh`` objective with its heterogeneity
moved onto a chosen set ``S`` of coordinates, and any block of coordinates made personal
(docs/references.md#synthetic-logcosh-planted, derived here).

The ``logcosh`` family (``synthetic.logcosh``, docs/references.md#synthetic-logcosh) plants its
heterogeneity on the *last* ``planted`` coordinates of ``w = (u, v)``, which are also the personal
ones. Here the full model ``w`` (``d`` coordinates) is split from the planting:

- the two group centres ``c_±`` of ``synthetic.logcosh(n, d_u = d - K, d_v = K, planted = K,
  ...)`` are taken over all ``d`` coordinates and their columns permuted so that the planted
  coordinate ``r`` places from the end (shift ``s (r + 1)^(-decay)``) lands on ``support[r]``;
- each device gets its own centre ``c_i = c_{g(i)} + jitter xi_i`` with ``xi_i ~ N(0, I_d)``
  (seeded): a background heterogeneity on *every* coordinate that personalization should not
  chase when ``jitter`` is small next to the planted shift;
- for a block ``B`` of ``w``, :meth:`PlantedFamily.problem` is the ``Problem`` whose personal
  coordinates are ``B`` (``v_i = w_B``) and shared ones the rest (``u = w_{not B}``):
  ``F_i(u, v_i) = sum_j phi(w_j - c_ij)``, ``phi(t) = a^2 log cosh(t / a)``, computed by the
  ``logcosh`` kernels (one centre row per device, ``LogcoshData``).

Everything is separable over coordinates, so the optimum of a block is exact (eq. (P1)):

    min_{u, V} F_B(u, V) = sum_{j not in B} min_t (1/n) sum_i phi(t - c_ij)                 (P1)

(a personal coordinate sits at each device's own centre, loss 0; a shared one at the minimiser
of a 1-D convex function, found by Brent's method on its derivative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from partialfed import synthetic
from partialfed._constraints import Interval, validate, validate_args
from partialfed.synthetic._logcosh_objective import LogcoshData, _grad_u, _grad_v, _loss, dphi
from partialfed.synthetic._problem import SEED, Constants, Problem, check_size

__all__ = ["PlantedFamily", "planted_family", "phi", "dphi"]

OWNER = "planted_family"
_LOG2 = math.log(2.0)


def phi(t, a: float) -> np.ndarray:
    """``a^2 log cosh(t/a)`` without overflow (the ``logcosh`` family's ``phi``)."""
    x = np.abs(np.asarray(t, dtype=float) / a)
    return a * a * (x + np.log1p(np.exp(-2.0 * x)) - _LOG2)


@dataclass(frozen=True, eq=False)
class PlantedFamily:
    """Per-device centres with heterogeneity planted on ``support`` (:func:`planted_family`).

    Attributes
    ----------
    centres : float array (n, d)
        ``c_i``, device ``i``'s centre over the full model ``w``.
    support : int array (K,)
        The planted set ``S``, sorted.
    strength : float array (d,)
        The planted half-distance ``s h_j`` between the two groups (0 off ``S``).
    scale : float
        ``a`` of ``phi``.
    knobs : dict
        The knobs it was made with.
    """

    centres: np.ndarray
    support: np.ndarray
    strength: np.ndarray
    scale: float
    knobs: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("centres", "support", "strength"):
            getattr(self, name).setflags(write=False)

    @property
    def n(self) -> int:
        return int(self.centres.shape[0])

    @property
    def d(self) -> int:
        return int(self.centres.shape[1])

    @property
    def planted(self) -> int:
        return int(self.support.size)

    def block(self, block) -> np.ndarray:
        """``block`` checked: distinct coordinates in ``[0, d)``, at least one left shared;
        returned sorted (int64)."""
        arr = np.asarray(block)
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.astype(np.int64)  # no personal coordinate: plain FedAvg's objective
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(
                f"The 'block' parameter of PlantedFamily must be a 1-D sequence of int "
                f"coordinates in [0, {self.d - 1}]. Got {block!r:.60}."
            )
        out = np.unique(arr).astype(np.int64)
        if out.size != arr.size or (out.size and (out[0] < 0 or out[-1] >= self.d)):
            raise ValueError(
                f"The 'block' parameter of PlantedFamily must hold distinct coordinates in "
                f"[0, {self.d - 1}]. Got {arr.tolist()!r:.60}."
            )
        if out.size >= self.d:
            raise ValueError(
                f"The 'block' parameter of PlantedFamily must leave at least one coordinate "
                f"shared (size <= {self.d - 1}). Got size {out.size}."
            )
        return out

    def coordinate_minima(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t_j, m_j)`` per coordinate: the minimiser and minimum of ``(1/n) sum_i
        phi(t - c_ij)`` (1-D convex; Brent on its increasing derivative, eq. (P1))."""
        a = self.scale
        t = np.empty(self.d)
        for j in range(self.d):
            c = self.centres[:, j]
            lo, hi = float(c.min()), float(c.max())
            if hi - lo <= 0.0:
                t[j] = lo
                continue
            t[j] = optimize.brentq(
                lambda x, c=c: float(np.mean(dphi(x - c, a))), lo, hi, xtol=1e-14, rtol=1e-14
            )
        m = np.mean(phi(t[None, :] - self.centres, a), axis=0)
        return t, m

    def shared_optimum(self) -> np.ndarray:
        """The minimiser of ``(1/n) sum_i f_i(w)`` over one shared ``w`` (no personal block:
        FedAvg's fixed point), coordinate by coordinate."""
        return self.coordinate_minima()[0]

    def optimum(self, block) -> float:
        """``min F_B``, eq. (P1), for personal block ``block``."""
        B = self.block(block)
        keep = np.ones(self.d, dtype=bool)
        keep[B] = False
        return float(np.sum(self.coordinate_minima()[1][keep]))

    def best_block(self, size: int | None = None) -> np.ndarray:
        """The block of ``size`` coordinates (default the planted size) with the smallest
        optimum: by eq. (P1), the ``size`` largest ``m_j`` (sorted; ties by index)."""
        k = self.planted if size is None else size
        k = validate(k, "size", "PlantedFamily.best_block", Interval(int, 0, self.d - 1))
        m = self.coordinate_minima()[1]
        return np.sort(np.lexsort((np.arange(self.d), -m))[:k])

    def problem(self, block) -> Problem:
        """The ``Problem`` with personal coordinates ``block`` (``v_i = w_B``) and shared ones
        ``u = w_{not B}`` (see the module docstring).

        Constants (A0-A3, docs/references.md#pillutla2022-assumptions): ``L_u = L_v = 1`` exact
        (``phi'' = 1`` at ``w = c_i``), ``L_uv = L_vu = 0`` exact (separable), ``sigma = 0``
        exact (no noise), ``F_low`` exact (eq. (P1)), ``delta^2 <= sum_{j shared} Var_i(c_ij)``
        certified with ``rho = 0``: ``phi'(t - c)`` is 1-Lipschitz in ``c``, and the variance of a
        1-Lipschitz image is at most the variance (``Var g(X) = E (g(X) - g(X'))^2 / 2``).
        """
        B = self.block(block)
        shared = np.ones(self.d, dtype=bool)
        shared[B] = False
        C = self.centres
        data = LogcoshData(
            np.ascontiguousarray(C[:, shared]),
            np.ascontiguousarray(C[:, B]),
            np.arange(self.n, dtype=np.int64),
            np.array([self.scale]),
        )
        t, m = self.coordinate_minima()
        delta = math.sqrt(float(np.sum(np.var(C[:, shared], axis=0))))
        kinds = {k: "exact" for k in ("L_u", "L_v", "L_uv", "L_vu", "sigma_u", "sigma_v")}
        constants = Constants(
            L_u=1.0,
            L_v=1.0 if B.size else 0.0,
            L_uv=0.0,
            L_vu=0.0,
            sigma_u=0.0,
            sigma_v=0.0,
            delta=delta,
            rho=0.0,
            F_low=float(np.sum(m[shared])),
            kind=kinds | {"delta": "certified", "rho": "certified", "F_low": "exact"},
            notes={
                "delta": "sum over shared j of Var_i(c_ij): phi' is 1-Lipschitz (certified)",
                "F_low": "eq. (P1): 1-D convex minima of the shared coordinates (Brent)",
            },
        )
        cbar = C.mean(axis=0)
        n = self.n

        def init(seed_):
            w0 = cbar + np.random.default_rng([seed_, 0x9E75]).standard_normal(cbar.size)
            return w0[shared].copy(), np.tile(w0[B], (n, 1))

        return Problem(
            name="logcosh_planted",
            n=n,
            d_u=int(shared.sum()),
            d_v=int(B.size),
            data=data,
            loss_fn=_loss,
            grad_u_fn=_grad_u,
            grad_v_fn=_grad_v,
            constants=constants,
            init=init,
            knobs=dict(self.knobs) | {"personal": tuple(B.tolist())},
            description="log-cosh centres, heterogeneity planted on a chosen set, block B personal",
            witnesses={
                "L_u": (0, C[0, shared].copy(), C[0, B].copy()),
                "F_low": (t[shared].copy(), C[:, B].copy()),
            },
        )

    def init_full(self, seed: int) -> np.ndarray:
        """The full starting model ``w_0`` of :meth:`problem`'s ``init(seed)`` (the same for
        every block, so runs with different blocks start from one point)."""
        seed = validate(seed, "seed", "PlantedFamily.init_full", SEED)
        cbar = self.centres.mean(axis=0)
        return cbar + np.random.default_rng([seed, 0x9E75]).standard_normal(cbar.size)


_parameter_constraints = {
    "n": [Interval(int, 2, 10**5)],
    "d": [Interval(int, 2, 10**4)],
    "planted": [Interval(int, 1, lambda p: p["d"] - 1)],
    "scale": [Interval(float, 1e-3, 1e3)],
    "gamma_G": [Interval(float, 0.0, 1e6, closed="neither"), None],
    "w1": [Interval(float, 0.0, 1e6, closed="neither"), None],
    "decay": [Interval(float, 0.0, 10.0)],
    "jitter": [Interval(float, 0.0, 1e3)],
    "seed": [SEED],
}


@validate_args(_parameter_constraints, OWNER)
def planted_family(
    *,
    n: int = 20,
    d: int = 20,
    planted: int = 4,
    support=None,
    scale: float = 1.0,
    gamma_G: float | None = None,
    w1: float | None = None,
    decay: float = 0.0,
    jitter: float = 0.1,
    seed: int = 0,
) -> PlantedFamily:
    """Centres with ``logcosh``'s planted heterogeneity on the set ``support`` (module docstring).

    Parameters
    ----------
    n, d : int
        Devices (>= 2) and coordinates of the full model ``w`` (>= 2).
    planted : int
        ``K = |S|``, in ``[1, d - 1]``.
    support : sequence of int, optional
        ``S`` itself (``K`` distinct coordinates in ``[0, d)``; its first entry gets the largest
        shift when ``decay > 0``). Default: ``K`` coordinates drawn uniformly (seeded by
        ``seed``), so the planted block is not the last one.
    scale, gamma_G, w1, decay, seed :
        As for ``synthetic.logcosh`` (with ``d_u = d - K``, ``d_v = K``, ``planted = K``):
        ``gamma_G`` is the gradient dissimilarity of the two groups' centres (before the
        jitter; default 1.0 unless ``w1`` is given).
    jitter : float
        Standard deviation of each device's own offset ``xi_i`` on every coordinate, ``>= 0``.

    Returns
    -------
    PlantedFamily
    """
    check_size(n, d, OWNER)  # the centres and the offsets are n x d floats each
    if support is not None:
        arr = np.asarray(support)
        ok = arr.ndim == 1 and arr.dtype.kind in "iu" and arr.size == planted
        if ok:
            ok = np.unique(arr).size == arr.size and arr.min() >= 0 and arr.max() < d
        if not ok:
            raise ValueError(
                f"The 'support' parameter of {OWNER} must be {planted} (= planted) distinct int "
                f"coordinates in [0, {d - 1}] or None. Got {support!r:.60}."
            )
        order = arr.astype(np.int64)
    else:
        order = np.random.default_rng([seed, 0x5E7]).permutation(d)[:planted].astype(np.int64)
    if gamma_G is None and w1 is None:
        gamma_G = 1.0
    base = synthetic.make(
        "logcosh",
        n=n,
        d_u=d - planted,
        d_v=planted,
        scale=scale,
        gamma_G=gamma_G,
        w1=w1,
        planted=planted,
        decay=decay,
        seed=seed,
    )
    C2 = np.concatenate([base.data.cu, base.data.cv], axis=1)  # (2, d), planted at the end
    perm = np.empty(d, dtype=np.int64)  # new coordinate perm[old]
    perm[d - 1 - np.arange(planted)] = order  # r places from the end -> order[r]
    rest = np.setdiff1d(np.arange(d), order)
    perm[: d - planted] = rest
    full = np.empty_like(C2)
    full[:, perm] = C2
    xi = np.random.default_rng([seed, 0x717]).standard_normal((n, d))
    centres = full[base.data.g] + jitter * xi
    strength = 0.5 * np.abs(full[0] - full[1])
    knobs = dict(base.knobs)
    for k in ("d_u", "d_v", "noise_u", "noise_v"):
        knobs.pop(k)
    knobs |= {"d": d, "support": tuple(np.sort(order).tolist()), "jitter": jitter}
    return PlantedFamily(
        centres=np.ascontiguousarray(centres),
        support=np.sort(order),
        strength=strength,
        scale=scale,
        knobs=knobs,
    )
