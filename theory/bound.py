"""The :class:`Bound` data type: a rate bound as data, evaluated numerically on demand.

A bound is *data*, not a sympy subclass (docs/architecture.md#bounds-are-data):

* ``rhs`` -- a sympy expression (the right-hand side);
* ``lhs`` -- a :class:`Measured`: which measured quantities, with which (symbolic) weights, at
  which iterates, aggregated how (average over ``t = 0..T-1``, minimum over ``t``, ...);
* ``conditions`` -- :class:`Condition` objects (a sympy relation with a readable label), checked
  on every evaluation; a condition with ``relation=None`` is a documented hypothesis that cannot
  be checked numerically (e.g. ``eta <= eta_max`` with ``eta_max`` not recovered);
* ``source``, ``provenance`` (``"verified"``, ``"reconstructed"`` or ``"derived"``), ``notes``;
* ``free_constants`` -- unknown absolute constants (``c_1, c_2, ...``) that must be supplied or
  fitted; a bound with free constants is never checked strictly.

Evaluation is lambdified once per bound (cached), vectorised over numpy arrays with
broadcasting, and validates its inputs with one-line messages.

This module holds the data type itself (its fields, symbols, substitution and display). The
parts of a bound (``Measured``, ``Term``, ``At``, ``Condition``) are in ``theory/bound_parts.py``;
its numeric evaluation (``Bound.evaluate``, ``Bound.weights``, ``validate_values``) in
``theory/bound_evaluation.py``. All names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from partialfed._constraints import check_names, suggest
from partialfed.theory.bound_evaluation import BoundEvaluation, validate_values
from partialfed.theory.bound_evaluation import constraint_of as constraint_of
from partialfed.theory.bound_parts import AGGREGATES as AGGREGATES
from partialfed.theory.bound_parts import (
    ASSUMPTION_CONSTANTS,
    CLASSIC_CONSTANTS,
    At,
    Condition,
    Measured,
    Term,
    Uses,
    Where,
    _names,
    _sympify,
)
from partialfed.theory.symbols import FREE_CONSTANTS, SYMBOLS

__all__ = [
    "ASSUMPTION_CONSTANTS",
    "CLASSIC_CONSTANTS",
    "At",
    "Bound",
    "Condition",
    "Measured",
    "Term",
    "Uses",
    "Where",
    "PROVENANCES",
    "validate_values",
]

PROVENANCES = ("verified", "reconstructed", "derived")
"""Allowed values of :attr:`Bound.provenance` (docs/references.md#provenance)."""


@dataclass(frozen=True)
class Bound(BoundEvaluation):
    """A convergence bound ``lhs <= rhs`` as data.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"fedalt_main"``.
    rhs : sympy.Expr
        Right-hand side.
    lhs : Measured
        The measured left-hand side.
    conditions : tuple of Condition
        Hypotheses (step-size ranges ...), checked on evaluation when checkable.
    source : str
        Paper, theorem/equation/slide.
    provenance : {"verified", "reconstructed", "derived"}
        ``verified``: stated in the paper/slides; ``reconstructed``: consistent with verified
        facts but not the paper's text (also used for recalled, unchecked statements, see
        ``notes``); ``derived``: proved in this project (proof in ``docs/``).
    free_constants : frozenset of sympy.Symbol
        Unknown absolute constants in ``rhs``; default: those of ``rhs`` that are in
        :data:`theory.symbols.FREE_CONSTANTS`.
    algorithm : str
        Algorithm the bound is about, e.g. ``"fedalt"``.
    notes : str
        Caveats, provenance details.
    uses : tuple of Uses
        The constants of the assumptions its proof uses, and where (:class:`Uses`); a strict
        check compares them with how the problem knows each constant (``Constants.kind``).
    simulators : tuple of str
        The simulator algorithms (``simulators.ALGORITHMS``) whose runs the bound is about
        (``algorithm`` is the paper's name, e.g. ``"sgd"``; ``simulators`` where it is run,
        e.g. ``("fedalt", "fedsim", "fedavg")``); empty: not declared.
    setting : tuple of Condition
        Conditions on the run (``m, n, tau_u, tau_v``, ...) that the proof needs, e.g. full
        participation ``m = n`` (``theory.settings``). Unlike ``conditions`` they are not
        inputs of :meth:`evaluate` and step selection never sees them: a run outside them is
        one the bound makes no claim about ("outside assumptions" in a strict check).

    Examples
    --------
    >>> from partialfed.theory import get_bound
    >>> b = get_bound("sgd_nonconvex")
    >>> float(b.evaluate(Delta_F0=1.0, gamma=0.1, T=100, L=1.0, sigma=0.0))
    0.2
    """

    name: str
    rhs: sp.Expr
    lhs: Measured
    conditions: tuple[Condition, ...] = ()
    source: str = ""
    provenance: str = "reconstructed"
    free_constants: frozenset | None = None
    algorithm: str = ""
    notes: str = ""
    uses: tuple[Uses, ...] = ()
    simulators: tuple[str, ...] = ()
    setting: tuple[Condition, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "rhs", _sympify(self.rhs))
        object.__setattr__(self, "uses", tuple(self.uses))
        object.__setattr__(self, "simulators", tuple(self.simulators))
        object.__setattr__(self, "setting", tuple(self.setting))
        unchecked = [c.label for c in self.setting if not c.checkable]
        if unchecked:
            raise ValueError(
                f"Bound {self.name!r}: a setting condition must be checkable on a run; "
                f"{unchecked} is not (document it in 'conditions' instead)."
            )
        object.__setattr__(self, "conditions", tuple(self.conditions))
        if self.provenance not in PROVENANCES:
            raise ValueError(
                f"The 'provenance' of Bound {self.name!r} must be one of {PROVENANCES}. "
                f"Got {self.provenance!r}."
            )
        if not self.source:
            raise ValueError(f"Bound {self.name!r} needs a source.")
        if self.free_constants is None:
            fc = frozenset(self.rhs.free_symbols & FREE_CONSTANTS)
        else:
            fc = frozenset(self.free_constants)
        object.__setattr__(self, "free_constants", fc)
        setting_symbols = set().union(*(c.free_symbols for c in self.setting))
        unknown = {s.name for s in self.free_symbols | setting_symbols} - set(SYMBOLS)
        if unknown:
            raise ValueError(
                f"Bound {self.name!r} uses symbols not declared in theory.symbols: "
                f"{sorted(unknown)}."
            )

    # --- symbols -----------------------------------------------------------------------------
    @cached_property
    def free_symbols(self) -> frozenset[sp.Symbol]:
        """All symbols of the right-hand side and of the checkable conditions (computed once)."""
        out = set(self.rhs.free_symbols)
        for c in self.conditions:
            out |= c.free_symbols
        return frozenset(out)

    @property
    def has_free_constants(self) -> bool:
        """Whether unknown absolute constants remain (then no strict check is possible)."""
        return bool(self.free_constants & self.rhs.free_symbols)

    @property
    def required(self) -> tuple[str, ...]:
        """Names that :meth:`evaluate` needs, sorted."""
        return tuple(_names(self.free_symbols))

    def substitute(self, values: Mapping[str, Any] | None = None, /, **kwargs) -> Bound:
        """Return a new Bound with some symbols replaced by numbers or expressions.

        Numbers are validated like in :meth:`evaluate`; conditions that become true are dropped,
        ones that become false raise ``ValueError``.

        Parameters
        ----------
        values, **kwargs
            Symbol name -> number (int, float) or sympy expression.

        Returns
        -------
        Bound
        """
        merged = dict(values or {})
        merged.update(kwargs)
        known = {s.name for s in self.free_symbols | self.lhs.free_symbols}
        subs = {}
        for k, v in merged.items():
            if k not in SYMBOLS:
                check_names([k], sorted(known), f"Bound {self.name!r}")
            if k not in known:
                raise ValueError(
                    f"Bound {self.name!r} does not use {k!r}; it uses {', '.join(sorted(known))}."
                    + suggest(k, known)
                )
            if isinstance(v, sp.Basic):
                subs[SYMBOLS[k]] = v
            else:
                validate_values({k: v}, owner=f"Bound {self.name!r}")
                if np.ndim(v) != 0:
                    raise ValueError(
                        f"Bound {self.name!r}: substitute takes scalars; {k!r} is not."
                    )
                subs[SYMBOLS[k]] = sp.nsimplify(v) if float(v).is_integer() else sp.Float(v)
        conds = []
        for c in self.conditions:
            c2 = c.substitute(subs)
            if c2.checkable and c2.relation is sp.true:
                continue
            if c2.checkable and c2.relation is sp.false:
                raise ValueError(f"Bound {self.name!r}: condition {c.label} is violated.")
            conds.append(c2)
        rhs = self.rhs.subs(subs)
        return replace(
            self,
            rhs=rhs,
            lhs=self.lhs.substitute(subs),
            conditions=tuple(conds),
            free_constants=frozenset(self.free_constants - set(subs)),
            notes=(self.notes + " " if self.notes else "")
            + "Substituted: "
            + ", ".join(f"{k.name}={v}" for k, v in subs.items())
            + ".",
        )

    # --- display -----------------------------------------------------------------------------
    def latex(self) -> str:
        """LaTeX of ``lhs <= rhs``."""
        return rf"{self.lhs.latex()} \le {sp.latex(self.rhs)}"

    def __repr__(self) -> str:
        fc = ", ".join(_names(self.free_constants)) or "none"
        conds = "; ".join(c.label for c in self.conditions) or "none"
        return (
            f"Bound({self.name!r} [{self.provenance}], {self.algorithm or '-'}: "
            f"{self.lhs} <= {self.rhs}; conditions: {conds}; free constants: {fc}; "
            f"source: {self.source})"
        )

    def setting_text(self) -> str:
        """The runs the bound is about, in one line: ``"runs of fedalt; full participation (m =
        n)"`` (``"not declared"`` when neither ``simulators`` nor ``setting`` is)."""
        if not self.simulators and not self.setting:
            return "not declared"
        runs = f"runs of {' or '.join(self.simulators)}" if self.simulators else "any run"
        return "; ".join([runs, *(c.label for c in self.setting)])

    def describe(self) -> str:
        """Multi-line human-readable description."""
        lines = [
            f"{self.name}  [{self.provenance}]  algorithm: {self.algorithm or '-'}",
            f"  source:      {self.source}",
            f"  measured:    {self.lhs}",
            f"  bound:       {self.rhs}",
            "  conditions:  " + ("; ".join(c.label for c in self.conditions) or "none"),
            "  setting:     " + self.setting_text(),
            "  free consts: " + (", ".join(_names(self.free_constants)) or "none"),
            "  parameters:  " + ", ".join(self.required),
        ]
        if self.lhs.description:
            lines.insert(3, f"  meaning:     {self.lhs.description}")
        if self.uses:
            uses = ", ".join(f"{u.constant} ({u.where.value})" for u in self.uses)
            lines.append(f"  uses:        {uses}")
        if self.notes:
            lines.append(f"  notes:       {self.notes}")
        return "\n".join(lines)
