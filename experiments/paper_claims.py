"""The paper's claims (a) and (b), measured on a planted family.

docs/references.md#pillutla2022-claims.

**Claim (a)**: partial personalisation gets most of the benefit of full personalisation with a
small fraction of personal parameters. :func:`claims_study` sweeps the personal fraction
``d_v / (d_u + d_v)`` at a fixed total dimension on a family whose heterogeneity is planted on
the last coordinates of ``w = (u, v)`` (``logcosh``, docs/references.md#synthetic-logcosh) and
measures, for every algorithm of :data:`ALGORITHMS` (with its own hyper-parameter grid), the
final personalised loss (the History
column ``personal_loss`` at round ``T``: the loss at the iterate for FedAlt, FedSim and the
baselines, after one adaptation step for Per-FedAvg, at the personal models for Ditto), each
algorithm at its own best step from a grid (the smallest mean over seeds; the same seeds and
initial point for all). The *full-personalisation benefit* is ``L_FedAvg - L_full`` with
``L_full`` the best (lowest mean) of the algorithms in :data:`FULL` (local training,
Per-FedAvg, Ditto: every parameter personal); the fraction reached by an algorithm at a
personal fraction is ``(L_FedAvg - L_alg) / (L_FedAvg - L_full)`` with a paired-seed bootstrap
interval.

**Claim (b)**: FedAlt ahead of FedSim "by a small but consistent margin". The same runs give,
per personal fraction, the paired-seed ratio ``(L_FedSim - F_low) / (L_FedAlt - F_low)`` of the
final excess losses at each one's best step (``regime_stats.paired_ratio``, a Student-t
interval on the mean log ratio): ``ahead`` when the interval lies above 1, ``behind`` below 1,
``not resolved`` otherwise. The settings of ``experiments.paper_claims_coupled`` add
coupled families, where the two algorithms differ (on ``logcosh`` the blocks do not interact,
so the two agree in law: a control).

**Accuracy** (a classification family with a held-out test set, ``teacher``,
docs/references.md#synthetic-teacher): the same runs also give the personalised test accuracy
at round ``T`` (History column ``personal_accuracy``) at the step chosen on the loss; its
benefit over FedAvg is ``A_alg - A_FedAvg`` and the fraction reached ``(A_alg - A_FedAvg) /
(A_full - A_FedAvg)`` with ``A_full`` the best (highest mean) of :data:`FULL` (``quantity=
"accuracy"`` of :meth:`ClaimsResult.benefit` and :meth:`ClaimsResult.reached`; computed on the
test error ``1 - A``, for which the loss formulas apply unchanged). When a seed's accuracy is
non-finite at a chosen step, no accuracy is reported and :meth:`ClaimsResult.accuracy_missing`
says where and why (the report prints it).

Adding an algorithm is one entry of :data:`ALGORITHMS` (and of :data:`FULL` if it personalises
every parameter).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from partialfed._constraints import Options, validate
from partialfed.experiments.measure import simulate
from partialfed.experiments.paper_claims_study import (
    ACCURACY,
    ALGORITHMS,
    FULL,
    JOINT,
    QUANTITIES,
    QUANTITY,
    ClaimsStudy,
    variants,
)
from partialfed.experiments.regime_stats import LEVEL, best_index, paired_ratio
from partialfed.experiments.store_frame import by_round

__all__ = [
    "ALGORITHMS",
    "FULL",
    "JOINT",
    "ClaimsStudy",
    "ClaimsResult",
    "BestStep",
    "claims_study",
    "verdict_b",
    "variants",
]

# The study definition (ALGORITHMS, FULL, JOINT, ClaimsStudy, variants) lives in
# ``paper_claims_study``; it is re-exported here, where it has always been imported from.
__all__ += ["ACCURACY", "QUANTITIES", "QUANTITY"]


@dataclass(frozen=True)
class BestStep:
    """One algorithm at one personal fraction, at its best step.

    ``values`` is the final measured quantity per seed (in the study's seed order); ``low``,
    ``high`` the 95% Student-t interval of its mean; ``edge`` whether the best step lies at an
    end of the grid; ``accuracy`` the final test accuracy per seed at the same step (NaN
    without a test set).
    """

    algorithm: str
    d_v: int
    eta: float
    edge: bool
    values: tuple
    mean: float
    low: float
    high: float
    F_low: float = 0.0
    extra: dict = field(default_factory=dict)
    accuracy: tuple = ()

    def as_dict(self) -> dict:
        keys = ("algorithm", "d_v", "eta", "edge", "mean", "low", "high", "extra")
        out = {k: getattr(self, k) for k in keys}
        if self.accuracy and np.all(np.isfinite(self.accuracy)):
            m, lo, hi = _interval(self.accuracy)
            out.update(accuracy=m, accuracy_low=lo, accuracy_high=hi)
        elif self.accuracy and np.any(np.isfinite(self.accuracy)):
            out["accuracy_nonfinite"] = int(np.count_nonzero(~np.isfinite(self.accuracy)))
        return out


def _interval(x) -> tuple[float, float, float]:
    """Mean and two-sided ``LEVEL`` Student-t interval (NaN half-width for one value)."""
    x = np.asarray(x, dtype=float)
    m = float(np.mean(x))
    if x.size < 2 or not np.all(np.isfinite(x)):
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * np.std(x, ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def _final(frame, column: str = QUANTITY) -> float:
    """The column's value at the last recorded round (inf for a diverged run)."""
    v = by_round(frame)[column].to_numpy(dtype=float)
    return float(v[-1]) if v.size and np.isfinite(v[-1]) else math.inf


def _final_accuracy(frame) -> float:
    """The test accuracy at the last recorded round (NaN without the column or a value)."""
    if ACCURACY not in frame.columns:
        return math.nan
    v = by_round(frame)[ACCURACY].to_numpy(dtype=float)
    return float(v[-1]) if v.size else math.nan


def verdict_b(low: float, high: float) -> str:
    """Claim (b)'s verdict on the interval of ``FedSim / FedAlt`` (> 1: FedAlt better)."""
    if low > 1.0:
        return "ahead"
    if high < 1.0:
        return "behind"
    return "not resolved"


@dataclass
class ClaimsResult:
    """What :func:`claims_study` measured: ``best[(d_v, alg)]`` and the derived tables."""

    study: ClaimsStudy
    best: dict = field(default_factory=dict)

    def fractions(self) -> list[float]:
        return [d_v / self.study.total for d_v in self.study.d_vs]

    @property
    def has_accuracy(self) -> bool:
        """Whether every best step has a finite test accuracy on every seed (see
        :meth:`accuracy_missing` for why it does not)."""
        return self.accuracy_missing() is None

    def accuracy_missing(self) -> str | None:
        """Why the test accuracy is not reported, or ``None`` when every best step has a finite
        test accuracy on every seed.

        Either the family has no held-out test set (no run recorded an accuracy), or some best
        step has a non-finite accuracy on some seeds: the reason then names each such step and
        on how many of its seeds. The accuracy over the remaining seeds is deliberately not
        reported: a non-finite accuracy comes from a run that diverged or failed, so dropping
        it selects seeds on their outcome (an upward bias) and breaks the pairing of the seeds
        shared by every algorithm, on which the benefit and the fraction reached rest.
        """
        if not self.best:
            return "no run was measured"
        bad = []
        for (d_v, alg), b in sorted(self.best.items()):
            acc = np.asarray(b.accuracy, dtype=float)
            k = int(acc.size - np.count_nonzero(np.isfinite(acc)))
            if acc.size == 0 or k:
                bad.append((d_v, alg, k, acc.size))
        if not bad:
            return None
        if len(bad) == len(self.best) and all(k == n for _, _, k, n in bad):
            return "the family has no held-out test set (no run recorded a test accuracy)"
        where = ", ".join(f"{alg} at d_v={d_v} ({k} of {n} seeds)" for d_v, alg, k, n in bad)
        return (
            f"the test accuracy at the chosen step is non-finite for {where}; the accuracy "
            "over the remaining seeds is not reported, since dropping a diverged or failed "
            "seed selects seeds on their outcome and breaks the pairing of the seeds shared "
            "by every algorithm"
        )

    def values(self, d_v: int, alg: str, quantity: str = "loss") -> np.ndarray:
        """Per seed: the final loss, or the test error ``1 - accuracy`` (lower is better)."""
        validate(quantity, "quantity", "ClaimsResult", Options(str, QUANTITIES))
        b = self.best[(d_v, alg)]
        return np.asarray(b.values if quantity == "loss" else 1.0 - np.asarray(b.accuracy))

    def full(self, d_v: int, quantity: str = "loss") -> str:
        """The full-personalisation algorithm with the lowest mean loss (or the highest mean
        accuracy) at ``d_v``."""
        cands = [a for a in FULL if (d_v, a) in self.best]
        if not cands:
            raise ValueError("No full-personalisation algorithm (local, perfedavg, ditto) ran.")
        return min(cands, key=lambda a: float(np.mean(self.values(d_v, a, quantity))))

    def benefit(self, d_v: int, alg: str, quantity: str = "loss") -> tuple[float, float, float]:
        """``L_FedAvg - L_alg`` (``quantity="accuracy"``: ``A_alg - A_FedAvg``) per seed
        (paired): mean and 95% interval."""
        base = self.values(d_v, "fedavg", quantity)
        return _interval(base - self.values(d_v, alg, quantity))

    def reached(
        self, d_v: int, alg: str, draws: int = 2000, quantity: str = "loss"
    ) -> tuple[float, float, float]:
        """Fraction of the full-personalisation benefit (of the loss, or of the accuracy)
        reached by ``alg`` at ``d_v``, with a paired-seed percentile bootstrap 95% interval
        (seeds resampled together)."""
        base = self.values(d_v, "fedavg", quantity)
        mine = self.values(d_v, alg, quantity)
        full = self.values(d_v, self.full(d_v, quantity), quantity)

        def frac(idx):
            den = float(np.mean(base[idx] - full[idx]))
            return float(np.mean(base[idx] - mine[idx])) / den if den != 0 else math.nan

        point = frac(np.arange(base.size))
        if base.size < 2 or math.isnan(point):
            return point, math.nan, math.nan
        rng = np.random.default_rng(12345)
        # The draws one call each (the same stream as before), the means of all at once: a
        # row mean is the same pairwise sum as np.mean of that row alone.
        idx = np.stack([rng.integers(0, base.size, base.size) for _ in range(draws)])
        num = np.mean(base[idx] - mine[idx], axis=1)
        den = np.mean(base[idx] - full[idx], axis=1)
        safe = np.where(den != 0, den, 1.0)
        boots = np.where(den != 0, num / safe, math.nan)
        lo, hi = np.nanpercentile(boots, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
        return point, float(lo), float(hi)

    def headline_d_v(self) -> int:
        """The swept ``d_v`` whose fraction is closest to ``study.at``."""
        return min(self.study.d_vs, key=lambda d: abs(d / self.study.total - self.study.at))

    def claim_b(self, d_v: int):
        """``paired_ratio`` of the final excess losses ``(FedSim - F_low)/(FedAlt - F_low)``."""
        alt, sim = self.best[(d_v, "fedalt")], self.best[(d_v, "fedsim")]
        return paired_ratio(np.asarray(sim.values) - sim.F_low, np.asarray(alt.values) - alt.F_low)

    def as_dict(self) -> dict:
        out = {
            "label": self.study.label,
            "total": self.study.total,
            "seeds": list(self.study.seeds),
            "etas": list(self.study.etas),
            "best": [b.as_dict() for b in self.best.values()],
            "reached": [],
            "claim_b": [],
        }
        missing = self.accuracy_missing()
        if missing is not None:
            out["accuracy_missing"] = missing
        quantities = QUANTITIES if self.has_accuracy else ("loss",)
        for d_v in self.study.d_vs:
            for alg, q in itertools.product(("fedalt", "fedsim"), quantities):
                if (d_v, alg) in self.best:
                    r = self.reached(d_v, alg, quantity=q)
                    out["reached"].append(
                        {
                            "d_v": d_v,
                            "algorithm": alg,
                            "quantity": q,
                            "full": self.full(d_v, q),
                            "fraction": r[0],
                            "low": r[1],
                            "high": r[2],
                        }
                    )
            if (d_v, "fedalt") in self.best and (d_v, "fedsim") in self.best:
                pr = self.claim_b(d_v)
                out["claim_b"].append(
                    {
                        "d_v": d_v,
                        "ratio": pr.ratio,
                        "low": pr.low,
                        "high": pr.high,
                        "verdict": verdict_b(pr.low, pr.high),
                    }
                )
        return out


def claims_study(study: ClaimsStudy, runner: Callable | None = None, log=None) -> ClaimsResult:
    """Run every (personal dimension, algorithm, step, seed) of ``study`` (one runner call) and
    keep each algorithm's best step per personal dimension."""
    jobs = [
        (d_v, alg, eta, k)
        for d_v in study.d_vs
        for alg in study.algorithms
        for k, _ in enumerate(variants(alg))
        for eta in study.etas
    ]
    cells = [c for d_v, alg, eta, k in jobs for c in study.cells(d_v, alg, eta, variants(alg)[k])]
    if log is not None:
        log(f"[claims] {len(cells)} runs")
    results = iter(simulate(cells, runner))
    finals: dict = {}
    accs: dict = {}
    for d_v, alg, _, k in jobs:
        frames = [next(results).frame for _ in study.seeds]
        finals.setdefault((d_v, alg), {}).setdefault(k, []).append([_final(f) for f in frames])
        accs.setdefault((d_v, alg), {}).setdefault(k, []).append(
            [_final_accuracy(f) for f in frames]
        )
    out = ClaimsResult(study)
    for (d_v, alg), by_variant in finals.items():
        picks = []
        for k, per_eta in by_variant.items():
            i, edge = best_index([float(np.mean(v)) for v in per_eta])
            picks.append((float(np.mean(per_eta[i])), k, i, edge))
        _, k, i, edge = min(picks)  # ties: the first variant
        values = by_variant[k][i]
        m, lo, hi = _interval(values)
        F_low = study.split(d_v).problem().constants.F_low
        extra = {f: v for f, v in variants(alg)[k].items() if isinstance(ALGORITHMS[alg][f], tuple)}
        out.best[(d_v, alg)] = BestStep(
            alg,
            d_v,
            float(study.etas[i]),
            edge,
            tuple(values),
            m,
            lo,
            hi,
            F_low,
            extra,
            tuple(accs[(d_v, alg)][k][i]),
        )
    return out
