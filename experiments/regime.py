"""Regime maps: where does FedAlt beat FedSim, in simulation and in theory?

Over a 2-D grid of problem knobs (e.g. ``sigma_v`` x ``delta``), FedAlt and FedSim run with the
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from partialfed import theory
from partialfed.experiments.measure import lhs_per_run, problem_of, simulate, symbol_values

__all__ = ["RegimeMap", "regime_map", "MIN_PREDICTED_DIFFERENCE"]

#: Cells where theory predicts a difference of at least this much are scored.
MIN_PREDICTED_DIFFERENCE = 0.10


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


def tuned_eta(algorithm: str, problem, run: Mapping, eta_max: float) -> float:
    """``eta = min(eta_max, sqrt(Delta_F0 / (sigma_{alg,1}^2 T)))``: the step that balances the
    descent and noise terms of the theorem (``theory.pillutla2022.eta_balanced`` with its
    unknown constants set to 1), from the problem's initial gap and reconstructed variance."""
    from partialfed.theory import pillutla2022

    c = problem.constants
    values = dict(
        n=problem.n,
        m=run["m"],
        L_u=c.L_u,
        L_v=c.L_v,
        sigma_u=c.sigma_u,
        sigma_v=c.sigma_v,
        delta=c.delta,
        chi=c.chi,
    )
    s1 = pillutla2022.sig1(algorithm)
    s1 = float(s1.subs({sym: values[sym.name] for sym in s1.free_symbols}))
    u0, V0 = problem.init(0)
    gap = max(problem.F(u0, V0) - c.F_low, 0.0)
    if s1 <= 0:
        return eta_max
    return min(eta_max, (gap / (s1 * run["T"])) ** 0.5)


def _theory_factor(problem, run: Mapping) -> float:
    c = problem.constants
    fav = theory.favoured(
        n=problem.n,
        m=run["m"],
        L_u=c.L_u,
        L_v=c.L_v,
        sigma_u=c.sigma_u,
        sigma_v=c.sigma_v,
        delta=c.delta,
        chi=c.chi,
    )
    return float(fav.factor)


def regime_map(
    family: str,
    problem: Mapping,
    run: Mapping,
    x: str,
    xs: Sequence[float],
    y: str,
    ys: Sequence[float],
    *,
    eta: float | str = "tuned",
    eta_max: float = 0.5,
    seeds: Sequence[int] = (0, 1, 2),
    runner: Callable | None = None,
) -> RegimeMap:
    """Run FedAlt and FedSim over the grid ``x in xs`` times ``y in ys`` (problem knobs).

    ``run`` holds ``T, m, tau_u, tau_v``; the steps follow from ``eta``: a number (the same for
    both algorithms), or ``"tuned"``: each algorithm its own theorem-balanced step
    (:func:`tuned_eta`, capped at ``eta_max``), which is how the rates being compared arise.
    """
    from partialfed import simulators

    simulators.RunConfig(**{**run, "algorithm": "fedalt"})  # validate T, m, tau before use
    bounds = {a: theory.get_bound(f"{a}_main") for a in ("fedalt", "fedsim")}
    cells, specs = [], []
    for yv in ys:
        for xv in xs:
            prob = {**problem, x: xv, y: yv}
            p = problem_of(family, prob)
            c = p.constants
            for alg in ("fedalt", "fedsim"):
                tau_v = run["tau_u"] if alg == "fedsim" else run["tau_v"]
                e = tuned_eta(alg, p, run, eta_max) if eta == "tuned" else float(eta)
                rn = {
                    **run,
                    "algorithm": alg,
                    "tau_v": tau_v,
                    "gamma_u": e / (c.L_u * run["tau_u"]),
                    "gamma_v": e / (c.L_v * tau_v),
                }
                cells.append((prob, rn, alg))
                specs += [
                    {"family": family, "problem": prob, "run": rn, "seed": s, "init_seed": 0}
                    for s in seeds
                ]
    frames = simulate(specs, runner)
    lhs = {"fedalt": np.zeros((len(ys), len(xs))), "fedsim": np.zeros((len(ys), len(xs)))}
    factor = np.zeros((len(ys), len(xs)))
    k = 0
    for idx, (prob, rn, alg) in enumerate(cells):
        iy, ix = divmod(idx // 2, len(xs))
        p = problem_of(family, prob)
        vals = []
        for _ in seeds:
            f = frames[k].sort_values("round")
            k += 1
            v = symbol_values(p, rn, loss0=float(f["loss"].iloc[0]))
            vals.append(lhs_per_run(f, bounds[alg], v))
        lhs[alg][iy, ix] = np.mean(vals)
        factor[iy, ix] = _theory_factor(p, rn)
    return RegimeMap(
        x,
        tuple(xs),
        y,
        tuple(ys),
        lhs["fedalt"],
        lhs["fedsim"],
        factor,
        {
            "family": family,
            "problem": dict(problem),
            "run": dict(run),
            "eta": eta,
            "seeds": tuple(seeds),
        },
    )
