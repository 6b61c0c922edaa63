"""Worst-case search: the instances where one algorithm beats the other by the most.

The slide-40 condition compares two upper bounds (each a supremum over a problem class), so it
says nothing about a given instance. What can be tested is whether the predicted gap appears on
the instances most favourable to each algorithm: a random search over the family's knobs and the
initial point, followed by coordinate moves from the best point found, with both algorithms at
their best steps (``experiments.regime``, policy ``best``, same measured quantity) at every
candidate. The objective is the paired log ratio ``log(FedSim / FedAlt)``: maximised for
``"fedalt"`` (FedAlt's largest advantage), minimised for ``"fedsim"``. Coordinate moves start
from each direction's best random instance; the best instance of each direction among every
instance tried is then measured again on fresh seeds, so its interval is not biased by the
search.

The initial point is ``x* + s (x0 - x*)``: ``problem.init(0)`` moved away from (``s > 1``) or
towards (``s < 1``) the minimiser ``x* = problem.witnesses["F_low"]`` (the origin when the family
has no such witness). Runs with a scaled initial point are not cells of the store, so the search
executes them in this process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from partialfed import simulators
from partialfed.experiments import store
from partialfed.experiments.cell import Cell
from partialfed.experiments.regime import ETA_GRID, FINE, RegimeStudy, regime_map
from partialfed.experiments.regime_stats import PairedRatio

__all__ = ["SPACE", "WorstCaseSearch", "Candidate", "SearchResult", "worst_case_search"]

#: Default knob ranges ``name -> (low, high, log scale?)``; ``init_scale`` is the ``s`` above.
SPACE = {
    "chi": (0.0, 0.95, False),
    "delta": (0.03, 10.0, True),
    "noise_v": (0.03, 10.0, True),
    "noise_u": (0.01, 3.0, True),
    "init_scale": (0.3, 10.0, True),
}


@dataclass(frozen=True)
class WorstCaseSearch:
    """A random then coordinate search over ``space`` around ``cell``'s problem.

    Parameters
    ----------
    cell : Cell
        The problem and ``T, m, tau_u, tau_v``; knobs not in ``space`` stay fixed.
    space : dict
        ``knob -> (low, high, log)``; ``init_scale`` scales the initial displacement.
    candidates : int
        Random points (uniform, in log scale where ``log``), drawn with ``seed``.
    moves : int
        Rounds of coordinate moves per direction (each tries every knob up and down by a
        quarter of its range, keeps the best).
    seeds, confirm_seeds : tuple of int
        Seeds of the search and of the final measurement of each direction's best instance.
    """

    cell: Cell
    space: dict = field(default_factory=lambda: dict(SPACE))
    candidates: int = 12
    moves: int = 1
    seeds: tuple = (0, 1)
    confirm_seeds: tuple = (100, 101, 102, 103, 104, 105)
    etas: tuple = ETA_GRID
    fine: tuple = FINE
    seed: int = 0

    def __post_init__(self):
        for k, (lo, hi, _) in self.space.items():
            if not lo < hi:
                raise ValueError(
                    f"The 'space' parameter of WorstCaseSearch needs low < high for '{k}'. "
                    f"Got ({lo}, {hi})."
                )
        if self.candidates < 1:
            raise ValueError(
                f"The 'candidates' parameter of WorstCaseSearch must be >= 1. Got "
                f"{self.candidates}."
            )
        if self.moves < 0:
            raise ValueError(
                f"The 'moves' parameter of WorstCaseSearch must be >= 0. Got {self.moves}."
            )


@dataclass(frozen=True)
class Candidate:
    """One instance: its knobs (with ``init_scale``), theory's factor, the measured ratio."""

    knobs: dict
    theory_factor: float
    measured: PairedRatio
    eta: dict

    @property
    def log_ratio(self) -> float:
        r = self.measured.ratio
        return math.log(r) if r > 0 and math.isfinite(r) else math.nan


@dataclass(frozen=True)
class SearchResult:
    """Every candidate tried, and per direction the best instance measured on fresh seeds."""

    search: WorstCaseSearch
    tried: tuple
    best: dict  # direction -> Candidate (confirmed)
    seconds: float

    def summary(self) -> dict:
        """JSON-able."""

        def cand(c: Candidate) -> dict:
            m = c.measured
            return dict(
                knobs=c.knobs,
                theory_factor=c.theory_factor,
                ratio=m.ratio,
                low=m.low,
                high=m.high,
                winner=m.winner,
                eta=c.eta,
            )

        return {
            "candidates": len(self.tried),
            "seconds": round(self.seconds, 1),
            "best": {k: cand(c) for k, c in self.best.items()},
            "tried": [cand(c) for c in self.tried],
        }


def _scaled_runner(scale: float):
    """``runner(cells)`` that starts each cell at ``x* + scale (x0 - x*)``; like
    ``sweep.cached_runner`` it reports each run (``on_todo``, ``on_run``) for a progress bar."""

    def execute(cell: Cell) -> store.RunResult:
        p = cell.problem()
        u0, V0 = p.init(cell.init_seed if cell.init_seed is not None else cell.run.seed)
        us, Vs = p.witnesses.get("F_low", (np.zeros_like(u0), np.zeros_like(V0)))[:2]
        u0, V0 = us + scale * (u0 - us), Vs + scale * (V0 - Vs)
        h = simulators.run(p, cell.run, u0=u0, V0=V0)
        frame = pd.DataFrame({"round": h.rounds, **{m: getattr(h, m) for m in store.METRICS}})
        return store.RunResult(cell.spec(), frame, h.status, h.message or "")

    def runner(cells, *, on_todo=None, on_run=None):
        out = []
        for cell in cells:
            if on_todo is not None:
                on_todo([cell])
            out.append(execute(cell))
            if on_run is not None:
                on_run(1)
        return out

    runner.reports_runs = True
    return runner


def _measure(search: WorstCaseSearch, knobs: dict, seeds: tuple, wrap=None) -> Candidate:
    """Both algorithms at their best steps on one instance (a 1 x 1 regime map); ``wrap``
    wraps its runner (``worst_case_search``)."""
    problem = {k: v for k, v in knobs.items() if k != "init_scale"}
    cell = search.cell.with_knobs(**problem)
    (x, xv), (y, yv) = list(cell.knobs)[:2]  # a 1 x 1 map: any two knobs, at their values
    study = RegimeStudy(cell, x, (xv,), y, (yv,), None, seeds, search.etas, search.fine)
    runner = _scaled_runner(float(knobs.get("init_scale", 1.0)))
    r = regime_map(study, runner=runner if wrap is None else wrap(runner))
    h = r.headline
    pr = PairedRatio(float(h.ratio[0, 0]), float(h.low[0, 0]), float(h.high[0, 0]), len(seeds))
    eta = {a: float(h.eta[a][0, 0]) for a in ("fedalt", "fedsim")}
    return Candidate(dict(knobs), float(r.theory_factor[0, 0]), pr, eta)


def _draw(space: dict, rng) -> dict:
    out = {}
    for k, (lo, hi, log) in space.items():
        u = rng.uniform()
        out[k] = float(
            math.exp(math.log(lo) + u * math.log(hi / lo)) if log else lo + u * (hi - lo)
        )
    return out


def _moves(space: dict, knobs: dict) -> list[dict]:
    """Each knob a quarter of its range up and down (in log scale where ``log``), clipped."""
    out = []
    for k, (lo, hi, log) in space.items():
        for sign in (-1.0, 1.0):
            if log:
                v = knobs[k] * (hi / lo) ** (sign / 4)
            else:
                v = knobs[k] + sign * (hi - lo) / 4
            v = float(min(max(v, lo), hi))
            if v != knobs[k]:
                out.append({**knobs, k: v})
    return out


def worst_case_search(search: WorstCaseSearch, *, wrap=None, log=None) -> SearchResult:
    """Run the search (in this process); see the module docstring.

    Parameters
    ----------
    search : WorstCaseSearch
    wrap : callable, optional
        ``wrap(runner) -> runner`` applied to the runner of every instance (a progress bar's
        ``experiments.progress.Study.runner``).
    log : callable, optional
        ``log(line)`` at each stage (random candidates, moves, confirmation).
    """
    start = time.perf_counter()
    say = log if log is not None else (lambda line: None)
    rng = np.random.default_rng([search.seed, 0x5EA])
    tried = []
    for k in range(search.candidates):
        say(f"candidate {k + 1}/{search.candidates}")
        tried.append(_measure(search, _draw(search.space, rng), search.seeds, wrap))
    keys = {}
    for direction, sign in (("fedalt", 1.0), ("fedsim", -1.0)):

        def key(c, sign=sign):
            lr = c.log_ratio
            return sign * lr if math.isfinite(lr) else -math.inf

        keys[direction] = key
        top = max(tried, key=key)
        for k in range(search.moves):
            say(f"coordinate moves towards {direction} ({k + 1}/{search.moves})")
            moves = _moves(search.space, top.knobs)
            trial = [_measure(search, m, search.seeds, wrap) for m in moves]
            tried += trial
            top = max([top, *trial], key=key)
    # every instance measured counts, whichever direction's moves found it
    best = {}
    for d, key in keys.items():
        say(f"confirming the best instance for {d} on fresh seeds")
        best[d] = _measure(search, max(tried, key=key).knobs, tuple(search.confirm_seeds), wrap)
    return SearchResult(replace(search), tuple(tried), best, time.perf_counter() - start)
