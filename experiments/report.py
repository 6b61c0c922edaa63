"""``partialfed reproduce``: run the verification studies and write a Markdown report with figures.

The report has one table per kind of check (strict, exponent, calibrated fit, lemma), the regime
map, every bound of ``theory.BOUNDS`` with its provenance, and a list of findings: each place
where measurement and theory disagree, said plainly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # headless by default; Jupyter (MPLBACKEND) keeps inline figures

import matplotlib.pyplot as plt  # noqa: E402

from partialfed import theory  # noqa: E402
from partialfed.experiments import mutation, plots, report_exponents  # noqa: E402
from partialfed.experiments._json import dumps  # noqa: E402
from partialfed.experiments.checks import (  # noqa: E402
    CalibrationResult,
    StrictResult,
    exponent_check,
    lemma_check,
    strict_check,
)
from partialfed.experiments.regime import RegimeMap, regime_map  # noqa: E402
from partialfed.experiments.regime_search import SearchResult, worst_case_search  # noqa: E402
from partialfed.experiments.regime_text import regime_findings, regime_section  # noqa: E402
from partialfed.experiments.studies import Plan, plan  # noqa: E402

__all__ = ["Report", "reproduce"]


@dataclass
class Report:
    """What ``reproduce`` computed (also written to ``results.json``)."""

    plan: Plan
    strict: list = field(default_factory=list)
    exponents: list = field(default_factory=list)
    calibration: CalibrationResult | None = None
    lemmas: list = field(default_factory=list)
    regime: RegimeMap | None = None
    regime_search: SearchResult | None = None
    mutation: mutation.MutationScore | None = None
    calibration_cells: tuple = ((), {})  # (train cells, held-out groups) of the calibrated fit
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0

    def findings(self) -> list[str]:
        """Every disagreement between measurement and theory, one sentence each."""
        out = []
        for r in self.strict:
            if r.verdict != "holds":
                why = "".join(f" {reason}." for reason in r.reasons)
                out.append(
                    f"Strict check of `{r.check.bound}` ({r.check.label or r.cell.family}) is "
                    f"{r.verdict}: measured {r.measured.mean:.4g} (95% upper "
                    f"{r.measured.upper:.4g}) against the bound {r.bound_value:.4g}.{why}"
                )
        if self.mutation is not None and self.mutation.missed:
            out.append(mutation.finding(self.mutation))
        out += report_exponents.findings(self.exponents)
        for lemma in self.lemmas:
            if lemma["violations"] and lemma.get("verdict") != "outside assumptions":
                out.append(
                    f"Lemma `{lemma['name']}` is violated at {lemma['violations']} of "
                    f"{lemma['rounds']} rounds (worst excess {lemma['worst']:.3g})."
                )
        if self.regime is not None:
            out += regime_findings(self.regime, self.regime_search)
        return out

    def as_dict(self) -> dict:
        out = {
            "quick": self.plan.quick,
            "seconds": round(self.seconds, 1),
            "strict": [r.as_dict() for r in self.strict],
            "exponents": [report_exponents.as_dict(e) for e in self.exponents],
            "lemmas": self.lemmas,
            "findings": self.findings(),
        }
        if self.calibration is not None:
            c = self.calibration
            out["calibration"] = {
                "bound": c.bound,
                "kind": "fit",
                "constants": c.constants,
                "fixed": c.fixed,
                "median_ratio": c.median_ratio,
                "worst_ratio": c.worst_ratio,
                "test_ratios": list(c.test_ratios),
                "groups": {k: list(v) for k, v in c.groups.items()},
                "warnings": list(c.warnings),
                "non_identifiable": list(c.non_identifiable),
            }
        if self.regime is not None:
            out["regime"] = self.regime.as_dict()
        if self.regime_search is not None:
            out["regime_search"] = self.regime_search.summary()
        if self.mutation is not None:
            out["mutation"] = self.mutation.as_dict()
        return out


# ---------------------------------------------------------------------------------------------
# Lemma checks (derived bounds)
# ---------------------------------------------------------------------------------------------


def _lemma_checks(strict: list[StrictResult]) -> list[dict]:
    """Evaluate, round by round, the per-round lemma of each derived bound on its own runs."""
    from partialfed.theory import derived, derived_diversity

    LEMMAS = {**derived.LEMMAS, **derived_diversity.LEMMAS}

    return [
        {**lemma_check(r, LEMMAS[r.check.bound]), "setting": r.check.label}
        for r in strict
        if r.check.bound in LEMMAS
    ]


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _markdown(rep: Report, command: str) -> str:
    lines = [
        "# partialfed verification report",
        "",
        f"Built by `{command}` in {rep.seconds:.0f} s "
        f"({'quick' if rep.plan.quick else 'full'} sizes; every number below was measured by "
        "that command). Study definitions: `experiments/studies.py` (strict checks: "
        "`experiments/studies_strict.py`).",
        "",
        "## Findings",
        "",
    ]
    findings = rep.findings()
    lines += [f"- {f}" for f in findings] or ["- Measurement agrees with theory everywhere."]
    lines += [
        "",
        "## Strict checks (bounds without free constants)",
        "",
        "Step sizes are the largest the bound's conditions allow (for the bounds derived here, "
        "half the supremum of a strict condition, where the descent coefficient peaks, and the "
        "whole of a non-strict one such as gamma_u <= 1/L_u). Each bound has tight instances "
        "(labels starting with *tight*) where it is nearly attained. Verdict: *holds* when the "
        "one-sided 95% upper confidence bound of the measured left-hand side (over seeds) is "
        "below the bound; ratio = measured / bound (1 = tight). *outside assumptions*: the "
        "problem does not know a constant the proof uses where the proof uses it (the reasons "
        "are in the findings); such a run is not scored.",
        "",
        "| bound | provenance | setting | seeds | measured (95% upper) | bound | ratio | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rep.strict:
        run = r.cell.run
        steps = ", ".join(
            f"{k}={getattr(run, k):.3g}" for k in ("gamma_u", "gamma_v") if getattr(run, k) > 0
        )
        lines.append(
            f"| `{r.check.bound}` | {r.provenance} | {r.check.label or r.cell.family}; "
            f"{run.algorithm}, T={run.T}, m={run.m}, {steps} | "
            f"{len(r.check.seeds)} | {_fmt(r.measured.mean)} ({_fmt(r.measured.upper)}) | "
            f"{_fmt(r.bound_value)} | {r.ratio:.3f} | **{r.verdict}** |"
        )
    if "strict" in rep.figures:
        lines += ["", f"![strict checks]({rep.figures['strict']})", ""]
    if rep.mutation is not None:
        lines += ["", *mutation.markdown(rep.mutation)]
    lines += report_exponents.markdown(rep.exponents, rep.plan.exponents)
    if "exponents" in rep.figures:
        lines += ["", f"![exponent fits]({rep.figures['exponents']})", ""]
    if rep.calibration is not None:
        lines += report_exponents.calibration_markdown(
            rep.calibration, rep.figures.get("calibration"), rep.calibration_cells[0]
        )
    lines += ["## Lemma checks (derived bounds, round by round)", ""]
    if rep.lemmas:
        lines += [
            "| lemma | holds | rounds | violations | worst excess | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for lemma in rep.lemmas:
            lines.append(
                f"| `{lemma['name']}` | {lemma['kind']} | {lemma['rounds']} | "
                f"{lemma['violations']} | {lemma['worst']:.3g} | {lemma.get('verdict', '')} |"
            )
    else:
        lines.append("No per-round lemmas are registered (theory/derived.py).")
    if rep.regime is not None:
        lines += ["", *regime_section(rep.regime, rep.regime_search, rep.figures.get("regime"))]
    lines += [
        "## Every bound, with its provenance",
        "",
        "| bound | algorithm | provenance | free constants | source |",
        "|---|---|---|---|---|",
    ]
    for name, b in sorted(theory.BOUNDS.items()):
        free = ", ".join(sorted(s.name for s in b.free_constants)) or "none"
        lines.append(f"| `{name}` | {b.algorithm} | {b.provenance} | {free} | {b.source} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def reproduce(
    out: str | Path = "partialfed-report",
    *,
    quick: bool = True,
    runner: Callable | None = None,
    log: Callable[[str], None] = print,
    command: str = "partialfed reproduce",
) -> Report:
    """Run every study of :func:`experiments.studies.plan` and write ``out/report.md``.

    Parameters
    ----------
    out : path
        Output folder: ``report.md``, ``results.json`` and ``figures/*.png``.
    quick : bool
        Small sizes (a few minutes on two cores) instead of the full ones.
    runner : callable, optional
        ``runner(cells) -> list of RunResult`` (e.g. ``sweep.cached_runner``); default:
        execute in this process.
    log : callable
        Progress messages (one line each).
    """
    start = time.perf_counter()
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    pl = plan(quick)
    rep = Report(plan=pl)
    for i, check in enumerate(pl.strict, 1):
        log(f"[strict {i}/{len(pl.strict)}] {check.bound}")
        rep.strict.append(strict_check(check, runner=runner))
    rep.mutation = mutation.mutation_score(pl.strict, strict=rep.strict, runner=runner, log=log)
    for i, study in enumerate(pl.exponents, 1):
        log(f"[exponent {i}/{len(pl.exponents)}] {study.label}")
        rep.exponents.append(exponent_check(study, runner=runner))
    _calibrate(rep)
    rep.lemmas = _lemma_checks(rep.strict)
    log("[regime] FedAlt vs FedSim map")
    rep.regime = regime_map(pl.regime, runner=runner)
    if pl.search is not None:
        log("[regime] worst-case search (in this process)")
        rep.regime_search = worst_case_search(pl.search)
    figures = {
        "strict": plots.strict_figure(rep.strict),
        "exponents": plots.exponent_figure(rep.exponents),
        "regime": plots.regime_figure(rep.regime),
    }
    if rep.calibration is not None:
        train, groups = rep.calibration_cells
        figures["calibration"] = plots.calibration_figure(
            rep.calibration,
            [m for _, m in train],
            {g: [m for _, m in cells] for g, cells in groups.items()},
        )
    for key, fig in figures.items():
        plots.save(fig, out / "figures" / key, formats=("png",))
        plt.close(fig)
        rep.figures[key] = f"figures/{key}.png"
    rep.seconds = time.perf_counter() - start
    (out / "results.json").write_text(dumps(rep.as_dict(), indent=2))
    (out / "report.md").write_text(_markdown(rep, command))
    log(f"wrote {out / 'report.md'} ({rep.seconds:.0f} s)")
    return rep


def _calibrate(rep: Report) -> None:
    """Fit fedalt_main's free constants on short horizons, test on longer ones and on an
    instance left out (``report_exponents.calibrate_report``)."""
    done = report_exponents.calibrate_report(rep.exponents)
    if done is not None:
        rep.calibration, train, groups = done
        rep.calibration_cells = (tuple(train), groups)
