"""Exponent checks of Per-FedAvg's Theorem 4.5 (recalled structure, free constants c_0..c_4).

``theory.fallah2020.THEOREM_4_5`` is unverified (docs/references.md#fallah2020-theorem), so only
the exponents of its terms are checked: in a regime where one term leads, the 95% interval of
the log-log slope of the measured left-hand side in one variable (``checks.fit_slope``) is
compared with that term's exponent, read from the bound with sympy (:func:`term_exponent`), by
the equivalence test of ``checks.ExponentResult`` (margin ``checks.TOLERANCE``).

Measured left-hand side: the mean over rounds ``k = 0..K-1`` of ``||grad F~(w^k)||^2`` (History
column ``meta_grad_sq``, exact through Hessian-vector products) at the server iterate ``w^k``.
The theorem averages over the local steps of the agents' mean iterate as well; with one local
step (every study here) the two coincide up to the last round.

Studies (:data:`studies`), all on ``logcosh`` (B, rho_H finite on R^d, constants exact,
docs/references.md#synthetic-logcosh), ``beta = 1/(10 tau L_F)`` with the recalled ``L_F`` (the
theorem's own condition), one local step:

- ``K`` (rounds ``T``), deterministic, full participation: the descent term ``c_0 Delta_F0 /
  (beta tau K)`` leads (no noise, no sampling); exponent -1.
- ``sigma_G`` (additive gradient noise), full participation: the variance term ``c_1 beta L_F
  sigma_F^2 / (r n)`` with ``sigma_F^2`` from Lemma 4.3 (``∝ sigma_G^2``); exponent 2.
- ``gamma_F`` (the exact meta-gradient dissimilarity, swept through the knob ``gamma_G``),
  deterministic, ``r = 1/2``: the sampling/heterogeneity term ``c_2 beta L_F gamma_F^2 (1 - r) /
  (r n)``; exponent 2 (item (iii) of the issue: the final stationarity against the
  dissimilarity knob).

:data:`MUTANTS` are wrong variants of the theorem (one exponent changed); on the same
measurements each must be ``contradicts`` (:func:`mutation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp
from scipy import stats

from partialfed.experiments.cell import RUN_FIELDS, Cell
from partialfed.experiments.checks import ExponentResult, Slope, fit_slope
from partialfed.experiments.measure import simulate
from partialfed.experiments.store_frame import by_round
from partialfed.synthetic.logcosh import meta_exact
from partialfed.theory import fallah2020
from partialfed.theory import symbols as S

__all__ = [
    "ThmStudy",
    "studies",
    "term_exponent",
    "thm45_check",
    "MUTANTS",
    "mutant_bound",
    "mutation",
    "COLUMN",
    "paired_slope",
]

COLUMN = "meta_grad_sq"
#: Lemma 4.3 with no Hessian noise (sigma_H = 0): sigma_F^2 as a function of sigma_G.
_SIGMA_F_SQ = fallah2020.LEMMAS["sigma_F_sq"].expr.subs(S.sigma_H, 0)


def term_exponent(bound, constant: str, symbol: sp.Symbol) -> float:
    """The exponent in ``symbol`` of the term of ``bound.rhs`` carrying the free constant
    ``constant``: ``d log(term) / d log(symbol)``, with ``sigma_F^2`` replaced by Lemma 4.3's
    expression when ``symbol`` is ``sigma_G``. Must be a number (a pure power)."""
    c = sp.Symbol(constant, positive=True)
    c = next((s for s in bound.rhs.free_symbols if s.name == constant), c)
    terms = [t for t in sp.Add.make_args(bound.rhs) if c in t.free_symbols]
    if not terms:
        raise ValueError(f"The bound {bound.name!r} has no term carrying {constant!r}.")
    term = sp.Add(*terms)
    if symbol == S.sigma_G:
        term = term.subs(S.sigma_F, sp.sqrt(_SIGMA_F_SQ))
    e = sp.simplify(symbol * sp.diff(sp.log(term), symbol))
    if not e.is_number:
        raise ValueError(f"The term {term} is not a pure power of {symbol} (exponent {e}).")
    return float(e)


@dataclass(frozen=True)
class ThmStudy:
    """One exponent study of Theorem 4.5.

    Parameters
    ----------
    label : str
    cell : Cell
        A ``logcosh`` problem and a ``perfedavg`` run (``eval_every = 1``).
    variable : str
        The swept run field or knob (``T``, ``noise``, ``gamma_G``); ``noise`` sets ``noise_u =
        noise_v = x / sqrt(2)`` (so ``sigma_G = x``).
    xs : tuple
    constant : str
        The free constant of the leading term (``c_0``, ``c_1``, ``c_2``).
    symbol : sympy.Symbol
        The theorem's symbol for the variable (``K``, ``sigma_G``, ``gamma_F``).
    seeds : tuple of int
    why : str
    burn_in : float
        Fraction of the rounds left out of the mean (0: the theorem's average over all
        ``K`` rounds). The floor studies use 1/2: the average over ``k in [K/2, K)`` is at most
        twice the theorem's left-hand side, and the K-independent terms are measured without
        the descent transient.
    """

    label: str
    cell: Cell
    variable: str
    xs: tuple
    constant: str
    symbol: object
    seeds: tuple = (0, 1, 2)
    why: str = ""
    burn_in: float = 0.0

    def swept(self) -> list[Cell]:
        out = []
        for x in self.xs:
            if self.variable in RUN_FIELDS:
                cell = self.cell.with_run(**{self.variable: x})
            elif self.variable == "noise":
                s = float(x) / np.sqrt(2.0)
                cell = self.cell.with_knobs(noise_u=s, noise_v=s)
            else:
                cell = self.cell.with_knobs(**{self.variable: x})
            out.append(_beta(cell))
        return out

    def x_value(self, cell: Cell, x) -> float:
        """The theorem's variable at ``cell`` (``gamma_F`` computed exactly, else ``x``)."""
        if self.symbol == S.gamma_F:
            return float(np.sqrt(meta_exact(cell.problem(), cell.run.alpha)["gamma_F_sq"]))
        return float(x)


def _beta(cell: Cell) -> Cell:
    """``beta = 1/(10 tau L_F)`` with the recalled ``L_F = 4L + alpha rho_H B`` (the theorem's
    step condition, docs/references.md#fallah2020-theorem)."""
    from partialfed.synthetic.logcosh import perfedavg_constants

    pc = perfedavg_constants(cell.problem())
    L_F = 4 * pc.L + cell.run.alpha * pc.rho_H * pc.B
    beta = 1.0 / (10 * cell.run.tau_u * L_F)
    return cell.with_run(gamma_u=beta, gamma_v=beta)


def studies(quick: bool = True) -> tuple:
    """The shipped studies (quick: a few seconds of runs once compiled)."""
    seeds = (0, 1, 2, 3) if quick else tuple(range(8))
    base = dict(n=10, d_u=3, d_v=3, planted=3, gamma_G=0.6)
    run = dict(algorithm="perfedavg", m=10, tau_u=1, tau_v=1, alpha=0.1, eval_every=1)
    Ts = (400, 800, 1600, 3200) if quick else (400, 800, 1600, 3200, 6400)
    T = 1600 if quick else 3200
    return (
        ThmStudy(
            "perfedavg: K, deterministic, full participation",
            Cell.of("logcosh", base, {**run, "T": Ts[0]}),
            "T",
            Ts,
            "c_0",
            S.K,
            (0,),
            "no noise and r = 1: only the descent term c_0 Delta_F0/(beta tau K) is left",
        ),
        ThmStudy(
            "perfedavg: sigma_G, full participation",
            Cell.of("logcosh", base, {**run, "T": T}),
            "noise",
            (0.5, 1.0, 2.0, 4.0),
            "c_1",
            S.sigma_G,
            seeds,
            "r = 1 (no sampling term), tau = 1: the variance term beta L_F sigma_F^2/(r n) leads",
            0.5,
        ),
        ThmStudy(
            "perfedavg: gamma_F, deterministic, r = 1/2",
            Cell.of("logcosh", base, {**run, "T": T, "m": 5}),
            "gamma_G",
            # Small dissimilarities, where the floor responds linearly: over gamma_G 0.1..0.8
            # the paired slope was 1.955 [1.936, 1.973] (4 seeds, measured 2026-12-02), the
            # floor growing a little slower than gamma_F^2 once the shifts reach the curved part.
            (0.05, 0.1, 0.2, 0.4),
            "c_2",
            S.gamma_F,
            seeds,
            "no noise, half the agents per round: the sampling term beta L_F gamma_F^2 (1-r)/(r n)",
            0.5,
        ),
    )


@dataclass(frozen=True)
class ThmMeasured:
    """Per-seed measurements of one study: ``x`` (the theorem's variable) and ``y`` (LHS)."""

    study: ThmStudy
    x: tuple
    y: tuple


def measure(study: ThmStudy, runner: Callable | None = None) -> ThmMeasured:
    """Run every (x, seed) of ``study``; the LHS of each run."""
    cells = study.swept()
    seeded = [replace(c.with_run(seed=s), init_seed=0) for c in cells for s in study.seeds]
    results = iter(simulate(seeded, runner))
    xs, ys = [], []
    for x, cell in zip(study.xs, cells, strict=True):
        xv = study.x_value(cell, x)
        for _ in study.seeds:
            f = by_round(next(results).frame)
            T = cell.run.T
            k = f["round"].to_numpy()
            vals = f[COLUMN].to_numpy(dtype=float)[(k < T) & (k >= study.burn_in * T)]
            xs.append(xv)
            ys.append(float(np.mean(vals)))
    return ThmMeasured(study, tuple(xs), tuple(ys))


def paired_slope(x, y, seeds: int, level: float = 0.95) -> Slope:
    """The log-log slope with one intercept per seed (runs of one seed share their device
    sampling and noise across the swept values, so a seed's level cancels): least squares on
    ``log x``, ``log y`` centred within each seed, Student-t interval with ``N - seeds - 1``
    degrees of freedom. One seed: :func:`checks.fit_slope`."""
    if seeds < 2:
        return fit_slope(x, y, level)
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    g = np.tile(np.arange(seeds), lx.size // seeds)  # runs are ordered x-major, seed-minor
    for s in range(seeds):
        lx[g == s] -= lx[g == s].mean()
        ly[g == s] -= ly[g == s].mean()
    b = float(lx @ ly / (lx @ lx))
    dof = lx.size - seeds - 1
    resid = ly - b * lx
    se = float(np.sqrt(resid @ resid / dof / (lx @ lx)))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return Slope(b, b - half, b + half, float("nan"))


def thm45_check(measured: ThmMeasured, bound=fallah2020.THEOREM_4_5) -> ExponentResult:
    """The slope of ``measured`` (:func:`paired_slope`) against the exponent of ``bound``'s
    leading term."""
    st = measured.study
    k = len(st.seeds)
    fit = paired_slope(measured.x, measured.y, k)
    xs = tuple(measured.x[i * k] for i in range(len(st.xs)))
    means = tuple(float(np.mean(measured.y[i * k : (i + 1) * k])) for i in range(len(st.xs)))
    return ExponentResult(
        st.label,
        str(st.symbol),
        xs,
        means,
        fit,
        term_exponent(bound, st.constant, st.symbol),
        bound=bound.name,
        leading=st.constant,
    )


def mutant_bound(name: str):
    """Theorem 4.5 with the exponent of one term changed (:data:`MUTANTS`)."""
    b = fallah2020.THEOREM_4_5
    old, new = MUTANTS[name]
    rhs = b.rhs.subs(old, new)
    if rhs == b.rhs:
        raise ValueError(f"The mutant {name!r} changes nothing.")
    return replace(b, name=f"{b.name}[{name}]", rhs=rhs)


#: name -> (term, its replacement): each changes one exponent of a leading term.
MUTANTS = {
    "descent ~ K^-1/2": (
        S.c_0 * S.Delta_F0 / (S.beta * S.tau * S.K),
        S.c_0 * S.Delta_F0 / (S.beta * S.tau * sp.sqrt(S.K)),
    ),
    "variance ~ sigma_F": (S.sigma_F**2 / (S.r * S.n), S.sigma_F / (S.r * S.n)),
    "sampling ~ gamma_F^4": (S.gamma_F**2 * (1 - S.r), S.gamma_F**4 * (1 - S.r)),
}


def mutation(results: list[tuple[ThmMeasured, ExponentResult]]) -> list[dict]:
    """Each mutant against every study whose leading term it changes: caught when its
    verdict there is ``contradicts``."""
    out = []
    for name in MUTANTS:
        mb = mutant_bound(name)
        for meas, real in results:
            exp_m = term_exponent(mb, meas.study.constant, meas.study.symbol)
            if exp_m == real.expected:
                continue
            res = thm45_check(meas, mb)
            out.append(
                {
                    "mutant": name,
                    "study": meas.study.label,
                    "expected": exp_m,
                    "slope": res.fit.slope,
                    "verdict": res.verdict,
                    "caught": res.verdict == "contradicts",
                }
            )
    return out
