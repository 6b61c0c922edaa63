"""The parts of a :class:`~theory.bound.Bound`: its measured left-hand side and its conditions.

* :class:`Measured` -- which measured quantities (:class:`Term`: a quantity with a symbolic
  weight, measured at a point :class:`At`), aggregated how (average over ``t = 0..T-1``,
  minimum over ``t``, ...);
* :class:`Condition` -- a sympy relation with a readable label; ``relation=None`` marks a
  documented hypothesis that cannot be checked numerically.

All are frozen dataclasses (or an enum) holding sympy expressions, with their own substitution
and display.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import sympy as sp

__all__ = [
    "AGGREGATES",
    "ASSUMPTION_CONSTANTS",
    "CLASSIC_CONSTANTS",
    "At",
    "Condition",
    "Measured",
    "Term",
    "Uses",
    "Where",
]

AGGREGATES = ("mean", "min", "last")
"""How a measured per-round quantity is aggregated over rounds."""


def _sympify(x: Any) -> sp.Expr:
    return x if isinstance(x, sp.Basic) else sp.sympify(x)


def _names(symbols) -> list[str]:
    return sorted(s.name for s in symbols)


class At(enum.Enum):
    """The point at which a per-round quantity is measured (what ``Term.point`` says).

    ``ITERATE`` is ``(u^t, V^t)`` (for single-block methods ``x_t``); ``V_NEXT`` is
    ``(u^t, V^{t+1})``, where FedAlt's theorem measures ``Delta_u``
    (docs/references.md#pillutla2022-u-point); ``NEXT`` is the next iterate
    ``(u^{t+1}, V^{t+1})`` (per-round lemmas).
    """

    ITERATE = "iterate"
    V_NEXT = "v_next"
    NEXT = "next"


@dataclass(frozen=True)
class Term:
    """One weighted measured quantity of a left-hand side.

    Parameters
    ----------
    quantity : str
        Name of the measured quantity, e.g. ``"Delta_u"`` (``||grad_u F||^2``), ``"Delta_v"``
        (``(1/n) sum_i ||grad_v F_i||^2``), ``"grad_sq"`` (``||grad f||^2``).
    weight : sympy.Expr
        Symbolic weight, e.g. ``1/L_u`` or ``w_v/L_v``.
    at : str
        The iterate at which it is measured, for display, e.g. ``"(u^t, V^{t+1})"``.
    point : At
        The same point as data: what a measurement reads (default ``At.ITERATE``).
    """

    quantity: str
    weight: sp.Expr
    at: str
    point: At = At.ITERATE

    def __post_init__(self):
        object.__setattr__(self, "weight", _sympify(self.weight))
        # The display string and the data must name the same point: a measurement reads
        # ``point``, a reader reads ``at``.
        if ("V^{t+1}" in self.at) != (self.point is At.V_NEXT):
            raise ValueError(
                f"Term {self.quantity!r}: at={self.at!r} and point={self.point} disagree "
                "(V^{t+1} in the display string exactly when point is At.V_NEXT)."
            )


@dataclass(frozen=True)
class Measured:
    """The measured left-hand side of a bound.

    Parameters
    ----------
    terms : tuple of Term
        The weighted quantities, summed per round.
    aggregate : {"mean", "min", "last"}
        ``"mean"``: average over ``over``; ``"min"``: minimum over ``over``; ``"last"``: value
        at the last iterate.
    over : str
        Index range, e.g. ``"t = 0..T-1"``.
    expectation : bool
        Whether the bound is on the expectation (over sampling and noise) of the aggregate's
        summands.
    description : str
        A sentence for humans.
    """

    terms: tuple[Term, ...]
    aggregate: str = "mean"
    over: str = "t = 0..T-1"
    expectation: bool = True
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "terms", tuple(self.terms))
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"Measured.aggregate must be one of {AGGREGATES}. Got {self.aggregate!r}."
            )

    @property
    def quantities(self) -> tuple[str, ...]:
        """Names of the measured quantities, in order."""
        return tuple(t.quantity for t in self.terms)

    @property
    def free_symbols(self) -> frozenset[sp.Symbol]:
        """Symbols appearing in the weights."""
        out: set[sp.Symbol] = set()
        for t in self.terms:
            out |= t.weight.free_symbols
        return frozenset(out)

    def weight(self, quantity: str) -> sp.Expr:
        """Symbolic weight of ``quantity`` (0 if absent)."""
        return sum((t.weight for t in self.terms if t.quantity == quantity), sp.Integer(0))

    def substitute(self, subs: Mapping[sp.Symbol, Any]) -> Measured:
        """Return a copy with ``subs`` applied to the weights."""
        terms = tuple(replace(t, weight=t.weight.subs(subs)) for t in self.terms)
        return replace(self, terms=terms)

    def latex(self) -> str:
        """LaTeX of the left-hand side, e.g. ``\\frac1T\\sum_t E[...]``."""
        parts = []
        for t in self.terms:
            q = {
                "Delta_u": r"\Delta_u",
                "Delta_v": r"\Delta_v",
                "grad_sq": r"\|\nabla f\|^2",
            }.get(t.quantity, rf"\mathrm{{{t.quantity}}}".replace("_", r"\_"))
            w = "" if t.weight == 1 else rf"{sp.latex(t.weight)}\,"
            parts.append(rf"{w}{q}{t.at}")
        body = " + ".join(parts)
        if self.expectation:
            body = rf"\mathbb{{E}}\left[{body}\right]"
        if self.aggregate == "mean":
            return rf"\operatorname{{mean}}_{{{self.over}}}\,{body}"
        if self.aggregate == "min":
            return rf"\min_{{{self.over}}}\,{body}"
        return body

    def __str__(self) -> str:
        body = " + ".join(
            (f"{t.quantity}{t.at}" if t.weight == 1 else f"({t.weight})*{t.quantity}{t.at}")
            for t in self.terms
        )
        if self.expectation:
            body = f"E[{body}]"
        if self.aggregate == "last":
            return body
        return f"{self.aggregate}_{{{self.over}}} {body}"


@dataclass(frozen=True)
class Condition:
    """A condition under which a bound holds.

    Parameters
    ----------
    label : str
        Human-readable form, e.g. ``"gamma_u <= 1/L_u"``.
    relation : sympy.Rel or None
        The relation, e.g. ``gamma_u <= 1/L_u`` (``<=, <, >=, >, Eq``). ``None`` marks a
        hypothesis that cannot be checked numerically (it is only documented).
    """

    label: str
    relation: sp.Basic | None = None

    @property
    def checkable(self) -> bool:
        """Whether the condition can be checked numerically."""
        return self.relation is not None

    @cached_property
    def free_symbols(self) -> frozenset[sp.Symbol]:
        """Symbols of the relation (empty if not checkable); computed once."""
        return frozenset(self.relation.free_symbols) if self.checkable else frozenset()

    def substitute(self, subs: Mapping[sp.Symbol, Any]) -> Condition:
        """Return a copy with ``subs`` applied to the relation."""
        if not self.checkable:
            return self
        return Condition(self.label, self.relation.subs(subs))


class Where(enum.Enum):
    """Where a proof applies a constant of the assumptions (what :class:`Uses` says).

    ``EVERYWHERE``: at arbitrary points, e.g. at virtual iterates that the run never visits (then
    a constant known only on a region does not cover the proof); ``REGION``: on a region the proof
    itself stays in (stated in ``Uses.at``, e.g. a sublevel set); ``ITERATES``: only at the points
    ``(u^t, V^t)`` the run visits (then a constant known on a region covers the proof when every
    recorded iterate lies in it).
    """

    EVERYWHERE = "everywhere"
    REGION = "region"
    ITERATES = "iterates"


@dataclass(frozen=True)
class Uses:
    """One constant of the assumptions that a bound's proof uses, and where.

    Parameters
    ----------
    constant : str
        A constant name of ``synthetic.CONSTANT_NAMES`` (``"L_u"``, ``"delta"``, ...).
    where : Where
        Where the proof applies it.
    at : str
        Where in the proof, for a reader, e.g. ``"A3 at (u^t, V^t), fedsim_tau1_partial.md (3)"``.
    """

    constant: str
    where: Where = Where.EVERYWHERE
    at: str = ""

    def __post_init__(self):
        known = (*ASSUMPTION_CONSTANTS, *CLASSIC_CONSTANTS)
        if self.constant not in known:
            raise ValueError(
                f"The 'constant' parameter of Uses must be one of {', '.join(known)}. "
                f"Got {self.constant!r}."
            )
        if not isinstance(self.where, Where):
            raise TypeError(f"The 'where' parameter of Uses must be a Where. Got {self.where!r}.")


#: The constants of assumptions A0-A3 of Pillutla et al. (2022) and of the global diversity
#: assumption A3' (docs/derivations/diversity_global.md), as ``synthetic.CONSTANT_NAMES``
#: spells them (theory does not import synthetic; tests/theory/test_uses.py keeps the two equal).
ASSUMPTION_CONSTANTS = (
    "L_u",
    "L_v",
    "L_uv",
    "L_vu",
    "sigma_u",
    "sigma_v",
    "delta",
    "rho",
    "F_low",
    "delta_prime",
    "rho_prime",
    "kappa",
)

#: Constants of single-block theorems that a :class:`Uses` may name, with their meaning. The
#: first three take the value of a problem constant (``experiments.cell.SINGLE_BLOCK``: ``L`` is
#: ``L_u``, ``sigma`` is ``sigma_u``, ``zeta`` is ``delta``); the Per-FedAvg ones have no
#: counterpart among a problem's constants (a bound using them is never checked strictly).
CLASSIC_CONSTANTS = {
    "L": "smoothness of f (gradient L-Lipschitz)",
    "sigma": "variance bound of the stochastic gradient",
    "zeta": "gradient dissimilarity (1/n) sum_i ||grad f_i - grad f||^2 <= zeta^2",
    "B": "bound on the gradient norms ||grad f_i|| <= B (Per-FedAvg)",
    "rho_H": "Lipschitz constant of the Hessians of the f_i (Per-FedAvg)",
    "sigma_G": "variance bound of the stochastic gradients of the f_i (Per-FedAvg)",
    "sigma_H": "variance bound of the stochastic Hessians of the f_i (Per-FedAvg)",
    "gamma_G": "gradient dissimilarity of the f_i (Per-FedAvg)",
    "gamma_H": "Hessian dissimilarity of the f_i (Per-FedAvg)",
}
