"""Test objectives of the Split LBI check, with a known KL exponent (derived).

Each :class:`KLObjective` carries what the check needs: the smooth loss ``L`` as a
``grad(w) -> (loss, gradient)`` callable, the critical point ``w_star`` the path converges to,
the KL exponent ``theta`` of the restricted lifted loss there (docs/derivations/split_lbi_kl.md,
eqs. (K11)-(K12)), the Hessian of ``L`` at ``w_star`` (for the exact linear factor, eq. (K13)),
and the Lipschitz constant of ``grad L`` with the region where it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from partialfed._constraints import Array, Interval, validate
from partialfed.theory import split_lbi as T

__all__ = ["KLObjective", "quadratic", "even_power"]


@dataclass(frozen=True, eq=False)
class KLObjective:
    """A smooth loss with a known KL exponent at its critical point.

    Parameters
    ----------
    name : str
    grad : callable
        ``grad(w) -> (L(w), grad L(w))``.
    w_star : float array (d,)
        The critical point of ``L`` the iteration converges to (``grad L(w_star) = 0``).
    theta : sympy number
        KL exponent of the restricted lifted loss at ``(w_star, w_star)`` (derived).
    hessian : float array (d, d)
        Hessian of ``L`` at ``w_star``.
    lip : callable
        ``lip(lo, hi)``: the supremum of ``||hess L||`` over the box ``[lo, hi]`` (``None``
        for both: over all of space, where it is finite).
    region : callable
        ``region(level) -> (lo, hi)``: a box containing ``{W : L(W) <= level}``, or
        ``(None, None)`` when ``lip`` is global. (K5) keeps ``Lbar``, hence ``L``, below its
        initial value, so a run inside the step condition stays in this box; the check verifies
        it on the run.
    lower_bound : float
        ``inf L`` (finite: assumption "bounded_below").
    bounded_level_sets, kl_function : bool
        The theorem's assumptions "level_sets" and "kl" (real-analytic losses are KL).
    source : str
        Where ``theta`` is derived.
    """

    name: str
    grad: Callable
    w_star: np.ndarray
    theta: object
    hessian: np.ndarray
    lip: Callable
    region: Callable
    lower_bound: float
    bounded_level_sets: bool = True
    kl_function: bool = True
    source: str = ""
    notes: str = field(default="", repr=False)

    def __post_init__(self):
        _, g = self.grad(self.w_star)
        if not np.linalg.norm(g) <= 1e-10 * max(1.0, float(np.linalg.norm(self.w_star))):
            raise ValueError(
                f"The 'w_star' of KLObjective {self.name!r} must be a critical point of the "
                f"loss: ||grad L(w_star)|| = {np.linalg.norm(g):.3g}."
            )

    @property
    def d(self) -> int:
        return int(self.w_star.shape[0])


def quadratic(H, c) -> KLObjective:
    """``L(W) = (W - c)^T H (W - c) / 2`` with ``H`` symmetric positive definite: ``theta =
    1/2`` (eq. (K11)), ``Lip = lambda_max(H)`` everywhere, ``w_star = c``."""
    c = validate(c, "c", "quadratic", Array(None))
    if c.ndim != 1:
        raise ValueError("The 'c' parameter of quadratic must be a 1-D array.")
    d = c.shape[0]
    H = validate(H, "H", "quadratic", Array((d, d)))
    if not np.allclose(H, H.T) or np.linalg.eigvalsh(H).min() <= 0:
        raise ValueError("The 'H' parameter of quadratic must be symmetric positive definite.")
    lam_max = float(np.linalg.eigvalsh(H).max())

    def grad(w):
        r = w - c
        g = H @ r
        return 0.5 * float(r @ g), g

    return KLObjective(
        name=f"quadratic d={d}",
        grad=grad,
        w_star=c.copy(),
        theta=T.power_theta(1),
        hessian=H.copy(),
        lip=lambda lo=None, hi=None: lam_max,
        region=lambda level: (None, None),
        lower_bound=0.0,
        source="docs/derivations/split_lbi_kl.md, eq. (K11)",
    )


def even_power(c, m: int) -> KLObjective:
    """``L(W) = sum_j (w_j - c_j)^{2m} / (2m)`` with every ``c_j != 0``: ``theta = 1 - 1/(2m)``
    (eq. (K12)), a zero Hessian at ``w_star = c``. ``grad L`` is Lipschitz only on bounded
    sets: ``lip(lo, hi) = (2m - 1) max_j max_{w in [lo_j, hi_j]} |w - c_j|^{2m-2}``, on the box
    ``|w_j - c_j| <= (2m level)^{1/(2m)}`` that contains ``{L <= level}``."""
    c = validate(c, "c", "even_power", Array(None))
    m = validate(m, "m", "even_power", Interval(int, 2, 10))
    if c.ndim != 1 or np.any(c == 0):
        raise ValueError(
            "The 'c' parameter of even_power must be a 1-D array without zeros (every "
            "coordinate must enter the support, eq. (K12))."
        )
    d = c.shape[0]

    def grad(w):
        r = w - c
        return float(np.sum(r ** (2 * m))) / (2 * m), r ** (2 * m - 1)

    def lip(lo, hi):
        reach = np.maximum(np.abs(np.asarray(lo) - c), np.abs(np.asarray(hi) - c))
        return float((2 * m - 1) * np.max(reach) ** (2 * m - 2))

    def region(level):
        r = (2 * m * max(float(level), 0.0)) ** (1.0 / (2 * m))
        return c - r, c + r

    return KLObjective(
        name=f"even power 2m={2 * m} d={d}",
        grad=grad,
        w_star=c.copy(),
        theta=T.power_theta(m),
        hessian=np.zeros((d, d)),
        lip=lip,
        region=region,
        lower_bound=0.0,
        source="docs/derivations/split_lbi_kl.md, eq. (K12)",
    )
