"""The global-convergence theorem of Split LBI (Fu et al. 2020) and the rate classes checked.

What this module stores, each with its provenance (docs/references.md#provenance):

* :data:`THEOREM` -- the theorem as recalled (docs/references.md#fu2020-theorem): under the
  assumptions :data:`ASSUMPTIONS` and the step condition :data:`STEP_RECALLED`, the
  deterministic iteration has finite length and converges to a critical point. **Unverified
  (recalled)**: the paper's text was not available; nothing here is a hard pass/fail constant.
* :data:`STEP_RECALLED` -- ``alpha < 2 / (kappa (Lip + 1/nu))``, unverified (recalled). It is
  *not sufficient* on a quadratic (``tests/theory/test_split_lbi_theory.py``), so the check
  decides "outside assumptions" with the derived condition :data:`STEP_DERIVED`,
  ``alpha < 2 / (kappa (Lip + 2/nu))`` (docs/derivations/split_lbi_kl.md, eq. (K6)).
* :func:`rate_class` -- the rate a KL exponent ``theta`` predicts for ``||x_k - x*||``
  (docs/derivations/split_lbi_kl.md, eqs. (K9)-(K10), from the classical KL rates of
  docs/references.md#attouch2009-rates, recalled): linear for ``theta <= 1/2``, ``k^{-(1 -
  theta)/(2 theta - 1)}`` for ``1/2 < theta < 1``. Derived here for Split LBI after support
  identification, where the iteration is gradient descent on the restricted lifted loss.
* :func:`power_theta` and :func:`linear_rate` -- the exponent of the test objectives and the
  exact linear factor on a quadratic (derived, eqs. (K11)-(K13)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = [
    "kappa",
    "alpha",
    "nu",
    "Lip",
    "theta",
    "Statement",
    "ASSUMPTIONS",
    "THEOREM",
    "STEP_RECALLED",
    "STEP_DERIVED",
    "step_condition_holds",
    "RateClass",
    "rate_class",
    "power_theta",
    "restricted_hessian",
    "linear_rate",
]

# Split LBI's parameters keep the solver's names (simulators.split_lbi): kappa, alpha, nu.
kappa = sp.Symbol("kappa", positive=True)
alpha = sp.Symbol("alpha", positive=True)
nu = sp.Symbol("nu", positive=True)
Lip = sp.Symbol("Lip", positive=True)  # Lipschitz constant of grad L (the smooth loss)
theta = sp.Symbol("theta", positive=True)  # KL exponent

SOURCE = "Fu et al. 2020 (DessiLBI; arXiv 1905.09449)"


@dataclass(frozen=True)
class Statement:
    """One statement of the analysis, with its provenance.

    Parameters
    ----------
    key : str
    statement : str
        Plain text.
    provenance : str
        ``"unverified: recalled"``, ``"verified"``, ``"derived"`` or ``"reconstructed"``
        (docs/references.md#provenance).
    source : str
        Where it comes from (a references.md anchor or a derivation's equation).
    expr : sympy expression or None
        A condition or a formula, where there is one.
    """

    key: str
    statement: str
    provenance: str
    source: str
    expr: object = None


ASSUMPTIONS: dict[str, Statement] = {
    s.key: s
    for s in [
        Statement(
            "smooth",
            "L is continuously differentiable and grad L is Lip-Lipschitz",
            "unverified: recalled",
            f"{SOURCE}, global convergence theorem (docs/references.md#fu2020-theorem)",
        ),
        Statement(
            "bounded_below",
            "L is bounded below",
            "unverified: recalled",
            f"{SOURCE} (docs/references.md#fu2020-theorem)",
        ),
        Statement(
            "level_sets",
            "L has bounded level sets",
            "unverified: recalled",
            f"{SOURCE} (docs/references.md#fu2020-theorem)",
        ),
        Statement(
            "kl",
            "the Lyapunov function of (W, Gamma, g), g in the subdifferential of ||Gamma||_1, "
            "is a Kurdyka-Lojasiewicz function (e.g. L real analytic or semialgebraic)",
            "unverified: recalled",
            f"{SOURCE} (docs/references.md#fu2020-theorem)",
        ),
        Statement(
            "deterministic",
            "exact gradients (the stochastic iteration is not covered)",
            "unverified: recalled",
            f"{SOURCE} (docs/references.md#fu2020-theorem)",
        ),
    ]
}
"""The theorem's assumptions as recalled (docs/references.md#fu2020-theorem)."""

STEP_RECALLED = Statement(
    "step_recalled",
    "constant step 0 < alpha < 2 / (kappa (Lip + 1/nu))",
    "unverified: recalled",
    f"{SOURCE}, global convergence theorem (docs/references.md#fu2020-theorem)",
    sp.StrictLessThan(alpha, 2 / (kappa * (Lip + 1 / nu))),
)
"""The recalled step condition (unverified; insufficient on quadratics, see the module doc)."""

STEP_DERIVED = Statement(
    "step_derived",
    "kappa alpha < 2 / (Lip + 2/nu): sufficient decrease of the lifted loss (the Lipschitz "
    "constant of grad Lbar is at most Lip + 2/nu)",
    "derived",
    "docs/derivations/split_lbi_kl.md, eqs. (K4)-(K6)",
    sp.StrictLessThan(alpha, 2 / (kappa * (Lip + 2 / nu))),
)
"""The derived sufficient-decrease condition (eq. (K6)); the check uses this one."""

THEOREM = Statement(
    "global_convergence",
    "under ASSUMPTIONS and the step condition, (W_k, Gamma_k, g_k) has finite length "
    "(sum_k ||x_{k+1} - x_k|| < inf) and converges to a critical point; no rate is stated "
    "without a KL exponent",
    "unverified: recalled",
    f"{SOURCE}, global convergence theorem (docs/references.md#fu2020-theorem)",
)


def step_condition_holds(statement: Statement, **values) -> bool:
    """Whether a step condition (:data:`STEP_RECALLED` or :data:`STEP_DERIVED`) holds at the
    numbers ``kappa``, ``alpha``, ``nu``, ``Lip``."""
    missing = {"kappa", "alpha", "nu", "Lip"} - set(values)
    if missing:
        raise ValueError(f"step_condition_holds needs values for {sorted(missing)}.")
    subs = {kappa: values["kappa"], alpha: values["alpha"], nu: values["nu"], Lip: values["Lip"]}
    return bool(statement.expr.subs(subs))


@dataclass(frozen=True)
class RateClass:
    """The rate of ``||x_k - x*||`` a KL exponent predicts (eqs. (K9)-(K10)).

    ``kind`` is ``"linear"`` (``||x_k - x*|| <= C q^k``, ``q < 1``) or ``"sublinear"``
    (``||x_k - x*|| <= C k^exponent``, ``exponent = -(1 - theta)/(2 theta - 1) < 0``).
    """

    kind: str
    exponent: object  # sympy number (sublinear) or None
    theta: object
    provenance: str = "derived"
    source: str = "docs/derivations/split_lbi_kl.md, eqs. (K9)-(K10)"


def rate_class(theta_value) -> RateClass:
    """The rate class of ``theta`` in ``(0, 1)`` (eqs. (K9)-(K10)).

    ``theta <= 1/2``: linear; ``1/2 < theta < 1``: sublinear with exponent
    ``-(1 - theta)/(2 theta - 1)``.
    """
    t = sp.nsimplify(theta_value)
    if not (t.is_real and 0 < t < 1):
        raise ValueError(f"The 'theta' parameter of rate_class must be in (0, 1). Got {t}.")
    if t <= sp.Rational(1, 2):
        return RateClass("linear", None, t)
    return RateClass("sublinear", sp.simplify(-(1 - t) / (2 * t - 1)), t)


def power_theta(m: int):
    """KL exponent ``1 - 1/(2m)`` of the restricted lifted loss of ``sum_j (w_j - c_j)^{2m}``
    at ``W = Gamma = c`` (all ``c_j != 0``); ``m = 1`` gives 1/2 (eqs. (K11)-(K12))."""
    if not (isinstance(m, int) and m >= 1):
        raise ValueError(f"The 'm' parameter of power_theta must be an int >= 1. Got {m!r}.")
    return 1 - sp.Rational(1, 2 * m)


def restricted_hessian(H, lifted, support, nu_value) -> np.ndarray:
    """Hessian of the lifted loss restricted to ``Gamma = 0`` off ``support`` (eq. (K8)), in
    the variables ``(W, Gamma_S)``, for a loss with Hessian ``H`` at the limit point."""
    H = np.asarray(H, float)
    d = H.shape[0]
    lifted = np.asarray(lifted, bool)
    support = np.asarray(support, bool) & lifted
    E = np.eye(d)[:, support]
    P = np.diag(lifted.astype(float))
    top = np.hstack([H + P / nu_value, -E / nu_value])
    bottom = np.hstack([-E.T / nu_value, np.eye(int(support.sum())) / nu_value])
    return np.vstack([top, bottom])


def linear_rate(H, lifted, support, kappa_value, alpha_value, nu_value) -> float:
    """``q = max |1 - kappa alpha lambda|`` over the positive eigenvalues ``lambda`` of the
    restricted Hessian (eq. (K13)): the factor per iteration of ``||x_k - x*||`` on a quadratic
    once the support is identified. (A zero eigenvalue, where ``theta > 1/2``, has no linear
    rate: it is left out, so a linear prediction there is a wrong one the check must catch.)"""
    lam = np.linalg.eigvalsh(restricted_hessian(H, lifted, support, nu_value))
    lam = lam[lam > 1e-12 * max(1.0, float(np.max(np.abs(lam))))]
    return float(np.max(np.abs(1 - kappa_value * alpha_value * lam)))
