"""FedSim with ``tau >= 1`` local joint steps: explicit-constant bounds (provenance ``derived``).

Proof: ``docs/derivations/fedsim_local_partial.md`` (equation numbers below are its own; (P1)-(P8)
are those of ``docs/derivations/preliminaries.md``). FedSim runs ``tau = tau_u = tau_v`` joint
local steps ``(u, v_i) <- (u, v_i) - (gamma_u g_u, gamma_v g_v)`` on each sampled device; the
server averages ``u`` over the ``m`` sampled devices, each sampled device keeps its new ``v_i``,
the others keep theirs.

The client drift is tracked in the joint norm ``D = L_u ||u_{i,k} - u^t||^2 + L_v ||v_{i,k} -
v_i^t||^2`` (drift lemma, eq. (6)): with ``x_u = L_u gamma_u``, ``x_v = L_v gamma_v``,
``chi_1 = L_uv/sqrt(L_u L_v)``, ``chi_2 = L_vu/sqrt(L_u L_v)``,

    omega^2 = x_u^2 (1 + chi_1^2) + x_v^2 (1 + chi_2^2),
    r = 1 + 1/tau + 2 (1 + tau) omega^2,
    (1/tau) sum_{k<tau} E D_{i,k} <= Lambda (2 (1 + tau) A_i + B),
    Lambda = (tau - 1) r^(tau - 2) / 2,

``A_i = L_u gamma_u^2 ||grad_u F_i||^2 + L_v gamma_v^2 ||grad_v F_i||^2`` at the round's start and
``B = L_u gamma_u^2 sigma_u^2 + L_v gamma_v^2 sigma_v^2``. Young's inequality with
``phi = sqrt(x (tau - 1))`` (so that everything reduces exactly to the ``tau = 1`` bounds) puts
the drift into the weights and the noise floor. The diversity enters through
``(1/n) sum_i ||grad_u F_i||^2 <= (1 + rho^2) Delta_u + delta^2 + kappa^2 Delta_v``: A3 (``kappa =
0``) for :data:`BOUNDS` ``["fedsim_local_partial"]``, A3' (``delta', rho', kappa``) for
``["fedsim_local_kappa_partial"]``. Both need A3 even at ``m = n`` when ``tau > 1`` (the drift
of heterogeneous devices).

=========================  ===============================  ===========================
name                       algorithm, setting               proof
=========================  ===============================  ===========================
fedsim_local_partial       FedSim, any tau, m <= n, A3      fedsim_local_partial.md (14)
fedsim_local_kappa_partial FedSim, any tau, m <= n, A3'     fedsim_local_partial.md (14)
=========================  ===============================  ===========================

At ``tau = 1`` they are exactly ``fedsim_tau1_partial`` and ``fedsim_tau1_kappa_partial``
(checked by sympy in ``tests/theory/test_derived_local_fedsim.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import sympy as sp

from partialfed.theory.bound import Bound, Condition
from partialfed.theory.bound_parts import Uses, Where
from partialfed.theory.derived import (
    CHI_BAR,
    Q_WOR,
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
    L_vu,
    delta,
    delta_prime,
    gamma_u,
    gamma_v,
    kappa,
    m,
    n,
    rho,
    rho_prime,
    sigma_u,
    sigma_v,
    tau,
)

__all__ = ["Drift", "drift", "descent", "DESCENTS", "LEMMAS", "BOUNDS"]

DOC = "fedsim_local_partial.md"


class Drift(NamedTuple):
    """The constants of the drift lemma and of the Young steps (proof eqs. (3)-(6), (10)).

    Attributes
    ----------
    x_u, x_v : sympy.Expr
        ``L_u gamma_u``, ``L_v gamma_v``.
    chi_1, chi_2 : sympy.Expr
        ``L_uv/sqrt(L_u L_v)``, ``L_vu/sqrt(L_u L_v)`` (eq. (3)).
    omega2, r, Lam : sympy.Expr
        ``omega^2``, the growth rate ``r`` and ``Lambda`` of the drift lemma (eqs. (5), (6)).
    phi_u, phi_v : sympy.Expr
        Young parameters ``sqrt(x (tau - 1))`` (eq. (8)).
    W : sympy.Expr
        Total weight of the drift budget in the descent (eq. (10)), written without ``1/phi``
        (``(tau - 1)/phi = sqrt((tau - 1)/x)``) so that it is 0 at ``tau = 1``.
    """

    x_u: sp.Expr
    x_v: sp.Expr
    chi_1: sp.Expr
    chi_2: sp.Expr
    omega2: sp.Expr
    r: sp.Expr
    Lam: sp.Expr
    phi_u: sp.Expr
    phi_v: sp.Expr
    W: sp.Expr


def drift() -> Drift:
    """The drift-lemma constants of the proof (see :class:`Drift`)."""
    x_u, x_v = L_u * gamma_u, L_v * gamma_v
    chi_1 = L_uv / sp.sqrt(L_u * L_v)  # eq. (3)
    chi_2 = L_vu / sp.sqrt(L_u * L_v)  # eq. (3)
    omega2 = x_u**2 * (1 + chi_1**2) + x_v**2 * (1 + chi_2**2)  # eq. (5)
    r = 1 + 1 / tau + 2 * (1 + tau) * omega2  # eq. (5)
    Lam = (tau - 1) * r ** (tau - 2) / 2  # eq. (6)
    phi_u, phi_v = sp.sqrt(x_u * (tau - 1)), sp.sqrt(x_v * (tau - 1))  # eq. (8)
    psi_u, psi_v = sp.sqrt((tau - 1) / x_u), sp.sqrt((tau - 1) / x_v)  # (tau - 1)/phi
    beta_u, beta_v = 1 + CHI_BAR * m / n, 1 + CHI_BAR
    half_r = r ** (tau - 2) / 2
    # eq. (10): W = Lambda (K_u + K_v), K_u = (1 + chi_1^2)[x_u tau/(2 phi_u)
    #            + beta_u x_u^2 tau^2 (1 + 1/phi_u)/2], K_v likewise times m/n
    W_u = (
        (1 + chi_1**2)
        * half_r
        * (x_u * tau * psi_u + beta_u * x_u**2 * tau**2 * (tau - 1 + psi_u))
        / 2
    )
    W_v = (
        (m / n)
        * (1 + chi_2**2)
        * half_r
        * (x_v * tau * psi_v + beta_v * x_v**2 * tau**2 * (tau - 1 + psi_v))
        / 2
    )
    return Drift(x_u, x_v, chi_1, chi_2, omega2, r, Lam, phi_u, phi_v, W_u + W_v)


def descent(d_: sp.Expr, r_: sp.Expr, k_: sp.Expr) -> Descent:
    """The per-round descent (proof eq. (12)) with diversity constants ``(delta, rho, kappa)``.

    Parameters
    ----------
    d_, r_, k_ : sympy.Expr
        ``delta, rho`` and ``0`` (A3), or ``delta_prime, rho_prime, kappa`` (A3').

    Returns
    -------
    Descent
    """
    q = Q_WOR
    D = drift()
    beta_u, beta_v = 1 + CHI_BAR * m / n, 1 + CHI_BAR
    c_u = beta_u * L_u * gamma_u**2 * tau**2 * (1 + D.phi_u) / 2  # eq. (9), ||Delta u||^2
    c_v = m / n * beta_v * L_v * gamma_v**2 * tau**2 * (1 + D.phi_v) / 2  # eq. (9)
    two = 2 * (1 + tau) * D.W  # eq. (11): the gradient part of the drift budget
    a_u = (
        gamma_u * tau * (1 - D.phi_u / 2)
        - c_u * (1 + q * r_**2)
        - two * L_u * gamma_u**2 * (1 + r_**2)
    )  # eq. (12)
    a_v = (
        m / n * gamma_v * tau * (1 - D.phi_v / 2)
        - c_v
        - c_u * q * k_**2
        - two * (L_u * gamma_u**2 * k_**2 + L_v * gamma_v**2)
    )  # eq. (12)
    noise = (
        c_u * (q * d_**2 + sigma_u**2 / (m * tau))
        + c_v * sigma_v**2 / tau
        + D.W * (2 * (1 + tau) * L_u * gamma_u**2 * d_**2 + L_u * gamma_u**2 * sigma_u**2)
        + D.W * L_v * gamma_v**2 * sigma_v**2
    )  # eq. (12)
    conds = (
        Condition("m <= n", sp.Le(m, n)),
        Condition("n >= 2", sp.Ge(n, 2)),
        Condition("a_u > 0 (eq. (13))", sp.Gt(a_u, 0)),
        Condition("a_v > 0 (eq. (13); joint in gamma_u, gamma_v)", sp.Gt(a_v, 0)),
    )
    return Descent(a_u, a_v, noise, Delta_u_t, conds)


DESCENTS: dict[str, Descent] = {
    "fedsim_local_partial": descent(delta, rho, sp.Integer(0)),
    "fedsim_local_kappa_partial": descent(delta_prime, rho_prime, kappa),
}
"""Bound name -> its per-round :class:`theory.derived.Descent`."""


def _uses(name: str) -> tuple[Uses, ...]:
    kappa_ = "kappa" in name
    div = ("delta_prime", "rho_prime", "kappa") if kappa_ else ("delta", "rho")
    # A3 at (u^t, V^t), an iterate; A3' declared everywhere as in theory.derived_diversity.
    where_div = Where.EVERYWHERE if kappa_ else Where.ITERATES
    local = f"at the local iterates (u_{{i,k}}, v_{{i,k}}), which a run does not record, {DOC}"
    return (
        *(
            Uses(c, Where.EVERYWHERE, f"A1: (P2) in (2), and (4) in the drift lemma {local}")
            for c in ("L_u", "L_v", "L_uv", "L_vu")
        ),
        Uses("sigma_u", Where.EVERYWHERE, f"A2 {local} (5), (9)"),
        Uses("sigma_v", Where.EVERYWHERE, f"A2 {local} (5), (9)"),
        *(
            Uses(c, where_div, f"A3{chr(39) if kappa_ else ''} at (u^t, V^t), {DOC} (7)")
            for c in div
        ),
        Uses("F_low", Where.ITERATES, "(P7): F(u^T, V^T) >= F_low when the lemma is telescoped"),
    )


def _lemma(name: str) -> Lemma:
    d = DESCENTS[name]
    return Lemma(
        name=name,
        algorithm="fedsim",
        relation=sp.Le(
            F_next + d.a_u * Delta_u_t + d.a_v * Delta_v_t, F_t + d.noise, evaluate=False
        ),
        pathwise=False,
        source=f"docs/derivations/{DOC}, eq. (12)",
        conditions=d.conditions,
        setting="any tau, m <= n",
        notes="Holds for E[. | u^t, V^t] over the sampled set S_t and the noise.",
    )


def _bound(name: str) -> Bound:
    d = DESCENTS[name]
    kappa_ = "kappa" in name
    return telescoped_bound(
        name,
        d,
        algorithm="fedsim",
        source=f"docs/derivations/{DOC}, eq. (14)",
        uses=_uses(name),
        weights=", with explicit weights a_u, a_v (tau local joint steps, client drift included)",
        notes=(
            "FedSim, tau = tau_u = tau_v >= 1 local joint steps, m <= n, under "
            + ("A3' (delta_prime, rho_prime, kappa)" if kappa_ else "A3 (delta, rho)")
            + ". chi_bar = (L_uv + L_vu)/(2 sqrt(L_u L_v)); q = (n-m)/(m(n-1)). tau = 1 gives "
            + ("fedsim_tau1_kappa_partial" if kappa_ else "fedsim_tau1_partial")
            + ". In expectation over the sampled sets (and the noise)."
        ),
    )


LEMMAS: dict[str, Lemma] = {name: _lemma(name) for name in DESCENTS}
"""Bound name -> its per-round descent :class:`theory.derived.Lemma`."""

BOUNDS: dict[str, Bound] = declare({name: _bound(name) for name in DESCENTS})
"""The FedSim ``tau >= 1`` bounds, by name (collected by :data:`theory.BOUNDS`)."""
