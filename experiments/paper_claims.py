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
test error ``1 - A``, for which the loss formulas apply unchanged).

Adding an algorithm is one entry of :data:`ALGORITHMS` (and of :data:`FULL` if it personalises
every parameter).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from partialfed._constraints import Options, validate
from partialfed.experiments.cell import Cell
from partialfed.experiments.measure import simulate
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

#: Algorithm -> extra run fields (its own hyper-parameters). One line per algorithm; a tuple
#: is a grid, searched with the steps (each algorithm at its best combination).
ALGORITHMS: dict[str, dict] = {
    "fedavg": {},
    "local": {},
    "fedalt": {},
    "fedsim": {},
    "perfedavg": {"alpha": (0.25, 0.5, 1.0), "variant": "maml"},
    "ditto": {"ditto_lam": (0.1, 1.0)},
}


def variants(alg: str) -> list[dict]:
    """The combinations of ``ALGORITHMS[alg]``'s grids (one dict of run fields each)."""
    fields = ALGORITHMS[alg]
    grids = [(k, v if isinstance(v, tuple) else (v,)) for k, v in fields.items()]
    combos = itertools.product(*(vals for _, vals in grids))
    return [dict(zip([k for k, _ in grids], c, strict=True)) for c in combos]


#: Algorithms that personalise every parameter (the full-personalisation benefit).
FULL = ("local", "perfedavg", "ditto")
#: Algorithms whose runs need ``tau_v == tau_u`` (joint steps).
JOINT = ("fedsim", "fedavg", "perfedavg", "ditto")
#: The measured History column (final round).
QUANTITY = "personal_loss"
#: The test-accuracy column (final round; NaN for families without a test set).
ACCURACY = "personal_accuracy"
#: What :meth:`ClaimsResult.benefit` and :meth:`ClaimsResult.reached` measure.
QUANTITIES = ("loss", "accuracy")


@dataclass(frozen=True)
class ClaimsStudy:
    """The personal-fraction sweep of claim (a) (and claim (b) on the same runs).

    Parameters
    ----------
    cell : Cell
        The problem (its ``d_u + d_v`` is the fixed total) and run (``T, m, tau_u``); the
        algorithm, split, steps and seed are replaced.
    d_vs : tuple of int
        Personal dimensions swept (each in ``[1, d_u + d_v - 1]``).
    etas : tuple of float
        Step grid: ``gamma_u = eta/L_u``, ``gamma_v = eta/L_v`` (one local step count for all).
    seeds : tuple of int
        Seeds of sampling and noise, shared by every algorithm (>= 2 for intervals).
    at : float
        The personal fraction of the headline number ("x% personal parameters").
    noise : float
        Total noise standard deviation on ``w``: ``noise_u = noise sqrt(d_u/d)``, ``noise_v =
        noise sqrt(d_v/d)``, so every coordinate gets variance ``noise^2/d`` whatever the split.
    algorithms : tuple of str
        Keys of :data:`ALGORITHMS`.
    label : str
    """

    cell: Cell
    d_vs: tuple
    etas: tuple
    seeds: tuple
    at: float = 0.2
    noise: float = 0.0
    algorithms: tuple = tuple(ALGORITHMS)
    label: str = ""

    def __post_init__(self):
        d = self.total
        bad = [x for x in self.d_vs if not 1 <= int(x) <= d - 1]
        if bad:
            raise ValueError(
                f"The 'd_vs' parameter of ClaimsStudy must lie in [1, {d - 1}] (d_u + d_v = {d}). "
                f"Got {bad}."
            )
        unknown = [a for a in self.algorithms if a not in ALGORITHMS]
        if unknown:
            raise ValueError(
                f"The 'algorithms' parameter of ClaimsStudy must name keys of ALGORITHMS "
                f"({', '.join(ALGORITHMS)}). Got {unknown}."
            )
        if not self.etas or any(not (e > 0 and math.isfinite(e)) for e in self.etas):
            raise ValueError(
                f"The 'etas' parameter of ClaimsStudy must be positive. Got {self.etas}."
            )
        if "fedavg" not in self.algorithms:
            raise ValueError("The 'algorithms' parameter of ClaimsStudy must include 'fedavg'.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                "The 'seeds' parameter of ClaimsStudy must be a non-empty tuple of distinct "
                f"seeds (>= 2 for intervals). Got {self.seeds!r}."
            )
        if not 0.0 < self.at < 1.0:
            raise ValueError(
                f"The 'at' parameter of ClaimsStudy must lie in (0, 1) (a personal fraction). "
                f"Got {self.at!r}."
            )

    @property
    def total(self) -> int:
        k = dict(self.cell.knobs)
        return int(k["d_u"]) + int(k["d_v"])

    def split(self, d_v: int) -> Cell:
        """The study's cell at personal dimension ``d_v`` (same total, per-coordinate noise)."""
        d = self.total
        d_u = d - d_v
        return self.cell.with_knobs(
            d_u=d_u,
            d_v=d_v,
            noise_u=self.noise * math.sqrt(d_u / d),
            noise_v=self.noise * math.sqrt(d_v / d),
        )

    def cells(self, d_v: int, alg: str, eta: float, extra: dict | None = None) -> list[Cell]:
        """One cell per seed, from ``problem.init(0)`` (``extra``: one of :func:`variants`,
        default the first)."""
        at = self.split(d_v)
        c = at.problem().constants
        tau = at.run.tau_u
        run = dict(
            algorithm=alg,
            tau_v=tau if alg in JOINT else at.run.tau_v,
            gamma_u=eta / (c.L_u * tau),
            gamma_v=eta / (c.L_v * (tau if alg in JOINT else at.run.tau_v)),
            **(variants(alg)[0] if extra is None else extra),
        )
        base = at.with_run(**run)
        return [replace(base.with_run(seed=s), init_seed=0) for s in self.seeds]

    @property
    def runs(self) -> int:
        per = sum(len(variants(a)) for a in self.algorithms)
        return len(self.d_vs) * per * len(self.etas) * len(self.seeds)


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
        """Whether every best step has a finite test accuracy per seed (a test set)."""
        return bool(self.best) and all(
            b.accuracy and np.all(np.isfinite(b.accuracy)) for b in self.best.values()
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
