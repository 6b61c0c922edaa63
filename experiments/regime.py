"""Regime maps: where does FedAlt beat FedSim, in simulation and in theory?

Over a 2-D grid of problem knobs (e.g. ``noise_v`` x ``delta``), FedAlt and FedSim run with the
same seeds, the same initial point, and the theorem's step-size parametrisation
``gamma_u = eta/(L_u tau_u)``, ``gamma_v = eta/(L_v tau_v)``
(docs/references.md#pillutla2022-step-sizes).
By default each algorithm gets its own balanced ``eta(T)`` (:func:`tuned_eta`), since that is
how the rates being compared arise; a fixed ``eta`` for both is an option. (Measured: with one
fixed eta = 0.2 for both, FedAlt was ahead by 1-4% in almost every cell and simulation named
theory's winner in 12.5% of the scored cells at T = 2000; with tuned steps, in 15 of 15 on a
4 x 4 grid.) Each algorithm is scored by its own theorem's left-hand side, the running average
``(1/T) sum_t [Delta_u/L_u + (m/n) Delta_v/L_v]`` (FedAlt: ``Delta_u`` at ``(u^t, V^{t+1})``).
Theory's verdict is the verified slide-40 comparison of the leading terms, with its factor
``sqrt(sigma_sim,1^2 / sigma_alt,1^2)`` from the reconstructed variances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from partialfed import theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.measure import lhs_per_run, simulate
from partialfed.experiments.steps import TunedEta, stepped

__all__ = [
    "RegimeStudy",
    "RegimeMap",
    "regime_map",
    "theory_factor",
    "MIN_PREDICTED_DIFFERENCE",
]

#: Cells where theory predicts a difference of at least this much are scored.
MIN_PREDICTED_DIFFERENCE = 0.10


@dataclass(frozen=True)
class RegimeStudy:
    """FedAlt against FedSim over the grid ``x in xs`` times ``y in ys`` (problem knobs).

    ``cell`` holds the problem and ``T, m, tau_u, tau_v`` (its algorithm, seed and steps are
    replaced); ``steps`` sets each algorithm's steps: ``TunedEta`` (default, each algorithm its
    theorem-balanced step, which is how the rates being compared arise) or ``Eta(eta)`` (the
    same normalised step for both). Every run starts from ``problem.init(0)``.
    """

    cell: Cell
    x: str
    xs: tuple
    y: str
    ys: tuple
    steps: object = TunedEta()
    seeds: tuple = (0, 1, 2)


@dataclass(frozen=True)
class RegimeMap:
    """Simulated and predicted winners on a grid.

    Arrays have shape ``(len(ys), len(xs))``. ``measured_ratio = LHS_fedsim / LHS_fedalt``
    (> 1: FedAlt better); ``theory_factor = sqrt(sigma_sim,1^2/sigma_alt,1^2)`` (> 1: FedAlt
    favoured).
    """

    x: str
    xs: tuple
    y: str
    ys: tuple
    lhs_fedalt: np.ndarray
    lhs_fedsim: np.ndarray
    theory_factor: np.ndarray
    fixed: dict

    @property
    def measured_ratio(self) -> np.ndarray:
        return self.lhs_fedsim / self.lhs_fedalt

    @property
    def scored(self) -> np.ndarray:
        """Cells where theory predicts a difference of at least 10%."""
        return np.abs(self.theory_factor - 1.0) >= MIN_PREDICTED_DIFFERENCE

    @property
    def agree(self) -> np.ndarray:
        """Whether the simulated winner is theory's (meaningful on ``scored`` cells)."""
        return (self.measured_ratio > 1.0) == (self.theory_factor > 1.0)

    @property
    def agreement(self) -> float:
        """Fraction of scored cells where simulation and theory name the same winner."""
        s = self.scored
        return float(np.mean(self.agree[s])) if s.any() else float("nan")

    def as_dict(self) -> dict:
        """JSON-able summary (``partialfed regime --json``, the report's ``results.json``)."""
        return {
            "x": self.x,
            "xs": list(self.xs),
            "y": self.y,
            "ys": list(self.ys),
            "measured_ratio": self.measured_ratio.tolist(),
            "theory_factor": self.theory_factor.tolist(),
            "agreement": self.agreement,
            "scored": int(self.scored.sum()),
            "disagreements": self.disagreements(),
        }

    def disagreements(self) -> list[dict]:
        """Scored cells where simulation disagrees with theory, and by how much."""
        out = []
        for iy, ix in zip(*np.nonzero(self.scored & ~self.agree), strict=True):
            out.append(
                {
                    self.x: self.xs[ix],
                    self.y: self.ys[iy],
                    "theory_factor": float(self.theory_factor[iy, ix]),
                    "measured_ratio": float(self.measured_ratio[iy, ix]),
                }
            )
        return out


def theory_factor(problem, m: int) -> float:
    """Theory's leading-term factor ``sqrt(sigma_sim,1^2/sigma_alt,1^2)`` for ``problem`` with
    ``m`` devices per round, from the problem's constants (> 1: FedAlt favoured)."""
    return float(theory.favoured(**problem.constants.as_dict(), n=problem.n, m=m).factor)


def regime_map(study: RegimeStudy, runner: Callable | None = None) -> RegimeMap:
    """Run FedAlt and FedSim with the same seeds on every point of the study's grid."""
    bounds = {a: theory.get_bound(f"{a}_main") for a in ("fedalt", "fedsim")}
    base, seeds = study.cell, tuple(study.seeds)
    points, cells = [], []
    for yv in study.ys:
        for xv in study.xs:
            at = base.with_knobs(**{study.x: xv, study.y: yv})
            at.validate()
            for alg in ("fedalt", "fedsim"):
                tau_v = at.run.tau_u if alg == "fedsim" else at.run.tau_v
                cell = stepped(at.with_run(algorithm=alg, tau_v=tau_v), study.steps)
                points.append((cell, alg))
                cells += [replace(cell.with_run(seed=s), init_seed=0) for s in seeds]
    results = iter(simulate(cells, runner))
    shape = (len(study.ys), len(study.xs))
    lhs = {"fedalt": np.zeros(shape), "fedsim": np.zeros(shape)}
    factor = np.zeros(shape)
    for idx, (cell, alg) in enumerate(points):
        iy, ix = divmod(idx // 2, len(study.xs))
        frames = [next(results).frame for _ in seeds]
        lhs[alg][iy, ix] = np.mean([lhs_per_run(f, bounds[alg], cell.values(f)) for f in frames])
        factor[iy, ix] = theory_factor(cell.problem(), cell.run.m)
    run = {k: v for k, v in base.run.as_dict().items() if k in ("T", "m", "tau_u", "tau_v")}
    problem = {k: v for k, v in base.knobs if k not in (study.x, study.y)}
    return RegimeMap(
        study.x,
        tuple(study.xs),
        study.y,
        tuple(study.ys),
        lhs["fedalt"],
        lhs["fedsim"],
        factor,
        dict(family=base.family, problem=problem, run=run, steps=study.steps, seeds=seeds),
    )
