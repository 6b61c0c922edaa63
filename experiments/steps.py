"""Step-size rules: how a check or study sets ``gamma_u, gamma_v`` of its cells.

Each rule is a small frozen object with one method, ``steps(cell, bound=None) -> dict`` of the
step fields it sets; :func:`stepped` returns the cell with them.

- :class:`MaxStep` -- ``fraction`` times the largest steps the bound's conditions allow.
- :class:`Eta` -- the theorems' parametrisation ``gamma_u = eta/(L_u tau_u)``,
  ``gamma_v = eta/(L_v tau_v)`` (docs/references.md#pillutla2022-step-sizes), with
  ``eta = eta0 (x/x0)^power`` for a swept variable ``x`` (``power = 0``: a constant eta).
- :class:`TunedEta` -- the same parametrisation with the eta that balances the descent and noise
  terms of the theorem, per algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from partialfed.experiments.cell import RUN_FIELDS, SINGLE_BLOCK, Cell

__all__ = ["STEP_FIELDS", "MaxStep", "Eta", "TunedEta", "stepped", "tuned_eta"]

#: The run fields a step rule sets.
STEP_FIELDS = ("gamma_u", "gamma_v")


def stepped(cell: Cell, rule, bound=None) -> Cell:
    """``cell`` with the steps of ``rule`` (unchanged when ``rule`` is None)."""
    return cell if rule is None else cell.with_run(**rule.steps(cell, bound))


# -- the largest steps a bound allows -----------------------------------------------------------
def _conditions(bound):
    return [c for c in bound.conditions if c.checkable]


def _value(values: Mapping, name: str):
    """A bound symbol's value: by its own name, or through ``SINGLE_BLOCK``."""
    key = SINGLE_BLOCK.get(name, name)
    return values[key if key in values else name]


_COMPARE = {sp.LessThan: float.__le__, sp.StrictLessThan: float.__lt__}
_COMPARE.update({sp.GreaterThan: float.__ge__, sp.StrictGreaterThan: float.__gt__})


@lru_cache(maxsize=512)
def _compiled(relation):
    """``(symbols, f)`` with ``f(*values) = (lhs, rhs)`` as floats (an inequality), or None."""
    if type(relation) not in _COMPARE:
        return None
    syms = tuple(sorted(relation.free_symbols, key=lambda s: s.name))
    return syms, sp.lambdify(syms, (relation.lhs, relation.rhs), modules="math")


@lru_cache(maxsize=512)
def _free(relation) -> tuple:
    """The free symbols of a condition (sympy recomputes them on every access)."""
    return tuple(relation.free_symbols)


def holds(bound, values: Mapping) -> bool:
    """Whether every checkable condition of ``bound`` holds at ``values``.

    Inequalities are evaluated in floats (compiled once per relation; the bisection of
    :class:`MaxStep` calls this ~100 times per step), equalities by sympy.
    """
    subs = {}
    for c in _conditions(bound):
        for s in _free(c.relation):
            try:
                subs[s] = _value(values, s.name)
            except KeyError:
                return False
        fast = _compiled(c.relation)
        if fast is not None:
            syms, f = fast
            try:
                a, b = f(*(float(subs[s]) for s in syms))
            except (ZeroDivisionError, ValueError, OverflowError):
                a = b = math.nan
            if not _COMPARE[type(c.relation)](float(a), float(b)):
                return False
        elif not bool(c.relation.subs(subs)):
            return False
    return True


def _step_symbols(bound) -> dict:
    """Step field -> symbols of the bound's conditions that stand for it."""
    out: dict = {}
    for c in _conditions(bound):
        for s in c.relation.free_symbols:
            name = SINGLE_BLOCK.get(s.name, s.name)
            if name in STEP_FIELDS:
                out.setdefault(name, set()).add(s)
    return out


@dataclass(frozen=True)
class MaxStep:
    """``fraction`` times the largest steps in ``fields`` that the bound's conditions allow.

    An equality condition (e.g. ``gamma = 1/L``) is solved exactly; otherwise the supremum is
    found by bisection in log scale, then multiplied by ``fraction``. The conditions are monotone
    in each step, except the joint ``a_v > 0`` of the A3' bounds, which at a fixed ``gamma_u > 0``
    holds for ``gamma_v`` in an interval away from 0: when the smallest step (1e-12) fails, a log
    grid (10 points a decade, scanned downwards) finds the largest admissible grid step and the
    bisection starts there (an interval narrower than a grid step can be missed). Steps are
    chosen one after the other in the order of ``fields``, the later ones with the earlier fixed
    (the others at 1e-12 meanwhile); if the result violates a joint condition, all are halved
    until it holds, and if it never does (a ``fraction`` that takes ``gamma_v`` below such an
    interval) it is refused. Step fields not in ``fields`` keep the cell's values. Under a joint
    condition such as ``a_v > 0`` of the A3' bounds (``gamma_u^2 = O(gamma_v)``),
    ``fields=("gamma_v", "gamma_u")`` chooses ``gamma_v`` first; the default order would pin
    ``gamma_u`` near 1e-6 against ``gamma_v = 1e-12``.
    ``fractions``, pairs ``(field, fraction)``, override ``fraction`` for the fields they name
    (e.g. ``(("gamma_u", 1.0),)``: the whole supremum of a non-strict condition
    ``gamma_u <= 1/L_u``, half of the others).
    """

    fraction: float = 1.0
    fields: tuple = STEP_FIELDS
    fractions: tuple = ()

    def steps(self, cell: Cell, bound=None) -> dict:
        if bound is None:
            raise ValueError("MaxStep needs the bound whose conditions limit the steps.")
        wanted = [f for f in self.fields if f in STEP_FIELDS]
        if not wanted:
            return {}
        symbols = _step_symbols(bound)
        vals = cell.values()
        for f in STEP_FIELDS:
            vals[f] = 1e-12 if f in wanted else float(getattr(cell.run, f))
        for f in wanted:
            if f not in symbols:
                raise ValueError(
                    f"The '{f}' parameter of the check is 'max', but bound '{bound.name}' has "
                    f"no condition on it; give a number."
                )
            eq = [
                c.relation
                for c in _conditions(bound)
                if isinstance(c.relation, sp.Equality) and c.relation.free_symbols & symbols[f]
            ]
            if eq:
                (sym,) = symbols[f] & eq[0].free_symbols
                others = {s: _value(vals, s.name) for s in eq[0].free_symbols if s is not sym}
                vals[f] = float(sp.solve(eq[0].subs(others), sym)[0])
                continue
            lo, hi = -12.0, 6.0
            vals[f] = 10.0**lo
            if not holds(bound, vals):
                # not monotone (an interval away from 0): the largest admissible grid step,
                # scanning down from the top, then bisection up to the next grid step
                for k in range(10 * 18, 0, -1):
                    vals[f] = 10.0 ** (lo + k / 10.0)
                    if holds(bound, vals):
                        lo, hi = lo + k / 10.0, min(lo + (k + 1) / 10.0, 6.0)
                        break
                else:
                    raise ValueError(
                        f"No step '{f}' satisfies the conditions of bound '{bound.name}'."
                    )
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                vals[f] = 10.0**mid
                lo, hi = (mid, hi) if holds(bound, vals) else (lo, mid)
            vals[f] = dict(self.fractions).get(f, self.fraction) * 10.0**lo
        first = {f: vals[f] for f in wanted}
        for _ in range(60):
            if holds(bound, vals):
                break
            for f in wanted:
                vals[f] *= 0.5
        else:
            steps = ", ".join(f"{f}={first[f]:.6g}" for f in wanted)
            raise ValueError(
                f"MaxStep(fraction={self.fraction}): the steps {steps} (and their halvings) "
                f"violate the conditions of bound '{bound.name}'; an admissible set that is an "
                "interval away from 0 (a_v > 0 of the A3' bounds) needs a larger fraction."
            )
        return {f: float(vals[f]) for f in wanted}


# -- the theorems' parametrisation ---------------------------------------------------------------
#: The largest step ``simulators.RunConfig`` accepts.
_GAMMA_MAX = 1e6


def _eta_steps(cell: Cell, eta: float) -> dict:
    c = cell.problem().constants
    steps = {
        "gamma_u": eta / (c.L_u * cell.run.tau_u),
        "gamma_v": eta / (c.L_v * cell.run.tau_v),
    }
    for name, gamma in steps.items():
        if not 0 <= gamma <= _GAMMA_MAX:  # NaN fails too
            raise ValueError(
                f"The step rule's eta (--eta) = {eta:g} gives {name} = eta/(L tau) = {gamma:g}, "
                f"beyond the allowed [0, {_GAMMA_MAX:g}]; eta must be at most "
                f"{_GAMMA_MAX:g} L tau (L_u = {c.L_u:g}, L_v = {c.L_v:g} here)."
            )
    return steps


@dataclass(frozen=True)
class Eta:
    """``gamma_u = eta/(L_u tau_u)``, ``gamma_v = eta/(L_v tau_v)`` with
    ``eta = eta0 (x/x0)^power``, ``x`` the cell's value of ``variable`` (a run field or knob)."""

    eta0: float
    variable: str | None = None
    x0: float = 1.0
    power: float = 0.0

    def steps(self, cell: Cell, bound=None) -> dict:
        eta = self.eta0
        if self.variable is not None:
            if self.variable in RUN_FIELDS:
                x = getattr(cell.run, self.variable)
            else:
                x = dict(cell.knobs)[self.variable]
            eta = self.eta0 * (x / self.x0) ** self.power
        return _eta_steps(cell, eta)

    def __str__(self) -> str:
        if self.variable is None:
            return f"eta = {self.eta0} for both, gamma = eta/(L tau)"
        return (
            f"eta = {self.eta0} ({self.variable}/{self.x0:g})^{self.power:g}, gamma = eta/(L tau)"
        )


def tuned_eta(algorithm: str, problem, run, eta_max: float) -> float:
    """``eta = min(eta_max, sqrt(Delta_F0 / (sigma_{alg,1}^2 T)))``: the step that balances the
    descent and noise terms of the theorem (``theory.pillutla2022.eta_balanced`` with its
    unknown constants set to 1), from the problem's initial gap and reconstructed variance."""
    from partialfed.theory import pillutla2022

    values = dict(problem.constants.as_dict(), n=problem.n, m=run.m)
    s1 = pillutla2022.sig1(algorithm)
    s1 = float(s1.subs({sym: values[sym.name] for sym in s1.free_symbols}))
    u0, V0 = problem.init(0)
    gap = max(problem.F(u0, V0) - values["F_low"], 0.0)
    if s1 <= 0:
        return eta_max
    return min(eta_max, (gap / (s1 * run.T)) ** 0.5)


@dataclass(frozen=True)
class TunedEta:
    """The theorem's parametrisation with each algorithm's balanced eta (:func:`tuned_eta`),
    capped at ``eta_max``."""

    eta_max: float = 0.5

    def steps(self, cell: Cell, bound=None) -> dict:
        eta = tuned_eta(cell.run.algorithm, cell.problem(), cell.run, self.eta_max)
        return _eta_steps(cell, eta)

    def __str__(self) -> str:
        return (
            f"each algorithm its theorem-balanced eta = min({self.eta_max:g}, "
            "(Delta_F0/(sigma_1^2 T))^(1/2)), gamma = eta/(L tau)"
        )
