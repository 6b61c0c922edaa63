"""What a regime map measured: per-seed scores under each step policy, and what they say.

:class:`RegimeMap` holds the per-seed measured quantities of ``experiments.regime.regime_map``
(the coarse step grid, the refinement, the theorem rule's runs) and derives everything else:
each :class:`Policy` (steps, means, paired ratio ``FedSim / FedAlt`` with its 95% interval,
the simulated winner), the counts against theory's prediction, and the findings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partialfed.experiments.regime_stats import LEVEL, best_index, paired_ratio

__all__ = ["HEADLINE", "MIN_PREDICTED_DIFFERENCE", "POLICIES", "QUANTITIES", "Policy", "RegimeMap"]

#: Cells where theory predicts a difference of at least this much are scored.
MIN_PREDICTED_DIFFERENCE = 0.10

#: Step policies, in the order the report shows them; :data:`HEADLINE` is the headline.
POLICIES = {
    "best": "each algorithm at its best eta from the grid",
    "shared": "one shared eta, the grid point best for both (geometric mean)",
    "theorem": "each theorem's eta(T) (the study's step rule)",
}
HEADLINE = "best"

#: Measured quantities: ``"same"`` (the headline) scores both algorithms identically.
QUANTITIES = {
    "same": "mean_t [Delta_u/L_u + (m/n) Delta_v/L_v], Delta_u at (u^t, V^t) for both",
    "theorem": "each theorem's left-hand side (FedAlt: Delta_u at (u^t, V^{t+1}))",
}

_ALGS = ("fedalt", "fedsim")


@dataclass(frozen=True)
class Policy:
    """One step policy on every cell; arrays have shape ``(len(ys), len(xs))``.

    Attributes
    ----------
    name, quantity : str
        Keys of :data:`POLICIES` and :data:`QUANTITIES`.
    eta, edge, mean : dict
        Per algorithm: the normalised step used, whether it lies at an end of the steps tried
        (``best``, ``shared``; always False for ``theorem``), and the mean measured quantity.
    ratio, low, high : numpy.ndarray
        Paired ``FedSim / FedAlt`` (geometric mean over seeds) and its 95% interval.
    winner : numpy.ndarray of str
        ``"fedalt"``, ``"fedsim"`` or ``"unresolved"`` (the interval contains 1).
    """

    name: str
    quantity: str
    eta: dict
    edge: dict
    mean: dict
    ratio: np.ndarray
    low: np.ndarray
    high: np.ndarray
    winner: np.ndarray


@dataclass(frozen=True)
class RegimeMap:
    """Simulated and predicted FedAlt-vs-FedSim comparison on a grid.

    Score arrays are keyed ``(algorithm, quantity)``, with shape ``(ny, nx, ..., seeds)``:
    ``grid`` over the coarse ``etas``, ``fine`` over ``fine_eta`` (per cell), ``rule`` the
    theorem rule's runs (``None`` when the study had no rule). ``theory_factor`` is
    ``sqrt(sigma_sim,1^2/sigma_alt,1^2)`` (> 1: FedAlt favoured).
    """

    x: str
    xs: tuple
    y: str
    ys: tuple
    theory_factor: np.ndarray
    etas: tuple
    grid: dict
    fine_eta: dict
    fine: dict
    rule_eta: dict | None
    rule: dict | None
    fixed: dict

    @classmethod
    def from_scores(cls, x, xs, y, ys, fedalt, fedsim, theory_factor, fixed=None, eta=1.0):
        """A map from per-seed scores at one step ``eta`` (hand-made data, tests).

        ``fedalt``, ``fedsim``: arrays ``(len(ys), len(xs), seeds)`` of the measured quantity,
        used for both quantities; every policy then sees that one step.
        """
        a, s = np.asarray(fedalt, dtype=float), np.asarray(fedsim, dtype=float)
        shape = a.shape[:2]
        grid = {
            (k, q): v[:, :, None, :] for k, v in (("fedalt", a), ("fedsim", s)) for q in QUANTITIES
        }
        fine = {key: np.zeros((*shape, 0, a.shape[-1])) for key in grid}
        fine_eta = {k: np.zeros((*shape, 0)) for k in _ALGS}
        fixed = {"seeds": tuple(range(a.shape[-1])), **(fixed or {})}
        return cls(
            x,
            tuple(xs),
            y,
            tuple(ys),
            np.asarray(theory_factor, dtype=float),
            (float(eta),),
            grid,
            fine_eta,
            fine,
            None,
            None,
            fixed,
        )

    # -- policies ------------------------------------------------------------------------------
    @property
    def policies(self) -> tuple:
        """Names of the policies this map has (``theorem`` only with a rule)."""
        return tuple(p for p in POLICIES if p != "theorem" or self.rule is not None)

    def policy(self, name: str = HEADLINE, quantity: str = "same") -> Policy:
        """The policy ``name`` scored on ``quantity`` (keys of POLICIES and QUANTITIES)."""
        if name not in self.policies:
            raise ValueError(
                f"The 'name' parameter of RegimeMap.policy must be one of {self.policies}. "
                f"Got {name!r}."
            )
        if quantity not in QUANTITIES:
            raise ValueError(
                f"The 'quantity' parameter of RegimeMap.policy must be one of {list(QUANTITIES)}. "
                f"Got {quantity!r}."
            )
        shape = self.theory_factor.shape
        eta = {a: np.zeros(shape) for a in _ALGS}
        edge = {a: np.zeros(shape, bool) for a in _ALGS}
        runs = {a: np.zeros((*shape, len(self.fixed["seeds"]))) for a in _ALGS}
        for iy, ix in np.ndindex(shape):
            if name == "theorem":
                for a in _ALGS:
                    eta[a][iy, ix] = self.rule_eta[a][iy, ix]
                    runs[a][iy, ix] = self.rule[(a, quantity)][iy, ix]
            elif name == "best":
                for a in _ALGS:
                    etas = np.concatenate([self.etas, self.fine_eta[a][iy, ix]])
                    scores = np.concatenate(
                        [self.grid[(a, quantity)][iy, ix], self.fine[(a, quantity)][iy, ix]]
                    )
                    order = np.argsort(etas, kind="stable")
                    i, at_edge = best_index(np.mean(scores[order], axis=-1))
                    eta[a][iy, ix], edge[a][iy, ix] = etas[order][i], at_edge
                    runs[a][iy, ix] = scores[order][i]
            else:
                means = [np.mean(self.grid[(a, quantity)][iy, ix], axis=-1) for a in _ALGS]
                with np.errstate(divide="ignore", invalid="ignore"):
                    score = np.log(means[0]) + np.log(means[1])
                i, at_edge = best_index(score)
                for a in _ALGS:
                    eta[a][iy, ix], edge[a][iy, ix] = self.etas[i], at_edge
                    runs[a][iy, ix] = self.grid[(a, quantity)][iy, ix, i]
        ratio, low, high = (np.zeros(shape) for _ in range(3))
        winner = np.empty(shape, dtype=object)
        for iy, ix in np.ndindex(shape):
            pr = paired_ratio(runs["fedsim"][iy, ix], runs["fedalt"][iy, ix])
            ratio[iy, ix], low[iy, ix], high[iy, ix] = pr.ratio, pr.low, pr.high
            winner[iy, ix] = pr.winner
        mean = {a: np.mean(runs[a], axis=-1) for a in _ALGS}
        return Policy(name, quantity, eta, edge, mean, ratio, low, high, winner)

    @property
    def headline(self) -> Policy:
        """The headline: each algorithm at its best step, on the same measured quantity."""
        return self.policy(HEADLINE, "same")

    # -- against theory ------------------------------------------------------------------------
    @property
    def measured_ratio(self) -> np.ndarray:
        """The headline's paired ``FedSim / FedAlt`` (> 1: FedAlt better)."""
        return self.headline.ratio

    @property
    def scored(self) -> np.ndarray:
        """Cells where theory predicts a difference of at least 10%."""
        return np.abs(self.theory_factor - 1.0) >= MIN_PREDICTED_DIFFERENCE

    @property
    def predicted_winner(self) -> np.ndarray:
        return np.where(self.theory_factor > 1.0, "fedalt", "fedsim")

    def agree_of(self, p: Policy) -> np.ndarray:
        """Cells where ``p`` shows a simulated win (interval excludes 1) for theory's winner."""
        return p.winner == self.predicted_winner

    @property
    def agree(self) -> np.ndarray:
        """Headline cells with a simulated win for theory's winner (meaningful where scored)."""
        return self.agree_of(self.headline)

    def counts(self, p: Policy | None = None) -> dict:
        """On the scored cells: how many show theory's winner, the other one, or no winner."""
        p = p or self.headline
        s = self.scored
        w, pred = p.winner[s], self.predicted_winner[s]
        unresolved = int(np.sum(w == "unresolved"))
        agree = int(np.sum(w == pred))
        return dict(
            scored=int(s.sum()),
            agree=agree,
            opposite=int(s.sum()) - agree - unresolved,
            unresolved=unresolved,
        )

    @property
    def agreement(self) -> float:
        """Fraction of scored cells where the headline shows a simulated win for theory's
        winner (an unresolved cell does not agree)."""
        c = self.counts()
        return c["agree"] / c["scored"] if c["scored"] else float("nan")

    def disagreements(self) -> list[dict]:
        """Scored cells where the headline does not show theory's winner, and by how much."""
        h, out = self.headline, []
        for iy, ix in zip(*np.nonzero(self.scored & ~self.agree), strict=True):
            out.append(
                {
                    self.x: self.xs[ix],
                    self.y: self.ys[iy],
                    "theory_factor": float(self.theory_factor[iy, ix]),
                    "measured_ratio": float(h.ratio[iy, ix]),
                    "low": float(h.low[iy, ix]),
                    "high": float(h.high[iy, ix]),
                    "winner": str(h.winner[iy, ix]),
                }
            )
        return out

    def findings(self) -> list[str]:
        """What the map says, one sentence per policy (headline first), with numbers."""
        out = []
        for name in self.policies:
            p = self.policy(name)
            c = self.counts(p)
            s = self.scored
            pred = self.theory_factor[s]
            meas = p.ratio[s]
            out.append(
                f"Regime map, {POLICIES[name]}"
                f"{' (headline)' if name == HEADLINE else ''}: of {c['scored']} cells where "
                f"theory predicts a difference of at least {MIN_PREDICTED_DIFFERENCE:.0%} "
                f"(FedSim/FedAlt factor {_span(pred)}), simulation shows theory's winner in "
                f"{c['agree']}, the other algorithm in {c['opposite']}, no winner (95% interval "
                f"contains 1) in {c['unresolved']}; measured FedSim/FedAlt {_span(meas)}"
                + _edges(p)
                + "."
            )
        return out

    def as_dict(self) -> dict:
        """JSON-able summary (``partialfed regime --json``, the report's ``results.json``)."""
        policies = {}
        for name in self.policies:
            policies[name] = {}
            for q in QUANTITIES:
                p = self.policy(name, q)
                policies[name][q] = {
                    "ratio": p.ratio.tolist(),
                    "low": p.low.tolist(),
                    "high": p.high.tolist(),
                    "winner": p.winner.tolist(),
                    **{f"eta_{a}": p.eta[a].tolist() for a in _ALGS},
                    **{f"edge_{a}": p.edge[a].tolist() for a in _ALGS},
                    "counts": self.counts(p),
                }
        return {
            "x": self.x,
            "xs": list(self.xs),
            "y": self.y,
            "ys": list(self.ys),
            "headline": {"policy": HEADLINE, "quantity": "same"},
            "quantities": dict(QUANTITIES),
            "level": LEVEL,
            "etas": list(self.etas),
            "measured_ratio": self.measured_ratio.tolist(),
            "theory_factor": self.theory_factor.tolist(),
            "agreement": self.agreement,
            "scored": int(self.scored.sum()),
            "disagreements": self.disagreements(),
            "policies": policies,
        }


def _edges(p: Policy) -> str:
    k = int(np.sum(p.edge["fedalt"] | p.edge["fedsim"]))
    return f" ({k} cell(s) with a best step at an end of the steps tried)" if k else ""


def _span(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return f"in [{v.min():.3f}, {v.max():.3f}]" if v.size else "(none)"
