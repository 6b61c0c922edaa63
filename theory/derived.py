"""FedAlt / FedSim bounds proved in this project (provenance ``derived``), with explicit constants.

Every bound here has a complete written proof in ``docs/derivations/`` (index:
``docs/derivations/README.md``); the equation numbers cited next to the implementing lines are
those of the proof files. No bound has a free constant, so each can be checked strictly against
simulation (measured <= bound).

Setting (``docs/derivations/preliminaries.md``): ``F(u, V) = (1/n) sum_i F_i(u, v_i) >= F_low``;
(A1) block smoothness ``L_u, L_v, L_uv, L_vu``; (A2) unbiased stochastic partial gradients with
variances at most ``sigma_u^2, sigma_v^2``, independent across devices; (A3) partial gradient
diversity ``(1/n) sum_i ||grad_u F_i - grad_u F||^2 <= delta^2 + rho^2 ||grad_u F||^2``;
``Delta_F0 = F(u^0, V^0) - F_low``. Devices are sampled ``m`` of ``n`` uniformly without
replacement; unsampled ``v_i`` are frozen; the server sets ``u`` to the plain mean.

Every bound has the form

    (1/T) sum_{t<T} E[ a_u Delta_u^t + a_v Delta_v^t ] <= Delta_F0/T + N

with explicit weights ``a_u, a_v`` (functions of the step sizes and constants) and an explicit
noise floor ``N``. ``Delta_v^t = (1/n) sum_i ||grad_v F_i(u^t, v_i^t)||^2`` always;
``Delta_u^t = ||grad_u F(u^t, V^t)||^2`` for FedSim and ``||grad_u F(u^t, V^{t+1})||^2`` (the real,
partial-participation ``V^{t+1}``; History's ``grad_u_sq_at_V_next``) for FedAlt.

=====================  ===============================  ======================================
name                   algorithm, setting               proof
=====================  ===============================  ======================================
fedsim_tau1_full       FedSim, tau = 1, m = n           docs/derivations/fedsim_tau1_full.md
fedalt_tau1_full       FedAlt, tau_u = tau_v = 1, m = n docs/derivations/fedalt_tau1_full.md
fedsim_tau1_partial    FedSim, tau = 1, m <= n          docs/derivations/fedsim_tau1_partial.md
fedalt_tau1_partial    FedAlt, tau_u = tau_v = 1, m<=n  docs/derivations/fedalt_tau1_partial.md
fedalt_tauv_full       FedAlt, tau_u = 1, any tau_v     docs/derivations/fedalt_tau1_full.md §5
fedalt_tauv_partial    FedAlt, tau_u = 1, any tau_v     docs/derivations/fedalt_tau1_partial.md §5
=====================  ===============================  ======================================

General ``tau_u > 1`` (FedAlt) is **not** proved here (client drift of the shared block); see
``docs/derivations/README.md``. FedSim with ``tau > 1``: :mod:`theory.derived_local_fedsim`.

Each bound comes with its per-round descent lemma (:data:`LEMMAS`, a :class:`Lemma`), an
inequality between per-round measured symbols (``F_t, F_next, Delta_u_t, Delta_v_t,
Delta_u_next_V``) that the experiments layer can evaluate round by round along a trajectory.

New symbols (defined here, not in :mod:`theory.symbols`): the per-round measured quantities
:data:`F_t`, :data:`F_next` (real), :data:`Delta_u_t`, :data:`Delta_v_t`,
:data:`Delta_u_next_V` (nonnegative). They are used only by :class:`Lemma`, never by a
:class:`~theory.bound.Bound`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import sympy as sp

from partialfed._constraints import Array, Interval, check_names, validate
from partialfed.theory.bound import At, Bound, Condition, Measured, Term, validate_values
from partialfed.theory.bound_evaluation import compiled
from partialfed.theory.derived_uses import USES
from partialfed.theory.settings import declare
from partialfed.theory.symbols import (
    SYMBOLS,
    Delta_F0,
    L_u,
    L_uv,
    L_v,
    L_vu,
    T,
    delta,
    gamma_u,
    gamma_v,
    m,
    n,
    rho,
    sigma_u,
    sigma_v,
    tau_v,
)

__all__ = [
    "F_t",
    "F_next",
    "Delta_u_t",
    "Delta_v_t",
    "Delta_u_next_V",
    "PER_ROUND",
    "MEASURED_AT",
    "CHI_BAR",
    "P_OUT",
    "Q_WOR",
    "Descent",
    "DESCENTS",
    "Lemma",
    "LEMMAS",
    "BOUNDS",
    "get_lemma",
]

# ---------------------------------------------------------------------------------------------
# Per-round measured symbols (new; local to this module)
# ---------------------------------------------------------------------------------------------

F_t = sp.Symbol("F_t", real=True)
"""``F(u^t, V^t)`` (History ``loss[t]``)."""
F_next = sp.Symbol("F_next", real=True)
"""``F(u^{t+1}, V^{t+1})`` (History ``loss[t+1]``); its conditional expectation if not pathwise."""
Delta_u_t = sp.Symbol("Delta_u_t", nonnegative=True)
"""``||grad_u F(u^t, V^t)||^2`` (History ``grad_u_sq[t]``)."""
Delta_v_t = sp.Symbol("Delta_v_t", nonnegative=True)
"""``(1/n) sum_i ||grad_v F_i(u^t, v_i^t)||^2`` (History ``grad_v_sq[t]``)."""
Delta_u_next_V = sp.Symbol("Delta_u_next_V", nonnegative=True)
"""``||grad_u F(u^t, V^{t+1})||^2``, real ``V^{t+1}`` (History ``grad_u_sq_at_V_next[t]``)."""

PER_ROUND: dict[str, sp.Symbol] = {
    s.name: s for s in (F_t, F_next, Delta_u_t, Delta_v_t, Delta_u_next_V)
}
"""Name -> per-round measured symbol."""

MEASURED_AT: dict[str, tuple[str, At]] = {
    "F_t": ("F", At.ITERATE),
    "F_next": ("F", At.NEXT),
    "Delta_u_t": ("Delta_u", At.ITERATE),
    "Delta_v_t": ("Delta_v", At.ITERATE),
    "Delta_u_next_V": ("Delta_u", At.V_NEXT),
}
"""Per-round symbol -> (measured quantity, point) at round ``t`` (``experiments.measure`` maps
them to History columns)."""

# ---------------------------------------------------------------------------------------------
# Shorthands (docs/derivations/preliminaries.md, eqs. (P2), (P3))
# ---------------------------------------------------------------------------------------------

CHI_BAR = (L_uv + L_vu) / (2 * sp.sqrt(L_u * L_v))
"""``chi_bar = (L_uv + L_vu)/(2 sqrt(L_u L_v)) <= chi`` (preliminaries.md, eq. (P2))."""

P_OUT = 1 - m / n
"""``p = 1 - m/n``: probability that a device is not sampled in a round."""

Q_WOR = (n - m) / (m * (n - 1))
"""``q = (n - m)/(m (n - 1))``: without-replacement variance factor (preliminaries.md, (P3))."""


_ONE = sp.Integer(1)

#: Measured squared norms passed to a lemma are >= 0.
_SQUARED_NORM = Array(within=Interval(float, 0.0, None))


class Descent(NamedTuple):
    """Per-round descent inequality ``E F_next <= F_t - a_u Du - a_v Dv + N`` (explicit parts).

    Attributes
    ----------
    a_u, a_v : sympy.Expr
        Weights of ``Delta_u`` and ``Delta_v``.
    noise : sympy.Expr
        The additive term ``N`` (zero for exact gradients and full participation).
    u_symbol : sympy.Symbol
        :data:`Delta_u_t` (FedSim) or :data:`Delta_u_next_V` (FedAlt).
    conditions : tuple of Condition
        Step-size conditions (and ``n >= 2``, ``m <= n`` for partial participation).
    """

    a_u: sp.Expr
    a_v: sp.Expr
    noise: sp.Expr
    u_symbol: sp.Symbol
    conditions: tuple[Condition, ...]


def _fedsim_full() -> Descent:
    # fedsim_tau1_full.md, eq. (4): beta = 1 + chi_bar multiplies both quadratic terms
    beta = 1 + CHI_BAR
    a_u = gamma_u * (1 - beta * L_u * gamma_u / 2)  # eq. (5)
    a_v = gamma_v * (1 - beta * L_v * gamma_v / 2)  # eq. (5)
    noise = beta / 2 * (L_u * gamma_u**2 * sigma_u**2 / n + L_v * gamma_v**2 * sigma_v**2)  # (5)
    conds = (
        Condition("gamma_u < 2/((1 + chi_bar) L_u)", sp.Lt(gamma_u, 2 / (beta * L_u))),  # eq. (6)
        Condition("gamma_v < 2/((1 + chi_bar) L_v)", sp.Lt(gamma_v, 2 / (beta * L_v))),  # eq. (6)
    )
    return Descent(a_u, a_v, noise, Delta_u_t, conds)


def _fedalt_full(tau_v_steps: sp.Expr = _ONE) -> Descent:
    # fedalt_tau1_full.md, eq. (5) (tau_v = 1) and eq. (9) (any tau_v, tau_u = 1)
    a_u = gamma_u * (1 - L_u * gamma_u / 2)
    a_v = gamma_v * (1 - L_v * gamma_v / 2)
    noise = L_u * gamma_u**2 * sigma_u**2 / (2 * n) + (
        tau_v_steps * L_v * gamma_v**2 * sigma_v**2 / 2
    )
    conds = (
        Condition("gamma_u < 2/L_u", sp.Lt(gamma_u, 2 / L_u)),  # eq. (6)
        Condition("gamma_v < 2/L_v", sp.Lt(gamma_v, 2 / L_v)),  # eq. (6)
    )
    return Descent(a_u, a_v, noise, Delta_u_next_V, conds)


_PARTIAL_CONDS = (
    Condition("m <= n", sp.Le(m, n)),
    Condition("n >= 2", sp.Ge(n, 2)),
)


def _fedsim_partial() -> Descent:
    # fedsim_tau1_partial.md, eq. (3): beta_u = 1 + chi_bar m/n, beta_v = 1 + chi_bar
    beta_u = 1 + CHI_BAR * m / n
    beta_v = 1 + CHI_BAR
    a_u = gamma_u * (1 - beta_u * L_u * gamma_u * (1 + Q_WOR * rho**2) / 2)  # eq. (8)
    a_v = m / n * gamma_v * (1 - beta_v * L_v * gamma_v / 2)  # eq. (8)
    noise = beta_u * L_u * gamma_u**2 / 2 * (Q_WOR * delta**2 + sigma_u**2 / m) + (
        m / n * beta_v * L_v * gamma_v**2 / 2 * sigma_v**2
    )  # eq. (8)
    conds = _PARTIAL_CONDS + (
        Condition(
            "gamma_u < 2/((1 + chi_bar m/n)(1 + q rho^2) L_u)",
            sp.Lt(gamma_u, 2 / (beta_u * (1 + Q_WOR * rho**2) * L_u)),
        ),  # eq. (9)
        Condition("gamma_v < 2/((1 + chi_bar) L_v)", sp.Lt(gamma_v, 2 / (beta_v * L_v))),  # eq. (9)
    )
    return Descent(a_u, a_v, noise, Delta_u_t, conds)


def _fedalt_partial(tau_v_steps: sp.Expr = _ONE) -> Descent:
    # fedalt_tau1_partial.md, eq. (14) (tau_v = 1) and eq. (19) (any tau_v, tau_u = 1)
    p, q = P_OUT, Q_WOR
    c_err = (gamma_u * p**2 + p / ((n - 1) * L_u)) * L_uv**2 / 2  # eq. (13)
    a_u = gamma_u / 2
    a_v = m / n * gamma_v * (1 - L_v * gamma_v / 2) - c_err * tau_v_steps * gamma_v**2
    noise = (
        L_u * gamma_u**2 / 2 * ((1 + m / n) * q * delta**2 + sigma_u**2 / m)
        + tau_v_steps * m / n * L_v * gamma_v**2 / 2 * sigma_v**2
        + c_err * tau_v_steps**2 * gamma_v**2 * sigma_v**2
    )
    # a_v > 0  <=>  gamma_v < 2 (m/n) / ((m/n) L_v + 2 tau_v c_err)   (eq. (15) / (20))
    gv_max = 2 * (m / n) / ((m / n) * L_v + 2 * tau_v_steps * c_err)
    conds = _PARTIAL_CONDS + (
        Condition(
            "gamma_u <= 1/(L_u (1 + (1 + m/n) q rho^2))",
            sp.Le(gamma_u, 1 / (L_u * (1 + (1 + m / n) * q * rho**2))),
        ),  # eq. (12)
        Condition(
            "a_v > 0, i.e. gamma_v < 2(m/n)/((m/n) L_v + 2 tau_v c_err)", sp.Lt(gamma_v, gv_max)
        ),
    )
    return Descent(a_u, a_v, noise, Delta_u_next_V, conds)


DESCENTS: dict[str, Descent] = {
    "fedsim_tau1_full": _fedsim_full(),
    "fedalt_tau1_full": _fedalt_full(),
    "fedsim_tau1_partial": _fedsim_partial(),
    "fedalt_tau1_partial": _fedalt_partial(),
    "fedalt_tauv_full": _fedalt_full(tau_v),
    "fedalt_tauv_partial": _fedalt_partial(tau_v),
}
"""Bound name -> its per-round :class:`Descent` (weights, noise floor, conditions)."""

_META = {
    # name: (algorithm, doc file, lemma eq., bound eq., full participation?, setting)
    "fedsim_tau1_full": ("fedsim", "fedsim_tau1_full.md", 5, 7, True, "tau = 1, m = n"),
    "fedalt_tau1_full": ("fedalt", "fedalt_tau1_full.md", 5, 7, True, "tau_u = tau_v = 1, m = n"),
    "fedsim_tau1_partial": ("fedsim", "fedsim_tau1_partial.md", 8, 10, False, "tau = 1, m <= n"),
    "fedalt_tau1_partial": (
        "fedalt",
        "fedalt_tau1_partial.md",
        14,
        16,
        False,
        "tau_u = tau_v = 1, m <= n",
    ),
    "fedalt_tauv_full": (
        "fedalt",
        "fedalt_tau1_full.md",
        9,
        10,
        True,
        "tau_u = 1, any tau_v, m = n",
    ),
    "fedalt_tauv_partial": (
        "fedalt",
        "fedalt_tau1_partial.md",
        19,
        21,
        False,
        "tau_u = 1, any tau_v, m <= n",
    ),
}

# ---------------------------------------------------------------------------------------------
# Lemmas as data
# ---------------------------------------------------------------------------------------------


def _check_relation(c: Condition, args, arrays, owner: str) -> None:
    rel = c.relation
    if rel is sp.true:
        return
    if rel is sp.false:
        raise ValueError(f"{owner}: condition {c.label} is violated.")
    # compiled once per (expression, arguments): a lemma check runs every seed of every check
    a = np.asarray(compiled(rel.lhs, tuple(args))(*arrays), dtype=float)
    b = np.asarray(compiled(rel.rhs, tuple(args))(*arrays), dtype=float)
    tol = 1e-12 * np.maximum(np.abs(a), np.abs(b))
    ok = {
        sp.LessThan: lambda: a <= b + tol,
        sp.StrictLessThan: lambda: a < b,
        sp.GreaterThan: lambda: a >= b - tol,
        sp.StrictGreaterThan: lambda: a > b,
    }[type(rel)]()
    if not np.all(ok):
        i = np.argmin(np.broadcast_to(ok, np.broadcast(a, b).shape))
        av = np.broadcast_to(a, np.broadcast(a, b).shape).flat[i]
        bv = np.broadcast_to(b, np.broadcast(a, b).shape).flat[i]
        raise ValueError(
            f"{owner}: condition {c.label} is violated: {rel.lhs}={float(av):.6g}, "
            f"{rel.rhs}={float(bv):.6g}."
        )


@dataclass(frozen=True)
class Lemma:
    """A per-round descent lemma ``lhs <= rhs`` in per-round measured symbols, as data.

    Parameters
    ----------
    name : str
        The name of the bound it telescopes to (a key of :data:`BOUNDS`).
    algorithm : {"fedalt", "fedsim"}
    relation : sympy.LessThan
        ``F_next + a_u Delta_u + a_v Delta_v_t <= F_t + N`` where ``Delta_u`` is
        :data:`Delta_u_t` (FedSim) or :data:`Delta_u_next_V` (FedAlt).
    pathwise : bool
        ``True`` for full participation (no client sampling): with exact gradients
        (``sigma_u = sigma_v = 0``) the inequality must then hold at **every round of every
        run**. ``False`` (partial participation), or with noisy gradients: it holds for the
        conditional expectation given ``(u^t, V^t)``, i.e. with ``F_next`` and ``Delta_u_next_V``
        replaced by their conditional means; see :meth:`holds_pathwise`.
    source : str
        Proof file and equation number.
    conditions : tuple of Condition
        Step-size conditions (same as the bound's).
    setting : str
        Local steps and participation.
    """

    name: str
    algorithm: str
    relation: sp.Rel
    pathwise: bool
    source: str
    conditions: tuple[Condition, ...] = ()
    setting: str = ""
    notes: str = field(default="")

    @property
    def measured(self) -> tuple[str, ...]:
        """Per-round measured symbols the lemma uses, sorted."""
        return tuple(sorted(s.name for s in self.relation.free_symbols if s.name in PER_ROUND))

    @cached_property
    def required(self) -> tuple[str, ...]:
        """Every name :meth:`lhs_minus_rhs` needs (measured and constants), sorted (computed
        once: a lemma check asks for it at every round of every seed)."""
        syms = set(self.relation.free_symbols)
        for c in self.conditions:
            syms |= c.free_symbols
        return tuple(sorted(s.name for s in syms))

    def holds_pathwise(self, sigma_u: float = 0.0, sigma_v: float = 0.0) -> bool:
        """Whether the lemma must hold for every realisation with these noise levels.

        Parameters
        ----------
        sigma_u, sigma_v : float

        Returns
        -------
        bool
            ``pathwise and sigma_u == 0 and sigma_v == 0``.
        """
        return bool(self.pathwise and sigma_u == 0 and sigma_v == 0)

    @cached_property
    def _compiled(self):
        args = tuple(PER_ROUND.get(k) or SYMBOLS[k] for k in self.required)
        expr = self.relation.lhs - self.relation.rhs
        return args, compiled(expr, args)

    def lhs_minus_rhs(
        self, values: Mapping[str, Any] | None = None, /, *, check: bool = True, **kwargs: Any
    ) -> np.ndarray:
        """Evaluate ``lhs - rhs`` (``<= 0`` where the lemma holds), vectorised.

        Parameters
        ----------
        values : mapping, optional (positional only)
            Name -> value; merged with ``kwargs``. Per-round arrays (length ``T``) broadcast
            against scalar constants.
        check : bool
            Check the step-size conditions (default).
        **kwargs : float or array-like

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        ValueError
            Missing or unknown name, invalid value, or violated condition.
        """
        merged = dict(values or {})
        merged.update(kwargs)
        owner = f"Lemma {self.name!r}"
        required = set(self.required)
        check_names(sorted(merged), self.required, owner)
        missing = sorted(required - set(merged))
        if missing:
            raise ValueError(
                f"{owner} needs a value for {missing[0]!r}; required: {', '.join(self.required)}."
            )
        arr = validate_values(merged, owner=owner)
        for k in ("Delta_u_t", "Delta_v_t", "Delta_u_next_V"):
            if k in arr:
                validate(arr[k], k, owner, _SQUARED_NORM)
        args, f = self._compiled
        arrays = [arr[s.name] for s in args]
        if check:
            for c in self.conditions:
                if c.checkable:
                    _check_relation(c, args, arrays, owner)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(f(*arrays), dtype=float)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        return np.broadcast_to(out, shape).copy() if out.shape != shape else out


def _lemma(name: str) -> Lemma:
    d = DESCENTS[name]
    algo, doc, eq_lemma, _, full, setting = _META[name]
    lhs = F_next + d.a_u * d.u_symbol + d.a_v * Delta_v_t
    rhs = F_t + d.noise
    return Lemma(
        name=name,
        algorithm=algo,
        relation=sp.Le(lhs, rhs, evaluate=False),
        pathwise=full,
        source=f"docs/derivations/{doc}, eq. ({eq_lemma})",
        conditions=d.conditions,
        setting=setting,
        notes=(
            "Exact gradients: holds at every round."
            if full
            else "Holds for E[. | u^t, V^t] over the sampled set S_t (and the noise)."
        ),
    )


def telescoped_bound(
    name: str,
    d: Descent,
    *,
    algorithm: str,
    source: str,
    uses: tuple,
    notes: str,
    weights: str = ", with explicit step-size-dependent weights a_u, a_v",
) -> Bound:
    """The bound ``mean_t E[a_u Delta_u + a_v Delta_v] <= Delta_F0/T + N`` of a descent lemma.

    Summing the per-round lemma ``d`` over ``t = 0..T-1`` and dividing by ``T`` (the
    ``F`` terms telescope, ``F_T >= F_low``) gives it; ``Delta_u`` is measured where the lemma
    measures it (FedAlt: ``(u^t, V^{t+1})``). ``weights`` ends the left-hand side's description.
    """
    fedalt = d.u_symbol is Delta_u_next_V
    at_u = "(u^t, V^{t+1})" if fedalt else "(u^t, V^t)"
    point = At.V_NEXT if fedalt else At.ITERATE
    return Bound(
        name=name,
        rhs=Delta_F0 / T + d.noise,  # the telescoped lemma
        lhs=Measured(
            (Term("Delta_u", d.a_u, at_u, point), Term("Delta_v", d.a_v, "(u^t, V^t)")),
            aggregate="mean",
            over="t = 0..T-1",
            expectation=True,
            description=(
                f"Delta_u = ||grad_u F||^2 at {at_u}, Delta_v = (1/n) sum_i ||grad_v F_i(u^t, "
                f"v_i^t)||^2{weights}"
            ),
        ),
        conditions=d.conditions,
        source=source,
        provenance="derived",
        free_constants=frozenset(),
        algorithm=algorithm,
        uses=uses,
        notes=notes,
    )


def _bound(name: str) -> Bound:
    d = DESCENTS[name]
    algo, doc, _, eq_bound, full, setting = _META[name]
    label = "FedAlt" if algo == "fedalt" else "FedSim"
    return telescoped_bound(
        name,
        d,
        algorithm=algo,
        source=f"docs/derivations/{doc}, eq. ({eq_bound})",
        uses=USES.get(name, ()),  # read from the proof: theory/derived_uses.py
        notes=(
            f"{label}, {setting}. Delta_F0 = F(u^0, V^0) - F_low. chi_bar = (L_uv + L_vu)/"
            "(2 sqrt(L_u L_v)) <= chi; q = (n-m)/(m(n-1)); p = 1 - m/n. "
            + (
                "Pathwise (every run) when sigma_u = sigma_v = 0."
                if full
                else "In expectation over the sampled sets (and the noise)."
            )
        ),
    )


LEMMAS: dict[str, Lemma] = {name: _lemma(name) for name in DESCENTS}
"""Bound name -> its per-round descent :class:`Lemma`."""

BOUNDS: dict[str, Bound] = declare({name: _bound(name) for name in DESCENTS})
"""Derived bounds, by name (collected by :data:`theory.BOUNDS`)."""


def get_lemma(name: str) -> Lemma:
    """Return the per-round lemma of bound ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`LEMMAS`.

    Returns
    -------
    Lemma

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones).
    """
    try:
        return LEMMAS[name]
    except KeyError:
        raise ValueError(
            f"Unknown lemma {name!r}. Known lemmas: {', '.join(sorted(LEMMAS))}."
        ) from None
