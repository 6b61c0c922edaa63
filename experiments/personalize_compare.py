"""FedAlt with a recovered personal block against the true block and random blocks
(``experiments.personalize``, docs/references.md#fu2020-update for the recovery).

Given a block recovered by ``experiments.personalize.recover`` (eqs. (R1)-(R2)),
:func:`compare_blocks` runs FedAlt (``simulators.run``) with the personal block equal to the
recovered one, the true ``S``, and random blocks of the recovered block's size (``draws``
uniform draws), for every seed, all with the *same* steps (every block's problem has ``L_u =
L_v = 1``, so one step suits them all) and the same starting model
(``PlantedFamily.init_full(seed)``): the runs are paired by seed. It reports the final loss gap
to the true block's run on the same seed, with a two-sided 95% t-interval: over the seeds for
the recovered block, over the random draws (each averaged over the seeds, the draws being the
independent units) for the random blocks; and the exact optimum of each block (eq. (P1)).

The block size ``k`` is the planted size ``K`` by default; ``size="auto"`` reads it off the
voted path without knowing ``K`` (eq. (R3) of ``experiments.personalize``), and the random
blocks are then drawn at that size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from partialfed import simulators
from partialfed._constraints import Interval, Options, validate
from partialfed.experiments.personalize import Recovery
from partialfed.experiments.personalize_family import PlantedFamily

__all__ = ["LEVEL", "Gap", "Comparison", "compare_blocks"]

_C_OWNER = "personalize.compare_blocks"
LEVEL = 0.95
"""Two-sided level of the intervals of :class:`Gap`."""


@dataclass(frozen=True)
class Gap:
    """A mean over pairs with its two-sided :data:`LEVEL` t-interval (``lo = hi = mean`` for one
    pair or equal values)."""

    mean: float
    lo: float
    hi: float
    values: tuple

    @classmethod
    def of(cls, values) -> Gap:
        x = np.asarray(values, dtype=float)
        mean = float(np.mean(x))
        if x.size < 2 or np.all(x == x[0]):
            return cls(mean, mean, mean, tuple(x.tolist()))
        half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * np.std(x, ddof=1))
        half /= math.sqrt(x.size)
        return cls(mean, mean - half, mean + half, tuple(x.tolist()))


@dataclass(frozen=True)
class Comparison:
    """FedAlt with the recovered, the true and random personal blocks (:func:`compare_blocks`).

    Attributes
    ----------
    final : dict
        ``label -> float array`` of final losses ``F(u^T, V^T)``: ``"true"`` and ``"recovered"``
        shaped ``(seeds,)``, ``"random"`` shaped ``(draws, seeds)``.
    gap : dict
        ``label -> Gap`` of the final loss minus the true block's, paired by seed:
        ``"recovered"`` (one value per seed), ``"random"`` (one per draw, its mean over the
        seeds), and ``"random_vs_recovered"``: random minus recovered (one per draw).
    optimum : dict
        ``label -> float`` (``"random"``: the mean over draws) of eq. (P1), the exact
        ``min F_B``; ``"best"``: that of :meth:`PlantedFamily.best_block` at the recovered
        block's size (an oracle).
    blocks : dict
        ``"true"``, ``"recovered"``: int arrays; ``"random"``: ``(draws, k)``.
    share : float
        ``mean(random - recovered) / mean(random - true)``: the fraction of the random blocks'
        excess loss that the recovered block removes (1: as good as the truth, 0: no better
        than random); NaN when the random blocks are no worse than the truth.
    config : dict
        The FedAlt settings, the seeds and ``size`` (that of the recovered and random blocks).
    """

    final: dict
    gap: dict
    optimum: dict
    blocks: dict
    share: float
    config: dict

    def beats_random(self) -> bool:
        """Whether the recovered block's interval lies below the random blocks': the upper end
        of ``recovered - true`` is below the lower end of ``random - true``."""
        return self.gap["recovered"].hi < self.gap["random"].lo


def compare_blocks(
    family: PlantedFamily,
    recovered,
    *,
    draws: int = 8,
    seeds=(0, 1, 2),
    T: int = 200,
    gamma_u: float = 0.5,
    gamma_v: float = 0.5,
    tau_u: int = 1,
    tau_v: int = 1,
    m: int | None = None,
    draw_seed: int = 0,
    size: int | str | None = None,
) -> Comparison:
    """FedAlt (``simulators.run``) with personal block = ``recovered``, = the planted set and =
    ``draws`` random blocks of the recovered block's size; see the module docstring.

    Parameters
    ----------
    family : PlantedFamily
    recovered : int sequence or Recovery
        The recovered block (a :class:`Recovery` gives ``Recovery.block(size)``).
    draws : int >= 2
        Random blocks (uniform ``k``-subsets of the ``d`` coordinates, ``k`` the recovered
        block's size, seeded by ``draw_seed``).
    seeds : sequence of int
        Run seeds (each seeds the starting model and the device sampling), at least one.
    T, gamma_u, gamma_v, tau_u, tau_v : as ``simulators.RunConfig``
        The same for every block.
    m : int, optional
        Devices per round (default ``n``, full participation).
    draw_seed : int
        Seed of the random blocks.
    size : int in [1, d - 1], "auto" or None
        The size ``k`` of the recovered and the random blocks. None: the planted size ``K``.
        ``"auto"``: chosen from a :class:`Recovery`'s voted path without knowing ``K``
        (``stable_block``, eq. (R3) of ``experiments.personalize``). The true block keeps size
        ``K``, so for ``k > K`` the recovered block's gap to it can be negative.

    Returns
    -------
    Comparison
    """
    if not isinstance(family, PlantedFamily):
        raise TypeError(
            f"The 'family' parameter of {_C_OWNER} must be a PlantedFamily. "
            f"Got {type(family).__name__}."
        )
    size = validate(
        size, "size", _C_OWNER, Interval(int, 1, family.d - 1), Options(str, ["auto"]), None
    )
    if isinstance(recovered, Recovery):
        rec = family.block(recovered.block(size))
    elif size == "auto":
        raise TypeError(
            f"The 'size' parameter of {_C_OWNER} can be 'auto' only with a Recovery as "
            f"'recovered' (the size is read off its voted path). Got {type(recovered).__name__}."
        )
    else:
        rec = family.block(recovered)
    K = {None: family.planted, "auto": rec.size}.get(size, size)
    if rec.size != K:
        raise ValueError(
            f"The 'recovered' parameter of {_C_OWNER} must have the size {K} ('size', default "
            f"the planted size: random blocks are drawn at that size). Got {rec.size}."
        )
    draws = validate(draws, "draws", _C_OWNER, Interval(int, 2, 10**4))
    draw_seed = validate(draw_seed, "draw_seed", _C_OWNER, Interval(int, 0, 2**63 - 1))
    seeds = list(seeds) if isinstance(seeds, list | tuple | range | np.ndarray) else seeds
    if not isinstance(seeds, list) or not seeds:
        raise ValueError(
            f"The 'seeds' parameter of {_C_OWNER} must be a non-empty sequence of ints. "
            f"Got {seeds!r:.60}."
        )
    seeds = [validate(s, "seeds", _C_OWNER, Interval(int, 0, 2**63 - 1)) for s in seeds]
    m = family.n if m is None else validate(m, "m", _C_OWNER, Interval(int, 1, family.n))
    cfg = dict(T=T, m=m, tau_u=tau_u, tau_v=tau_v, gamma_u=gamma_u, gamma_v=gamma_v)
    simulators.RunConfig("fedalt", eval_every=T, **cfg)  # validates the settings by name
    rng = np.random.default_rng([draw_seed, 0xB10C])
    random = np.stack([np.sort(rng.choice(family.d, K, replace=False)) for _ in range(draws)])

    def finals(block) -> np.ndarray:
        problem = family.problem(block)
        out = []
        for s in seeds:
            h = simulators.run(problem, simulators.RunConfig("fedalt", seed=s, eval_every=T, **cfg))
            out.append(float(h.loss[-1]))
        return np.array(out)

    final = {"true": finals(family.support), "recovered": finals(rec)}
    final["random"] = np.stack([finals(b) for b in random])
    gap = {
        "recovered": Gap.of(final["recovered"] - final["true"]),
        "random": Gap.of(np.mean(final["random"] - final["true"][None, :], axis=1)),
        "random_vs_recovered": Gap.of(np.mean(final["random"] - final["recovered"], axis=1)),
    }
    excess = gap["random"].mean
    share = gap["random_vs_recovered"].mean / excess if excess > 0 else math.nan
    optimum = {
        "true": family.optimum(family.support),
        "recovered": family.optimum(rec),
        "random": float(np.mean([family.optimum(b) for b in random])),
        "best": family.optimum(family.best_block(K)),
    }
    return Comparison(
        final=final,
        gap=gap,
        optimum=optimum,
        blocks={"true": family.support.copy(), "recovered": rec, "random": random},
        share=share,
        config=cfg
        | {"seeds": tuple(seeds), "draws": draws, "draw_seed": draw_seed, "size": int(K)},
    )
