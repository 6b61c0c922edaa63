"""What to personalize: a sparse personal deviation per device found by Split LBI, voted across
devices, then FedAlt with that block personal against the true block and random blocks.

Each device ``i`` starts from the shared model ``w_bar`` (the minimiser of the average loss with
nothing personal, :meth:`PlantedFamily.shared_optimum`) and runs Split LBI
(``simulators.split_lbi``, eqs. (S1)-(S4); docs/references.md#fu2020-update) on its own loss of
the deviation ``delta``:

    L_i(delta) = f_i(w_bar + delta),  W = delta,  Gamma sparse, W_0 = Z_0 = 0           (R1)

The support of ``Gamma_k`` grows along the path from the coordinates where device ``i`` departs
most from the shared model. The ``n`` runs are made as one Split LBI on the stacked deviations
``(delta_1, ..., delta_n)`` with loss ``sum_i L_i``: (S2)-(S4) are entrywise and ``sum_i L_i`` is
separable across devices, so the stacked run is the ``n`` device runs side by side (a test
checks it against a single device's run). A coordinate is *voted* personal at step ``k`` when
at least a fraction ``quorum`` of the devices have it in their support:

    vote_k[j] = (1/n) #{i : Gamma_k[i, j] != 0},   voted_k = {j : vote_k[j] >= quorum}       (R2)

The coordinates are ranked by the first step at which they are voted (:attr:`Recovery.order`);
the recovered block of size ``K`` is the first ``K``. Precision and recall of ``voted_k`` against
the planted set ``S`` are recorded along the path.

:func:`compare_blocks` then runs FedAlt (``simulators.run``) with the personal block equal to
the recovered one, the true ``S``, and random blocks of the same size (``draws`` uniform draws),
for every seed, all with the *same* steps (every block's problem has ``L_u = L_v = 1``, so one
step suits them all) and the same starting model (``PlantedFamily.init_full(seed)``): the runs
are paired by seed. It reports the final loss gap to the true block's run on the same seed, with
a two-sided 95% t-interval: over the seeds for the recovered block, over the random draws (each
averaged over the seeds, the draws being the independent units) for the random blocks; and the
exact optimum of each block (eq. (P1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from partialfed import simulators
from partialfed._constraints import Array, Interval, validate
from partialfed.experiments.personalize_family import PlantedFamily, dphi, phi
from partialfed.synthetic._problem import MAX_FLOATS
from partialfed.theory import split_lbi as lbi_theory

__all__ = [
    "Recovery",
    "Gap",
    "Comparison",
    "recover",
    "compare_blocks",
    "deviation_oracle",
    "precision_recall",
]

_OWNER = "personalize.recover"
_C_OWNER = "personalize.compare_blocks"
LEVEL = 0.95
"""Two-sided level of the intervals of :class:`Gap`."""


def deviation_oracle(family: PlantedFamily, shared) -> callable:
    """``grad(delta) -> (sum_i L_i, grad)`` of eq. (R1) on the stacked deviations (flattened
    ``(n, d)``, device-major)."""
    a, C = family.scale, family.centres
    base = shared[None, :] - C

    def grad(delta):
        t = base + delta.reshape(C.shape)
        return float(np.sum(phi(t, a))), dphi(t, a).ravel()

    return grad


def _vote(support: np.ndarray, quorum: float) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (R2): ``(vote, voted)`` from the per-device supports ``(R, n, d)``. A function of its
    own so that tests can swap in wrong variants."""
    vote = support.mean(axis=1)
    return vote, vote >= quorum


def precision_recall(chosen: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """``(|chosen & truth| / |chosen|, |chosen & truth| / |truth|)`` of boolean masks; precision
    is NaN for an empty ``chosen``."""
    hit = float(np.sum(chosen & truth))
    size = float(np.sum(chosen))
    return (hit / size if size else math.nan), hit / float(np.sum(truth))


@dataclass(frozen=True, eq=False)
class Recovery:
    """The voted regularization path of personalization (:func:`recover`).

    Attributes
    ----------
    steps : int array (R,)
        Recorded Split LBI iterations; ``time = alpha * steps`` is the path time.
    time : float array (R,)
    support : bool array (R, n, d)
        ``Gamma_k[i, j] != 0`` per device.
    vote : float array (R, d)
        Eq. (R2).
    voted : bool array (R, d)
    precision, recall : float arrays (R,)
        Of ``voted`` against ``truth`` (precision NaN while nothing is voted).
    order : int array (d,)
        Coordinates by the first recorded step at which they are voted (earliest first); ties and
        the never-voted ones by the final vote, then by the mean final ``|Z|``, then by index.
    truth : bool array (d,)
        The planted set as a mask.
    path : simulators.LBIPath
        The stacked run (dimension ``n d``).
    shared : float array (d,)
        The shared model ``w_bar`` the deviations start from.
    quorum : float
    """

    steps: np.ndarray
    time: np.ndarray
    support: np.ndarray
    vote: np.ndarray
    voted: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    order: np.ndarray
    truth: np.ndarray
    path: simulators.LBIPath
    shared: np.ndarray
    quorum: float

    def block(self, size: int | None = None) -> np.ndarray:
        """The recovered personal block: the first ``size`` coordinates of :attr:`order`, sorted
        (default ``size`` = the planted size)."""
        d = self.truth.size
        k = int(self.truth.sum()) if size is None else size
        k = validate(k, "size", "Recovery.block", Interval(int, 1, d - 1))
        return np.sort(self.order[:k])

    def at_planted_size(self) -> tuple[float, float]:
        """Precision and recall of :meth:`block` at the planted size (equal, as both sets have
        ``K`` elements)."""
        chosen = np.zeros(self.truth.size, dtype=bool)
        chosen[self.block()] = True
        return precision_recall(chosen, self.truth)


def recover(
    family: PlantedFamily,
    *,
    kappa: float = 10.0,
    alpha: float = 0.02,
    nu: float = 1.0,
    iters: int = 600,
    record_every: int = 5,
    quorum: float = 0.5,
    shared=None,
) -> Recovery:
    """Split LBI per device on eq. (R1), voted by eq. (R2).

    Parameters
    ----------
    family : PlantedFamily
    kappa, alpha, nu : float > 0
        Split LBI's parameters; ``kappa alpha < 2 / (Lip + 2/nu)`` with ``Lip = 1`` (``phi'' <=
        1``) is required (the derived step condition, eq. (K6) of
        docs/derivations/split_lbi_kl.md, ``theory.split_lbi.STEP_DERIVED``).
    iters, record_every : int >= 1
        Iterations and the recording period.
    quorum : float in (0, 1]
        Fraction of devices that must have a coordinate in their support for it to be voted.
    shared : float array (d,), optional
        The shared model the deviations start from (default the exact
        :meth:`PlantedFamily.shared_optimum`).

    Returns
    -------
    Recovery
    """
    if not isinstance(family, PlantedFamily):
        raise TypeError(
            f"The 'family' parameter of {_OWNER} must be a PlantedFamily (planted_family(...)). "
            f"Got {type(family).__name__}."
        )
    positive = Interval(float, 0.0, None, closed="neither")
    kappa = validate(kappa, "kappa", _OWNER, positive)
    alpha = validate(alpha, "alpha", _OWNER, positive)
    nu = validate(nu, "nu", _OWNER, positive)
    quorum = validate(quorum, "quorum", _OWNER, Interval(float, 0.0, 1.0, closed="right"))
    if not lbi_theory.step_condition_holds(
        lbi_theory.STEP_DERIVED, kappa=kappa, alpha=alpha, nu=nu, Lip=1.0
    ):
        raise ValueError(
            f"The 'alpha' parameter of {_OWNER} must satisfy kappa alpha < 2 / (1 + 2/nu) = "
            f"{2 / (1 + 2 / nu):.6g} (eq. (K6), Lip = 1). Got kappa alpha = {kappa * alpha:.6g}."
        )
    n, d = family.n, family.d
    iters = validate(iters, "iters", _OWNER, Interval(int, 1, 10**8))
    record_every = validate(record_every, "record_every", _OWNER, Interval(int, 1, None))
    rows = -(-iters // record_every) + 1
    if 3 * rows * n * d > MAX_FLOATS:  # W, Gamma, Z recorded for every device
        raise ValueError(
            f"The 'record_every' parameter of {_OWNER} must keep the recorded path within "
            f"{MAX_FLOATS:.0e} floats (3 rows n d, rows = ceil(iters / record_every) + 1); with "
            f"n={n}, d={d}, iters={iters} it needs >= {math.ceil(3 * rows * n * d / MAX_FLOATS)}"
            f" times {record_every}. Got {record_every}."
        )
    if shared is None:
        shared = family.shared_optimum()
    else:
        shared = validate(shared, "shared", _OWNER, Array((d,)))
    path = simulators.split_lbi(
        deviation_oracle(family, shared),
        np.zeros(n * d),
        kappa=kappa,
        alpha=alpha,
        nu=nu,
        iters=iters,
        record_every=record_every,
    )
    if path.diverged_at >= 0:
        raise ValueError(f"Split LBI diverged at iteration {path.diverged_at}; lower 'alpha'.")
    support = (path.Gamma != 0).reshape(-1, n, d)
    vote, voted = _vote(support, quorum)
    truth = np.zeros(d, dtype=bool)
    truth[family.support] = True
    pr = np.array([precision_recall(v, truth) for v in voted])
    first = np.where(voted.any(axis=0), np.argmax(voted, axis=0), len(path.steps)).astype(float)
    zfin = np.abs(path.Z[-1].reshape(n, d)).mean(axis=0)
    order = np.lexsort((np.arange(d), -zfin, -vote[-1], first))
    return Recovery(
        steps=path.steps,
        time=alpha * path.steps,
        support=support,
        vote=vote,
        voted=voted,
        precision=pr[:, 0],
        recall=pr[:, 1],
        order=order,
        truth=truth,
        path=path,
        shared=shared,
        quorum=quorum,
    )


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
        ``min F_B``; ``"best"``: that of :meth:`PlantedFamily.best_block` (an oracle).
    blocks : dict
        ``"true"``, ``"recovered"``: int arrays; ``"random"``: ``(draws, K)``.
    share : float
        ``mean(random - recovered) / mean(random - true)``: the fraction of the random blocks'
        excess loss that the recovered block removes (1: as good as the truth, 0: no better
        than random); NaN when the random blocks are no worse than the truth.
    config : dict
        The FedAlt settings and seeds.
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
) -> Comparison:
    """FedAlt (``simulators.run``) with personal block = ``recovered``, = the planted set and =
    ``draws`` random blocks of the planted size; see the module docstring.

    Parameters
    ----------
    family : PlantedFamily
    recovered : int sequence or Recovery
        The recovered block (a :class:`Recovery` gives :meth:`Recovery.block`).
    draws : int >= 2
        Random blocks (uniform ``K``-subsets of the ``d`` coordinates, seeded by ``draw_seed``).
    seeds : sequence of int
        Run seeds (each seeds the starting model and the device sampling), at least one.
    T, gamma_u, gamma_v, tau_u, tau_v : as ``simulators.RunConfig``
        The same for every block.
    m : int, optional
        Devices per round (default ``n``, full participation).
    draw_seed : int
        Seed of the random blocks.

    Returns
    -------
    Comparison
    """
    if not isinstance(family, PlantedFamily):
        raise TypeError(
            f"The 'family' parameter of {_C_OWNER} must be a PlantedFamily. "
            f"Got {type(family).__name__}."
        )
    rec = recovered.block() if isinstance(recovered, Recovery) else recovered
    rec = family.block(rec)
    K = family.planted
    if rec.size != K:
        raise ValueError(
            f"The 'recovered' parameter of {_C_OWNER} must have the planted size {K} (blocks are "
            f"compared at equal size). Got {rec.size}."
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
        "best": family.optimum(family.best_block()),
    }
    return Comparison(
        final=final,
        gap=gap,
        optimum=optimum,
        blocks={"true": family.support.copy(), "recovered": rec, "random": random},
        share=share,
        config=cfg | {"seeds": tuple(seeds), "draws": draws, "draw_seed": draw_seed},
    )
