"""Theory's exponent for an exponent study, read from the bound's terms.

A study names the term of its bound that leads (``ExponentStudy.leading``, a label of
:func:`theory.leading.step_form`); :func:`expectation` substitutes the study's values and step
policy into the bound's step form, with the swept variable kept as a symbol ``x``, and returns
the exponent of that term in ``x``. It also evaluates every term at the study's values (free
constants set to 1) to show whether the named term really leads there.

Every symbol other than ``eta`` and the free constants takes the swept cells' values
(``Cell.values`` and ``Delta_F0`` at the study's initial point); a symbol that changes along the
sweep must be a power of ``x`` (``T`` or ``m`` swept: itself; ``noise_u`` swept: ``sigma_u``),
which is checked. ``eta`` follows the study's :class:`~experiments.steps.Eta` policy
``eta0 (x/x0)^power`` symbolically (docs/references.md#pillutla2022-step-sizes); under another
step rule it is read from the cells as ``gamma_u L_u tau_u``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from partialfed import theory
from partialfed.experiments.steps import Eta
from partialfed.theory import leading as L
from partialfed.theory.symbols import FREE_CONSTANTS, eta

__all__ = ["X", "Expectation", "expectation"]

X = sp.Symbol("x", positive=True)
"""The swept variable in the expressions of an :class:`Expectation`."""

_REL = 1e-6  # a value is a power of x when every point is on the power law to this precision


@dataclass(frozen=True)
class Expectation:
    """Theory's exponent for a study, and the terms behind it.

    Attributes
    ----------
    leading : str
        The term the study names.
    exponent : float
        Its exponent in the swept variable (theory's expected slope).
    terms : dict
        Label -> the term as an expression in :data:`X` (free constants symbolic).
    slopes : dict
        Label -> its local exponent ``d log term/d log x`` at each swept value (``None`` for a
        term that vanishes at the study's values).
    values : dict
        Label -> the term's value at each swept value, every free constant set to 1 (their
        size is unknown; 1 is the "ignoring absolute constants" reading of the theorem).
    absent : tuple of (label, reason)
        Terms the study takes as zero, with the reason (they do not count in :attr:`leads`).
    rate_exponent : float or None
        For the main-text theorems: the exponent of the same-named term of the tuned rate
        (``theory.pillutla2022.RATE_TERMS``); equal to :attr:`exponent` when the study's step
        policy is the branch of ``eta_balanced`` that makes this term lead.
    """

    leading: str
    exponent: float
    terms: dict
    slopes: dict
    values: dict
    absent: tuple = ()
    rate_exponent: float | None = None

    @property
    def counted(self) -> list[str]:
        """The labels that compete for the lead (not absent, not vanishing)."""
        gone = {k for k, _ in self.absent}
        return [k for k, s in self.slopes.items() if s is not None and k not in gone]

    @property
    def leaders(self) -> tuple[str, ...]:
        """The largest counted term at each swept value (free constants 1)."""
        keys = self.counted
        return tuple(
            max(keys, key=lambda k: self.values[k][i]) for i in range(len(self.values[keys[0]]))
        )

    @property
    def leads(self) -> bool:
        """Whether the named term is the largest counted term at every swept value."""
        return all(k == self.leading for k in self.leaders)


def _number(v) -> sp.Expr:
    f = float(v)
    return sp.Integer(int(f)) if f.is_integer() else sp.Float(f)


def _rational(e: float) -> sp.Expr:
    return sp.nsimplify(e, rational=True, tolerance=1e-9)


def _power_of_x(name: str, ys, xs, study) -> sp.Expr:
    """``ys`` as ``y0 (x/x0)^e`` (a constant when they are all equal); raises if they are not."""
    ys = [float(y) for y in ys]
    if all(math.isclose(y, ys[0], rel_tol=_REL, abs_tol=0.0) for y in ys):
        return _number(ys[0])
    if min(ys) > 0:
        e = math.log(ys[-1] / ys[0]) / math.log(xs[-1] / xs[0])
        fitted = [ys[0] * (x / xs[0]) ** e for x in xs]
        if all(math.isclose(y, f, rel_tol=_REL) for y, f in zip(ys, fitted, strict=True)):
            return sp.Float(ys[0]) * (X / _number(xs[0])) ** _rational(e)
    raise ValueError(
        f"Exponent study {study.label!r}: '{name}' of bound '{study.bound}' is not a power of "
        f"'{study.variable}' over the study's values ({', '.join(f'{y:.4g}' for y in ys)})."
    )


def _eta_policy(study, cells, xs):
    """``eta`` as an expression in ``x``: the study's Eta policy, or read from the cells."""
    rule = study.steps
    if isinstance(rule, Eta) and rule.variable in (None, study.variable):
        if rule.variable is None:
            return _number(rule.eta0)
        return _number(rule.eta0) * (X / _number(rule.x0)) ** _rational(rule.power)
    etas = [c.run.gamma_u * c.values()["L_u"] * c.run.tau_u for c in cells]
    return _power_of_x("eta = gamma_u L_u tau_u", etas, xs, study)


def _cell_values(cell) -> dict:
    """``Cell.values`` with ``Delta_F0`` at the study's initial point ``problem.init(0)``."""
    values = cell.values()
    p = cell.problem()
    u0, V0 = p.init(0)
    values["Delta_F0"] = max(float(p.F(u0, V0)) - values["F_low"], 0.0)
    return values


def _slopes(term, xs):
    s = L.log_slope(term, X)
    if s is None:
        return None
    f = sp.lambdify(X, s, "numpy")
    return tuple(float(np.broadcast_to(f(float(x)), ())) for x in xs)


def expectation(study) -> Expectation:
    """Theory's exponent for ``study`` (an ``ExponentStudy``), from its bound's terms.

    Raises
    ------
    ValueError
        ``study.leading`` or an absent label is not a term of the bound; the named term
        vanishes at the study's values or is not a power of the swept variable there; a symbol
        that changes along the sweep is not a power of it.
    """
    bound = theory.get_bound(study.bound)
    expr, labels = L.step_form(bound)
    names = {s.name: s for s in expr.free_symbols}
    for name in (study.leading, *(k for k, _ in study.absent)):
        if name not in labels and name in names and name not in ("eta", study.variable):
            labels[name] = names[name]  # a term named by a symbol it carries (e.g. "sigma")
    for name in (study.leading, *(k for k, _ in study.absent)):
        if name not in labels:
            raise ValueError(
                f"The 'leading' and 'absent' terms of exponent study {study.label!r} must be "
                f"among {list(labels)} (terms of bound '{study.bound}') or a symbol of its "
                f"step form. Got {name!r}."
            )
    if study.leading in dict(study.absent):
        raise ValueError(f"Exponent study {study.label!r}: the leading term cannot be absent.")
    xs = [float(x) for x in study.xs]
    cells = study.swept()
    table = [_cell_values(c) for c in cells]
    subs = {}
    for s in expr.free_symbols - FREE_CONSTANTS:
        if s == eta:
            subs[s] = _eta_policy(study, cells, xs)
        else:
            subs[s] = _power_of_x(s.name, [v[s.name] for v in table], xs, study)
    # split first: a term may be named by a symbol that the values then replace
    terms = {k: sp.expand(t.subs(subs)) for k, t in L.labelled_terms(expr, labels).items()}
    slopes = {k: _slopes(t, xs) for k, t in terms.items()}
    ones = {c: 1 for c in FREE_CONSTANTS}
    values = {
        k: tuple(float(t.subs(ones).subs(X, x)) for x in xs) if slopes[k] is not None else None
        for k, t in terms.items()
    }
    own = slopes[study.leading]
    if own is None:
        raise ValueError(
            f"Exponent study {study.label!r}: its leading term '{study.leading}' vanishes at "
            f"the study's values."
        )
    if not all(math.isclose(s, own[0], rel_tol=1e-9, abs_tol=1e-12) for s in own):
        raise ValueError(
            f"Exponent study {study.label!r}: the term '{study.leading}' is not a power of "
            f"'{study.variable}' at the study's values (local exponent {min(own):.3f} to "
            f"{max(own):.3f})."
        )
    return Expectation(
        study.leading,
        float(_rational(own[0])),
        terms,
        slopes,
        values,
        tuple(study.absent),
        _rate_exponent(bound, study.leading, subs, xs),
    )


def _rate_exponent(bound, label, subs, xs) -> float | None:
    """Exponent of the ``label`` term of the tuned main-text rate (``None`` if not one)."""
    from partialfed.theory import pillutla2022 as P

    if L.step_form(bound)[1] != P.PSI_TERMS or label not in P.RATE_TERMS:
        return None
    terms = {k: t.subs(subs) for k, t in L.labelled_terms(bound.rhs, P.RATE_TERMS).items()}
    s = _slopes(terms[label], xs)
    return None if s is None else float(_rational(s[0]))
