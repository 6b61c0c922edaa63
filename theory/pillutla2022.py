"""FedAlt and FedSim bounds of Pillutla, Malik, Mohamed, Rabbat, Sanjabi, Xiao (ICML 2022).

"Federated Learning with Partial Model Personalization", arXiv 2204.03809. Everything here is
tagged with its provenance (docs/references.md#provenance; the paper's items are under
docs/references.md#pillutla2022):

* **verified** -- the theorem's *shape* ``sqrt(sigma_1^2/T) + (sigma~_1^2/T)^{2/3} + O(1/T)``
  with variances linear in ``sigma_u^2, sigma_v^2, delta^2`` (FLOW talk slide 35); the
  FedAlt-vs-FedSim condition :data:`BOXED_CONDITION` and its ``(1+chi^2)^{1/2}`` factor
  (slide 40); the slide definition ``chi^2 = L_uv^2/(L_u L_v)`` (slides 33, 40);
* **unverified (recalled)** -- the main-text form with ``Delta_F0``, the weight ``m/n`` on
  ``Delta_v``, ``Delta_u`` at ``(u^t, V^{t+1})`` for FedAlt, ``chi = max(L_uv, L_vu)/sqrt(L_u
  L_v)``, the ``rho`` term of the diversity assumption, ``gamma_u = eta/(L_u tau_u)``;
* **reconstructed** (in this project, not the paper's text) -- :data:`SIG_ALT1` and
  :data:`SIG_SIM1`, which reproduce the verified condition exactly;
* **not recovered** -- ``sigma^2_{alt,2}``, ``sigma^2_{sim,2}`` (kept as linear combinations with
  symbolic coefficients ``a_alt_u, a_alt_v, a_alt_d, a_sim_*``), every absolute constant (kept as
  ``c_1, c_2, c_3``), ``eta_max``, the ``tau``-dependence.

No number is invented for an unrecovered constant.

This module holds the main-text theorems: the rate template, the step sizes, the tuned step and
rate, :func:`main_bound` and :data:`BOUNDS`. The assumptions A0-A3 and ``chi`` are in
``theory/pillutla2022_assumptions.py``; the verified slide-40 comparison with the reconstructed
variances behind it (:data:`SIG_ALT1`, :data:`SIG_SIM1`, :func:`favoured`) in
``theory/pillutla2022_comparison.py``. Every name is importable from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from partialfed.theory.bound import (
    At,
    Bound,
    Condition,
    Measured,
    Term,
    Uses,
    Where,
    validate_values,
)
from partialfed.theory.pillutla2022_assumptions import (
    ASSUMPTIONS,
    CHI_DEF,
    CHI_SLIDE_DEF,
    Assumption,
    chi_from,
)
from partialfed.theory.pillutla2022_comparison import (
    BOXED_CONDITION,
    SIG_ALT1,
    SIG_SIM1,
    A,
    B,
    Favoured,
    favoured,
)
from partialfed.theory.settings import declare
from partialfed.theory.symbols import (
    Delta_F0,
    L_u,
    L_v,
    T,
    a_alt_d,
    a_alt_u,
    a_alt_v,
    a_sim_d,
    a_sim_u,
    a_sim_v,
    c_1,
    c_2,
    c_3,
    c_4,
    c_5,
    c_6,
    delta,
    eta,
    eta_max,
    gamma_u,
    gamma_v,
    m,
    n,
    sigma_u,
    sigma_v,
    tau,
    tau_u,
    tau_v,
    w_v,
)

__all__ = [
    "Assumption",
    "ASSUMPTIONS",
    "CHI_DEF",
    "CHI_SLIDE_DEF",
    "chi_from",
    "A",
    "B",
    "SIG_ALT1",
    "SIG_SIM1",
    "SIG_ALT2",
    "SIG_SIM2",
    "sig1",
    "sig2",
    "rate_template",
    "BOXED_CONDITION",
    "STEP_SIZES",
    "step_sizes",
    "psi_template",
    "PSI_TERMS",
    "RATE_TERMS",
    "eta_balanced",
    "tuned_rate",
    "main_bound",
    "BOUNDS",
    "Favoured",
    "favoured",
    "SOURCE",
]

SOURCE = "Pillutla et al., Federated Learning with Partial Model Personalization, ICML 2022"

# ---------------------------------------------------------------------------------------------
# Drift variances (docs/references.md#pillutla2022-drift-variances) and the rate template
# ---------------------------------------------------------------------------------------------

SIG_ALT2 = a_alt_u * sigma_u**2 / L_u + a_alt_v * sigma_v**2 / L_v + a_alt_d * delta**2 / L_u
"""sigma^2_{alt,2}: NOT RECOVERED. A linear combination of sigma_u^2, sigma_v^2, delta^2 is
verified (slide 35); the coefficients ``a_alt_*`` are unknown (free constants;
docs/references.md#pillutla2022-drift-variances)."""

SIG_SIM2 = a_sim_u * sigma_u**2 / L_u + a_sim_v * sigma_v**2 / L_v + a_sim_d * delta**2 / L_u
"""sigma^2_{sim,2}: NOT RECOVERED; coefficients ``a_sim_*`` are free constants (slide 35)."""

_ALGOS = ("fedalt", "fedsim")


def _algo(algorithm: str) -> str:
    a = str(algorithm).lower()
    if a not in _ALGOS:
        raise ValueError(
            f"The 'algorithm' parameter must be 'fedalt' or 'fedsim'. Got {algorithm!r}."
        )
    return a


def sig1(algorithm: str) -> sp.Expr:
    """The reconstructed ``T^{-1/2}`` variance (:data:`SIG_ALT1` or :data:`SIG_SIM1`)."""
    return SIG_ALT1 if _algo(algorithm) == "fedalt" else SIG_SIM1


def sig2(algorithm: str) -> sp.Expr:
    """The unrecovered ``T^{-2/3}`` variance template (:data:`SIG_ALT2` or :data:`SIG_SIM2`)."""
    return SIG_ALT2 if _algo(algorithm) == "fedalt" else SIG_SIM2


def rate_template(s1: sp.Expr, s2: sp.Expr) -> sp.Expr:
    """Main-text rate ``c_1 (D s1/T)^{1/2} + c_2 (D^2 s2/T^2)^{1/3} + c_3 D/T``, ``D = Delta_F0``.

    Shape verified (FLOW talk slide 35: ``sqrt(sigma^2/T) + (sigma~^2/T)^{2/3} + O(1/T)``);
    the ``Delta_F0`` form recalled (docs/references.md#pillutla2022-theorem-main);
    ``c_1, c_2, c_3`` unknown. The
    ``1/T`` term's problem-dependent factor is not recovered and is absorbed in ``c_3``.
    """
    return (
        c_1 * sp.sqrt(Delta_F0 * s1 / T)
        + c_2 * sp.cbrt(Delta_F0**2 * s2 / T**2)
        + c_3 * Delta_F0 / T
    )


# ---------------------------------------------------------------------------------------------
# Step sizes (docs/references.md#pillutla2022-step-sizes) and the tuned eta (derived here)
# ---------------------------------------------------------------------------------------------

STEP_SIZES = {
    "fedalt": {gamma_u: eta / (L_u * tau_u), gamma_v: eta / (L_v * tau_v)},
    "fedsim": {gamma_u: eta / (L_u * tau), gamma_v: eta / (L_v * tau)},
}
"""gamma_u = eta/(L_u tau_u), gamma_v = eta/(L_v tau_v) (FedSim: tau) -- unverified, recalled
(docs/references.md#pillutla2022-step-sizes)."""


def step_sizes(algorithm: str, **values: Any) -> dict[str, np.ndarray]:
    """Numeric ``gamma_u, gamma_v`` from ``eta`` by the (recalled) parametrisation.

    Parameters
    ----------
    algorithm : {"fedalt", "fedsim"}
    **values
        ``eta, L_u, L_v`` and ``tau_u, tau_v`` (FedAlt) or ``tau`` (FedSim).

    Returns
    -------
    dict
        ``{"gamma_u": ..., "gamma_v": ...}``.
    """
    rules = STEP_SIZES[_algo(algorithm)]
    out = {}
    for g, expr in rules.items():
        names = sorted(s.name for s in expr.free_symbols)
        missing = [k for k in names if k not in values]
        if missing:
            raise ValueError(f"step_sizes({algorithm!r}) needs a value for {missing[0]!r}.")
        vals = validate_values({k: values[k] for k in names}, owner="step_sizes")
        f = sp.lambdify([sp.Symbol(k, **_assumptions(expr, k)) for k in names], expr, "numpy")
        out[g.name] = np.asarray(f(*(vals[k] for k in names)), dtype=float)
    return out


def _assumptions(expr: sp.Expr, name: str) -> dict:
    (s,) = [s for s in expr.free_symbols if s.name == name]
    return s.assumptions0


def psi_template(algorithm: str) -> sp.Expr:
    """Pre-tuning template ``Psi(eta) = c_4 D/(eta T) + c_5 eta s1 + c_6 eta^2 s2``.

    The usual structure of a local-SGD nonconvex bound in the normalised step ``eta``
    (descent term, noise term, client-drift term), with ``s1, s2`` of :func:`sig1`,
    :func:`sig2` and free constants ``c_4, c_5, c_6``; valid for ``eta <= eta_max`` (not
    recovered). This is a template (reconstructed), not the paper's appendix bound.
    """
    return c_4 * Delta_F0 / (eta * T) + c_5 * eta * sig1(algorithm) + c_6 * eta**2 * sig2(algorithm)


PSI_TERMS = {"descent": c_4, "noise": c_5, "drift": c_6}
"""The terms of :func:`psi_template`, named by the free constant each carries."""

RATE_TERMS = {"noise": c_1, "drift": c_2, "descent": c_3}
"""The terms of :func:`rate_template`, named by the free constant each carries: with the branch
of :func:`eta_balanced` that makes it lead, each is the minimum of the :data:`PSI_TERMS` term of
the same name (and of ``descent``) over ``eta``."""


def eta_balanced(algorithm: str) -> sp.Expr:
    """The ``eta(T)`` balancing the terms of :func:`psi_template` (derived here).

    ``eta = min(eta_max, sqrt(c_4 D/(c_5 s1 T)), (c_4 D/(c_6 s2 T))^{1/3})``: the first
    argument is the admissible range, the second equates the descent and noise terms, the third
    the descent and drift terms.
    """
    s1, s2 = sig1(algorithm), sig2(algorithm)
    return sp.Min(
        eta_max,
        sp.sqrt(c_4 * Delta_F0 / (c_5 * s1 * T)),
        sp.cbrt(c_4 * Delta_F0 / (c_6 * s2 * T)),
    )


def tuned_rate(algorithm: str) -> sp.Expr:
    """Upper bound on ``Psi(eta_balanced)`` (derived here; proof below).

    ``2 sqrt(c_4 c_5 D s1/T) + 2 (c_4^2 c_6 D^2 s2/T^2)^{1/3} + c_4 D/(eta_max T)``.

    Proof: with ``eta* = min(eta_max, eta_1, eta_2)``, ``c_5 eta* s1 <= c_5 eta_1 s1 =
    sqrt(c_4 c_5 D s1/T)`` and ``c_6 eta*^2 s2 <= c_6 eta_2^2 s2 = (c_4^2 c_6 D^2 s2/T^2)^{1/3}``;
    ``c_4 D/(eta* T)`` is the largest of the three values ``c_4 D/(eta T)``, hence at most their
    sum, which is ``c_4 D/(eta_max T)`` plus the two terms just bounded. So the main-text
    template of :func:`rate_template` holds with ``c_1 = 2 sqrt(c_4 c_5)``,
    ``c_2 = 2 (c_4^2 c_6)^{1/3}`` and a ``1/T`` factor ``c_4/eta_max`` -- which is why the
    ``1/T`` term carries a problem-dependent factor.
    """
    s1, s2 = sig1(algorithm), sig2(algorithm)
    return (
        2 * sp.sqrt(c_4 * c_5 * Delta_F0 * s1 / T)
        + 2 * sp.cbrt(c_4**2 * c_6 * Delta_F0**2 * s2 / T**2)
        + c_4 * Delta_F0 / (eta_max * T)
    )


# ---------------------------------------------------------------------------------------------
# Main-text theorems as Bounds (docs/references.md#pillutla2022-theorem-main)
# ---------------------------------------------------------------------------------------------

#: The paper's appendix proofs are not recovered: A0-A3 are stated for all (u, V) and taken to
#: be used anywhere (docs/references.md#pillutla2022-assumptions).
_MAIN_USES = tuple(
    Uses(c, Where.EVERYWHERE, "A0-A3 as the paper states them, for all (u, V); proof not recovered")
    for c in ("L_u", "L_v", "L_uv", "L_vu", "sigma_u", "sigma_v", "delta", "rho", "F_low")
)

_W_V = {"m/n": m / n, "1": sp.Integer(1), "symbol": w_v}


def main_bound(algorithm: str, w_v: str = "m/n", u_point: str | None = None) -> Bound:
    """The main-text FedAlt or FedSim theorem as a :class:`~theory.bound.Bound`.

    ``mean_{t<T} E[ Delta_u/L_u + w_v Delta_v/L_v ] <= c_1 (D s1/T)^{1/2}
    + c_2 (D^2 s2/T^2)^{1/3} + c_3 D/T`` (slide 35 shape;
    docs/references.md#pillutla2022-theorem-main).

    Parameters
    ----------
    algorithm : {"fedalt", "fedsim"}
    w_v : {"m/n", "1", "symbol"}
        Weight on ``Delta_v``: ``m/n`` (default; the paper, recalled, unverified), ``1`` (FLOW
        talk slide 35, verified) or the free symbol ``w_v``.
    u_point : {"next", "current"}, optional
        Where ``Delta_u = ||grad_u F(u^t, .)||^2`` is measured: ``"next"`` = ``V^{t+1}`` (FedAlt
        default; recalled), ``"current"`` = ``V^t`` (FedSim; the slide's form for both).

    Returns
    -------
    Bound
        Provenance ``reconstructed`` (``s1`` is reconstructed; ``s2`` and ``c_*`` unknown).
    """
    algo = _algo(algorithm)
    if w_v not in _W_V:
        raise ValueError(f"The 'w_v' parameter must be one of {list(_W_V)}. Got {w_v!r}.")
    if u_point is None:
        u_point = "next" if algo == "fedalt" else "current"
    if u_point not in ("next", "current"):
        raise ValueError(f"The 'u_point' parameter must be 'next' or 'current'. Got {u_point!r}.")
    at_u = "(u^t, V^{t+1})" if u_point == "next" else "(u^t, V^t)"
    point = At.V_NEXT if u_point == "next" else At.ITERATE
    lhs = Measured(
        (Term("Delta_u", 1 / L_u, at_u, point), Term("Delta_v", _W_V[w_v] / L_v, "(u^t, V^t)")),
        aggregate="mean",
        over="t = 0..T-1",
        description=(
            "Delta_u = ||grad_u F(u, V)||^2 at " + at_u + "; Delta_v = (1/n) sum_i "
            "||grad_v F_i(u^t, v_i^t)||^2; weights 1/L_u and " + str(_W_V[w_v] / L_v) + "."
        ),
    )
    steps = STEP_SIZES[algo]
    conds = [
        Condition("1 <= m <= n", sp.Le(m, n)),
        Condition(
            f"gamma_u = {steps[gamma_u]}, gamma_v = {steps[gamma_v]} (unverified parametrisation)"
        ),
        Condition("eta <= eta_max (eta_max not recovered), eta tuned to T"),
    ]
    if algo == "fedsim":
        conds.append(Condition("tau_u = tau_v = tau (one local-step count)"))
    name = f"{algo}_main" + ("" if w_v == "m/n" else "_w1" if w_v == "1" else "_wsym")
    if u_point == "current" and algo == "fedalt":
        name += "_vt"
    if u_point == "next" and algo == "fedsim":
        name += "_vnext"
    label = "FedAlt" if algo == "fedalt" else "FedSim"
    return Bound(
        name=name,
        rhs=rate_template(sig1(algo), sig2(algo)),
        lhs=lhs,
        conditions=tuple(conds),
        source=(
            f"{SOURCE}, main-text theorem for {label} (numbering not recovered); shape "
            "verified on the FLOW talk (19 Oct 2022) slide 35; Delta_F0 form recalled "
            "(docs/references.md#pillutla2022-theorem-main)"
        ),
        provenance="reconstructed",
        algorithm=algo,
        notes=(
            f"sigma^2_{{{algo[3:]},1}} is RECONSTRUCTED "
            "(docs/references.md#pillutla2022-effective-variances), not the paper's; "
            f"sigma^2_{{{algo[3:]},2}} NOT RECOVERED (coefficients a_{algo[3:]}_u, "
            f"a_{algo[3:]}_v, a_{algo[3:]}_d); c_1, c_2, c_3 unknown absolute constants "
            "(c_3 also absorbs the unrecovered problem-dependent factor of the 1/T term). "
            "Check exponents in T (-1/2, -2/3, -1) and the slide-40 comparison, not values."
        ),
        uses=_MAIN_USES,
    )


BOUNDS: dict[str, Bound] = declare(
    {
        b.name: b
        for b in (
            main_bound("fedalt"),
            main_bound("fedsim"),
            main_bound("fedalt", w_v="1"),
            main_bound("fedsim", w_v="1"),
        )
    }
)
"""Bounds of this module, by name."""
