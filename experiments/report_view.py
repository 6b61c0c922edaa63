"""The view model of the report: one plain dict that ``report.md.j2`` and ``report.html.j2``
both render (``experiments.report_render``).

:func:`view` lays out a ``report.Report``: the headline, the findings, one section per family
of checks (strict, mutation, exponents, calibrated fit, lemmas, regime), every bound with its
source, the configurations that rerun each study, and the references the report cites. Every
claim links to the figure and to the configuration of the runs behind it: figures have the ids
``fig-<key>``, table rows ``strict-NN``, ``exponent-NN``, ``regime-NN``, the configuration
index ``cfg-<study>``, a cited entry of ``docs/references.md`` ``ref-<anchor>``.
"""

from __future__ import annotations

from partialfed import theory
from partialfed.experiments import (
    mutation,
    regime_text,
    report_claims_accuracy,
    report_exponents,
    report_pep,
    report_perfedavg,
)
from partialfed.experiments.report_blocks import bullets, figure, section, table, text
from partialfed.experiments.report_configs import NOT_A_CONFIG
from partialfed.experiments.report_headline import headline, headline_blocks
from partialfed.experiments.report_refs import link, references

__all__ = ["CAPTIONS", "headline_links", "view"]

#: The figures of the report, in order, with their captions.
CAPTIONS = {
    "strict": "Strict checks: the measured left-hand side against each bound, per instance",
    "exponents": "Exponent checks: log-log fits of the measured quantity against the swept "
    "variable",
    "calibration": "Calibrated fit of fedalt_main: fitted curve against the measurements",
    "regime": "Regime map: FedAlt against FedSim, measured and predicted",
    "claims": "Claim (a): benefit over FedAvg of the final personalised loss against the "
    "personal fraction (95% intervals)",
    "claims-accuracy": "Claim (a) with test accuracy (teacher): benefit over FedAvg of the final "
    "personalised test accuracy against the personal fraction (95% intervals)",
}


class _Links:
    """Markdown links to a figure and to the configurations of a study."""

    def __init__(self, figures: dict, configs: dict):
        self.figures, self.configs = figures, configs

    def fig(self, key: str) -> str:
        return f"[figure](#fig-{key})" if key in self.figures else ""

    def runs(self, *keys: str) -> str:
        """A link to the configuration file of each study (to its row of the configuration
        index when it has several files); named by the study when there are several."""
        found = [(k, self.configs[k]) for k in keys if k in self.configs]
        parts = []
        for key, c in found:
            one = len(c.files) == 1
            if len(found) == 1:
                label = "config" if one else f"{len(c.files)} configs"
            else:
                label = key if one else f"{key} ({len(c.files)} files)"
            parts.append(f"[{label}]({c.files[0] if one else f'#cfg-{key}'})")
        return ", ".join(parts)

    def both(self, fig: str, *keys: str) -> str:
        return ", ".join(p for p in (self.fig(fig), self.runs(*keys)) if p)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _exact_cell(r) -> str:
    """The strict table's exact column: ``ratio (verdict)``, or a dash."""
    e = getattr(r, "exact", None)
    return "—" if e is None else f"{e.ratio:.4f} ({e.verdict})"


def _strict(rep, ln: _Links) -> list[dict]:
    rows = []
    for i, r in enumerate(rep.strict, 1):
        run = r.cell.run
        steps = ", ".join(
            f"{k}={getattr(run, k):.3g}" for k in ("gamma_u", "gamma_v") if getattr(run, k) > 0
        )
        rows.append(
            [
                f"`{r.check.bound}`",
                r.provenance,
                f"{r.check.label or r.cell.family}; {run.algorithm}, T={run.T}, m={run.m}, {steps}",
                str(len(r.check.seeds)),
                f"{_fmt(r.measured.mean)} ({_fmt(r.measured.upper)})",
                _fmt(r.bound_value),
                f"{r.ratio:.3f}",
                f"**{r.verdict}**",
                _exact_cell(r),
                ln.both("strict", f"strict-{i:02d}"),
            ]
        )
    header = [
        "bound",
        "provenance",
        "setting",
        "seeds",
        "measured (95% upper)",
        "bound",
        "ratio",
        "verdict",
        "exact (ratio, verdict)",
        "figure, runs",
    ]
    ids = [f"strict-{i:02d}" for i in range(1, len(rows) + 1)]
    return [
        text(
            "Step sizes are the largest the bound's conditions allow (for the bounds derived "
            "here, half the supremum of a strict condition, where the descent coefficient peaks, "
            "and the whole of a non-strict one such as gamma_u <= 1/L_u). Each bound has tight "
            "instances (labels starting with *tight*) where it is nearly attained. Verdict: "
            "*holds* when the one-sided 95% upper confidence bound of the measured left-hand "
            "side (over seeds) is below the bound; ratio = measured / bound (1 = tight). "
            "*outside assumptions*: the problem does not know a constant the proof uses where "
            "the proof uses it (the reasons are in the findings); such a run is not scored. "
            "*exact*: on the quadratic family the expected left-hand side is computed exactly "
            "(no seeds: the mean and covariance recursion of "
            "docs/derivations/exact_quadratic_dynamics.md), with its ratio to the bound and its "
            "verdict without an interval; — where it is not available (another family, or a "
            "minimum over rounds)."
        ),
        table(header, rows, ids=ids, name="strict"),
        figure("strict"),
    ]


def _lemmas(rep, ln: _Links) -> list[dict]:
    if not rep.lemmas:
        return [text("No per-round lemmas are registered (theory/derived.py).")]
    rows = [
        [
            f"`{lem['name']}`",
            lem["kind"],
            str(lem["rounds"]),
            str(lem["violations"]),
            f"{lem['worst']:.3g}",
            lem.get("verdict", ""),
            _strict_ref(lem) + ln.runs(_strict_key(lem)),
        ]
        for lem in rep.lemmas
    ]
    header = ["lemma", "holds", "rounds", "violations", "worst excess", "verdict", "runs"]
    return [table(header, rows, name="lemmas")]


def _strict_key(lemma: dict) -> str:
    return f"strict-{lemma['strict']:02d}" if "strict" in lemma else ""


def _strict_ref(lemma: dict) -> str:
    return f"[strict check](#{_strict_key(lemma)}), " if "strict" in lemma else ""


def _bounds() -> list[dict]:
    rows = []
    for name, b in sorted(theory.BOUNDS.items()):
        free = ", ".join(sorted(s.name for s in b.free_constants)) or "none"
        rows.append([f"`{name}`", b.algorithm, b.provenance, free, b.source])
    header = ["bound", "algorithm", "provenance", "free constants", "source"]
    return [table(header, rows, name="bounds")]


def _configs(configs: dict, search: bool) -> list[dict]:
    rows = [
        [c.title, str(c.runs), ", ".join(f"[{f}]({f})" for f in c.files)] for c in configs.values()
    ]
    ids = [f"cfg-{key}" for key in configs]
    if search:
        rows.append(["worst-case search", "-", NOT_A_CONFIG["search"]])
        ids.append("configs-search")
    return [
        text(
            "The runs of each study as configurations of `partialfed run` "
            "(docs/configs.md): `partialfed run configs/<file>.toml` in the report folder "
            "recomputes exactly those runs (same specs, same result hashes), each file one grid. "
            "A study whose step follows the swept value takes one file per value."
        ),
        table(["study", "runs", "files"], rows, ids=ids, name="configs"),
    ]


def _claims(rep, ln: _Links) -> list[str]:
    """The findings, each followed by links to where it comes from."""
    out = []
    for text_, key in rep.claims():
        if key.startswith("strict-"):
            where = f"[row](#{key}), " + ln.both("strict", key)
        elif key.startswith("exponent-"):
            where = f"[row](#{key}), " + ln.both("exponents", key)
        elif key == "mutation":
            own = ln.runs(*(k for k in ln.configs if k.startswith("mutation")))
            where = "[table](#mutation), " + (own or "[strict runs](#strict)")
        elif key.startswith("lemmas"):
            strict = key.replace("lemmas", "strict")  # lemmas-NN: on strict check NN's runs
            where = "[table](#lemmas)"
            if strict != "strict":
                where += f", [strict check](#{strict}), " + ln.both("strict", strict)
        elif key == "search":
            where = "[search](#regime-search), [definition](#configs-search)"
        elif key == "perfedavg":
            where = "[section](#perfedavg), " + ln.runs("perfedavg")
        elif key == "claims":
            where = "[section](#claims), " + ln.both("claims", "claims")
        else:
            where = "[table](#regime), " + ln.both("regime", "regime")
        out.append(f"{text_} ({where.rstrip(', ')})")
    return out or ["Measurement agrees with theory everywhere."]


def headline_links(rep, figures: dict, configs: dict) -> dict:
    """Family of checks -> Markdown links to its figure and to the configurations of its runs
    (the last column of the headline; ``figures`` and ``configs`` as in :func:`view`)."""
    ln = _Links(figures, configs)
    mutation_keys = [k for k in configs if k.startswith("mutation")]
    fedalt_main = [
        f"exponent-{i:02d}" for i, e in enumerate(rep.exponents, 1) if e.bound == "fedalt_main"
    ]
    # A family of many studies links the configuration index (each row of its table links
    # its own file); the mutation tests run on the strict checks' runs where their steps agree.
    index = "[configs](#configs)"
    return {
        "strict": ", ".join(p for p in (ln.fig("strict"), index) if p),
        "mutation": ln.runs(*mutation_keys) or f"[strict runs](#strict), {index}",
        "exponents": ", ".join(p for p in (ln.fig("exponents"), index) if p),
        "lemmas": f"[strict runs](#strict), {index}",
        "calibration": ln.both("calibration", *fedalt_main),
        "regime": ln.both("regime", "regime"),
        "perfedavg": ln.runs("perfedavg"),
        "claims": ln.both("claims", "claims", "contrast"),
    }


def view(rep, command: str, configs: dict | None = None, figures: dict | None = None) -> dict:
    """The view model of ``rep`` (a ``report.Report``) built by ``command``.

    Parameters
    ----------
    rep : Report
    command : str
        The command line named in the introduction.
    configs : dict, optional
        Study key -> ``report_configs.ConfigFiles`` (default ``rep.configs``).
    figures : dict, optional
        Key -> ``{"src": relative path, "data": data URI or None}`` (default: the paths of
        ``rep.figures``, nothing embedded).

    Returns
    -------
    dict
        ``title``, ``intro``, ``sections`` (each ``id``, ``title``, ``blocks``), ``figures``
        (key -> ``id``, ``src``, ``data``, ``caption``) and ``references`` (``id``,
        ``anchor``, ``body``).
    """
    configs = rep.configs if configs is None else configs
    if figures is None:
        figures = {k: {"src": v, "data": None} for k, v in rep.figures.items()}
    figs = {k: {"id": f"fig-{k}", "caption": CAPTIONS.get(k, k), **v} for k, v in figures.items()}
    ln = _Links(figs, configs)
    mutation_keys = [k for k in configs if k.startswith("mutation")]
    family_links = headline_links(rep, figs, configs)
    head = headline(rep)
    sections = [
        section("headline", "Headline", headline_blocks(head, rep.meta, family_links)),
        section("findings", "Findings", [bullets(_claims(rep, ln))]),
        section("strict", "Strict checks (bounds without free constants)", _strict(rep, ln)),
    ]
    if rep.mutation is not None:

        def mutation_links(bound: str) -> str:
            keys = [k for k in mutation_keys if bound in configs[k].bounds]
            own = [f"strict-{i:02d}" for i, r in enumerate(rep.strict, 1) if r.check.bound == bound]
            rows = ", ".join(f"[{k}](#{k})" for k in own)
            same = f"with the bound's own steps: {rows}" if rows else ""
            return "; ".join(p for p in (ln.runs(*keys), same) if p)

        sections.append(
            section("mutation", mutation.TITLE, mutation.blocks(rep.mutation, mutation_links))
        )
    exp_links = [
        ln.both("exponents", f"exponent-{i:02d}") for i in range(1, len(rep.exponents) + 1)
    ]
    sections.append(
        section(
            "exponents",
            report_exponents.TITLE,
            [
                *report_exponents.blocks(rep.exponents, rep.plan.exponents, exp_links.__getitem__),
                figure("exponents"),
            ],
        )
    )
    if rep.calibration is not None:
        blocks = report_exponents.calibration_blocks(
            rep.calibration, rep.calibration_cells[0], family_links["calibration"]
        )
        sections.append(
            section(
                "calibration", report_exponents.CALIBRATION_TITLE, [*blocks, figure("calibration")]
            )
        )
    sections.append(
        section("lemmas", "Lemma checks (derived bounds, round by round)", _lemmas(rep, ln))
    )
    if rep.regime is not None:
        blocks = regime_text.regime_blocks(rep.regime, rep.regime_search, family_links["regime"])
        sections.append(section("regime", regime_text.TITLE, blocks))
    if getattr(rep, "pep", None) is not None:
        sections.append(section("pep", report_pep.TITLE, report_pep.blocks(rep.pep)))
    if getattr(rep, "perfedavg", None) is not None:
        blocks = report_perfedavg.perfedavg_blocks(rep.perfedavg, ln.runs("perfedavg"))
        sections.append(section("perfedavg", report_perfedavg.PERFEDAVG_TITLE, blocks))
    if getattr(rep, "claims_ab", None) is not None:
        blocks = report_perfedavg.claims_blocks(rep.claims_ab, ln.runs("claims"))
        if getattr(rep, "claims_acc", None) is not None:  # after claim (a), before claim (b)
            at = next((k for k, b in enumerate(blocks) if b.get("id") == "claims-b"), len(blocks))
            blocks[at:at] = report_claims_accuracy.accuracy_blocks(rep.claims_acc)
        blocks += report_perfedavg.contrast_blocks(rep.contrast, ln.runs("contrast"))
        sections.append(section("claims", report_perfedavg.CLAIMS_TITLE, blocks))
    sections.append(section("bounds", "Every bound, with its provenance", _bounds()))
    reruns = _configs(configs, search=rep.regime_search is not None)
    sections.append(section("configs", "Configurations: rerun any study", reruns))
    seconds = rep.meta.get("seconds", rep.seconds)
    intro = (
        f"Built by `{command}` in {seconds:.0f} s "
        f"({'quick' if rep.plan.quick else 'full'} sizes; every number below was measured by "
        "that command). Study definitions: `experiments/studies.py` (strict checks: "
        "`experiments/studies_strict.py`)."
    )
    texts: list[str] = []
    sections = [_linked(s, texts) for s in sections]
    return {
        "title": "partialfed verification report",
        "intro": intro,
        "sections": sections,
        "figures": figs,
        "references": references(texts),
        "headline": head,
    }


def _linked(sec: dict, texts: list) -> dict:
    """``sec`` with every citation a link to its reference entry (``report_refs.link``); each
    text is also appended to ``texts``."""

    def one(md: str) -> str:
        texts.append(md)
        return link(md)

    blocks = []
    for b in sec["blocks"]:
        b = dict(b)
        if b["kind"] == "text":
            b["md"] = one(b["md"])
        elif b["kind"] == "list":
            b["entries"] = [one(e) for e in b["entries"]]
        elif b["kind"] == "table":
            b["rows"] = [[one(c) for c in row] for row in b["rows"]]
        blocks.append(b)
    return {**sec, "blocks": blocks}
