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
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp
from partialfed.theory.symbols import FREE_CONSTANTS, NONNEGATIVE, POSITIVE, SYMBOLS

from partialfed._constraints import Array, Interval, check_names, suggest, validate

__all__ = ["At", "Bound", "Condition", "Measured", "Term", "PROVENANCES", "validate_values"]

PROVENANCES = ("verified", "reconstructed", "derived")
"""Allowed values of :attr:`Bound.provenance` (docs/references.md#provenance)."""

AGGREGATES = ("mean", "min", "last")
"""How a measured per-round quantity is aggregated over rounds."""

_RTOL = 1e-12


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

    @property
    def free_symbols(self) -> frozenset[sp.Symbol]:
        """Symbols of the relation (empty if not checkable)."""
        return frozenset(self.relation.free_symbols) if self.checkable else frozenset()

    def substitute(self, subs: Mapping[sp.Symbol, Any]) -> Condition:
        """Return a copy with ``subs`` applied to the relation."""
        if not self.checkable:
            return self
        return Condition(self.label, self.relation.subs(subs))


#: What a value of each kind of symbol accepts: a finite real number or a non-empty array of
#: them, > 0 for the symbols in ``POSITIVE``, >= 0 for those in ``NONNEGATIVE``.
_POSITIVE = Array(within=Interval(float, 0.0, None, closed="neither"))
_NONNEGATIVE = Array(within=Interval(float, 0.0, None))
_REAL = Array()


def constraint_of(name: str) -> Array:
    """The constraint on a numeric value of symbol ``name`` (see ``theory.symbols``)."""
    if name in POSITIVE:
        return _POSITIVE
    return _NONNEGATIVE if name in NONNEGATIVE else _REAL


def validate_values(values: Mapping[str, Any], *, owner: str = "value") -> dict[str, np.ndarray]:
    """Check numeric values of symbols and convert them to float arrays.

    Parameters
    ----------
    values : mapping of str to float or array-like
        Symbol name -> value.
    owner : str
        Used in messages, e.g. ``"Bound 'fedalt_main'"``.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    ValueError
        If a value is not numeric, is NaN or infinite, is <= 0 for a positive symbol or < 0 for
        a nonnegative one. The message names the parameter.
    """
    if not isinstance(values, Mapping):
        raise TypeError(
            f"The 'values' parameter of {owner} must be a mapping of symbol names to numbers. "
            f"Got {type(values).__name__}."
        )
    return {name: validate(v, name, owner, constraint_of(name)) for name, v in values.items()}


@dataclass(frozen=True)
class Bound:
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

    def __post_init__(self):
        object.__setattr__(self, "rhs", _sympify(self.rhs))
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
        unknown = {s.name for s in self.free_symbols} - set(SYMBOLS)
        if unknown:
            raise ValueError(
                f"Bound {self.name!r} uses symbols not declared in theory.symbols: "
                f"{sorted(unknown)}."
            )

    # --- symbols -----------------------------------------------------------------------------
    @property
    def free_symbols(self) -> frozenset[sp.Symbol]:
        """All symbols of the right-hand side and of the checkable conditions."""
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

    # --- evaluation --------------------------------------------------------------------------
    @cached_property
    def _compiled(self):
        args = [SYMBOLS[name] for name in self.required]
        rhs = sp.lambdify(args, self.rhs, modules="numpy")
        conds = []
        for c in self.conditions:
            if not c.checkable:
                continue
            rel = c.relation
            if rel is sp.true:
                continue
            if rel is sp.false:
                conds.append((c, None, None, None))
                continue
            lhs_f = sp.lambdify(args, rel.lhs, modules="numpy")
            rhs_f = sp.lambdify(args, rel.rhs, modules="numpy")
            conds.append((c, type(rel), lhs_f, rhs_f))
        return args, rhs, conds

    def _check_keys(self, values: Mapping[str, Any], ignore_extra: bool) -> dict[str, Any]:
        required = set(self.required)
        used = {}
        for k, v in values.items():
            if k in required:
                used[k] = v
                continue
            if k in SYMBOLS and ignore_extra:
                continue
            if k in SYMBOLS:
                raise ValueError(
                    f"Bound {self.name!r} does not use {k!r} (it uses: "
                    f"{', '.join(self.required)}; pass ignore_extra=True to skip it)."
                    + suggest(k, self.required)
                )
            check_names([k], self.required, f"Bound {self.name!r}")
        missing = required - set(used)
        fc = {s.name for s in self.free_constants}
        missing_plain = sorted(missing - fc)
        if missing_plain:
            raise ValueError(
                f"Bound {self.name!r} needs a value for {missing_plain[0]!r}"
                + (f" (and {', '.join(missing_plain[1:])})" if len(missing_plain) > 1 else "")
                + f"; required: {', '.join(sorted(required - fc))}"
                + (f"; free constants: {', '.join(sorted(fc))}" if fc else "")
                + "."
            )
        missing_fc = sorted(missing & fc)
        if missing_fc:
            raise ValueError(
                f"Bound {self.name!r} has free constants {', '.join(sorted(fc))} that must be "
                f"given or fitted (missing: {', '.join(missing_fc)})."
            )
        return used

    def _check_conditions(self, arrays: list[np.ndarray], given: Mapping[str, np.ndarray]):
        _, _, conds = self._compiled
        for c, kind, lf, rf in conds:
            if kind is None:
                raise ValueError(f"Bound {self.name!r}: condition {c.label} is violated.")
            a = np.asarray(lf(*arrays), dtype=float)
            b = np.asarray(rf(*arrays), dtype=float)
            tol = _RTOL * np.maximum(np.abs(a), np.abs(b))
            if kind is sp.LessThan:
                ok = a <= b + tol
            elif kind is sp.StrictLessThan:
                ok = a < b
            elif kind is sp.GreaterThan:
                ok = a >= b - tol
            elif kind is sp.StrictGreaterThan:
                ok = a > b
            elif kind is sp.Equality:
                ok = np.abs(a - b) <= 1e-9 * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
            else:  # pragma: no cover - constructed bounds only use the kinds above
                raise TypeError(f"unsupported relation {kind}")
            ok = np.broadcast_to(ok, np.broadcast(a, b).shape)
            if not np.all(ok):
                idx = np.unravel_index(np.argmin(ok), ok.shape) if ok.ndim else ()
                av = np.broadcast_to(a, ok.shape)[idx]
                bv = np.broadcast_to(b, ok.shape)[idx]
                rel = c.relation
                where = f" (first at index {tuple(int(i) for i in idx)})" if ok.ndim else ""
                raise ValueError(
                    f"Bound {self.name!r}: condition {c.label} is violated{where}: "
                    f"{_fmt_side(rel.lhs)}={float(av):.6g}, {_fmt_side(rel.rhs)}={float(bv):.6g}."
                )

    def evaluate(
        self,
        values: Mapping[str, Any] | None = None,
        /,
        *,
        ignore_extra: bool = False,
        check: bool = True,
        **kwargs: Any,
    ) -> np.ndarray:
        """Evaluate the right-hand side numerically.

        Parameters
        ----------
        values : mapping, optional (positional only)
            Symbol name -> value; merged with ``kwargs``.
        ignore_extra : bool
            Ignore known symbols that this bound does not use (handy with a full constants
            dict). Unknown names always raise.
        check : bool
            Check the conditions (default). ``False`` evaluates outside them (for plots).
        **kwargs : float or array-like
            Symbol values; arrays broadcast against each other.

        Returns
        -------
        numpy.ndarray
            The bound, with the broadcast shape of the inputs (0-d for scalars).

        Raises
        ------
        ValueError
            Missing symbol or free constant, unknown key (with "did you mean"), invalid value
            (NaN, inf, wrong sign) or violated condition; the message names the culprit.
        """
        if values is not None and not isinstance(values, Mapping):
            raise TypeError(
                f"The 'values' parameter of Bound {self.name!r}.evaluate must be a mapping of "
                f"symbol names to numbers. Got {type(values).__name__}."
            )
        merged = dict(values or {})
        merged.update(kwargs)
        used = self._check_keys(merged, ignore_extra)
        arrays_by_name = validate_values(used, owner=f"Bound {self.name!r}")
        args, rhs, _ = self._compiled
        arrays = [arrays_by_name[s.name] for s in args]
        if check:
            self._check_conditions(arrays, arrays_by_name)
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        except ValueError:
            shaped = ", ".join(
                f"{s.name!r} (shape {a.shape})" for s, a in zip(args, arrays, strict=True) if a.ndim
            )
            raise ValueError(
                f"Bound {self.name!r}: the array values do not broadcast together: {shaped}."
            ) from None
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.asarray(rhs(*arrays), dtype=float)
        if not np.all(np.isfinite(out)):
            big = max(
                args, key=lambda s: float(np.max(np.abs(arrays_by_name[s.name]))), default=None
            )
            raise ValueError(
                f"Bound {self.name!r} is not finite at these values (overflow or a zero "
                f"denominator); check the largest input"
                + (f", {big.name!r}." if big is not None else ".")
            )
        return np.broadcast_to(out, shape).copy() if out.shape != shape else out

    __call__ = evaluate

    def weights(self, values: Mapping[str, Any] | None = None, /, **kwargs) -> dict[str, Any]:
        """Numeric weights of the left-hand side terms.

        Parameters
        ----------
        values, **kwargs
            Symbol values; symbols not in the weights are ignored.

        Returns
        -------
        dict
            quantity -> float (or array).
        """
        merged = dict(values or {})
        merged.update(kwargs)
        out = {}
        for q in dict.fromkeys(self.lhs.quantities):
            w = self.lhs.weight(q)
            names = _names(w.free_symbols)
            missing = [s for s in names if s not in merged]
            if missing:
                raise ValueError(
                    f"Bound {self.name!r}: the weight {w} of {q} needs a value for {missing[0]!r}."
                )
            vals = validate_values({k: merged[k] for k in names}, owner=f"Bound {self.name!r}")
            f = sp.lambdify([SYMBOLS[k] for k in names], w, modules="numpy")
            out[q] = np.asarray(f(*(vals[k] for k in names)), dtype=float)
        return out

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

    def describe(self) -> str:
        """Multi-line human-readable description."""
        lines = [
            f"{self.name}  [{self.provenance}]  algorithm: {self.algorithm or '-'}",
            f"  source:      {self.source}",
            f"  measured:    {self.lhs}",
            f"  bound:       {self.rhs}",
            "  conditions:  " + ("; ".join(c.label for c in self.conditions) or "none"),
            "  free consts: " + (", ".join(_names(self.free_constants)) or "none"),
            "  parameters:  " + ", ".join(self.required),
        ]
        if self.lhs.description:
            lines.insert(3, f"  meaning:     {self.lhs.description}")
        if self.notes:
            lines.append(f"  notes:       {self.notes}")
        return "\n".join(lines)


def _fmt_side(e: sp.Expr) -> str:
    return str(e).replace(" ", "")
