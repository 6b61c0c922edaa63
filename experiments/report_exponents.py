"""The exponent and calibration parts of the report of ``partialfed reproduce``.

- :func:`findings` -- one sentence per exponent study that does not agree;
- :func:`as_dict` -- an exponent result for ``results.json``;
- :func:`blocks` -- the "Exponent checks" tables and where each expected exponent comes from;
- :func:`calibration_split`, :func:`calibration_blocks` -- the calibrated fit of
  ``fedalt_main``: trained on short horizons of some instances, tested on longer horizons and
  on an instance it never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median

from partialfed.experiments.checks import ExponentResult, calibrate
from partialfed.experiments.report_blocks import bullets, table, text

__all__ = [
    "findings",
    "as_dict",
    "TITLE",
    "CALIBRATION_TITLE",
    "blocks",
    "calibration_split",
    "calibrate_report",
    "calibration_blocks",
]

#: Calibration: train on the two shortest horizons of every fedalt_main T-study, and hold out
#: these studies' instances entirely.
CALIBRATION_OTHER_INSTANCE = ("fedalt: m, noise on u only",)


def _ci(e: ExponentResult) -> str:
    return f"{e.fit.slope:+.3f} [{e.fit.low:+.3f}, {e.fit.high:+.3f}]"


def findings(exponents) -> list[str]:
    """Every exponent study that does not agree, and every named term that does not lead.

    An agreeing interval that excludes theory's exponent (a real difference within the
    tolerance) is not a disagreement; the table says so in its direction column."""
    out = []
    for e in exponents:
        theory = f"theory's {e.expected:+.3f} (the {e.leading} term of `{e.bound}`)"
        if e.verdict == "outside assumptions":
            out.append(
                f"Exponent study '{e.label}': outside the setting of `{e.bound}` ("
                + "; ".join(e.reasons)
                + "): its slope is not compared with theory's."
            )
        elif e.verdict == "contradicts" and e.direction == "faster":
            out.append(
                f"Exponent study '{e.label}': the 95% interval of the slope {_ci(e)} excludes "
                f"{theory}; the measured quantity falls faster: the bound is not tight in "
                f"{e.variable} here (no contradiction of an upper bound)."
            )
        elif e.verdict == "contradicts":
            out.append(
                f"Exponent study '{e.label}': the 95% interval of the slope {_ci(e)} excludes "
                f"{theory}; the measured quantity falls slower than that term: its exponent in "
                f"{e.variable} is contradicted at these values."
            )
        elif e.verdict == "inconclusive":
            out.append(
                f"Exponent study '{e.label}': the 95% interval of the slope {_ci(e)} contains "
                f"{theory} but reaches beyond ±{e.tolerance:g} of it: inconclusive at this size."
            )
        x = e.expectation
        if x is not None and not x.leads:
            out.append(
                f"Exponent study '{e.label}': with every free constant set to 1, the term that "
                f"leads is {', '.join(sorted(set(x.leaders)))}, not the named {e.leading}."
            )
    return out


def as_dict(e: ExponentResult) -> dict:
    """One exponent result for ``results.json``."""
    x = e.expectation
    return {
        "label": e.label,
        "variable": e.variable,
        "xs": list(e.xs),
        "measured": list(e.measured),
        "slope": e.fit.slope,
        "low": e.fit.low,
        "high": e.fit.high,
        "expected": e.expected,
        "leading": e.leading,
        "tolerance": e.tolerance,
        "verdict": e.verdict,
        "reasons": list(e.reasons),
        "direction": e.direction,
        "excludes": e.excludes,
        "leads": None if x is None else x.leads,
        "rate_exponent": None if x is None else x.rate_exponent,
    }


def _direction(e: ExponentResult) -> str:
    return e.direction + (" (interval excludes theory's)" if e.excludes else "")


def _terms(e: ExponentResult) -> str:
    x = e.expectation
    if x is None:
        return ""
    gone = dict(x.absent)
    parts = []
    for k, s in x.slopes.items():
        if s is None:
            parts.append(f"{k}: 0 here")
            continue
        v = x.values[k]
        text = f"{k}: {s[0]:+.3g} ({v[0]:.3g} to {v[-1]:.3g})"
        if k in gone:
            text += f", taken as 0 ({gone[k]})"
        parts.append(f"**{text}**" if k == e.leading else text)
    return "; ".join(parts)


#: Titles of the report's two sections.
TITLE = "Exponent checks (bounds with free constants)"
CALIBRATION_TITLE = "Calibrated fit (not a bound)"


def blocks(exponents, studies, links: Callable[[int], str] = lambda i: "") -> list[dict]:
    """The "Exponent checks" section (``experiments.report_blocks``); ``links(i)`` fills the
    last column of study ``i`` (0-based: its figure and configurations)."""
    by_label = {s.label: s for s in studies}
    rows, terms = [], []
    for i, e in enumerate(exponents):
        s = by_label[e.label]
        rows.append(
            [
                e.label,
                f"`{e.bound}`",
                e.variable,
                ", ".join(f"{x:g}" for x in e.xs),
                str(len(s.seeds)),
                _ci(e),
                f"{e.expected:+.3f} ({e.leading})",
                f"**{e.verdict}**",
                _direction(e),
                s.why,
                links(i),
            ]
        )
        x = e.expectation
        if x is not None:
            rate = "-" if x.rate_exponent is None else f"{x.rate_exponent:+.3f}"
            terms.append([e.label, s.steps, _terms(e), "yes" if x.leads else "**no**", rate])
    return [
        text(
            "Each study sweeps one variable with the step size the theorem prescribes "
            "(gamma = eta/(L tau), eta as stated), fits the log-log slope over all seeds with a "
            "95% interval, and compares the interval with theory's exponent: an equivalence "
            "test. *agrees* when the whole interval lies within ±0.05 of it, *contradicts* when "
            "the interval excludes it, *inconclusive* otherwise. The direction says whether the "
            "measured quantity falls *faster* than theory's term (the bound is not tight in that "
            "variable; no contradiction of an upper bound) or *slower* (it would cross the bound)."
        ),
        table(
            [
                "study",
                "bound",
                "variable",
                "values",
                "seeds",
                "slope [95% CI]",
                "theory (term)",
                "verdict",
                "direction",
                "why",
                "figure, runs",
            ],
            rows,
            ids=[f"exponent-{i:02d}" for i in range(1, len(rows) + 1)],
            name="exponents",
        ),
        text(
            "Theory's exponent is computed, not written down "
            "(`experiments/checks/expectation.py`): the bound's right-hand side as a function "
            "of eta (for the main-text theorems, whose rate is the one after tuning eta, the "
            "pre-tuning template "
            "Psi(eta) = c_4 D/(eta T) + c_5 eta s1 + c_6 eta^2 s2), the study's values and step "
            "policy substituted with the swept variable x kept symbolic, the exponent of the named "
            "term in x. Every term's exponent, and its size over the sweep with every free "
            "constant set to 1 (their size is unknown; 1 is the theorem's 'ignoring absolute "
            "constants'):"
        ),
        table(
            [
                "study",
                "step policy",
                "terms: exponent (size over the sweep)",
                "named term leads",
                "tuned rate's exponent",
            ],
            terms,
            name="exponent terms",
        ),
    ]


def calibration_split(exponents, bound: str = "fedalt_main"):
    """Training cells and held-out groups for the calibrated fit of ``bound``.

    Training: the cells at the two shortest horizons ``T`` of the studies of ``bound`` that
    sweep ``T`` (quick size: 400 and 800). Held out: their longer horizons (``"T > 800"``) and
    every cell of the instances of :data:`CALIBRATION_OTHER_INSTANCE` (``"other instance"``).
    """
    mine = [e for e in exponents if e.bound == bound]
    swept = sorted({x for e in mine if e.variable == "T" for x in e.xs})
    t_max = swept[1] if len(swept) > 1 else float("inf")
    train, longer, other = [], [], []
    for e in mine:
        for cell in e.cells:
            if e.label in CALIBRATION_OTHER_INSTANCE:
                other.append(cell)
            elif cell[0]["T"] <= t_max:
                train.append(cell)
            else:
                longer.append(cell)
    groups = {f"T > {t_max:g}": longer, "other instance": other}
    return train, {k: v for k, v in groups.items() if v}


def calibrate_report(exponents, bound: str = "fedalt_main"):
    """``(CalibrationResult, train, groups)``, or ``None`` when there are too few cells.

    ``c_2`` is held at 1: it enters only as ``c_2^3 a_alt_*`` (inside the cube root of the
    drift term), so it is not identifiable on its own and fixing it loses nothing.
    """
    train, groups = calibration_split(exponents, bound)
    if len(train) < 4 or not groups:
        return None
    return calibrate(bound, train, groups, fixed={"c_2": 1.0}), train, groups


def calibration_blocks(c, train=(), links: str = "") -> list[dict]:
    """The "Calibrated fit" section (``experiments.report_blocks``); ``train``: the training
    cells; ``links`` fills the last column (figure, configurations)."""
    t_max = max((v["T"] for v, _ in train), default=float("nan"))
    consts = ", ".join(
        f"{k}={v:.3g}" + (" (fixed)" if k in c.fixed else "")
        for k, v in sorted(c.constants.items())
    )
    rows = [
        [
            "training cells (for reference)",
            str(len(c.train_ratios)),
            f"{median(c.train_ratios):.3f}",
            "-",
            links,
        ]
    ]
    for name, (k, med, worst) in c.group_summary().items():
        rows.append([name, str(k), f"**{med:.3f}**", f"**{worst:.3f}**", links])
    out = [
        text(
            f"The free constants of `{c.bound}` fitted by least squares in log scale on "
            f"{len(c.train_ratios)} cells with T <= {t_max:g} ({consts}). The calibrated "
            "curve is a *fit* of the bound's shape to the measurements, not a bound: nothing "
            "keeps the measured quantity below it. It is tested on cells outside its fitting "
            "range: longer horizons of the same instances, and an instance it never saw. "
            "Ratio = fitted curve / measured."
        ),
        table(
            ["held-out cells", "cells", "median ratio", "worst ratio", "figure, runs"],
            rows,
            name="calibration",
        ),
    ]
    if c.warnings:
        out += [
            text("Identifiability warnings (constants the training cells do not determine):"),
            bullets(list(c.warnings)),
        ]
    else:
        out.append(text("Every fitted constant is identifiable on the training cells."))
    return out
