"""How loose Per-FedAvg's recalled lemma constants are against exact ones (a check that can fail).

Each row evaluates a recalled lemma constant of ``theory.fallah2020.LEMMAS`` (unverified,
docs/references.md#fallah2020-lemmas) with a problem's exact constants and divides it by the
exact value of the quantity it bounds:

- on the shared-Hessian quadratic (docs/references.md#synthetic-shared-hessian-quadratic),
  ``theory.fallah2020.quadratic_exact_constants``: ``L_F`` (Lemma 4.2, ``4L + alpha rho_H B``
  against ``max_j lambda_j (1 - alpha lambda_j)^2``) and ``gamma_F^2`` (Lemma 4.4);
- on ``logcosh`` (docs/references.md#synthetic-logcosh), ``synthetic.logcosh.meta_exact``: the
  same two and the derived gradient bound ``||grad F~_i|| <= (1 + alpha L) B``
  (docs/references.md#fallah2020-lemmas), where ``B`` and ``rho_H`` are finite on all of R^d.

A ratio below 1 means the lemma, with these exact inputs, is *below* the exact quantity: the
lemma (as recalled) is violated there. :data:`MUTANTS` are wrong variants of the lemmas;
:func:`lemma_mutation` reports whether each is caught (violated on some row) while the recalled
lemmas hold on every row. Bias and variance (Lemma 4.3) need minibatch Hessian noise, which the
simulators do not draw, so they are not in the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from partialfed import synthetic
from partialfed.synthetic.logcosh import meta_exact, perfedavg_constants
from partialfed.theory import fallah2020
from partialfed.theory import symbols as S

__all__ = ["LemmaRow", "MUTANTS", "SETTINGS", "lemma_rows", "lemma_mutation", "GRAD_BOUND"]

#: The derived bound ``sup ||grad F~_i|| <= (1 + alpha L) B``
#: (docs/references.md#fallah2020-lemmas).
GRAD_BOUND = fallah2020.LemmaConstant(
    "grad_F",
    (1 + S.alpha * S.L) * S.B,
    "||grad F_i(w)|| <= (1 + alpha L) B",
    "derived",
    "docs/references.md#fallah2020-lemmas (derived here)",
)

#: Wrong variants a looseness check must catch: (name, lemma it replaces, expression).
MUTANTS = (
    ("L_F without 4L", "L_F", S.alpha * S.rho_H * S.B),
    ("gamma_F^2 without 192 gamma_G^2", "gamma_F_sq", 3 * S.B**2 * S.alpha**2 * S.gamma_H**2),
    (
        "gamma_F^2 with alpha^2 for 192",
        "gamma_F_sq",
        S.alpha**2 * (3 * S.B**2 * S.gamma_H**2 + S.gamma_G**2),
    ),
    ("grad bound B alone, times (1 - alpha L)", "grad_F", (1 - S.alpha * S.L) * S.B),
)


@dataclass(frozen=True)
class LemmaRow:
    """One lemma constant on one instance: recalled value, exact value, ratio, verdict."""

    setting: str
    lemma: str
    statement: str
    provenance: str
    recalled: float
    exact: float

    @property
    def ratio(self) -> float:
        return math.inf if self.exact == 0 else self.recalled / self.exact

    @property
    def verdict(self) -> str:
        """``holds`` when the lemma's value is at least the exact one (to 1e-12), else
        ``violated``."""
        return "holds" if self.recalled >= self.exact * (1 - 1e-12) else "violated"

    def as_dict(self) -> dict:
        return {
            "setting": self.setting,
            "lemma": self.lemma,
            "provenance": self.provenance,
            "recalled": self.recalled,
            "exact": self.exact,
            "ratio": self.ratio,
            "verdict": self.verdict,
        }


def _quadratic_instance(d: int = 4, n: int = 6, seed: int = 0):
    """``A = diag(linspace(1, 0.2, d))`` (``L = 1``) and seeded normal centres ``C``."""
    A = np.diag(np.linspace(1.0, 0.2, d))
    C = np.random.default_rng([seed, 0xFA11]).standard_normal((n, d))
    return A, C


#: The instances of the table: (label, kind, parameters, alpha).
SETTINGS = (
    ("quadratic d=4, alpha=0.1", "quadratic", {}, 0.1),
    ("quadratic d=4, alpha=0.9", "quadratic", {}, 0.9),
    ("logcosh d=6, a=1, alpha=0.1", "logcosh", dict(n=6, d_u=3, d_v=3, gamma_G=0.8), 0.1),
    (
        "logcosh d=6, a=0.3, alpha=0.9",
        "logcosh",
        dict(n=6, d_u=3, d_v=3, scale=0.3, gamma_G=0.4),
        0.9,
    ),
)


def _value(expr, vals: dict) -> float:
    return float(sp.sympify(expr).subs(vals))


def lemma_rows(lemmas: dict | None = None, settings=SETTINGS) -> list[LemmaRow]:
    """The table: every lemma of ``lemmas`` (default the recalled ``L_F``, ``gamma_F_sq`` and
    the derived gradient bound) on every setting where its exact counterpart is computable."""
    lemmas = {
        "L_F": fallah2020.LEMMAS["L_F"],
        "gamma_F_sq": fallah2020.LEMMAS["gamma_F_sq"],
        "grad_F": GRAD_BOUND,
        **(lemmas or {}),
    }
    rows = []
    for label, kind, knobs, alpha in settings:
        if kind == "quadratic":
            A, C = _quadratic_instance(**knobs)
            ex = fallah2020.quadratic_exact_constants(A, C, alpha)
            vals = {S.L: ex["L"], S.alpha: alpha, S.rho_H: 0.0, S.gamma_H: 0.0, S.B: 0.0}
            vals[S.gamma_G] = math.sqrt(ex["gamma_G_sq"])
            exact = {"L_F": ex["L_F"], "gamma_F_sq": ex["gamma_F_sq"]}  # B infinite: no grad row
        else:
            p = synthetic.make("logcosh", **knobs)
            pc = perfedavg_constants(p)
            me = meta_exact(p, alpha)
            vals = {getattr(S, k): v for k, v in pc.values().items() if hasattr(S, k)}
            vals[S.alpha] = alpha
            exact = {"L_F": me["L_F"], "gamma_F_sq": me["gamma_F_sq"], "grad_F": me["grad_F_max"]}
        for name, value in exact.items():
            lem = lemmas[name]
            rows.append(
                LemmaRow(label, name, lem.statement, lem.provenance, _value(lem.expr, vals), value)
            )
    return rows


def lemma_mutation(rows: list[LemmaRow] | None = None, mutants=MUTANTS) -> list[dict]:
    """Each mutant's rows and whether it is caught (violated on at least one row)."""
    out = []
    for name, lemma, expr in mutants:
        base = fallah2020.LEMMAS.get(lemma, GRAD_BOUND if lemma == "grad_F" else None)
        mutant = fallah2020.LemmaConstant(lemma, expr, base.statement, "mutant", name)
        mrows = [r for r in lemma_rows({lemma: mutant}) if r.lemma == lemma]
        worst = min(mrows, key=lambda r: r.ratio)
        out.append(
            {
                "mutant": name,
                "lemma": lemma,
                "caught": any(r.verdict == "violated" for r in mrows),
                "worst_ratio": worst.ratio,
                "worst_setting": worst.setting,
            }
        )
    return out
