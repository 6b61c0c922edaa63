"""Partial-participation bounds under a diversity assumption that holds for all (u, V).

Provenance ``derived``: each bound has a complete proof in ``docs/derivations/``.

The partial-participation bounds of :mod:`theory.derived` apply A3,
``(1/n) sum_i ||grad_u F_i - grad_u F||^2 <= delta^2 + rho^2 ||grad_u F||^2``, at arbitrary
points, but for coupled families (``chi > 0``) A3 holds only near the personal optima. The bounds
here assume instead A3' (docs/derivations/diversity_global.md, eq. (D1)): for all ``(u, V)``,

    (1/n) sum_i ||grad_u F_i - grad_u F||^2
        <= delta_prime^2 + rho_prime^2 ||grad_u F||^2 + kappa^2 (1/n) sum_i ||grad_v F_i||^2,

which the block quadratic and the separable model satisfy globally with the constants they
declare. The ``kappa^2 Delta_v`` term is absorbed into the ``Delta_v`` weight of the left-hand
side, which then needs a joint condition on ``(gamma_u, gamma_v)`` (``a_v > 0``). With
``kappa = 0`` each bound is the corresponding bound of :mod:`theory.derived`, with
``(delta, rho) -> (delta_prime, rho_prime)``.

=========================  ===============================  ====================================
name                       algorithm, setting               proof
=========================  ===============================  ====================================
fedsim_tau1_kappa_partial  FedSim, tau = 1, m <= n          fedsim_tau1_kappa_partial.md
fedalt_tau1_kappa_partial  FedAlt, tau_u = tau_v = 1, m<=n  fedalt_kappa_partial.md §1-§3
fedalt_tauv_kappa_partial  FedAlt, tau_u = 1, any tau_v     fedalt_kappa_partial.md §4
=========================  ===============================  ====================================

(proof files in ``docs/derivations/``). Each bound has its per-round lemma (:data:`LEMMAS`),
of the same :class:`theory.derived.Lemma` type, and declares the assumption constants it uses
(``Bound.uses``): ``delta_prime, rho_prime, kappa`` everywhere (the FedAlt proofs apply A3' at the
virtual iterate ``(u^t, V~^{t+1})``, which a run never visits).
"""

from __future__ import annotations

import sympy as sp

from partialfed.theory.bound import Bound, Condition
from partialfed.theory.bound_parts import Uses, Where
from partialfed.theory.derived import (
    CHI_BAR,
    P_OUT,
    Q_WOR,
    Delta_u_next_V,
    Delta_u_t,
    Delta_v_t,
    Descent,
    F_next,
    F_t,
    Lemma,
    telescoped_bound,
)
from partialfed.theory.settings import declare
from partialfed.theory.symbols import (
    L_u,
    L_uv,
    L_v,
    delta_prime,
    gamma_u,
    gamma_v,
    kappa,
    m,
    n,
    rho_prime,
    sigma_u,
    sigma_v,
    tau_v,
)

__all__ = ["DESCENTS", "LEMMAS", "BOUNDS", "growth_factor"]

_ONE = sp.Integer(1)

_PARTIAL_CONDS = (
    Condition("m <= n", sp.Le(m, n)),
    Condition("n >= 2", sp.Ge(n, 2)),
)


def growth_factor() -> tuple[sp.Expr, sp.Expr]:
    """``(g_1, g_0)`` of (D8): ``E||grad f(x - gamma (grad f(x) + zeta))||^2 <= g_1 ||grad f(x)||^2
    + g_0 sigma^2`` for an ``L_v``-smooth ``f``, ``g_1 = (1 + L_v gamma_v)^2``,
    ``g_0 = L_v gamma_v (1 + L_v gamma_v)`` (docs/derivations/diversity_global.md)."""
    return (1 + L_v * gamma_v) ** 2, L_v * gamma_v * (1 + L_v * gamma_v)


def _fedsim() -> Descent:
    # fedsim_tau1_kappa_partial.md, eqs. (3)-(5)
    q = Q_WOR
    beta_u = 1 + CHI_BAR * m / n
    beta_v = 1 + CHI_BAR
    c_kappa = beta_u * L_u * gamma_u**2 * q * kappa**2 / 2  # eq. (4)
    a_u = gamma_u * (1 - beta_u * L_u * gamma_u * (1 + q * rho_prime**2) / 2)  # eq. (4)
    a_v = m / n * gamma_v * (1 - beta_v * L_v * gamma_v / 2) - c_kappa  # eq. (4)
    noise = beta_u * L_u * gamma_u**2 / 2 * (q * delta_prime**2 + sigma_u**2 / m) + (
        m / n * beta_v * L_v * gamma_v**2 / 2 * sigma_v**2
    )  # eq. (4)
    conds = _PARTIAL_CONDS + (
        Condition(
            "gamma_u < 2/((1 + chi_bar m/n)(1 + q rho_prime^2) L_u)",
            sp.Lt(gamma_u, 2 / (beta_u * (1 + q * rho_prime**2) * L_u)),
        ),  # eq. (5)
        Condition("gamma_v < 2/((1 + chi_bar) L_v)", sp.Lt(gamma_v, 2 / (beta_v * L_v))),  # (5)
        Condition(
            "a_v > 0: (1 + chi_bar m/n) L_u q kappa^2 gamma_u^2 < (m/n) gamma_v "
            "(2 - (1 + chi_bar) L_v gamma_v) (joint in gamma_u, gamma_v)",
            sp.Lt(
                beta_u * L_u * q * kappa**2 * gamma_u**2,
                m / n * gamma_v * (2 - beta_v * L_v * gamma_v),
            ),
        ),  # eq. (5)
    )
    return Descent(a_u, a_v, noise, Delta_u_t, conds)


def _fedalt(tau_v_steps: sp.Expr = _ONE) -> Descent:
    # fedalt_kappa_partial.md, eqs. (3)-(7) (tau_v = 1); (9)-(12) (any tau_v, tau_u = 1)
    p, q = P_OUT, Q_WOR
    g1, g0 = growth_factor()
    c_err = (gamma_u * p**2 + p / ((n - 1) * L_u)) * L_uv**2 / 2  # fedalt_tau1_partial.md (13)
    c_kappa = L_u * gamma_u**2 / 2 * (1 + m / n) * q * kappa**2  # eq. (3)
    a_u = gamma_u / 2
    a_v = (
        m / n * gamma_v * (1 - L_v * gamma_v / 2)
        - tau_v_steps * c_err * gamma_v**2
        - (c_kappa * g1)
    )  # eq. (6) / (11)
    noise = (
        L_u * gamma_u**2 / 2 * ((1 + m / n) * q * delta_prime**2 + sigma_u**2 / m)
        + tau_v_steps * m / n * L_v * gamma_v**2 / 2 * sigma_v**2
        + c_err * tau_v_steps**2 * gamma_v**2 * sigma_v**2
        + c_kappa * g0 * sigma_v**2
    )  # eq. (6) / (11)
    conds = (
        _PARTIAL_CONDS
        + (
            Condition(
                "gamma_u <= 1/(L_u (1 + (1 + m/n) q rho_prime^2))",
                sp.Le(gamma_u, 1 / (L_u * (1 + (1 + m / n) * q * rho_prime**2))),
            ),  # eq. (5)
            Condition(
                "a_v > 0: c_kappa (1 + L_v gamma_v)^2 < (m/n) gamma_v (1 - L_v gamma_v/2) - "
                + ("" if tau_v_steps == 1 else "tau_v ")
                + "c_err gamma_v^2, c_kappa = (1 + m/n) q kappa^2 L_u gamma_u^2/2 (joint in "
                "gamma_u, gamma_v)",
                sp.Lt(
                    c_kappa * g1,
                    m / n * gamma_v * (1 - L_v * gamma_v / 2) - tau_v_steps * c_err * gamma_v**2,
                ),
            ),  # eq. (7) / (12)
        )
    )
    return Descent(a_u, a_v, noise, Delta_u_next_V, conds)


DESCENTS: dict[str, Descent] = {
    "fedsim_tau1_kappa_partial": _fedsim(),
    "fedalt_tau1_kappa_partial": _fedalt(),
    "fedalt_tauv_kappa_partial": _fedalt(tau_v),
}
"""Bound name -> its per-round :class:`theory.derived.Descent`."""

_META = {
    # name: (algorithm, doc file, lemma eq., bound eq., setting)
    "fedsim_tau1_kappa_partial": ("fedsim", "fedsim_tau1_kappa_partial.md", 4, 6, "tau = 1"),
    "fedalt_tau1_kappa_partial": ("fedalt", "fedalt_kappa_partial.md", 6, 8, "tau_u = tau_v = 1"),
    "fedalt_tauv_kappa_partial": (
        "fedalt",
        "fedalt_kappa_partial.md",
        11,
        13,
        "tau_u = 1, any tau_v",
    ),
}

_SMOOTH = {
    "fedsim": ("L_u", "L_v", "L_uv", "L_vu"),
    "fedalt": ("L_u", "L_v", "L_uv"),
}


def _uses(name: str) -> tuple[Uses, ...]:
    algo, doc, *_ = _META[name]
    where_div = (
        "A3' at (u^t, V^t)" if algo == "fedsim" else "A3' at the virtual iterate (u^t, V~^{t+1})"
    )
    div = tuple(
        Uses(c, Where.EVERYWHERE, f"{where_div}, {doc}")
        for c in ("delta_prime", "rho_prime", "kappa")
    )
    smooth = tuple(
        Uses(c, Where.EVERYWHERE, f"A1 between iterates and (virtual) next points, {doc}")
        for c in _SMOOTH[algo]
    )
    rest = (
        Uses("sigma_u", Where.EVERYWHERE, f"A2, {doc}"),
        Uses("sigma_v", Where.EVERYWHERE, f"A2, {doc}"),
        Uses("F_low", Where.EVERYWHERE, "A0, telescoping (P7)"),
    )
    return smooth + rest + div


def _lemma(name: str) -> Lemma:
    d = DESCENTS[name]
    algo, doc, eq_lemma, _, setting = _META[name]
    lhs = F_next + d.a_u * d.u_symbol + d.a_v * Delta_v_t
    return Lemma(
        name=name,
        algorithm=algo,
        relation=sp.Le(lhs, F_t + d.noise, evaluate=False),
        pathwise=False,
        source=f"docs/derivations/{doc}, eq. ({eq_lemma})",
        conditions=d.conditions,
        setting=f"{setting}, m <= n",
        notes="Holds for E[. | u^t, V^t] over the sampled set S_t (and the noise).",
    )


def _bound(name: str) -> Bound:
    d = DESCENTS[name]
    algo, doc, _, eq_bound, setting = _META[name]
    label = "FedAlt" if d.u_symbol is Delta_u_next_V else "FedSim"
    return telescoped_bound(
        name,
        d,
        algorithm=algo,
        source=f"docs/derivations/{doc}, eq. ({eq_bound})",
        uses=_uses(name),
        weights="; the Delta_v weight a_v carries the kappa^2 term of A3'",
        notes=(
            f"{label}, {setting}, m <= n, under A3' (diversity <= delta_prime^2 + rho_prime^2 "
            "||grad_u F||^2 + kappa^2 Delta_v for all (u, V)). chi_bar = (L_uv + L_vu)/"
            "(2 sqrt(L_u L_v)); q = (n-m)/(m(n-1)); p = 1 - m/n. kappa = 0 gives "
            f"{name.replace('_kappa', '')} with (delta, rho) -> (delta_prime, rho_prime). "
            "In expectation over the sampled sets (and the noise)."
        ),
    )


LEMMAS: dict[str, Lemma] = {name: _lemma(name) for name in DESCENTS}
"""Bound name -> its per-round descent :class:`theory.derived.Lemma`."""

BOUNDS: dict[str, Bound] = declare({name: _bound(name) for name in DESCENTS})
"""The A3' bounds, by name (collected by :data:`theory.BOUNDS`)."""
