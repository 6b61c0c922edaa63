"""The regime map in words: the report's section and findings (``partialfed reproduce``).

Kept apart from ``experiments/report.py`` so the section can be tested on a map built from
hand-made scores (tests/checks/test_regime.py).
"""

from __future__ import annotations

import math

import numpy as np

from partialfed.experiments.regime_result import (
    HEADLINE,
    MIN_PREDICTED_DIFFERENCE,
    POLICIES,
    QUANTITIES,
    RegimeMap,
)
from partialfed.experiments.report_blocks import figure, heading, table, text

__all__ = [
    "TITLE",
    "UPPER_BOUNDS",
    "knob_text",
    "regime_blocks",
    "regime_findings",
    "search_counts",
]

#: The plain statement the report and notebook 03 make about slide 40.
UPPER_BOUNDS = (
    "The slide-40 condition compares two upper bounds: the leading terms of FedAlt's and "
    "FedSim's convergence theorems, each a guarantee over every problem with the same "
    "constants. A smaller upper bound does not predict which algorithm is faster on a given "
    "instance, and the size of theory's factor rests on reconstructed variances (only its sign "
    "is verified). What the map tests is whether simulation, with each algorithm at its best "
    "step, shows the predicted winner and the predicted gap."
)


def _ci(ratio: float, low: float, high: float) -> str:
    if not math.isfinite(low):
        return f"{ratio:.3f}"
    return f"{ratio:.3f} [{low:.3f}, {high:.3f}]"


def _span(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return f"{v.min():.3f}-{v.max():.3f}" if v.size else "-"


#: Title of the report's section.
TITLE = "Regime map: FedAlt or FedSim?"


def knob_text(knobs: dict) -> str:
    """``knobs`` as ``name=value`` pairs (numbers by ``:g``), for a sentence of the report.

    >>> knob_text({"chi": 0.8, "n": 20, "start": "random"})
    'chi=0.8, n=20, start=random'
    """
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else f"{k}={v}"
        for k, v in knobs.items()
    )


def regime_blocks(r: RegimeMap, search=None, links: str = "") -> list[dict]:
    """The report's regime section (``experiments.report_blocks``; ``search``: a
    ``SearchResult``); ``links`` fills the last column (figure, configurations)."""
    f = r.fixed
    s = r.scored
    out = [
        text(UPPER_BOUNDS),
        text(
            f"{f['family']} with {knob_text(f['problem'])}, T={f['run']['T']}, "
            f"m={f['run']['m']}, seeds "
            f"{list(f['seeds'])}. Both algorithms are scored on the same measured quantity, "
            f"{QUANTITIES['same']}; FedAlt's theorem measures Delta_u at (u^t, V^{{t+1}}) "
            "instead (the row marked *own LHS*). Steps: gamma = eta/(L tau) with eta from the "
            f"grid {', '.join(f'{e:.3g}' for e in r.etas)} refined around each algorithm's "
            "best (ties: the smaller step; † marks a best step at an end of the steps tried; "
            "the best step is chosen on the seeds it is scored on, which lowers both means a "
            "little). The ratio FedSim/FedAlt (> 1: FedAlt better) is the geometric mean over "
            "seeds, paired by seed, with a 95% t-interval; a cell is a simulated win only where "
            "the interval excludes 1. Scored: cells where theory predicts at least a "
            f"{MIN_PREDICTED_DIFFERENCE:.0%} difference ({int(s.sum())} of {s.size})."
        ),
    ]
    if f.get("exact"):
        out.append(
            text(
                "Measured exactly: each algorithm's score is its exact expectation "
                "(docs/derivations/exact_quadratic_dynamics.md), not a seed mean, so every "
                "interval has zero width and the ratio is E[FedSim] / E[FedAlt]."
            )
        )
    rows = [(name, "same") for name in r.policies]
    rows.insert(1, (HEADLINE, "theorem"))
    policy_rows = []
    for name, q in rows:
        p = r.policy(name, q)
        c = r.counts(p)
        edges = int(np.sum(p.edge["fedalt"] | p.edge["fedsim"]))
        label = POLICIES[name] + (" (**headline**)" if (name, q) == (HEADLINE, "same") else "")
        if q != "same":
            label += ", own LHS"
        policy_rows.append(
            [
                label,
                f"{c['agree']}/{c['scored']}",
                str(c["opposite"]),
                str(c["unresolved"]),
                _span(p.ratio[s]),
                _span(r.theory_factor[s]),
                str(edges),
                links,
            ]
        )
    out.append(
        table(
            [
                "step policy",
                "theory's winner",
                "other winner",
                "no winner",
                "measured FedSim/FedAlt",
                "predicted",
                "best step at an edge",
                "figure, runs",
            ],
            policy_rows,
            name="regime policies",
        )
    )
    if "theorem" in r.policies:
        out.append(
            text(
                "With each theorem's eta(T), the ratio of the two steps is theory's factor by "
                "construction (the rule uses the same reconstructed variances), so that row "
                "cannot test the prediction; the headline is the best-step row."
            )
        )
    pols = {name: r.policy(name) for name in r.policies}
    cell_rows = []
    for iy, yv in enumerate(r.ys):
        for ix, xv in enumerate(r.xs):
            cells = []
            for name in ("best", "shared", "theorem"):
                if name not in pols:
                    cells.append("-")
                    continue
                p = pols[name]
                eta = "/".join(
                    f"{p.eta[a][iy, ix]:.3g}{'†' if p.edge[a][iy, ix] else ''}"
                    for a in (("fedalt", "fedsim") if name != "shared" else ("fedalt",))
                )
                cells.append(
                    f"{_ci(p.ratio[iy, ix], p.low[iy, ix], p.high[iy, ix])} "
                    f"{p.winner[iy, ix]} (eta {eta})"
                )
            mark = "" if s[iy, ix] else " (not scored)"
            cell_rows.append(
                [f"{xv:g}", f"{yv:g}", f"{r.theory_factor[iy, ix]:.3f}{mark}", *cells, links]
            )
    out.append(
        table(
            [
                r.x,
                r.y,
                "predicted FedSim/FedAlt",
                "best steps: measured [95% CI] (eta FedAlt/FedSim)",
                "shared step",
                "theorem eta(T)",
                "figure, runs",
            ],
            cell_rows,
            ids=[f"regime-{k:02d}" for k in range(1, len(cell_rows) + 1)],
            name="regime cells",
        )
    )
    out.append(figure("regime"))
    if search is not None:
        out += _search_blocks(search)
    return out


def _search_blocks(search) -> list[dict]:
    b = search.best
    sp = search.search
    rows = []
    for d in ("fedalt", "fedsim"):
        c = b[d]
        knobs = ", ".join(f"{k}={v:.3g}" for k, v in c.knobs.items())
        m = c.measured
        rows.append(
            [
                "FedAlt" if d == "fedalt" else "FedSim",
                knobs,
                f"{c.theory_factor:.3f}",
                f"{_ci(m.ratio, m.low, m.high)} ({m.winner})",
                f"{c.eta['fedalt']:.3g}/{c.eta['fedsim']:.3g}",
                "[definition](#configs-search)",
            ]
        )
    return [
        heading("Worst-case search", "regime-search"),
        text(
            f"{len(search.tried)} instances of the same family (random over "
            f"{', '.join(f'{k} in [{lo:g}, {hi:g}]' for k, (lo, hi, _) in sp.space.items())}; "
            f"then {sp.moves} round(s) of coordinate moves per direction; init_scale moves the "
            "initial point away from the minimiser), both algorithms at their best steps, seeds "
            f"{list(sp.seeds)}; the best instance of each direction measured again on seeds "
            f"{list(sp.confirm_seeds)} ({search.seconds:.0f} s)."
        ),
        table(
            [
                "most favourable to",
                "knobs",
                "predicted FedSim/FedAlt",
                "measured [95% CI], fresh seeds",
                "eta FedAlt/FedSim",
                "runs",
            ],
            rows,
            name="worst-case search",
        ),
        text(search_counts(search)),
    ]


def search_counts(search) -> str:
    """One sentence: on the instances tried, the simulated winner against theory's."""
    scored = [c for c in search.tried if abs(c.theory_factor - 1.0) >= MIN_PREDICTED_DIFFERENCE]
    pred = ["fedalt" if c.theory_factor > 1 else "fedsim" for c in scored]
    won = [c.measured.winner for c in scored]
    agree = sum(w == p for w, p in zip(won, pred, strict=True))
    none = sum(w == "unresolved" for w in won)
    ratios = [c.measured.ratio for c in search.tried]
    return (
        f"Of the {len(search.tried)} instances tried, theory predicts a difference of at least "
        f"{MIN_PREDICTED_DIFFERENCE:.0%} on {len(scored)}; on those the search seeds show "
        f"theory's winner on {agree}, the other algorithm on {len(scored) - agree - none}, no "
        f"winner on {none}. Measured FedSim/FedAlt over all instances: {_span(ratios)}; "
        f"predicted: {_span([c.theory_factor for c in search.tried])}."
    )


def regime_findings(r: RegimeMap, search=None) -> list[str]:
    """The regime map's findings, one sentence each, with numbers."""
    out = r.findings()
    if search is not None:
        for d, name in (("fedalt", "FedAlt"), ("fedsim", "FedSim")):
            c = search.best[d]
            m = c.measured
            fav = "FedAlt" if c.theory_factor > 1 else "FedSim"
            out.append(
                f"Worst-case search: the instance found most favourable to {name} "
                f"({', '.join(f'{k}={v:.3g}' for k, v in c.knobs.items())}) measures FedSim/"
                f"FedAlt {_ci(m.ratio, m.low, m.high)} on fresh seeds, where theory favours "
                f"{fav} by a factor {max(c.theory_factor, 1 / c.theory_factor):.3f}."
            )
    return out
