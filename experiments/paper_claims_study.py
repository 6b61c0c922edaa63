"""The study definition of the paper's claims (a) and (b): the algorithms, their grids and the
personal-fraction sweep (:class:`ClaimsStudy`).

``experiments.paper_claims`` runs it and measures the claims (its docstring states them;
docs/references.md#pillutla2022-claims); every public name here is re-exported there.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from partialfed.experiments.cell import Cell

__all__ = [
    "ACCURACY",
    "ALGORITHMS",
    "FULL",
    "JOINT",
    "QUANTITIES",
    "QUANTITY",
    "ClaimsStudy",
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
