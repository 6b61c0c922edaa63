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

**The block without knowing K** (:func:`stable_block`, ``Recovery.block("auto")``). Cut the
recorded path into maximal stretches over which ``voted_k`` does not change; a stretch of the set
``B`` starts at the first recorded time ``t_a`` at which ``B`` is voted and ends at the first
recorded time ``t_b`` at which the voted set differs (the path's last time if it never does: the
stretch is then *censored*, its length a lower bound). The chosen block is the set of the stretch
longest in log path time, among the sets that are neither empty nor all ``d`` coordinates:

    B_auto = argmax_{stretches with 0 < |B| < d}  log(t_b / t_a)    (ties: the earliest)     (R3)

A censored stretch (only the path's last one can be) enters with its observed length, a lower
bound of its true one: it wins only if that bound already exceeds every complete stretch's
length (then it is the longest whatever its true end, and the choice is certain); a tie or a
shorter bound leaves the longest complete stretch chosen, a choice a longer path could overturn
(:attr:`Stretch.decided` is then false). It is not excluded: on a path stopped while the planted
set is still voted (``recover``'s defaults) that set is the censored stretch, and it wins.

Why log time: for a quadratic loss a coordinate enters Split LBI's path at ``t_j = (1 + h_j
nu) / (h_j |c_j|)`` (the inverse scale space limit, eq. (K17) of
docs/derivations/split_lbi_kl.md), inversely proportional to how far the device's optimum
departs from the start on that coordinate. So ``log(t_b / t_a)`` is (near equal curvatures) the
log of the ratio between the weakest departure inside ``B`` and the strongest outside it: a
stretch is long when a clear gap separates ``B`` from the rest, whatever the departures' common
scale. Linear time would instead favour stretches late on the path, among small departures. The
empty set (from ``t = 0``, infinitely long in log time) and the full set (it lasts until the
path ends) are excluded, as neither is a choice of personal block. Why not a validation loss:
the devices here see their exact losses, so the loss of a block on held-out devices (or its
exact optimum, eq. (P1)) only falls as the block grows and would choose the largest one.
:attr:`Stretch.margin` (the chosen length over the next longest) tells how clear the choice is.

The FedAlt comparison of a recovered block with the true and random blocks
(:func:`compare_blocks`, :class:`Comparison`, :class:`Gap`) lives in
``experiments.personalize_compare`` and is importable from here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from partialfed import simulators
from partialfed._constraints import Array, Interval, Options, validate
from partialfed.experiments.personalize_family import PlantedFamily, dphi, phi
from partialfed.synthetic._problem import MAX_FLOATS
from partialfed.theory import split_lbi as lbi_theory

__all__ = [
    "Recovery",
    "Stretch",
    "recover",
    "stable_block",
    "stretches",
    "deviation_oracle",
    "precision_recall",
]

_OWNER = "personalize.recover"


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

    def block(self, size: int | str | None = None) -> np.ndarray:
        """The recovered personal block, sorted: the first ``size`` coordinates of :attr:`order`
        (default ``size`` = the planted size), or for ``size="auto"`` the voted set of
        :func:`stable_block` (eq. (R3), no knowledge of the planted size)."""
        d = self.truth.size
        k = int(self.truth.sum()) if size is None else size
        k = validate(k, "size", "Recovery.block", Interval(int, 1, d - 1), Options(str, ["auto"]))
        if k == "auto":
            return stable_block(self).block
        return np.sort(self.order[:k])

    def at_planted_size(self) -> tuple[float, float]:
        """Precision and recall of :meth:`block` at the planted size (equal, as both sets have
        ``K`` elements)."""
        chosen = np.zeros(self.truth.size, dtype=bool)
        chosen[self.block()] = True
        return precision_recall(chosen, self.truth)


@dataclass(frozen=True, eq=False)
class Stretch:
    """A maximal stretch of the path over which the voted set does not change (eq. (R3)).

    Attributes
    ----------
    block : int array
        The voted set, sorted.
    start, end : float
        Path times ``t_a`` (first recorded time with this set voted) and ``t_b`` (first recorded
        time with another set voted, or the path's last time).
    censored : bool
        Whether the path ends inside the stretch (``end`` is then a lower bound).
    length : float
        ``log(end / start)`` (``inf`` for a stretch from ``t = 0``); a lower bound if censored.
    margin : float
        For :func:`stable_block`'s choice: ``length`` over the longest other candidate's (``inf``
        if there is none); NaN otherwise. A lower bound when the chosen stretch is censored, an
        upper bound when the other one is (censored lengths only grow with the path).
    decided : bool
        For :func:`stable_block`'s choice: whether a longer path could not change it, i.e. no
        censored candidate other than the chosen one remains (eq. (R3)'s rule for censored
        stretches). True otherwise.
    """

    block: np.ndarray
    start: float
    end: float
    censored: bool
    length: float
    margin: float = math.nan
    decided: bool = True


def _runs(voted: np.ndarray, time: np.ndarray) -> list[Stretch]:
    """Every maximal run of an unchanged voted set, empty and full ones included."""
    R = len(time)
    first = np.flatnonzero(np.r_[True, np.any(voted[1:] != voted[:-1], axis=1)])
    out = []
    for a, b in zip(first, np.r_[first[1:], R], strict=True):
        end = float(time[b] if b < R else time[-1])
        length = math.log(end / time[a]) if time[a] > 0 else math.inf
        block = np.flatnonzero(voted[a])
        out.append(Stretch(block, float(time[a]), end, bool(b == R), length))
    return out


def stretches(recovery: Recovery) -> list[Stretch]:
    """The candidate stretches of eq. (R3), in path order: every maximal stretch of an unchanged
    voted set that is neither empty nor all ``d`` coordinates."""
    d = recovery.truth.size
    return [r for r in _runs(recovery.voted, recovery.time) if 0 < r.block.size < d]


def _longest(candidates: list[Stretch]) -> int:
    """Index of the chosen candidate (eq. (R3)): the longest complete stretch, the earliest
    among ties, unless a censored one's observed length (a lower bound) strictly exceeds every
    complete stretch's. A function of its own so that tests can swap in wrong variants."""
    complete = [i for i, c in enumerate(candidates) if not c.censored]
    censored = [i for i, c in enumerate(candidates) if c.censored]
    best = None
    for i in complete:  # earliest among ties
        if best is None or candidates[i].length > candidates[best].length:
            best = i
    for i in censored:  # certainly the longest only if its lower bound beats them all
        if best is None or candidates[i].length > candidates[best].length:
            best = i
    return best


def stable_block(recovery: Recovery) -> Stretch:
    """The block chosen from the voted path without knowing its size: eq. (R3).

    Parameters
    ----------
    recovery : Recovery

    Returns
    -------
    Stretch
        The longest stretch in log path time (a censored one only if its observed length beats
        every complete one), with its :attr:`Stretch.margin` and :attr:`Stretch.decided`.
    """
    if not isinstance(recovery, Recovery):
        raise TypeError(
            f"The 'recovery' parameter of personalize.stable_block must be a Recovery "
            f"(recover(...)). Got {type(recovery).__name__}."
        )
    candidates = stretches(recovery)
    if not candidates:
        sizes = sorted(set(recovery.voted.sum(axis=1).tolist()))
        raise ValueError(
            "The 'recovery' parameter of personalize.stable_block must have a voted set other "
            "than the empty and the full one somewhere on its path (run recover with more "
            f"'iters' or a lower 'quorum'). Got voted sizes {sizes} only."
        )
    best = _longest(candidates)
    rest = [c.length for i, c in enumerate(candidates) if i != best]
    chosen = candidates[best]
    margin = chosen.length / max(rest) if rest and max(rest) > 0 else math.inf
    decided = not any(c.censored for i, c in enumerate(candidates) if i != best)
    return Stretch(
        chosen.block, chosen.start, chosen.end, chosen.censored, chosen.length, margin, decided
    )


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


_COMPARE = ("LEVEL", "Gap", "Comparison", "compare_blocks")


def __getattr__(name: str):
    """The comparison's names, from ``experiments.personalize_compare`` (imported on first use:
    that module imports :class:`Recovery` from here, so a plain import would be circular)."""
    if name in _COMPARE:
        from partialfed.experiments import personalize_compare

        return getattr(personalize_compare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
