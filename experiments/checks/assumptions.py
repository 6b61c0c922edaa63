"""Does a problem's knowledge of its constants cover a bound's proof on the runs of a check?

A bound's proof uses constants of the assumptions at certain points (``Bound.uses``: everywhere,
on a region of its own, or at the run's iterates); a problem knows each constant in one way
(``Constants.kind``: ``exact``, ``certified``, ``local`` on ``Constants.regions[name]``, or
``estimate``). :func:`assumption_reasons` compares the two and returns, for every use that is
not covered, one sentence naming the constant, how it is known and how the proof uses it. A
strict check with any such sentence says ``"outside assumptions"``, never ``"holds"``.

Rules (docs/architecture.md#checks-and-the-measured-column-table):

* ``exact`` or ``certified``: covered wherever the proof uses it.
* ``estimate``: never covered. A number measured on samples carries no guarantee, so a
  measurement above the bound could be the estimate's fault, not the proof's.
* ``local`` used ``EVERYWHERE``: not covered (the proof goes where the region does not).
* ``local`` used on a ``REGION`` of the proof: not covered (the proof's region and the
  constant's are not compared).
* ``local`` used at the ``ITERATES``: covered when the region has a test on a run
  (``Region.metric``), every round is recorded (``eval_every = 1``), the local steps are single
  (``tau_u = tau_v = 1``: local iterates are not recorded) and every recorded iterate of every
  run lies in the region; otherwise not, with the first round at which a run leaves it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from partialfed import theory
from partialfed.experiments.cell import SINGLE_BLOCK

__all__ = ["assumption_reasons", "problem_constant"]

_COVERED = ("exact", "certified")


def problem_constant(name: str) -> str:
    """The problem constant that a bound's constant ``name`` takes its value from
    (``experiments.cell.SINGLE_BLOCK``: ``L`` -> ``L_u``, ``zeta`` -> ``delta``, ...)."""
    return SINGLE_BLOCK.get(name, name)


def _label(use: theory.Uses, name: str, kind: str) -> str:
    alias = f" (= {name})" if name != use.constant else ""
    return f"{use.constant}{alias} is {kind}"


def _first_exit(frames: Sequence, seeds: Sequence, metric: str, region) -> tuple | None:
    """``(round, seed)`` of the earliest recorded iterate outside ``region``, or None."""
    first = None
    for seed, frame in zip(seeds, frames, strict=True):
        if metric not in frame.columns:
            return ("not recorded", seed)
        inside = region.inside(frame[metric].to_numpy())
        if not inside.all():
            r = int(frame["round"].to_numpy()[np.argmin(inside)])
            if first is None or r < first[0]:
                first = (r, seed)
    return first


def assumption_reasons(
    bound: theory.Bound, problem, frames: Sequence, run, seeds: Sequence | None = None
) -> list[str]:
    """Sentences saying which uses of ``bound.uses`` the problem's constants do not cover.

    Parameters
    ----------
    bound : theory.Bound
    problem : synthetic.Problem
        The problem of the runs (its ``constants.kind`` and ``constants.regions``).
    frames : sequence of DataFrame
        The runs' per-round frames (``round``, the metrics and, for families with a region
        function, ``region``).
    run : simulators.RunConfig
        The runs' settings (``eval_every``, ``tau_u``, ``tau_v``).
    seeds : sequence of int, optional
        The runs' seeds, for the messages (default ``0, 1, ...``).

    Returns
    -------
    list of str
        Empty when every use is covered.
    """
    constants = problem.constants
    seeds = list(range(len(frames))) if seeds is None else list(seeds)
    reasons: list[str] = []
    exits: dict[tuple, list[str]] = {}  # one sentence per (region, exit) for many constants
    for use in bound.uses:
        name = problem_constant(use.constant)
        if name not in constants.kind:
            reasons.append(
                f"{use.constant}: the problem declares no such constant; {bound.name} uses it "
                f"{use.where.value} ({use.at})"
            )
            continue
        kind = constants.kind[name]
        if kind in _COVERED:
            continue
        what = _label(use, name, kind)
        if kind == "estimate":
            reasons.append(
                f"{what} (measured, no guarantee); {bound.name} uses it {use.where.value} "
                f"({use.at})"
            )
            continue
        region = constants.regions[name]
        if use.where is theory.Where.EVERYWHERE:
            reasons.append(
                f"{what} (holds on {region.description}); {bound.name} uses it everywhere "
                f"({use.at})"
            )
            continue
        if use.where is theory.Where.REGION:
            reasons.append(
                f"{what} (holds on {region.description}); {bound.name} uses it on a region of "
                f"its own ({use.at}), not compared with the constant's"
            )
            continue
        why = None
        if region.metric is None:
            why = "no test on a run is known, so the iterates' membership cannot be verified"
        elif run.eval_every > 1:
            why = f"rounds are recorded every {run.eval_every}, so the others are not verified"
        elif run.tau_u > 1 or run.tau_v > 1:
            why = "the local iterates of tau_u, tau_v > 1 are not recorded, so not verified"
        if why is not None:
            reasons.append(
                f"{what} (holds on {region.description}); {bound.name} uses it at the "
                f"iterates ({use.at}): {why}"
            )
            continue
        exit_ = _first_exit(frames, seeds, region.metric, region)
        if exit_ is not None:
            exits.setdefault((region.description, region.metric, exit_), []).append(what)
    for (description, metric, (r, seed)), whats in exits.items():
        where = (
            f"the runs do not record '{metric}'"
            if r == "not recorded"
            else f"the iterates leave it at round {r} (seed {seed})"
        )
        names = ", ".join(w.removesuffix(" is local") for w in whats)
        many = len(whats) > 1
        reasons.append(
            f"{names} {'are' if many else 'is'} local (hold{'' if many else 's'} on "
            f"{description}); {bound.name} "
            f"uses {'them' if many else 'it'} at the iterates, and {where}"
        )
    return reasons
