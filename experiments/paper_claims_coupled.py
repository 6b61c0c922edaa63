"""Claim (b) on coupled problems, where FedAlt and FedSim differ.

docs/references.md#pillutla2022-claims. On the claims study's ``logcosh`` the two blocks do not
interact, so FedAlt and FedSim agree in law there; :data:`CONTRAST` adds problems whose blocks
are coupled. Each algorithm runs at its best step from a grid (the same seeds and initial point
for both), and the paired-seed ratio ``(FedSim - F_low)/(FedAlt - F_low)`` of the final losses
gets a Student-t interval on its mean log (``regime_stats.paired_ratio``) and the verdict of
``paper_claims.verdict_b``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from partialfed.experiments.cell import Cell
from partialfed.experiments.measure import simulate
from partialfed.experiments.paper_claims import _final, verdict_b
from partialfed.experiments.regime_stats import best_index, paired_ratio

__all__ = ["CONTRAST", "ContrastStudy", "contrast_study"]

#: Coupled settings of claim (b): (label, family, knobs, run). Both algorithms at each one's
#: best step; the blocks interact (chi > 0, or the bilinear representation model).
CONTRAST = (
    (
        "quadratic chi=0.8, noisy v",
        "quadratic",
        dict(n=20, d_u=5, d_v=3, chi=0.8, delta=1.0, noise_u=0.1, noise_v=1.0),
        dict(m=4, tau_u=2, tau_v=2),
    ),
    (
        "representation d=8, k=2, minibatch 5 (bilinear, nonconvex)",
        "representation",
        dict(n=20, d=8, k=2, samples=20, batch=5),
        # Interpolation (no label noise): the minibatch noise vanishes at the optimum and both
        # reach rounding level within 1000 rounds, so a shorter budget compares progress.
        dict(m=4, tau_u=2, tau_v=2, T=100),
    ),
)


@dataclass(frozen=True)
class ContrastStudy:
    """Claim (b) on the settings of :data:`CONTRAST` (or others): ``T`` rounds, the step grid
    ``etas`` and the shared ``seeds``; final excess loss ``F - F_low`` at each one's best step.
    """

    T: int
    etas: tuple
    seeds: tuple
    settings: tuple = CONTRAST

    def cells(self, i: int, alg: str, eta: float) -> list[Cell]:
        label, family, knobs, run = self.settings[i]
        run = {"T": self.T, **run}
        base = Cell.of(family, knobs, {**run, "eval_every": run["T"]})
        c = base.problem().constants
        tau = base.run.tau_u
        at = base.with_run(
            algorithm=alg, tau_v=tau, gamma_u=eta / (c.L_u * tau), gamma_v=eta / (c.L_v * tau)
        )
        return [replace(at.with_run(seed=s), init_seed=0) for s in self.seeds]

    @property
    def runs(self) -> int:
        return len(self.settings) * 2 * len(self.etas) * len(self.seeds)


def contrast_study(study: ContrastStudy, runner: Callable | None = None) -> list[dict]:
    """Per setting: FedAlt's and FedSim's best steps and the paired ratio with its verdict."""
    jobs = [
        (i, alg, eta)
        for i in range(len(study.settings))
        for alg in ("fedalt", "fedsim")
        for eta in study.etas
    ]
    cells = [c for job in jobs for c in study.cells(*job)]
    results = iter(simulate(cells, runner))
    finals: dict = {}
    for i, alg, _ in jobs:
        F_low = study.cells(i, alg, study.etas[0])[0].problem().constants.F_low
        vals = [_final(next(results).frame, "loss") - F_low for _ in study.seeds]
        finals.setdefault((i, alg), []).append(vals)
    out = []
    for i, (label, *_rest) in enumerate(study.settings):
        best = {}
        for alg in ("fedalt", "fedsim"):
            per_eta = finals[(i, alg)]
            k, edge = best_index([float(np.mean(v)) for v in per_eta])
            best[alg] = (float(study.etas[k]), edge, per_eta[k])
        pr = paired_ratio(best["fedsim"][2], best["fedalt"][2])
        out.append(
            {
                "setting": label,
                "eta_fedalt": best["fedalt"][0],
                "eta_fedsim": best["fedsim"][0],
                "edge": best["fedalt"][1] or best["fedsim"][1],
                "fedalt": float(np.mean(best["fedalt"][2])),
                "fedsim": float(np.mean(best["fedsim"][2])),
                "ratio": pr.ratio,
                "low": pr.low,
                "high": pr.high,
                "verdict": verdict_b(pr.low, pr.high),
            }
        )
    return out
