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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import sympy as sp
from partialfed.theory.bound import At, Bound, Condition, Measured, Term, validate_values
from partialfed.theory.symbols import (
    Delta_F0,
    L_u,
    L_uv,
    L_v,
    L_vu,
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
    chi,
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
# Assumptions A0-A3 as data (docs/references.md#pillutla2022-assumptions)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    """One assumption of the analysis.

    Parameters
    ----------
    key : str
        Short key, e.g. ``"A1"``.
    title : str
        Its name.
    constants : tuple of str
        The symbols it introduces.
    definition : str
        The statement, in plain text.
    algorithms : tuple of str
        Algorithms whose theorems need it.
    provenance : str
        ``"verified"``, ``"unverified"`` (recalled), ``"reconstructed"`` or a mix, with the
        source in ``source``.
    source : str
        Where it was read.
    """

    key: str
    title: str
    constants: tuple[str, ...]
    definition: str
    algorithms: tuple[str, ...]
    provenance: str
    source: str


ASSUMPTIONS: dict[str, Assumption] = {
    a.key: a
    for a in [
        Assumption(
            "A0",
            "lower bound",
            ("F_low", "Delta_F0"),
            "F* = inf_{u,V} F(u,V) > -inf (F* >= F_low); Delta_F0 = F(u^0, V^0) - F*.",
            ("fedalt", "fedsim"),
            "unverified",
            "Pillutla et al. 2022, A0 (recalled; docs/references.md#pillutla2022-a0)",
        ),
        Assumption(
            "A1",
            "smoothness",
            ("L_u", "L_v", "L_uv", "L_vu", "chi"),
            "grad_u F_i is L_u-Lipschitz in u and L_uv-Lipschitz in v_i; grad_v F_i is "
            "L_v-Lipschitz in v_i and L_vu-Lipschitz in u; chi = max(L_uv, L_vu)/sqrt(L_u L_v).",
            ("fedalt", "fedsim"),
            "verified (slide form chi^2 = L_uv^2/(L_u L_v)); two-constant chi unverified",
            "FLOW talk slides 33, 40; paper's chi recalled",
        ),
        Assumption(
            "A2",
            "bounded variance",
            ("sigma_u", "sigma_v"),
            "E||grad_u f_i(u,v_i,z) - grad_u F_i(u,v_i)||^2 <= sigma_u^2 and the same for v "
            "with sigma_v^2, for all u, v_i, i (unbiased stochastic gradients).",
            ("fedalt", "fedsim"),
            "verified",
            "FLOW talk slide 34",
        ),
        Assumption(
            "A3",
            "partial gradient diversity",
            ("delta", "rho"),
            "(1/n) sum_i ||grad_u F_i(u,v_i) - grad_u F(u,V)||^2 <= delta^2 "
            "+ rho^2 ||grad_u F(u,V)||^2 (u-gradients only; the slide has rho = 0).",
            ("fedalt", "fedsim"),
            "verified for rho = 0; the rho term unverified",
            "FLOW talk slide 34; rho term recalled",
        ),
    ]
}
"""The assumptions of the FedAlt/FedSim theorems, with provenance."""

# ---------------------------------------------------------------------------------------------
# chi (docs/references.md#pillutla2022-a1) and effective variances
# ---------------------------------------------------------------------------------------------

CHI_DEF = sp.Max(L_uv, L_vu) / sp.sqrt(L_u * L_v)
"""chi = max(L_uv, L_vu)/sqrt(L_u L_v)  -- the paper's definition, unverified (recalled)."""

CHI_SLIDE_DEF = L_uv / sp.sqrt(L_u * L_v)
"""chi = L_uv/sqrt(L_u L_v)  -- verified: FLOW talk slides 33, 40 (chi^2 = L_uv^2/(L_u L_v))."""


def chi_from(L_u, L_v, L_uv, L_vu=None):
    """Numeric ``chi = max(L_uv, L_vu)/sqrt(L_u L_v)`` (A1; slide form if ``L_vu`` is None).

    Parameters
    ----------
    L_u, L_v, L_uv : float or array-like
        Smoothness constants (positive).
    L_vu : float or array-like, optional
        Defaults to ``L_uv`` (then the slide-33 definition).

    Returns
    -------
    numpy.ndarray
    """
    vals = {"L_u": L_u, "L_v": L_v, "L_uv": L_uv, "L_vu": L_uv if L_vu is None else L_vu}
    a = validate_values(vals, owner="chi_from")
    return np.maximum(a["L_uv"], a["L_vu"]) / np.sqrt(a["L_u"] * a["L_v"])


A = sigma_u**2 / (m * L_u) + delta**2 / (m * L_u) * (1 - m / n)
"""Server-side averaging noise of the u-updates: minibatch noise plus without-replacement
sampling variance (reconstructed, docs/references.md#pillutla2022-effective-variances)."""

B = sigma_v**2 / L_v
"""Personal-gradient noise in units of F (reconstructed, as A; the units of slide 40)."""

SIG_ALT1 = A + (m / n + chi**2 * (1 - m / n)) * B
"""sigma^2_{alt,1}: RECONSTRUCTED here, not the paper's formula.

``A + (m/n + chi^2 (1 - m/n)) B``. Together with :data:`SIG_SIM1` it reproduces the verified
slide-40 condition exactly: ``SIG_SIM1 - SIG_ALT1 = chi^2 (A - (1 - 2m/n) B)``
(docs/references.md#pillutla2022-effective-variances)."""

SIG_SIM1 = (1 + chi**2) * (A + m / n * B)
"""sigma^2_{sim,1}: RECONSTRUCTED here, not the paper's formula.

``(1 + chi^2)(A + (m/n) B)``; ratio to :data:`SIG_ALT1` tends to ``1 + chi^2`` as
``sigma_v -> 0`` (the verified factor of slide 40, squared;
docs/references.md#pillutla2022-effective-variances)."""

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
# The verified comparison (slide 40; docs/references.md#pillutla2022-comparison)
# ---------------------------------------------------------------------------------------------

BOXED_CONDITION = sp.StrictLessThan(
    sigma_v**2 / L_v * (1 - 2 * m / n),
    sigma_u**2 / (m * L_u) + delta**2 / (m * L_u) * (1 - m / n),
)
"""FedAlt is better than FedSim iff this holds -- VERIFIED (FLOW talk slide 40, boxed):
``sigma_v^2/L_v (1 - 2m/n) < sigma_u^2/(m L_u) + delta^2/(m L_u) (1 - m/n)``."""

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
            "verified on the FLOW talk (19 Oct 2022) slide 35; Delta_F0 form recalled"
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
    )


BOUNDS: dict[str, Bound] = {
    b.name: b
    for b in (
        main_bound("fedalt"),
        main_bound("fedsim"),
        main_bound("fedalt", w_v="1"),
        main_bound("fedsim", w_v="1"),
    )
}
"""Bounds of this module, by name."""

# ---------------------------------------------------------------------------------------------
# Which algorithm the theory favours (slide 40)
# ---------------------------------------------------------------------------------------------

_FAV_ARGS = ("n", "m", "L_u", "L_v", "sigma_u", "sigma_v", "delta", "chi")
_SIG_ALT1_F = sp.lambdify(
    [sp.Symbol(k) for k in _FAV_ARGS],
    SIG_ALT1.subs({s: sp.Symbol(s.name) for s in SIG_ALT1.free_symbols}),
    "numpy",
)
_SIG_SIM1_F = sp.lambdify(
    [sp.Symbol(k) for k in _FAV_ARGS],
    SIG_SIM1.subs({s: sp.Symbol(s.name) for s in SIG_SIM1.free_symbols}),
    "numpy",
)


class Favoured(NamedTuple):
    """Result of :func:`favoured`.

    Attributes
    ----------
    algorithm : str or numpy.ndarray of str
        ``"fedalt"``, ``"fedsim"`` or ``"tie"`` (by the reconstructed leading terms).
    factor : float or numpy.ndarray
        ``sqrt(sig_sim1/sig_alt1)``: FedSim's leading ``T^{-1/2}`` term divided by FedAlt's
        (> 1: FedAlt better by this factor; 1 where both vanish).
    fedalt_better : bool or numpy.ndarray
        The verified slide-40 condition :data:`BOXED_CONDITION`.
    """

    algorithm: Any
    factor: Any
    fedalt_better: Any


def favoured(*, rtol: float = 1e-12, **values: Any) -> Favoured:
    """Which algorithm the theory favours, and by what factor of the leading term.

    Parameters
    ----------
    rtol : float
        Relative tolerance under which the two leading terms count as a tie.
    **values : float or array-like
        ``n, m, L_u, L_v, sigma_u, sigma_v, delta, chi`` (arrays broadcast; extra known
        symbols are ignored).

    Returns
    -------
    Favoured
        Scalars for scalar inputs, arrays otherwise.

    Notes
    -----
    The factor uses the reconstructed :data:`SIG_ALT1`, :data:`SIG_SIM1`; for ``chi > 0`` its
    sign of ``factor - 1`` agrees with the verified boxed condition of slide 40 exactly, since
    ``sig_sim1 - sig_alt1 = chi^2 (A - (1 - 2m/n) B)``.
    """
    missing = [k for k in _FAV_ARGS if k not in values]
    if missing:
        raise ValueError(
            f"favoured needs a value for {missing[0]!r}; required: {', '.join(_FAV_ARGS)}."
        )
    v = validate_values({k: values[k] for k in _FAV_ARGS}, owner="favoured")
    if np.any(v["m"] > v["n"]):
        raise ValueError("favoured: condition m <= n is violated.")
    args = [v[k] for k in _FAV_ARGS]
    shape = np.broadcast_shapes(*(a.shape for a in args))
    s_alt = np.broadcast_to(np.asarray(_SIG_ALT1_F(*args), dtype=float), shape)
    s_sim = np.broadcast_to(np.asarray(_SIG_SIM1_F(*args), dtype=float), shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(s_alt > 0, np.sqrt(s_sim / np.where(s_alt > 0, s_alt, 1.0)), 1.0)
    tie = np.abs(s_sim - s_alt) <= rtol * np.maximum(np.abs(s_sim), np.abs(s_alt))
    algo = np.where(tie, "tie", np.where(s_sim > s_alt, "fedalt", "fedsim"))
    n_, m_, L_u_, L_v_, su, sv, d = (v[k] for k in _FAV_ARGS[:7])
    better = sv**2 / L_v_ * (1 - 2 * m_ / n_) < su**2 / (m_ * L_u_) + d**2 / (m_ * L_u_) * (
        1 - m_ / n_
    )
    better = np.broadcast_to(better, shape)
    if shape == ():
        return Favoured(str(algo[()]), float(factor), bool(better))
    return Favoured(algo, factor, better.copy())
