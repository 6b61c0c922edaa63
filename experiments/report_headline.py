"""The headline of the report: one verdict per family of checks, with counts and the worst case.

:func:`headline` summarises a ``report.Report`` as JSON-able data (``results.json`` holds it
under ``"headline"``); :func:`headline_blocks` lays it out, with the machine, the versions and
the time taken (``report_meta.Clock.as_dict``), as the first section of both report files.
"""

from __future__ import annotations

import math

import numpy as np

from partialfed.experiments.checks.strict import VERDICTS
from partialfed.experiments.regime_stats import LEVEL
from partialfed.experiments.report_blocks import table

__all__ = ["STRICT_SEVERITY", "headline", "headline_blocks"]


#: How far a strict verdict is from "holds", for the headline's worst case: a violated check
#: comes before an inconclusive one, which comes before one that holds, whatever the ratios; a
#: check outside its assumptions is not scored and comes last.
STRICT_SEVERITY = {"violated": 3, "inconclusive": 2, "holds": 1, "outside assumptions": 0}


def _strict(rep) -> dict:
    counts = {v: sum(r.verdict == v for r in rep.strict) for v in VERDICTS}
    worst = None
    if rep.strict:

        def badness(ir):
            r = ir[1]
            ratio = r.ratio if math.isfinite(r.ratio) else math.inf  # NaN: a run diverged
            return (STRICT_SEVERITY.get(r.verdict, 0), ratio)

        i, r = max(enumerate(rep.strict, 1), key=badness)
        worst = {
            "index": i,
            "bound": r.check.bound,
            "label": r.check.label,
            "ratio": r.ratio,
            "verdict": r.verdict,
        }
    return {"total": len(rep.strict), "counts": counts, "worst": worst}


def _mutation(rep) -> dict | None:
    m = rep.mutation
    if m is None:
        return None
    return {"caught": m.caught, "total": m.total, "missed": [list(x) for x in m.missed]}


def _exponents(rep) -> dict:
    verdicts = ("agrees", "contradicts", "inconclusive")
    counts = {v: sum(e.verdict == v for e in rep.exponents) for v in verdicts}
    outside = sum(e.verdict == "outside assumptions" for e in rep.exponents)
    if outside:  # none of the shipped studies; counted when a configured one is
        counts["outside assumptions"] = outside

    def far(pairs):
        if not pairs:
            return None
        i, e = max(pairs, key=lambda ie: abs(ie[1].fit.slope - ie[1].expected))
        return {
            "index": i,
            "label": e.label,
            "bound": e.bound,
            "slope": e.fit.slope,
            "expected": e.expected,
            "direction": e.direction,
            "verdict": e.verdict,
        }

    numbered = list(enumerate(rep.exponents, 1))
    contradictions = [(i, e) for i, e in numbered if e.verdict == "contradicts"]
    # A slower measurement contradicts the rate; a faster one only says the bound is not tight.
    slower = [(i, e) for i, e in contradictions if e.direction == "slower"]
    worst = far(slower or contradictions)
    return {
        "total": len(rep.exponents),
        "counts": counts,
        "worst": worst,
        "furthest": far(numbered),
    }


def _lemmas(rep) -> dict:
    scored = [lem for lem in rep.lemmas if lem.get("verdict") != "outside assumptions"]
    finite = [lem for lem in scored if math.isfinite(lem["worst"])]
    worst = None
    if finite:
        lem = max(finite, key=lambda x: x["worst"])
        worst = {"name": lem["name"], "excess": lem["worst"], "strict": lem.get("strict")}
    return {
        "total": len(rep.lemmas),
        "scored": len(scored),
        "violations": sum(lem["violations"] for lem in scored),
        "violated": [lem["name"] for lem in scored if lem["violations"]],
        "worst": worst,
    }


def _calibration(rep) -> dict | None:
    c = rep.calibration
    if c is None:
        return None
    return {
        "bound": c.bound,
        "median_ratio": c.median_ratio,
        "worst_ratio": c.worst_ratio,
        "warnings": len(c.warnings),
    }


def _regime(rep) -> dict | None:
    r = rep.regime
    if r is None:
        return None
    c, h = r.counts(), r.headline
    worst = None
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(np.log(h.ratio) - np.log(r.theory_factor))
    gap = np.where(r.scored & np.isfinite(gap), gap, -1.0)
    if gap.max() >= 0:
        iy, ix = np.unravel_index(int(np.argmax(gap)), gap.shape)
        worst = {
            r.x: r.xs[ix],
            r.y: r.ys[iy],
            "measured": float(h.ratio[iy, ix]),
            "predicted": float(r.theory_factor[iy, ix]),
            "winner": str(h.winner[iy, ix]),
            "row": int(iy * len(r.xs) + ix + 1),
        }
    return {**c, "agreement": r.agreement, "worst": worst, "x": r.x, "y": r.y}


def headline(rep) -> dict:
    """Per family of checks: the counts of its verdicts and its worst case.

    ``strict``: counts per verdict and the worst check (the most severe verdict, see
    :data:`STRICT_SEVERITY`, then the largest ratio measured/bound; a diverged run's ratio
    counts as infinite); ``mutation``: caught/total and the misses; ``exponents``: counts, the
    contradiction furthest from theory (``worst``, a *slower* one before any *faster* one;
    ``None`` without one) and the study furthest from theory whatever its verdict;
    ``lemmas``: violations of the lemmas inside their assumptions and the largest excess of
    one (``worst``); ``calibration``: median and
    worst held-out ratio, the number of identifiability warnings; ``regime``: the headline
    counts and the scored cell whose measured ratio is furthest (in log) from the predicted
    one.
    """
    return {
        "strict": _strict(rep),
        "mutation": _mutation(rep),
        "exponents": _exponents(rep),
        "lemmas": _lemmas(rep),
        "calibration": _calibration(rep),
        "regime": _regime(rep),
        "perfedavg": _perfedavg(rep),
        "claims": _claims(rep),
    }


def _perfedavg(rep) -> dict | None:
    """Per-FedAvg: lemma rows that hold, exponent verdicts, mutants caught."""
    p = getattr(rep, "perfedavg", None)
    if p is None:
        return None
    muts = p.lemma_mutants + p.theorem_mutants
    return {
        "lemmas_hold": sum(r.verdict == "holds" for r in p.lemmas),
        "lemmas": len(p.lemmas),
        "agree": sum(r.verdict == "agrees" for _, r in p.theorem),
        "exponents": len(p.theorem),
        "caught": sum(m["caught"] for m in muts),
        "mutants": len(muts),
        "loosest": max((r.ratio for r in p.lemmas), default=None),
    }


def _claims(rep) -> dict | None:
    """Claim (a)'s headline number and claim (b)'s verdicts."""
    c = getattr(rep, "claims_ab", None)
    if c is None:
        return None
    d_v = c.headline_d_v()
    f, lo, hi = c.reached(d_v, "fedalt")
    verdicts = [c.claim_b(x) for x in c.study.d_vs]
    from partialfed.experiments.paper_claims import verdict_b

    b = [verdict_b(p.low, p.high) for p in verdicts]
    b += [r["verdict"] for r in getattr(rep, "contrast", [])]
    return {
        "fraction": d_v / c.study.total,
        "reached": f,
        "low": lo,
        "high": hi,
        "full": c.full(d_v),
        "b_counts": {v: b.count(v) for v in ("ahead", "behind", "not resolved")},
    }


def _rows(h: dict, links: dict) -> list[list[str]]:
    s = h["strict"]
    n = s["counts"]
    worst = "-"
    if s["worst"]:
        w = s["worst"]
        nan = w["ratio"] is None or w["ratio"] != w["ratio"]  # a run diverged: no mean
        ratio = "no ratio (diverged)" if nan else f"ratio {w['ratio']:.3f}"
        worst = (
            f"[{w['verdict']}, {ratio}: `{w['bound']}`](#strict-{w['index']:02d}) ({w['label']})"
        )
    rows = [
        [
            "[strict checks](#strict)",
            f"**{n['holds']}/{s['total']} hold**" if s["total"] else "none run",
            ", ".join(f"{k} {v}" for k, v in n.items()),
            worst,
            links.get("strict", ""),
        ]
    ]
    if h["mutation"] is not None:
        m = h["mutation"]
        missed = ", ".join(f"`{b}` with `{x}`" for b, x in m["missed"]) or "none"
        rows.append(
            [
                "[mutation tests](#mutation)",
                f"**{m['caught']}/{m['total']} caught**",
                f"{m['total'] - m['caught']} missed",
                f"missed: {missed}",
                links.get("mutation", ""),
            ]
        )
    e = h["exponents"]
    c = e["counts"]
    if e["worst"]:
        w = e["worst"]
        far = (
            f"[{w['label']}](#exponent-{w['index']:02d}): slope {w['slope']:+.3f} against "
            f"{w['expected']:+.3f} ({w['direction']})"
        )
    elif e["furthest"]:
        w = e["furthest"]
        far = (
            f"no contradiction; furthest: [{w['label']}](#exponent-{w['index']:02d}), slope "
            f"{w['slope']:+.3f} against {w['expected']:+.3f} ({w['verdict']})"
        )
    else:
        far = "-"
    rows.append(
        [
            "[exponent checks](#exponents)",
            f"**{c['agrees']}/{e['total']} agree**",
            ", ".join(f"{k} {v}" for k, v in c.items()),
            far,
            links.get("exponents", ""),
        ]
    )
    lem = h["lemmas"]
    rows.append(
        [
            "[lemma checks](#lemmas)",
            f"**{lem['violations']} violations**",
            f"{lem['scored']} of {lem['total']} lemmas inside their assumptions",
            _lemma_worst(lem),
            links.get("lemmas", ""),
        ]
    )
    if h["calibration"] is not None:
        cal = h["calibration"]
        rows.append(
            [
                "[calibrated fit](#calibration)",
                f"**median {cal['median_ratio']:.3f}**",
                f"{cal['warnings']} identifiability warning(s)",
                f"worst held-out ratio {cal['worst_ratio']:.3f} (`{cal['bound']}`)",
                links.get("calibration", ""),
            ]
        )
    if h["regime"] is not None:
        g = h["regime"]
        worst = "no scored cell"
        if g["worst"]:
            w = g["worst"]
            worst = (
                f"[{g['x']}={w[g['x']]:g}, {g['y']}={w[g['y']]:g}](#regime-{w['row']:02d}): "
                f"measured {w['measured']:.3f} against predicted {w['predicted']:.3f} "
                f"({w['winner']})"
            )
        rows.append(
            [
                "[regime map](#regime)",
                f"**{g['agree']}/{g['scored']} show theory's winner**",
                f"other winner {g['opposite']}, no winner {g['unresolved']}",
                worst,
                links.get("regime", ""),
            ]
        )
    if h.get("perfedavg") is not None:
        p = h["perfedavg"]
        rows.append(
            [
                "[Per-FedAvg (recalled)](#perfedavg)",
                f"**{p['agree']}/{p['exponents']} exponents agree**",
                f"lemmas hold {p['lemmas_hold']}/{p['lemmas']}; mutants caught "
                f"{p['caught']}/{p['mutants']}",
                f"loosest recalled lemma {p['loosest']:.3g}x the exact value"
                if p["loosest"] is not None
                else "-",
                links.get("perfedavg", ""),
            ]
        )
    if h.get("claims") is not None:
        c = h["claims"]
        n = c["b_counts"]
        rows.append(
            [
                "[paper's claims](#claims)",
                f"**(a) {100 * c['reached']:.1f}% of the benefit at "
                f"{100 * c['fraction']:.0f}% personal**",
                f"(b) FedAlt ahead {n['ahead']}, behind {n['behind']}, not resolved "
                f"{n['not resolved']}",
                _claim_a_interval(c),
                links.get("claims", ""),
            ]
        )
    return rows


def _claim_a_interval(c: dict) -> str:
    """Claim (a)'s point estimate with its paired bootstrap interval (level ``LEVEL``), in
    percent of the full-personalisation benefit, and the full-personalisation algorithm."""
    return (
        f"(a) {100 * c['reached']:.1f}% ({100 * LEVEL:g}% interval "
        f"[{100 * c['low']:.1f}, {100 * c['high']:.1f}]); full personalisation: {c['full']}"
    )


def _lemma_worst(lem: dict) -> str:
    """The violated lemmas, and the largest excess of a left-hand side over its right-hand
    side at any round (negative: every round has room), with the strict check of its runs."""
    violated = ", ".join(f"`{x}`" for x in lem["violated"]) or "no violated lemma"
    w = lem.get("worst")
    if w is None:
        return violated
    where = f"`{w['name']}`"
    if w.get("strict") is not None:
        where = f"[{where}](#strict-{w['strict']:02d})"
    return f"{violated}; largest excess {w['excess']:.3g} ({where})"


def _fmt_load(load) -> str:
    return "n/a" if not load else ", ".join(f"{x:g}" for x in load)


def headline_blocks(h: dict, meta: dict, links: dict) -> list[dict]:
    """The headline section's two tables: the verdicts (``h``, from :func:`headline`) and the
    run (``meta``, from ``Clock.as_dict``); ``links``: family -> Markdown links."""
    verdicts = table(
        ["checks", "verdict", "counts", "worst case", "figure, runs"],
        _rows(h, links),
        name="headline",
    )
    m, v = meta.get("machine", {}), meta.get("versions", {})
    phases = ", ".join(f"{k} {s:.1f} s" for k, s in meta.get("phases", {}).items())
    run = table(
        ["run", "value"],
        [
            ["date (UTC)", meta.get("date", "-")],
            ["time taken", f"{meta.get('seconds', 0):.0f} s in all; {phases or '-'}"],
            ["machine", f"{m.get('cpu', '-')}, {m.get('cores', '-')} cores, {m.get('system', '')}"],
            [
                "load average (1, 5, 15 min)",
                f"{_fmt_load(meta.get('load_average_start'))} at the start, "
                f"{_fmt_load(meta.get('load_average_end'))} at the end",
            ],
            ["versions", ", ".join(f"{k} {x or 'not installed'}" for k, x in v.items())],
        ],
        name="run",
    )
    return [verdicts, run]
