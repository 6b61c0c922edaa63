"""Per-FedAvg (Fallah, Mokhtari, Ozdaglar, NeurIPS 2020, arXiv 2002.07948).

Everything about the paper's lemmas and Theorem 4.5 is **unverified** (recalled; see
docs/references.md#fallah2020): the recalled lemma numbers are kept, flagged, only to *measure
their looseness* against exact closed forms; Theorem 4.5 is kept with free constants
``c_0..c_4`` (its recalled leading constant 4 is noted, not used). The closed forms on the
shared-Hessian quadratic (docs/references.md#synthetic-shared-hessian-quadratic) are derived
here and exact.

Objective (recalled, the standard MAML one-step form): ``F(w) = (1/n) sum_i F_i(w)`` with
``F_i(w) = f_i(w - alpha grad f_i(w))``; exact gradient by the chain rule
``grad F_i(w) = (I - alpha hess f_i(w)) grad f_i(w - alpha grad f_i(w))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from partialfed.theory import symbols as S
from partialfed.theory.bound import Bound, Condition, Measured, Term, Uses, Where
from partialfed.theory.settings import declare
from partialfed.theory.symbols import (
    L_F,
    B,
    D_h,
    D_in,
    D_o,
    Delta_F0,
    K,
    L,
    alpha,
    beta,
    c_0,
    c_1,
    c_2,
    c_3,
    c_4,
    gamma_F,
    gamma_G,
    gamma_H,
    n,
    r,
    rho_H,
    sigma_F,
    sigma_G,
    sigma_H,
    tau,
)

__all__ = [
    "LemmaConstant",
    "LEMMAS",
    "THEOREM_4_5",
    "BOUNDS",
    "meta_gradient",
    "meta_gradient_estimate",
    "quadratic_meta_hessian",
    "quadratic_exact_constants",
    "lemma_looseness",
    "SOURCE",
]

SOURCE = "Fallah, Mokhtari & Ozdaglar, Personalized Federated Learning (Per-FedAvg), NeurIPS 2020"


# ---------------------------------------------------------------------------------------------
# Objective and estimator (docs/references.md#fallah2020-objective)
# ---------------------------------------------------------------------------------------------


def meta_gradient(
    grad: Callable[[np.ndarray], np.ndarray],
    hess: Callable[[np.ndarray], np.ndarray],
    w: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """Exact ``grad F_i(w) = (I - alpha hess f_i(w)) grad f_i(w - alpha grad f_i(w))``.

    Parameters
    ----------
    grad, hess : callable
        ``grad f_i`` and ``hess f_i`` of one user's loss.
    w : numpy.ndarray
        Point, shape ``(d,)``.
    alpha : float
        Inner step size.

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``.
    """
    w = np.asarray(w, dtype=float)
    g_adapted = grad(w - alpha * grad(w))
    return g_adapted - alpha * (hess(w) @ g_adapted)


def meta_gradient_estimate(
    grad_D: Callable[[np.ndarray], np.ndarray],
    grad_Dp: Callable[[np.ndarray], np.ndarray],
    hess_Dpp: Callable[[np.ndarray], np.ndarray],
    w: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """Stochastic estimator with three independent batches D, D', D'' (recalled).

    ``(I - alpha hess~ f_i(w, D'')) grad~ f_i(w - alpha grad~ f_i(w, D), D')``
    (docs/references.md#fallah2020-objective).

    Parameters
    ----------
    grad_D, grad_Dp : callable
        Minibatch gradients on batches D and D'.
    hess_Dpp : callable
        Minibatch Hessian on batch D''.
    w : numpy.ndarray
    alpha : float

    Returns
    -------
    numpy.ndarray
    """
    w = np.asarray(w, dtype=float)
    g = grad_Dp(w - alpha * grad_D(w))
    return g - alpha * (hess_Dpp(w) @ g)


# ---------------------------------------------------------------------------------------------
# Lemma constants (docs/references.md#fallah2020-lemmas) -- UNVERIFIED, recalled numbers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LemmaConstant:
    """A constant of a lemma: ``exact quantity <= expr``.

    Parameters
    ----------
    name : str
        Symbol it bounds, e.g. ``"L_F"``.
    expr : sympy.Expr
        The lemma's expression.
    statement : str
        What is bounded.
    provenance : str
        ``"unverified"`` for recalled numbers.
    source : str
    """

    name: str
    expr: sp.Expr
    statement: str
    provenance: str
    source: str


LEMMAS: dict[str, LemmaConstant] = {
    c.name: c
    for c in [
        LemmaConstant(
            "L_F",
            4 * L + alpha * rho_H * B,
            "F_i is L_F-smooth for alpha in (0, 1/L]",
            "unverified",
            f"{SOURCE}, Lemma 4.2 (recalled; docs/references.md#fallah2020-lemmas)",
        ),
        LemmaConstant(
            "bias",
            2 * alpha * L * sigma_G / sp.sqrt(D_in),
            "||E grad~F_i(w) - grad F_i(w)|| <= bias",
            "unverified",
            f"{SOURCE}, Lemma 4.3 (recalled; docs/references.md#fallah2020-lemmas)",
        ),
        LemmaConstant(
            "sigma_F_sq",
            12
            * (B**2 + sigma_G**2 * (1 / D_o + (alpha * L) ** 2 / D_in))
            * (1 + sigma_H**2 * alpha**2 / (4 * D_h))
            - 12 * B**2,
            "E||grad~F_i(w) - grad F_i(w)||^2 <= sigma_F^2",
            "unverified",
            f"{SOURCE}, Lemma 4.3 (recalled; docs/references.md#fallah2020-lemmas)",
        ),
        LemmaConstant(
            "gamma_F_sq",
            3 * B**2 * alpha**2 * gamma_H**2 + 192 * gamma_G**2,
            "(1/n) sum_i ||grad F_i(w) - grad F(w)||^2 <= gamma_F^2",
            "unverified",
            f"{SOURCE}, Lemma 4.4 (recalled; docs/references.md#fallah2020-lemmas)",
        ),
    ]
}
"""Recalled lemma constants of Per-FedAvg (UNVERIFIED; check against arXiv 2002.07948)."""

# ---------------------------------------------------------------------------------------------
# Theorem 4.5 (docs/references.md#fallah2020-theorem) -- structure recalled, constants free
# ---------------------------------------------------------------------------------------------

THEOREM_4_5 = Bound(
    name="perfedavg_thm45",
    rhs=c_0 * Delta_F0 / (beta * tau * K)
    + c_1 * beta * L_F * sigma_F**2 / (r * n)
    + c_2 * beta * L_F * gamma_F**2 * (1 - r) / (r * n)
    + c_3 * beta**2 * tau**2 * L_F**2 * (sigma_F**2 + gamma_F**2)
    + c_4 * alpha**2 * L**2 * sigma_G**2 / D_in,
    lhs=Measured(
        (Term("grad_sq", sp.Integer(1), "(wbar_{k+1,t})"),),
        aggregate="mean",
        over="k = 0..K-1, t = 0..tau-1",
        description=(
            "average over rounds k and local steps t of E||grad F(wbar_{k+1,t})||^2, wbar the "
            "average over all agents of the local iterates (F the Per-FedAvg meta-objective)"
        ),
    ),
    conditions=(
        Condition("alpha <= 1/L", sp.Le(alpha, 1 / L)),
        Condition("beta <= 1/(10 tau L_F)", sp.Le(beta, 1 / (10 * tau * L_F))),
        Condition("r <= 1", sp.Le(r, 1)),
    ),
    source=f"{SOURCE}, Theorem 4.5 (recalled structure; docs/references.md#fallah2020-theorem)",
    provenance="reconstructed",
    algorithm="perfedavg",
    notes=(
        "UNVERIFIED: recalled structure only. Terms: descent (recalled constant c_0 = 4), "
        "variance reduced by the r n participating agents, sampling/heterogeneity (the factor "
        "(1 - r)/(r n) is a placeholder for the recalled 'without-replacement factor in r and "
        "n'), client drift, non-vanishing bias (square of Lemma 4.3's bias). L_F, sigma_F, "
        "gamma_F from the lemmas (LEMMAS) or exact (quadratic_exact_constants)."
    ),
    uses=tuple(
        Uses(
            c,
            Where.EVERYWHERE,
            "recalled assumptions, for all w (docs/references.md#fallah2020-assumptions)",
        )
        for c in ("L", "B", "rho_H", "sigma_G", "sigma_H", "gamma_G", "gamma_H", "F_low")
    ),
)
"""Per-FedAvg Theorem 4.5 with free constants ``c_0..c_4`` (recalled structure, unverified)."""

BOUNDS: dict[str, Bound] = declare({THEOREM_4_5.name: THEOREM_4_5})
THEOREM_4_5 = BOUNDS[THEOREM_4_5.name]  # with its setting (theory/settings.py)
"""Bounds of this module, by name."""

# ---------------------------------------------------------------------------------------------
# Exact closed forms (docs/references.md#synthetic-shared-hessian-quadratic; derived)
# ---------------------------------------------------------------------------------------------


def quadratic_meta_hessian(A: np.ndarray, alpha: float) -> np.ndarray:
    """``A_alpha = (I - alpha A) A (I - alpha A)``, the Hessian of every meta-objective F_i.

    For ``f_i(x) = (1/2)(x - c_i)^T A (x - c_i)``: ``grad f_i(x) = A(x - c_i)``, the adapted
    point is ``x - c_i - alpha A (x - c_i) = (I - alpha A)(x - c_i) + c_i``, so
    ``F_i(w) = (1/2)(w - c_i)^T (I - alpha A) A (I - alpha A)(w - c_i)`` (A symmetric, so the
    factors commute).

    Parameters
    ----------
    A : numpy.ndarray
        Symmetric PSD matrix, shape ``(d, d)``.
    alpha : float

    Returns
    -------
    numpy.ndarray
    """
    A = np.asarray(A, dtype=float)
    M = np.eye(A.shape[0]) - alpha * A
    return M @ A @ M


def quadratic_exact_constants(A: np.ndarray, C: np.ndarray, alpha: float) -> dict[str, float]:
    """Exact Per-FedAvg constants on ``f_i(x) = (1/2)(x - c_i)^T A (x - c_i)``.

    Closed forms of docs/references.md#synthetic-shared-hessian-quadratic (derived, exact).

    Parameters
    ----------
    A : numpy.ndarray
        Shared symmetric PSD Hessian, shape ``(d, d)``.
    C : numpy.ndarray
        Centres ``c_i``, shape ``(n, d)``.
    alpha : float
        Inner step size.

    Returns
    -------
    dict
        ``L = lambda_max(A)``; ``L_F = max_j lambda_j (1 - alpha lambda_j)^2`` (exact smoothness
        of F_i); ``gamma_G_sq = (1/n) sum_i ||A(c_i - c_bar)||^2`` (attained everywhere);
        ``gamma_F_sq = (1/n) sum_i ||A_alpha (c_i - c_bar)||^2`` (attained everywhere);
        ``gamma_H = 0`` and ``rho_H = 0`` (constant shared Hessian); ``F_star`` the minimum of
        the meta-objective ``F`` (at ``c_bar``).
    """
    A = np.asarray(A, dtype=float)
    C = np.atleast_2d(np.asarray(C, dtype=float))
    lam = np.linalg.eigvalsh(A)
    Aa = quadratic_meta_hessian(A, alpha)
    D = C - C.mean(axis=0)
    return {
        "L": float(lam.max()),
        "L_F": float(np.max(np.abs(lam * (1 - alpha * lam) ** 2))),
        "gamma_G_sq": float(np.mean(np.sum((D @ A) ** 2, axis=1))),
        "gamma_F_sq": float(np.mean(np.sum((D @ Aa) ** 2, axis=1))),
        "gamma_H": 0.0,
        "rho_H": 0.0,
        "F_star": float(0.5 * np.mean(np.einsum("id,de,ie->i", D, Aa, D))),
    }


def lemma_looseness(
    A: np.ndarray, C: np.ndarray, alpha: float, B: float | None = None
) -> dict[str, float]:
    """Ratio (recalled lemma value)/(exact value) on the shared-Hessian quadratic.

    Lemma 4.2's ``4L + alpha rho B`` and Lemma 4.4's ``3 B^2 alpha^2 gamma_H^2 + 192
    gamma_G^2`` are evaluated with the exact ``L``, ``gamma_G`` and ``rho_H = gamma_H = 0``
    (so ``B`` does not enter; it is accepted for other families). Ratios >= 1 if the recalled
    lemmas hold here; their size is the looseness.

    Parameters
    ----------
    A, C, alpha
        As in :func:`quadratic_exact_constants`.
    B : float, optional
        Gradient bound on the region of interest (unused when ``rho_H = gamma_H = 0``).

    Returns
    -------
    dict
        ``{"L_F": ratio, "gamma_F_sq": ratio}`` (``inf`` where the exact value is 0).
    """
    ex = quadratic_exact_constants(A, C, alpha)
    b = 0.0 if B is None else float(B)
    vals = {
        S.L: ex["L"],
        S.alpha: float(alpha),
        S.rho_H: 0.0,
        S.gamma_H: 0.0,
        S.gamma_G: np.sqrt(ex["gamma_G_sq"]),
        S.B: b,
    }
    lf = float(LEMMAS["L_F"].expr.subs(vals))
    gf = float(LEMMAS["gamma_F_sq"].expr.subs(vals))

    def ratio(num, den):
        return float("inf") if den == 0 else num / den

    return {"L_F": ratio(lf, ex["L_F"]), "gamma_F_sq": ratio(gf, ex["gamma_F_sq"])}
