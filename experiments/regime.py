"""Regime maps: where does FedAlt beat FedSim, in simulation and in theory?

Over a 2-D grid of problem knobs (e.g. ``noise_v`` x ``delta``), FedAlt and FedSim run with the
same seeds (same sampled devices, same noise), the same initial point ``problem.init(0)``, and
the theorem's step-size parametrisation ``gamma_u = eta/(L_u tau_u)``,
``gamma_v = eta/(L_v tau_v)`` (docs/references.md#pillutla2022-step-sizes), under three step
policies side by side (:data:`POLICIES`):

- ``best`` (the headline) -- each algorithm at the ``eta`` of a grid that minimises its own
  mean measured quantity over the seeds, per cell: a coarse grid ``RegimeStudy.etas``, then
  ``RegimeStudy.fine`` multiples of each algorithm's coarse best (ties go to the smaller step;
  a best step at an end of the points tried is flagged ``edge``);
- ``shared`` -- one ``eta`` for both, the coarse-grid point minimising the geometric mean of
  the two algorithms' mean measured quantities;
- ``theorem`` -- the study's step rule ``RegimeStudy.steps`` (default :class:`TunedEta`, each
  theorem's ``eta(T)``). With the reconstructed variances that rule makes the ratio of the two
  steps theory's predicted factor, so this policy alone cannot test the prediction.

Both algorithms are scored on the same measured quantity (:data:`QUANTITIES`, ``"same"``, the
headline): ``(1/T) sum_{t<T} [Delta_u/L_u + (m/n) Delta_v/L_v]`` with ``Delta_u`` at
``(u^t, V^t)`` for both. The variant ``"theorem"`` scores each by its own theorem's left-hand
side (FedAlt: ``Delta_u`` at ``(u^t, V^{t+1})``). The ratio ``FedSim / FedAlt`` is paired by
seed and carries a 95% interval (``experiments.regime_stats``); a cell is a simulated win only
where the interval excludes 1. Theory's verdict is the verified slide-40 comparison of the
leading terms, with its factor ``sqrt(sigma_sim,1^2 / sigma_alt,1^2)`` from the reconstructed
variances: a comparison of two upper bounds, not a prediction of which algorithm is faster on a
given instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from partialfed import theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.measure import column, simulate
from partialfed.experiments.regime_result import (
    HEADLINE,
    MIN_PREDICTED_DIFFERENCE,
    POLICIES,
    QUANTITIES,
    Policy,
    RegimeMap,
)
from partialfed.experiments.regime_stats import best_index
from partialfed.experiments.steps import Eta, TunedEta, stepped

__all__ = [
    "ALGORITHMS",
    "ETA_GRID",
    "FINE",
    "HEADLINE",
    "MIN_PREDICTED_DIFFERENCE",
    "POLICIES",
    "QUANTITIES",
    "Policy",
    "RegimeStudy",
    "RegimeMap",
    "regime_map",
    "theory_factor",
]

ALGORITHMS = ("fedalt", "fedsim")

#: Default coarse grid of normalised steps: 2^-8 .. 1 by factors of 2.
ETA_GRID = tuple(float(2.0**k) for k in range(-8, 1))

#: Default refinement: these multiples of each algorithm's coarse best step.
FINE = (2.0**-0.5, 2.0**-0.25, 2.0**0.25, 2.0**0.5)


@dataclass(frozen=True)
class RegimeStudy:
    """FedAlt against FedSim over the grid ``x in xs`` times ``y in ys`` (problem knobs).

    Parameters
    ----------
    cell : Cell
        The problem and ``T, m, tau_u, tau_v`` (its algorithm, seed and steps are replaced).
    x, xs, y, ys
        The two knobs and their values.
    steps : step rule or None
        The ``theorem`` policy's rule (default :class:`TunedEta`, each algorithm its
        theorem-balanced ``eta(T)``; ``Eta(eta)`` gives one fixed step). ``None`` skips that
        policy. It never changes the ``best`` and ``shared`` policies.
    seeds : tuple of int
        Seeds of sampling and noise, the same for both algorithms (>= 2 for an interval).
    etas : tuple of float
        Coarse grid of normalised steps ``eta``, ascending.
    fine : tuple of float
        Multiples of each algorithm's coarse best ``eta`` also tried (``()``: none).
    exact : bool
        Score each algorithm by its exact expected quantity (``simulators.exact``, quadratic
        family only) instead of simulating the seeds: every seed slot holds that one value, so
        each interval has zero width and the map carries no sampling noise. The ratio is then
        ``E[score_sim] / E[score_alt]``, a ratio of expectations, where the Monte Carlo map's is
        the geometric mean of the per-seed ratios; no run goes to ``runner``.
    """

    cell: Cell
    x: str
    xs: tuple
    y: str
    ys: tuple
    steps: object = TunedEta()
    seeds: tuple = (0, 1, 2)
    etas: tuple = ETA_GRID
    fine: tuple = FINE
    exact: bool = False

    def __post_init__(self):
        e = np.asarray(self.etas, dtype=float)
        if e.ndim != 1 or e.size == 0 or not np.all(np.isfinite(e) & (e > 0)):
            raise ValueError(
                f"The 'etas' parameter of RegimeStudy must be positive finite steps. Got "
                f"{self.etas!r}."
            )
        if np.any(np.diff(e) <= 0):
            raise ValueError(
                f"The 'etas' parameter of RegimeStudy must be strictly ascending. Got {self.etas}."
            )
        f = np.asarray(self.fine, dtype=float)
        if not np.all(np.isfinite(f) & (f > 0)):
            raise ValueError(
                f"The 'fine' parameter of RegimeStudy must be positive multiples. Got {self.fine}."
            )
        if len(self.seeds) < 1:
            raise ValueError("The 'seeds' parameter of RegimeStudy needs at least one seed.")
        if self.exact:
            from partialfed.experiments.checks.exact import exact_reason

            for alg in ALGORITHMS:
                why = exact_reason(self.cell.with_run(algorithm=alg, tau_v=self.cell.run.tau_u))
                if why:
                    raise ValueError(f"The 'exact' option of RegimeStudy cannot be used: {why}.")

    @property
    def runs(self) -> int:
        """Runs of :func:`regime_map` on this study: per grid point, algorithm and seed, each
        coarse step, the theorem rule's step (if any) and each refinement (0 with ``exact``)."""
        if self.exact:
            return 0
        steps = len(self.etas) + (self.steps is not None) + len(self.fine)
        return len(self.xs) * len(self.ys) * len(ALGORITHMS) * len(self.seeds) * steps


def theory_factor(problem, m: int) -> float:
    """Theory's leading-term factor ``sqrt(sigma_sim,1^2/sigma_alt,1^2)`` for ``problem`` with
    ``m`` devices per round, from the problem's constants (> 1: FedAlt favoured)."""
    return float(theory.favoured(**problem.constants.as_dict(), n=problem.n, m=m).factor)


def _scorers(cell: Cell, alg: str) -> dict:
    """quantity name -> list of (History column, weight) of that quantity's left-hand side.

    ``"same"``: ``theory.main_bound(alg, u_point="current")`` -- the same terms and weights for
    both algorithms; ``"theorem"``: the algorithm's own ``{alg}_main``."""
    values = cell.values()
    out = {}
    for q in QUANTITIES:
        bound = theory.main_bound(alg, u_point="current") if q == "same" else theory.main_bound(alg)
        w = bound.weights(values)
        out[q] = [(column(t.quantity, t.point), float(w[t.quantity])) for t in bound.lhs.terms]
    return out


def _score(frame, scorer, T: int) -> float:
    """Mean over rounds ``t = 0..T-1`` of the weighted quantity (``measure.lhs_per_run``)."""
    keep = frame["round"].to_numpy() < T
    series = sum(w * frame[col].to_numpy(dtype=float)[keep] for col, w in scorer)
    return float(np.mean(series))


def _eta_of(cell: Cell) -> float:
    """The normalised step ``eta = gamma_u L_u tau_u`` of a stepped cell."""
    return float(cell.run.gamma_u * cell.problem().constants.L_u * cell.run.tau_u)


def _base_cells(study: RegimeStudy) -> list:
    """``(iy, ix, alg, cell)`` for every grid point and algorithm (FedSim: ``tau_v = tau_u``)."""
    out = []
    for iy, yv in enumerate(study.ys):
        for ix, xv in enumerate(study.xs):
            at = study.cell.with_knobs(**{study.x: xv, study.y: yv})
            if at.validate().d_v == 0:
                raise ValueError(
                    f"The regime map needs personal variables: the knob d_v = 0 leaves none "
                    f"(FedAlt and FedSim then differ in nothing the theory compares, and its "
                    f"constants need L_v > 0); set d_v >= 1 (at {study.x}={xv}, {study.y}={yv})."
                )
            for alg in ALGORITHMS:
                tau_v = at.run.tau_u if alg == "fedsim" else at.run.tau_v
                out.append((iy, ix, alg, at.with_run(algorithm=alg, tau_v=tau_v)))
    return out


def _run(jobs: list, seeds: tuple, runner, scorers: dict, T: int, exact: bool = False) -> list:
    """Simulate each job's cell for every seed; per job, ``{quantity: per-seed scores}``. With
    ``exact`` each job's exact expected frame is scored once and fills every seed slot."""
    if exact:
        from partialfed.experiments.checks.exact import exact_frame

        out = []
        for key, c in jobs:
            frame = exact_frame(replace(c, init_seed=0)).to_frame()
            out.append({q: [_score(frame, sc, T)] * len(seeds) for q, sc in scorers[key].items()})
        return out
    cells = [replace(c.with_run(seed=s), init_seed=0) for _, c in jobs for s in seeds]
    results = iter(simulate(cells, runner))
    out = []
    for key, _ in jobs:
        frames = [next(results).frame for _ in seeds]
        out.append({q: [_score(f, sc, T) for f in frames] for q, sc in scorers[key].items()})
    return out


def regime_map(study: RegimeStudy, runner: Callable | None = None) -> RegimeMap:
    """Run FedAlt and FedSim with the same seeds on every point of the study's grid, under the
    three step policies; see the module docstring.

    ``runner(cells) -> list of RunResult`` (e.g. ``sweep.cached_runner``) is called twice: the
    coarse grid and the theorem rule's runs, then the refinement around each coarse best.
    """
    seeds, etas, T = tuple(study.seeds), tuple(study.etas), int(study.cell.run.T)
    shape = (len(study.ys), len(study.xs))
    G, F, S = len(etas), len(study.fine), len(seeds)
    base = _base_cells(study)
    scorers = {(iy, ix, a): _scorers(c, a) for iy, ix, a, c in base}
    factor = np.zeros(shape)
    for iy, ix, _, c in base:
        factor[iy, ix] = theory_factor(c.problem(), c.run.m)

    def arrays(*dims):
        return {(a, q): np.full((*shape, *dims), np.nan) for a in ALGORITHMS for q in QUANTITIES}

    grid, fine, rule = arrays(G, S), arrays(F, S), arrays(S)
    fine_eta = {a: np.full((*shape, F), np.nan) for a in ALGORITHMS}
    rule_eta = {a: np.full(shape, np.nan) for a in ALGORITHMS}
    jobs, where = [], []
    for iy, ix, a, c in base:
        for g, eta in enumerate(etas):
            jobs.append(((iy, ix, a), stepped(c, Eta(eta))))
            where.append((grid, (iy, ix, g), a))
        if study.steps is not None:
            rc = stepped(c, study.steps)
            rule_eta[a][iy, ix] = _eta_of(rc)
            jobs.append(((iy, ix, a), rc))
            where.append((rule, (iy, ix), a))
    _fill(where, _run(jobs, seeds, runner, scorers, T, study.exact))
    if F:
        jobs, where = [], []
        for iy, ix, a, c in base:
            # the coarse best, by the rule of the headline (a diverged seed makes a mean NaN)
            g, _ = best_index(np.mean(grid[(a, "same")][iy, ix], axis=-1))
            for k, mult in enumerate(study.fine):
                fine_eta[a][iy, ix, k] = etas[g] * mult
                jobs.append(((iy, ix, a), stepped(c, Eta(etas[g] * mult))))
                where.append((fine, (iy, ix, k), a))
        _fill(where, _run(jobs, seeds, runner, scorers, T, study.exact))
    run = {k: v for k, v in study.cell.run.as_dict().items() if k in ("T", "m", "tau_u", "tau_v")}
    problem = {k: v for k, v in study.cell.knobs if k not in (study.x, study.y)}
    return RegimeMap(
        x=study.x,
        xs=tuple(study.xs),
        y=study.y,
        ys=tuple(study.ys),
        theory_factor=factor,
        etas=etas,
        grid=grid,
        fine_eta=fine_eta,
        fine=fine,
        rule_eta=rule_eta if study.steps is not None else None,
        rule=rule if study.steps is not None else None,
        fixed=dict(
            family=study.cell.family,
            problem=problem,
            run=run,
            steps=study.steps,
            seeds=seeds,
            exact=study.exact,
        ),
    )


def _fill(where, scores) -> None:
    for (target, index, alg), per_q in zip(where, scores, strict=True):
        for q, vals in per_q.items():
            target[(alg, q)][index] = vals
