"""``partialfed reproduce``: run the verification studies and write the report with figures.

The report (``report.html``, self-contained, and the same as ``report.md``) opens with a
headline (the verdict of each family of checks, the machine, versions and time taken), then
the findings: each place where measurement and theory disagree, said plainly; one table per
kind of check (strict, mutation, exponent, calibrated fit, lemma), the regime map, every bound
of ``theory.BOUNDS`` with its provenance, the configurations that rerun each study and the
references it cites. Laying it out and rendering it are ``experiments.report_view`` and
``experiments.report_render``; ``results.json`` holds every number.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # headless by default; Jupyter (MPLBACKEND) keeps inline figures

import matplotlib.pyplot as plt  # noqa: E402

from partialfed.experiments import (  # noqa: E402
    mutation,
    plots,
    report_claims_accuracy,
    report_exponents,
    report_pep,
    report_perfedavg,
)
from partialfed.experiments._atomic import write_text  # noqa: E402
from partialfed.experiments._json import dumps  # noqa: E402
from partialfed.experiments.checks import (  # noqa: E402
    CalibrationResult,
    StrictResult,
    exponent_check,
    lemma_check,
    strict_check,
)
from partialfed.experiments.paper_claims import (  # noqa: E402
    ClaimsResult,
    claims_study,
)
from partialfed.experiments.paper_claims_coupled import contrast_study  # noqa: E402
from partialfed.experiments.progress import Progress  # noqa: E402
from partialfed.experiments.regime import RegimeMap, regime_map  # noqa: E402
from partialfed.experiments.regime_search import SearchResult, worst_case_search  # noqa: E402
from partialfed.experiments.regime_text import regime_findings  # noqa: E402
from partialfed.experiments.report_configs import write_configs  # noqa: E402
from partialfed.experiments.report_headline import headline  # noqa: E402
from partialfed.experiments.report_meta import Clock  # noqa: E402
from partialfed.experiments.report_render import data_uri, render  # noqa: E402
from partialfed.experiments.report_view import view  # noqa: E402
from partialfed.experiments.studies import Plan, plan  # noqa: E402

__all__ = ["Report", "reproduce", "write"]


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
    perfedavg: report_perfedavg.PerFedAvgChecks | None = None
    claims_ab: ClaimsResult | None = None
    claims_acc: ClaimsResult | None = None  # claim (a) with test accuracy (teacher)
    contrast: list = field(default_factory=list)  # paper_claims.contrast_study rows
    calibration_cells: tuple = ((), {})  # (train cells, held-out groups) of the calibrated fit
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)  # report_meta.Clock.as_dict(): machine, versions
    configs: dict = field(default_factory=dict)  # study -> report_configs.ConfigFiles
    pep: dict | None = None  # report_pep.run_study: tightness rows and the PEP strict check

    def claims(self) -> list[tuple[str, str]]:
        """Every finding with where it comes from: ``(sentence, key)``, the key naming a
        strict check (``strict-NN``), an exponent study (``exponent-NN``), ``mutation``,
        a lemma on the runs of strict check NN (``lemmas-NN``), ``regime`` or ``search``."""
        out = []
        for i, r in enumerate(self.strict, 1):
            if r.verdict != "holds":
                why = "".join(f" {reason}." for reason in r.reasons)
                out.append(
                    (
                        f"Strict check of `{r.check.bound}` ({r.check.label or r.cell.family}) "
                        f"is {r.verdict}: measured {r.measured.mean:.4g} (95% upper "
                        f"{r.measured.upper:.4g}) against the bound {r.bound_value:.4g}.{why}",
                        f"strict-{i:02d}",
                    )
                )
            e = r.exact
            if e is not None and e.verdict != r.verdict and "outside" not in e.verdict:
                out.append(
                    (
                        f"The exact expected left-hand side of `{r.check.bound}` "
                        f"({r.check.label or r.cell.family}) is {e.value:.6g} against the bound "
                        f"{e.bound_value:.6g} (ratio {e.ratio:.4f}): **{e.verdict}**, where the "
                        f"seeds' interval says {r.verdict}.",
                        f"strict-{i:02d}",
                    )
                )
        if self.mutation is not None and self.mutation.missed:
            out.append((mutation.finding(self.mutation), "mutation"))
        for i, e in enumerate(self.exponents, 1):
            out += [(f, f"exponent-{i:02d}") for f in report_exponents.findings([e])]
        for lemma in self.lemmas:
            if lemma["violations"] and lemma.get("verdict") != "outside assumptions":
                key = f"lemmas-{lemma['strict']:02d}" if "strict" in lemma else "lemmas"
                out.append(
                    (
                        f"Lemma `{lemma['name']}` is violated at {lemma['violations']} of "
                        f"{lemma['rounds']} rounds (worst excess {lemma['worst']:.3g}).",
                        key,
                    )
                )
        out += [(f, "pep") for f in report_pep.findings(self.pep or {})]
        if self.regime is not None:
            n = len(regime_findings(self.regime))
            found = regime_findings(self.regime, self.regime_search)
            out += [(f, "regime" if k < n else "search") for k, f in enumerate(found)]
        if self.perfedavg is not None:
            out += [(f, "perfedavg") for f in report_perfedavg.findings(self.perfedavg, None)]
        if self.claims_ab is not None:
            out += [(f, "claims") for f in report_perfedavg.findings(None, self.claims_ab)]
        if self.claims_acc is not None:
            out += [
                (f, "claims") for f in report_claims_accuracy.accuracy_findings(self.claims_acc)
            ]
        out += [(f, "claims") for f in report_perfedavg.contrast_findings(self.contrast)]
        return out

    def findings(self) -> list[str]:
        """Every disagreement between measurement and theory, one sentence each."""
        return [sentence for sentence, _ in self.claims()]

    def as_dict(self) -> dict:
        out = {
            "quick": self.plan.quick,
            "seconds": round(self.seconds, 1),
            "strict": [r.as_dict() for r in self.strict],
            "exponents": [report_exponents.as_dict(e) for e in self.exponents],
            "lemmas": self.lemmas,
            "findings": self.findings(),
            "headline": headline(self),
            "run": self.meta,
            "configs": {k: c.as_dict() for k, c in self.configs.items()},
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
        if self.pep is not None:
            out["pep"] = self.pep
        if self.perfedavg is not None:
            out["perfedavg"] = self.perfedavg.as_dict()
        if self.claims_ab is not None:
            out["claims"] = self.claims_ab.as_dict()
        if self.claims_acc is not None:
            out["claims_accuracy"] = self.claims_acc.as_dict()
        if self.contrast:
            out["claims_contrast"] = self.contrast
        return out


# ---------------------------------------------------------------------------------------------
# Lemma checks (derived bounds)
# ---------------------------------------------------------------------------------------------


def _lemma_checks(strict: list[StrictResult]) -> list[dict]:
    """Evaluate, round by round, the per-round lemma of each derived bound on its own runs."""
    from partialfed.theory import (
        derived,
        derived_diversity,
        derived_local_fedalt,
        derived_local_fedsim,
    )

    LEMMAS = {
        **derived.LEMMAS,
        **derived_diversity.LEMMAS,
        **derived_local_fedsim.LEMMAS,
        **derived_local_fedalt.LEMMAS,
    }

    return [
        {**lemma_check(r, LEMMAS[r.check.bound]), "setting": r.check.label, "strict": i}
        for i, r in enumerate(strict, 1)
        if r.check.bound in LEMMAS
    ]


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
    studies: Plan | None = None,
    progress: bool = False,
) -> Report:
    """Run every study of :func:`experiments.studies.plan` and write the report to ``out``.

    Parameters
    ----------
    out : path
        Output folder: ``report.md``, the self-contained ``report.html``, ``results.json``,
        ``figures/*.png`` and ``configs/*.toml`` (the runs of each study, for ``partialfed
        run``).
    quick : bool
        Small sizes (a few minutes on two cores) instead of the full ones.
    runner : callable, optional
        ``runner(cells) -> list of RunResult`` (e.g. ``sweep.cached_runner``); default:
        execute in this process.
    log : callable
        Progress messages (one line each) when there are no bars.
    command : str
        The command line the report names.
    studies : Plan, optional
        The studies to run instead of ``plan(quick)`` (a smaller plan, in tests).
    progress : bool
        A tqdm bar per study on stderr, counting its runs (``experiments.progress``).
    """
    # What exists now (the imported libraries: sympy's, numba's, matplotlib's objects) lives
    # until the end: out of the collector's sight, a full collection does not walk it again.
    # Where a caller has frozen objects already, the freezing is left to it.
    if gc.get_freeze_count():
        return _reproduce(out, quick, runner, log, command, studies, progress)
    gc.freeze()
    try:
        return _reproduce(out, quick, runner, log, command, studies, progress)
    finally:
        gc.unfreeze()


def _reproduce(out, quick, runner, log, command, studies, progress) -> Report:
    clock = Clock()
    # Each study's runner: the bar's (per run) inside the clock's (notes the cells of each
    # phase, report_configs).
    base = runner
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    pl = plan(quick) if studies is None else studies
    rep = Report(plan=pl)
    pg = Progress(bars=progress, log=log)
    n = len(pl.strict)
    with pg.study("strict checks", sum(len(c.seeds) for c in pl.strict)) as st:
        runner = clock.runner(st.runner(base))
        for i, check in enumerate(pl.strict, 1):
            st.item(f"[strict {i}/{n}] {check.bound}", f"{i}/{n} {check.bound}")
            rep.strict.append(strict_check(check, runner=runner, exact=True))
    clock.lap("strict")
    with pg.study("mutation tests") as st:
        rep.mutation = mutation.mutation_score(
            pl.strict, strict=rep.strict, runner=clock.runner(st.runner(base)), log=st.item
        )
    clock.lap("mutation")
    n = len(pl.exponents)
    with pg.study("exponent fits", sum(len(s.xs) * len(s.seeds) for s in pl.exponents)) as st:
        runner = clock.runner(st.runner(base))
        for i, study in enumerate(pl.exponents, 1):
            st.item(f"[exponent {i}/{n}] {study.label}", f"{i}/{n} {study.label}")
            rep.exponents.append(exponent_check(study, runner=runner))
    clock.lap("exponents")
    pg.line("[calibration] fitting fedalt_main's free constants on the exponent runs")
    _calibrate(rep)
    clock.lap("calibration")
    rep.lemmas = _lemma_checks(rep.strict)
    clock.lap("lemmas")
    with pg.study("regime map", pl.regime.runs) as st:
        st.item("[regime] FedAlt vs FedSim map", "FedAlt vs FedSim")
        rep.regime = regime_map(pl.regime, runner=clock.runner(st.runner(base)))
    clock.lap("regime")
    if pl.search is not None:
        with pg.study("worst-case search") as st:
            st.item("[regime] worst-case search (in this process)", "in this process")
            rep.regime_search = worst_case_search(pl.search, wrap=st.runner, log=st.item)
        clock.lap("search")
    if getattr(pl, "pep", None) is not None:
        with pg.study("PEP worst cases", unit="PEP") as st:
            st.item("[pep] tightness of the derived bounds, strict check for tau_v > 1", "PEP")
            rep.pep = report_pep.run_study(pl.pep, progress=pg)
        clock.lap("pep")
    if pl.perfedavg:
        total = sum(len(s.xs) * len(s.seeds) for s in pl.perfedavg)
        with pg.study("Per-FedAvg checks", total) as st:
            rep.perfedavg = report_perfedavg.perfedavg_checks(
                pl.perfedavg, runner=clock.runner(st.runner(base)), log=st.item
            )
        clock.lap("perfedavg")
    if pl.claims is not None:
        with pg.study("claims (a) and (b)", pl.claims.runs) as st:
            st.item("[claims] personal-fraction sweep", "personal fraction")
            rep.claims_ab = claims_study(pl.claims, runner=clock.runner(st.runner(base)))
        acc = getattr(pl, "claims_accuracy", None)
        if acc is not None:
            with pg.study("claim (a), test accuracy", acc.runs) as st:
                st.item("[claims] personal-fraction sweep, teacher", "test accuracy")
                rep.claims_acc = claims_study(acc, runner=clock.runner(st.runner(base)))
        clock.lap("claims")
    if pl.contrast is not None:
        with pg.study("claim (b), coupled problems", pl.contrast.runs) as st:
            st.item("[claims] FedAlt vs FedSim on coupled problems", "coupled problems")
            rep.contrast = contrast_study(pl.contrast, runner=clock.runner(st.runner(base)))
        clock.lap("contrast")
    with pg.study("figures", unit="figure") as st:
        st.item("[figures] drawing the figures", "drawing")
        figures = {
            "strict": plots.strict_figure(rep.strict),
            "exponents": plots.exponent_figure(rep.exponents),
            "regime": plots.regime_figure(rep.regime),
        }
        if rep.claims_ab is not None:
            figures["claims"] = plots.claims_figure(rep.claims_ab)
        if rep.claims_acc is not None:
            figures["claims-accuracy"] = plots.claims_figure(rep.claims_acc, "accuracy")
        if rep.calibration is not None:
            train, groups = rep.calibration_cells
            figures["calibration"] = plots.calibration_figure(
                rep.calibration,
                [m for _, m in train],
                {g: [m for _, m in cells] for g, cells in groups.items()},
            )
        for key, fig in figures.items():
            # the strict figure is laid out to fit its canvas (three panels wide: its header is
            # wider than one or two), so cropping would only lay it out again
            fits = key == "strict" and len(rep.strict) >= 3
            plots.save(fig, out / "figures" / key, formats=("png",), crop=not fits)
            plt.close(fig)
            rep.figures[key] = f"figures/{key}.png"
            st.tick()
    clock.lap("figures")
    pg.line("[report] writing report.md and report.html")
    write(rep, out, command, clock)
    pg.line(f"wrote {out / 'report.html'} and report.md ({rep.seconds:.0f} s)")
    return rep


def write(rep: Report, out: str | Path, command: str, clock: Clock | None = None) -> None:
    """Write ``configs/*.toml``, ``results.json``, ``report.md`` and ``report.html`` of ``rep``
    to ``out`` (its figures are already in ``out/figures``); ``clock`` gives the machine,
    versions and times, and the cells each phase ran."""
    out = Path(out)
    clock = Clock() if clock is None else clock
    rep.configs = write_configs(rep, out, clock.cells, command)
    clock.lap("configs")
    rep.seconds = clock.stop()
    rep.meta = clock.as_dict()
    # Each file atomically (experiments._atomic): a full disk or a kill leaves the previous
    # version or none, never a truncated one.
    write_text(out / "results.json", dumps(rep.as_dict(), indent=2))
    figures = {
        k: {"src": v, "data": data_uri(out / v) if (out / v).is_file() else None}
        for k, v in rep.figures.items()
    }
    page = view(rep, command, figures=figures)
    write_text(out / "report.md", render(page, "md"))
    write_text(out / "report.html", render(page, "html"))


def _calibrate(rep: Report) -> None:
    """Fit fedalt_main's free constants on short horizons, test on longer ones and on an
    instance left out (``report_exponents.calibrate_report``)."""
    done = report_exponents.calibrate_report(rep.exponents)
    if done is not None:
        rep.calibration, train, groups = done
        rep.calibration_cells = (tuple(train), groups)
