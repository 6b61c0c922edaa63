"""Which term of a rate leads in a swept variable, and with which exponent, under a step policy.

An exponent study sweeps one variable ``x`` with a step policy ``eta = eta0 (x/x0)^power``,
``gamma_u = eta/(L_u tau_u)``, ``gamma_v = eta/(L_v tau_v)``
(docs/references.md#pillutla2022-step-sizes) and claims that one term of a bound leads. Its
expected exponent is read from the bound, not written by hand:

1. :func:`step_form` -- the bound's right-hand side as a function of ``eta``: the steps
   ``gamma_*`` substituted by the parametrisation above, or, for the main-text FedAlt/FedSim
   theorems (whose right-hand side is the rate *after* tuning ``eta``), the pre-tuning template
   ``Psi(eta)`` of :func:`theory.pillutla2022.psi_template`;
2. :func:`labelled_terms` -- the expanded form split into named additive terms (a term is named
   by the free constant it carries, e.g. ``"noise"`` for ``c_5 eta s1``);
3. :func:`log_slope` -- ``d log term / d log x`` once every other symbol has its value (a
   number or a power of ``x``) and ``eta`` its policy.

Pure sympy; the experiments layer supplies the values (``experiments.checks.exponents``).
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from partialfed.theory import pillutla2022 as P
from partialfed.theory.bound import Bound
from partialfed.theory.symbols import (
    FREE_CONSTANTS,
    L,
    L_u,
    L_v,
    eta,
    gamma,
    gamma_u,
    gamma_v,
    tau,
    tau_u,
    tau_v,
)

__all__ = ["STEP_POLICY", "step_form", "labelled_terms", "log_slope", "term_exponents_under"]

STEP_POLICY = {gamma_u: eta / (L_u * tau_u), gamma_v: eta / (L_v * tau_v), gamma: eta / (L * tau)}
"""``gamma = eta/(L tau)`` per block (docs/references.md#pillutla2022-step-sizes)."""


def _main_algorithm(bound: Bound) -> str | None:
    """The algorithm whose main-text rate template is ``bound.rhs``, if it is one."""
    if bound.algorithm not in ("fedalt", "fedsim"):
        return None
    template = P.rate_template(P.sig1(bound.algorithm), P.sig2(bound.algorithm))
    return bound.algorithm if sp.simplify(bound.rhs - template) == 0 else None


def step_form(bound: Bound) -> tuple[sp.Expr, dict[str, sp.Symbol]]:
    """A bound's right-hand side as a function of ``eta``, with its term labels.

    Parameters
    ----------
    bound : Bound

    Returns
    -------
    expr : sympy.Expr
        For the main-text FedAlt/FedSim theorems (right-hand side
        :func:`theory.pillutla2022.rate_template`, valid for the tuned ``eta``), the pre-tuning
        template ``Psi(eta) = c_4 D/(eta T) + c_5 eta s1 + c_6 eta^2 s2``
        (:func:`theory.pillutla2022.psi_template`; reconstructed), whose minimum over ``eta`` is
        the main rate (:func:`theory.pillutla2022.tuned_rate`). Otherwise the right-hand side
        with ``gamma_u, gamma_v, gamma`` replaced by :data:`STEP_POLICY`.
    labels : dict
        Term label -> the free constant that marks the term: :data:`theory.pillutla2022.
        PSI_TERMS` (``descent``, ``noise``, ``drift``) for the main theorems, otherwise every
        free constant of the bound under its own name.
    """
    algo = _main_algorithm(bound)
    if algo is not None:
        return P.psi_template(algo), dict(P.PSI_TERMS)
    labels = {s.name: s for s in sorted(bound.free_constants, key=lambda s: s.name)}
    return bound.rhs.subs(STEP_POLICY), labels


def labelled_terms(expr: sp.Expr, labels: Mapping[str, sp.Symbol]) -> dict[str, sp.Expr]:
    """Split ``expr`` into named additive terms.

    ``expr`` is expanded; each additive part goes to the label whose symbol it contains (a part
    with none goes to ``"other"``). A part carrying two labels' symbols cannot be attributed and
    raises ``ValueError``.

    Parameters
    ----------
    expr : sympy.Expr
    labels : mapping
        Label -> marking symbol (e.g. ``{"noise": c_5}``).

    Returns
    -------
    dict
        Label -> sum of its parts (``0`` for a label with no part), in the order of ``labels``,
        then ``"other"`` if any.
    """
    out = {k: sp.Integer(0) for k in labels}
    for part in sp.Add.make_args(sp.expand(expr)):
        names = [k for k, s in labels.items() if part.has(s)]
        if len(names) > 1:
            raise ValueError(f"The term {part} carries the symbols of labels {names}.")
        key = names[0] if names else "other"
        out[key] = out.get(key, sp.Integer(0)) + part
    if out.get("other") == 0:
        out.pop("other")
    return out


def log_slope(term: sp.Expr, x: sp.Symbol) -> sp.Expr | None:
    """``d log term / d log x`` (``None`` for a term that is identically zero).

    A number when ``term`` is a power of ``x`` (times factors free of ``x``); otherwise an
    expression in ``x`` (and whatever symbols remain).
    """
    if term == 0:
        return None
    return sp.simplify(sp.powsimp(x * sp.diff(term, x) / term, force=True))


def term_exponents_under(
    bound: Bound, x: sp.Symbol, subs: Mapping[sp.Symbol, sp.Expr]
) -> dict[str, sp.Expr | None]:
    """Exponent in ``x`` of every labelled term of :func:`step_form` after ``subs``.

    Parameters
    ----------
    bound : Bound
    x : sympy.Symbol
        The swept variable (positive).
    subs : mapping
        Symbol -> number or expression in ``x``: the study's values, ``eta`` its policy. Free
        constants are best left out (the exponent of a labelled term does not depend on them
        when the term is a power of ``x``).

    Returns
    -------
    dict
        Label -> exponent (a number for a power law, an expression otherwise, ``None`` for a
        term that vanishes at these values).
    """
    expr, labels = step_form(bound)
    terms = labelled_terms(expr.subs(dict(subs)), labels)
    return {k: log_slope(t, x) for k, t in terms.items()}


def free_constants_of(expr: sp.Expr) -> set:
    """The free constants (:data:`theory.symbols.FREE_CONSTANTS`) in ``expr``."""
    return set(expr.free_symbols) & set(FREE_CONSTANTS)
