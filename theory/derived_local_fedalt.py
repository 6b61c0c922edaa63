"""FedAlt with local steps on the shared block (``tau_u >= 1``), explicit constants (``derived``).

Proof: ``docs/derivations/fedalt_local_partial.md`` (equation numbers below are that file's).
Every device runs ``tau_u`` local SGD steps on ``u -> F_i(u, v_i^{t+1})`` from ``u^t`` with step
``gamma_u``; the server averages the sampled devices' last iterates. The client drift
``sum_k E||u_{i,k} - u^t||^2`` is bounded by the drift lemma (eq. (L)), and A3 is applied at the
virtual full-participation point ``(u^t, V~^{t+1})`` (partial participation) or at the real
``(u^t, V^{t+1})`` (full participation), never at the local iterates.

=====================  ===================================  ==============================
name                   algorithm, setting                   proof (eq. of lemma, bound)
=====================  ===================================  ==============================
fedalt_local_partial   FedAlt, any tau_u, tau_v, m <= n     §1-§4 (eqs. (14), (15))
fedalt_local_full      FedAlt, any tau_u, tau_v, m = n      §5 (eqs. (18), (19))
=====================  ===================================  ==============================

Shorthands (eq. (1)): ``eta = tau_u gamma_u``, ``omega = (2 tau_u - 1)/tau_u``,
``beta = (1 + 1/tau_u)(1 + L_u gamma_u)^2``, and the drift constant

    K = tau_u^2 L_u^2 gamma_u beta^(tau_u - 2) (1 + L_u gamma_u (2 tau_u - 1)/2) / 2 * 1[tau_u >= 2]

(``1[tau_u >= 2] = min(tau_u - 1, 1)``). At ``tau_u = 1`` the bounds are exactly
``fedalt_tauv_partial`` and (weights and noise) ``fedalt_tauv_full`` (with A3 declared).

Both bounds have the per-round lemma (:data:`LEMMAS`, :class:`theory.derived.Lemma`) and are
collected by :data:`theory.BOUNDS`.
"""

from __future__ import annotations

import sympy as sp

from partialfed.theory.bound import Bound, Condition
from partialfed.theory.bound_parts import Uses, Where
from partialfed.theory.derived import (
    P_OUT,
    Q_WOR,
    Delta_u_next_V,
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
    delta,
    gamma_u,
    gamma_v,
    m,
    n,
    rho,
    sigma_u,
    sigma_v,
    tau_u,
    tau_v,
)

__all__ = ["DESCENTS", "LEMMAS", "BOUNDS", "shorthands", "drift_bound"]

_DOC = "fedalt_local_partial.md"


def shorthands() -> dict[str, sp.Expr]:
    """``eta, omega, beta, K`` of eq. (1) (``K``: the drift constant of eq. (9), times
    ``1[tau_u >= 2] = min(tau_u - 1, 1)`` (eq. (9')): with one local step there is no drift)."""
    eta = tau_u * gamma_u
    omega = (2 * tau_u - 1) / tau_u
    beta = (1 + 1 / tau_u) * (1 + L_u * gamma_u) ** 2
    K = (
        tau_u**2
        * L_u**2
        * gamma_u
        * beta ** (tau_u - 2)
        * (1 + L_u * gamma_u * (2 * tau_u - 1) / 2)
        / 2
    )  # eq. (9)
    # tau_u = 1: no drift (eps_i = 0), so the drift terms are absent: K 1[tau_u >= 2] (eq. (9'))
    K = K * sp.Min(tau_u - 1, 1)
    return {"eta": eta, "omega": omega, "beta": beta, "K": K}


def drift_bound(grad_sq: sp.Expr, sigma_sq: sp.Expr) -> sp.Expr:
    """Right-hand side of the drift lemma, eq. (L): ``sum_{k < tau_u} E||u_{i,k} - u^t||^2 <=
    tau_u (tau_u - 1)/2 beta^(tau_u - 2) gamma_u^2 ((1 + tau_u) grad_sq + sigma_sq)`` for local
    SGD on an ``L_u``-smooth function with ``grad_sq = ||grad f(u^t)||^2`` and noise variance
    ``sigma_sq``."""
    beta = shorthands()["beta"]
    phi = tau_u * (tau_u - 1) / 2 * beta ** (tau_u - 2)  # eq. (L)
    return phi * gamma_u**2 * ((1 + tau_u) * grad_sq + sigma_sq)


def _v_part(frac: sp.Expr, c_err: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """``(a_v, N_v)`` of eq. (13): the v-phase of fedalt_tau1_partial.md §5 with ``c_err'``."""
    a_v = frac * gamma_v * (1 - L_v * gamma_v / 2) - tau_v * c_err * gamma_v**2
    noise_v = tau_v * frac * L_v * gamma_v**2 * sigma_v**2 / 2 + tau_v**2 * c_err * gamma_v**2 * (
        sigma_v**2
    )
    return a_v, noise_v


def _partial() -> Descent:
    s = shorthands()
    eta, omega, K = s["eta"], s["omega"], s["K"]
    p, q = P_OUT, Q_WOR
    c_err = (eta * p**2 + p / ((n - 1) * L_u)) * L_uv**2 / 2  # eq. (12)
    c_Y = L_u * eta**2 * (omega * q + p / (n - 1)) / 2 + K * gamma_u**2 * (1 + tau_u)  # eq. (11)
    c_G = (
        -eta / 2 + L_u * eta**2 * omega / 2 + K * gamma_u**2 * (1 + tau_u) + rho**2 * c_Y
    )  # eq. (11)
    a_u = gamma_u * (tau_u + 1) / 4  # eq. (10): eta (1 - theta)/2
    a_v, noise_v = _v_part(m / n, c_err)
    noise = (
        c_Y * delta**2
        + L_u * eta**2 * omega * sigma_u**2 / (2 * m * tau_u)
        + K * gamma_u**2 * sigma_u**2
        + noise_v
    )  # eq. (14)
    conds = (
        Condition("m <= n", sp.Le(m, n)),
        Condition("n >= 2", sp.Ge(n, 2)),
        Condition(
            "c_G <= 0: eta/2 >= L_u eta^2 omega/2 + (1 + tau_u) K gamma_u^2 + rho^2 c_Y",
            sp.Le(c_G + eta / 2, eta / 2),
        ),  # eq. (13)
        Condition(
            "a_v > 0: gamma_v < 2(m/n)/((m/n) L_v + 2 tau_v c_err')",
            sp.Lt(gamma_v, 2 * (m / n) / ((m / n) * L_v + 2 * tau_v * c_err)),
        ),  # eq. (13)
    )
    return Descent(a_u, a_v, noise, Delta_u_next_V, conds)


def _full() -> Descent:
    s = shorthands()
    eta, omega, K = s["eta"], s["omega"], s["K"]
    drift = K * gamma_u**2 * (1 + tau_u)
    a_u = gamma_u * (3 * tau_u + 1) / 4 - L_u * eta**2 * omega / 2 - drift * (1 + rho**2)  # (16)
    a_v, noise_v = _v_part(sp.Integer(1), sp.Integer(0))
    noise = (
        drift * delta**2
        + L_u * eta**2 * omega * sigma_u**2 / (2 * n * tau_u)
        + K * gamma_u**2 * sigma_u**2
        + noise_v
    )  # eq. (16)
    conds = (
        Condition(
            "a_u > 0: gamma_u (3 tau_u + 1)/4 > L_u eta^2 omega/2 + (1 + tau_u)(1 + rho^2) K "
            "gamma_u^2",
            sp.Gt(gamma_u * (3 * tau_u + 1) / 4, L_u * eta**2 * omega / 2 + drift * (1 + rho**2)),
        ),  # eq. (17)
        Condition("gamma_v < 2/L_v", sp.Lt(gamma_v, 2 / L_v)),  # eq. (17)
    )
    return Descent(a_u, a_v, noise, Delta_u_next_V, conds)


DESCENTS: dict[str, Descent] = {"fedalt_local_partial": _partial(), "fedalt_local_full": _full()}
"""Bound name -> its per-round :class:`theory.derived.Descent`."""

_META = {
    # name: (lemma eq., bound eq., full participation?, setting)
    "fedalt_local_partial": (14, 15, False, "any tau_u, any tau_v, m <= n"),
    "fedalt_local_full": (18, 19, True, "any tau_u, any tau_v, m = n"),
}


def _uses(full: bool) -> tuple[Uses, ...]:
    E, I = Where.EVERYWHERE, Where.ITERATES
    local = "the local iterates u_{i,k} (drift lemma (L)), which no record visits"
    a3_at = (
        "(u^t, V^{t+1}) (a mixed point, not a recorded iterate: a local delta at the iterates is"
        " covered only at tau_u = tau_v = 1, where the delta, rho terms vanish, K = 0)"
        if full
        else "the virtual point (u^t, V~^{t+1}) (P8)"
    )
    out = [
        Uses("L_u", E, f"(P1) from u^t to u^{{t+1}} and along {local}, {_DOC} (3), (L)"),
        Uses("L_v", E, f"(P1) in v on every device's virtual v-steps, {_DOC} (13)"),
        Uses("sigma_u", E, f"u-noise drawn at {local}, {_DOC} (5), (L)"),
        Uses("sigma_v", E, f"noise of the (virtual) local v-steps, {_DOC} (13)"),
        Uses("delta", I if full else E, f"A3 at {a3_at}, {_DOC} (11)"),
        Uses("rho", I if full else E, f"A3 at {a3_at}, {_DOC} (11)"),
        Uses("F_low", I, "(P7): F(u^T, V^T) >= F_low when the lemma is telescoped"),
    ]
    if not full:
        out.insert(
            2, Uses("L_uv", E, f"||d_i|| <= L_uv ||v_i^t - v~_i|| at the virtual v~_i, {_DOC} (12)")
        )
    return tuple(out)


def _lemma(name: str) -> Lemma:
    d = DESCENTS[name]
    eq_lemma, _, full, setting = _META[name]
    lhs = F_next + d.a_u * d.u_symbol + d.a_v * Delta_v_t
    return Lemma(
        name=name,
        algorithm="fedalt",
        relation=sp.Le(lhs, F_t + d.noise, evaluate=False),
        pathwise=full,
        source=f"docs/derivations/{_DOC}, eq. ({eq_lemma})",
        conditions=d.conditions,
        setting=setting,
        notes=(
            "Exact gradients: holds at every round."
            if full
            else "Holds for E[. | u^t, V^t] over the sampled set S_t (and the noise)."
        ),
    )


def _bound(name: str) -> Bound:
    d = DESCENTS[name]
    _, eq_bound, full, setting = _META[name]
    return telescoped_bound(
        name,
        d,
        algorithm="fedalt",
        source=f"docs/derivations/{_DOC}, eq. ({eq_bound})",
        uses=_uses(full),
        notes=(
            f"FedAlt, {setting}: tau_u local SGD steps on u (client drift, drift lemma (L)). "
            "eta = tau_u gamma_u, omega = (2 tau_u - 1)/tau_u, beta = (1 + 1/tau_u)(1 + L_u "
            "gamma_u)^2, K = tau_u^2 L_u^2 gamma_u beta^(tau_u-2)(1 + L_u gamma_u (2 tau_u - 1)/2)"
            "/2; q = (n-m)/(m(n-1)); p = 1 - m/n. "
            + (
                "Pathwise (every run) when sigma_u = sigma_v = 0."
                if full
                else "In expectation over the sampled sets (and the noise)."
            )
        ),
    )


LEMMAS: dict[str, Lemma] = {name: _lemma(name) for name in DESCENTS}
"""Bound name -> its per-round descent :class:`theory.derived.Lemma`."""

BOUNDS: dict[str, Bound] = declare({name: _bound(name) for name in DESCENTS})
"""The local-step FedAlt bounds, by name (collected by :data:`theory.BOUNDS`)."""
