"""Mutation tests of the strict checks: wrong variants of each bound must come out "violated".

A strict check is worth as much as its ability to reject a wrong bound. :data:`MUTANTS` lists
wrong variants (each a function ``Bound -> Bound``): the bound times 0.9, the noise term halved,
``Delta_F0/T`` replaced by ``Delta_F0/T^1.25``, ``sigma_u^2/m`` by ``sigma_u^2/n``, the
diversity term dropped (``delta``, FedSGD's ``zeta``, A3''s ``delta_prime``), the coupling
``chi_bar`` set to 0. A mutant *applies* to a bound when it changes the bound (its right-hand
side, the weights of its left-hand side or its conditions); it is *caught* when some strict
instance of that bound says ``"violated"`` for it while the bound itself ``"holds"`` there
(``"inconclusive"`` and ``"outside assumptions"`` do not count, nor does an instance on which the
bound itself does not hold: there "violated" says nothing about the variant).

A mutant is checked with its own steps: ``strict_check(check, bound=mutant)`` chooses the steps
from the mutant's conditions, as a user who believed the wrong bound would. So ``chi_bar = 0``
is tested at the larger steps it allows. Runs are shared between mutants (and with the
unmutated check) whenever the cells are the same (same ``Cell.hash``).

:func:`mutation_score` runs every applicable mutant of every checked bound and returns a
:class:`MutationScore`: caught/total, per bound and mutant, with the instance that caught it;
:func:`blocks` lays it out for the report of ``partialfed reproduce``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import sympy as sp

from partialfed import theory
from partialfed.experiments.cell import execute
from partialfed.experiments.checks import Check, strict_check
from partialfed.experiments.report_blocks import table, text
from partialfed.theory import symbols as S
from partialfed.theory.bound_evaluation import compiled

__all__ = [
    "Mutant",
    "MUTANTS",
    "MutantResult",
    "MutationScore",
    "changes",
    "TITLE",
    "blocks",
    "finding",
    "memo_runner",
    "mutation_score",
]


@dataclass(frozen=True)
class Mutant:
    """A wrong variant of a bound.

    Parameters
    ----------
    name : str
        Short name (a column of the report's table).
    description : str
    mutate : callable
        ``mutate(bound) -> Bound``: the variant (the same bound where it does not apply).
    """

    name: str
    description: str
    mutate: Callable


def _subs(bound: theory.Bound, mapping: dict) -> theory.Bound:
    """``bound`` with symbols replaced everywhere (rhs, lhs weights, conditions)."""
    used = {s.name for s in bound.free_symbols | bound.lhs.free_symbols}
    mapping = {k: v for k, v in mapping.items() if k in used}
    return bound.substitute(mapping) if mapping else bound


def _scaled(bound):
    return replace(bound, rhs=sp.Rational(9, 10) * bound.rhs)


def _noise_halved(bound):
    # sigma^2 -> sigma^2/2 for every variance constant of the bound.
    half = {s.name: s / sp.sqrt(2) for s in (S.sigma, S.sigma_u, S.sigma_v)}
    return _subs(bound, half)


def _slower_T(bound):
    # Delta_F0/T -> Delta_F0/T^1.25 (and Delta_FT/T, the measured gap of the GD bounds).
    quarter = S.T ** sp.Rational(-1, 4)
    return replace(
        bound,
        rhs=bound.rhs.subs({S.Delta_F0: S.Delta_F0 * quarter}).subs(
            {S.Delta_FT: S.Delta_FT * quarter}
        ),
    )


def _sigma_over_n(bound):
    # sigma_u^2/m -> sigma_u^2/n (sympy matches the factor inside products)
    rhs = bound.rhs.subs(S.sigma_u**2 / S.m, S.sigma_u**2 / S.n)
    return replace(bound, rhs=rhs.subs(S.sigma**2 / S.m, S.sigma**2 / S.n))


def _delta_dropped(bound):
    return _subs(bound, {"delta": 0, "zeta": 0, "delta_prime": 0})


def _chi_zero(bound):
    return _subs(bound, {"L_uv": 0, "L_vu": 0})


#: The wrong variants every strict check must catch (docs of this module).
MUTANTS: tuple[Mutant, ...] = (
    Mutant("x0.9", "the whole bound times 0.9", _scaled),
    Mutant("noise/2", "sigma^2 -> sigma^2/2 (sigma, sigma_u, sigma_v)", _noise_halved),
    Mutant("T^1.25", "Delta_F0/T -> Delta_F0/T^1.25 (Delta_FT/T for GD)", _slower_T),
    Mutant("sigma_u^2/n", "sigma_u^2/m -> sigma_u^2/n (sigma^2/m for FedSGD)", _sigma_over_n),
    Mutant("delta=0", "the diversity term dropped (delta, zeta, delta_prime -> 0)", _delta_dropped),
    Mutant("chi_bar=0", "no coupling: L_uv = L_vu = 0 (chi = chi_bar = 0)", _chi_zero),
)


def _same(a: sp.Expr, b: sp.Expr, draws: int = 3) -> bool:
    """Whether two expressions agree: equal as trees, or at ``draws`` random positive points
    (the bounds are rational functions and roots of positive symbols)."""
    a, b = sp.sympify(a), sp.sympify(b)
    if a == b:
        return True
    syms = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    fa, fb = (compiled(e, tuple(syms), "math") for e in (a, b))
    rng = random.Random(0)
    for _ in range(draws):
        x = [rng.uniform(0.1, 2.0) for _ in syms]
        va, vb = float(fa(*x)), float(fb(*x))
        if not math.isclose(va, vb, rel_tol=1e-10, abs_tol=1e-14):
            return False
    return True


def changes(bound: theory.Bound, mutant: theory.Bound) -> bool:
    """Whether ``mutant`` differs from ``bound`` (rhs, lhs weights or conditions)."""
    if not _same(bound.rhs, mutant.rhs):
        return True
    pairs = zip(bound.lhs.terms, mutant.lhs.terms, strict=True)
    if any(not _same(a.weight, b.weight) for a, b in pairs):
        return True
    return _conditions(bound) != _conditions(mutant)


def _conditions(bound) -> list[str]:
    return [str(c.relation) for c in bound.conditions if c.checkable]


@dataclass(frozen=True)
class MutantResult:
    """One mutant of one bound: ``verdicts`` holds ``(label, verdict, ratio)`` per instance
    run (in order, up to the first that caught it); ``caught_by`` that instance's label."""

    bound: str
    mutant: str
    applies: bool
    caught_by: str | None = None
    verdicts: tuple = ()

    @property
    def caught(self) -> bool:
        return self.caught_by is not None


@dataclass(frozen=True)
class MutationScore:
    """Every (bound, mutant) pair with its outcome; ``caught``/``total`` over applicable ones.

    ``unmutated`` holds ``(bound, label, verdict, ratio)`` of each instance with the bound
    itself (a suite biased towards "violated" would fail there).
    """

    results: tuple
    unmutated: tuple = field(default=())

    @property
    def applicable(self) -> tuple:
        return tuple(r for r in self.results if r.applies)

    @property
    def caught(self) -> int:
        return sum(r.caught for r in self.applicable)

    @property
    def total(self) -> int:
        return len(self.applicable)

    @property
    def missed(self) -> tuple:
        return tuple((r.bound, r.mutant) for r in self.applicable if not r.caught)

    def as_dict(self) -> dict:
        return {
            "caught": self.caught,
            "total": self.total,
            "score": f"{self.caught}/{self.total}",
            "mutants": {m.name: m.description for m in MUTANTS},
            "results": [
                {
                    "bound": r.bound,
                    "mutant": r.mutant,
                    "applies": r.applies,
                    "caught_by": r.caught_by,
                    "verdicts": [list(v) for v in r.verdicts],
                }
                for r in self.results
            ],
            "unmutated": [list(u) for u in self.unmutated],
        }


def memo_runner(runner: Callable | None = None) -> Callable:
    """A runner that computes each distinct cell (by ``Cell.hash``) once and reuses it."""
    done: dict = {}

    def run(cells):
        todo = [c for c in cells if c.hash not in done]
        if todo:
            new = runner(todo) if runner is not None else [execute(c) for c in todo]
            done.update({c.hash: r for c, r in zip(todo, new, strict=True)})
        return [done[c.hash] for c in cells]

    def seed(cells, results):
        done.update({c.hash: r for c, r in zip(cells, results, strict=True)})

    run.seed = seed
    return run


def mutation_score(
    checks: Sequence[Check],
    *,
    runner: Callable | None = None,
    mutants: Sequence[Mutant] = MUTANTS,
    strict: Sequence = (),
    log: Callable[[str], None] | None = None,
    exact: bool = False,
) -> MutationScore:
    """Run every applicable mutant of every bound of ``checks`` on that bound's instances.

    Parameters
    ----------
    checks : sequence of Check
        Strict checks (e.g. ``studies.plan().strict``); grouped by ``check.bound``.
    runner : callable, optional
        ``runner(cells) -> list of RunResult``; wrapped so that identical cells run once.
    mutants : sequence of Mutant
    strict : sequence of StrictResult, optional
        Results of (some of) ``checks`` with the bounds themselves (the report's): their runs
        are reused, and they are not checked again.
    log : callable, optional
        One line per bound.
    exact : bool
        Decide with the exact expected left-hand side (``StrictResult.exact``) instead of the
        seeds' interval; instances without one (not quadratic, ...) are skipped.

    Returns
    -------
    MutationScore
    """
    run = memo_runner(runner)
    extra = {"exact": True} if exact else {}  # strict_check's keyword, only when asked for
    known = {}
    for r in strict:
        run.seed(r.check.cells(r.cell), r.results)
        known[id(r.check)] = r
    by_bound: dict[str, list] = {}
    for c in checks:
        by_bound.setdefault(c.bound, []).append(c)
    results, unmutated = [], []
    for k, (name, instances) in enumerate(by_bound.items(), 1):
        bound = theory.get_bound(name)
        if log is not None:
            log(f"[mutation {k}/{len(by_bound)}] {name}: {len(instances)} instance(s)")
        checked = {}
        for c in instances:
            r = known.get(id(c))
            if r is None or (exact and r.exact is None):
                r = strict_check(c, runner=run, **extra)
            checked[id(c)] = r
            unmutated.append((name, c.label, *_outcome(r, exact)))
        for mutant in mutants:
            wrong = mutant.mutate(bound)
            if not changes(bound, wrong):
                results.append(MutantResult(name, mutant.name, False))
                continue
            wrong = replace(wrong, name=f"{name}[{mutant.name}]")
            same_steps = _conditions(wrong) == _conditions(bound)
            verdicts, caught_by = [], None
            for c in instances:
                key = id(c)
                if same_steps:  # the steps of the bound itself: reuse its stepped cell
                    c = replace(c, cell=checked[key].cell, steps=None)
                if exact and checked[key].exact is None:
                    continue  # no exact left-hand side on this instance
                try:
                    r = strict_check(c, runner=run, bound=wrong, **extra)
                except ValueError as exc:  # no step satisfies the mutant's conditions
                    verdicts.append((c.label, f"error: {exc}", float("nan")))
                    continue
                verdict, ratio = _outcome(r, exact)
                verdicts.append((c.label, verdict, ratio))
                if verdict == "violated" and _outcome(checked[key], exact)[0] == "holds":
                    caught_by = c.label
                    break
            results.append(MutantResult(name, mutant.name, True, caught_by, tuple(verdicts)))
    return MutationScore(tuple(results), tuple(unmutated))


def _outcome(r, exact: bool) -> tuple:
    """``(verdict, ratio)`` of a strict result: its interval's, or its exact left-hand side's
    (``("n/a", nan)`` where it has none)."""
    if not exact:
        return r.verdict, r.ratio
    if r.exact is None:
        return "n/a", float("nan")
    return r.exact.verdict, r.exact.ratio


def finding(score: MutationScore) -> str:
    """One sentence for the report's findings: which wrong variants no instance rejects."""
    missed = ", ".join(f"`{b}` with `{m}`" for b, m in score.missed)
    return (
        f"Mutation score {score.caught}/{score.total}: no strict instance rejects {missed} "
        "(the checks cannot tell these wrong bounds from the right ones)."
    )


#: The title of the report's section.
TITLE = "Mutation tests (do the strict checks catch wrong bounds?)"


def blocks(score: MutationScore, links: Callable[[str], str] = lambda bound: "") -> list[dict]:
    """The report's section (``experiments.report_blocks``): a bound x mutant table (caught
    by / missed / n/a) and the score; ``links(bound)`` fills the last column (figure, configs)."""
    names = [m.name for m in MUTANTS]
    intro = (
        "Each wrong variant of a bound is checked, with the steps its own conditions allow, on "
        "every strict instance of that bound; it is *caught* when an instance where the bound "
        "itself holds says **violated**. "
        + "; ".join(f"`{m.name}`: {m.description}" for m in MUTANTS)
        + ". n/a: the variant equals the bound."
    )
    by_bound: dict = {}
    for r in score.results:
        by_bound.setdefault(r.bound, {})[r.mutant] = r
    rows = []
    for bound, row in by_bound.items():
        cells = []
        for n in names:
            r = row.get(n)
            if r is None or not r.applies:
                cells.append("n/a")
            elif r.caught:
                cells.append(f"caught by: {r.caught_by}")
            else:
                seen = ", ".join(sorted({v[1] for v in r.verdicts})) or "not run"
                cells.append(f"**missed** ({seen})")
        rows.append([f"`{bound}`", *cells, links(bound)])
    not_holding = [u for u in score.unmutated if u[2] != "holds"]
    itself = (
        "every one **holds**."
        if not not_holding
        else ", ".join(f"`{u[0]}` {u[2]} on {u[1]}" for u in not_holding) + "."
    )
    return [
        text(intro),
        text(f"Mutation score: **{score.caught}/{score.total}** applicable variants caught."),
        table(["bound", *(f"`{n}`" for n in names), "runs"], rows, name="mutation"),
        text(f"The bounds themselves, on the same {len(score.unmutated)} instances: {itself}"),
    ]
