"""The report of ``partialfed reproduce`` on a tiny plan: report.html (self-contained, opened in
headless Chromium), report.md, the headline in results.json, and configurations that rerun
exactly the runs of each study."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace

import pytest

from partialfed.experiments import config, report, studies
from partialfed.experiments.paper_claims import variants
from partialfed.experiments.regime import RegimeStudy
from partialfed.experiments.report_meta import LIBRARIES
from partialfed.experiments.studies_strict import strict_checks


def tiny_plan() -> studies.Plan:
    """Three strict checks (one with a lemma), the three fedalt_main exponent studies the
    calibrated fit needs, at small sizes, and a 2 x 2 regime map without the search."""
    picked, seen = [], set()
    for c in strict_checks((0, 1, 2), 60):
        if c.bound in ("sgd_nonconvex", "gd_tight", "fedalt_tau1_full") and c.bound not in seen:
            picked.append(c)
            seen.add(c.bound)
    full = studies.plan(True)
    exponents = []
    for e in full.exponents:
        if e.bound == "fedalt_main" and e.variable == "T" and "drift" not in e.label:
            exponents.append(replace(e, xs=(50, 100, 200, 400), seeds=(0, 1)))
        elif e.bound == "fedalt_main" and e.variable == "m":
            exponents.append(replace(e, cell=e.cell.with_run(T=200), xs=(2, 4), seeds=(0, 1)))
    r = full.regime
    regime = RegimeStudy(
        r.cell.with_run(T=60), r.x, (0.1, 10.0), r.y, (0.1, 10.0), r.steps, (0, 1), (0.125, 0.5), ()
    )
    # Per-FedAvg's exponent studies, claims (a) and (b): a few short runs each.
    pf = tuple(
        replace(s, xs=s.xs[:3], seeds=s.seeds[:2], cell=s.cell.with_run(T=100))
        for s in full.perfedavg
    )
    cl = full.claims
    cl = replace(
        cl, d_vs=(1, 3), etas=(0.1, 0.4), seeds=(0, 1), cell=cl.cell.with_run(T=40, eval_every=10)
    )
    contrast = replace(full.contrast, T=40, etas=(0.25, 0.5), seeds=(0, 1))
    return studies.Plan(
        True,
        tuple(picked),
        tuple(exponents),
        regime,
        None,
        perfedavg=pf,
        claims=cl,
        contrast=contrast,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from partialfed.experiments.sweep import cached_runner

    out = tmp_path_factory.mktemp("report")
    runner = cached_runner(out / "runs", scheduler="serial", progress=False)
    rep = report.reproduce(out, studies=tiny_plan(), runner=runner, log=lambda line: None)
    return rep, out


def test_a_full_disk_keeps_the_previous_report(built, tmp_path, full_disk):
    """report.md, report.html, results.json and the configurations are written atomically:
    a disk that fills up leaves each file as it was (here: the report of the fixture)."""
    rep, out = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("runs"))
    names = ("report.md", "report.html", "results.json")
    before = {n: (copy / n).read_bytes() for n in names}
    full_disk(copy, copy / "configs")
    with pytest.raises(OSError, match="No space"):
        report.write(rep, copy, "partialfed reproduce")
    assert {n: (copy / n).read_bytes() for n in names} == before
    assert not [p for p in copy.rglob("*") if p.is_file() and p.stat().st_size == 0]


def _view(rep):
    from partialfed.experiments.report_view import view

    return view(rep, "partialfed reproduce")


def _tables(page) -> list[str]:
    return [b["name"] for s in page["sections"] for b in s["blocks"] if b["kind"] == "table"]


# ---------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------


def test_html_is_self_contained(built):
    rep, out = built
    html = (out / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]*)"', html)
    assert len(srcs) == len(rep.figures) == 5 and all(  # with claims (a)
        s.startswith("data:image/png;base64,") for s in srcs
    )
    assert "<script" not in html and "<link" not in html  # no JS, no external style sheet
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # nothing from the network
    assert "<style>" in html and "border-collapse" in html


def test_markdown_keeps_every_section_and_links_its_figures(built):
    rep, out = built
    md = (out / "report.md").read_text()
    for title in (
        "## Headline",
        "## Findings",
        "## Strict checks",
        "## Mutation tests",
        "## Exponent checks",
        "## Calibrated fit (not a bound)",
        "## Lemma checks",
        "## Regime map",
        "## Per-FedAvg: lemma looseness",
        "## The paper's claims (a) and (b), measured",
        "## Every bound",
        "## Configurations",
        "## References",
    ):
        assert title in md, title
    for key, path in rep.figures.items():
        assert f"]({path})" in md and f'<a id="fig-{key}"></a>' in md
    assert md.index("## Headline") < md.index("## Findings")  # the headline comes first


def test_strict_table_has_the_exact_column(built):
    """Quadratic checks carry the exact expected left-hand side; the sawtooth one a dash."""
    rep, out = built
    md = (out / "report.md").read_text()
    assert "exact (ratio, verdict)" in md
    for r in rep.strict:
        if r.cell.family == "quadratic" and r.check.bound != "gd_tight":  # gd_tight: a minimum
            assert r.exact is not None and r.exact.verdict == r.verdict == "holds"
            assert f"{r.exact.ratio:.4f} ({r.exact.verdict})" in md
        else:
            assert r.exact is None


def test_every_finding_is_in_both_files_with_links(built):
    rep, out = built
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert rep.findings(), "the tiny plan has findings (its exponent fits are short)"
    for sentence in rep.findings():
        line = next(ln for ln in md.splitlines() if ln.startswith(f"- {sentence[:60]}"))
        assert "](#" in line[len(sentence) :], line  # followed by its links
    # in the HTML, the findings section is one list item per finding, each with its links
    section = html.split('<section id="findings">', 1)[1].split("</section>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", section, flags=re.S)
    assert len(items) == len(rep.findings()) and all('<a href="#' in i for i in items), items


def test_results_json_has_the_headline_machine_versions_and_phases(built):
    rep, out = built
    res = json.loads((out / "results.json").read_text())
    h = res["headline"]
    assert sum(h["strict"]["counts"].values()) == h["strict"]["total"] == len(rep.strict)
    assert h["strict"]["worst"]["ratio"] == max(r.ratio for r in rep.strict)
    assert h["mutation"]["caught"] == rep.mutation.caught
    assert sum(h["exponents"]["counts"].values()) == len(rep.exponents)
    assert h["lemmas"]["total"] == len(rep.lemmas) >= 1
    assert h["calibration"]["median_ratio"] == rep.calibration.median_ratio
    assert h["regime"]["scored"] == int(rep.regime.scored.sum())
    pf = rep.perfedavg
    assert h["perfedavg"]["mutants"] == len(pf.lemma_mutants) + len(pf.theorem_mutants) > 0
    assert h["perfedavg"]["exponents"] == len(rep.plan.perfedavg)
    c = rep.claims_ab
    assert h["claims"]["reached"] == c.reached(c.headline_d_v(), "fedalt")[0]
    assert sum(h["claims"]["b_counts"].values()) == len(c.study.d_vs) + len(rep.contrast)
    assert res["claims"]["best"] and res["perfedavg"]["lemmas"]
    run = res["run"]
    assert set(run["versions"]) == {"python", *LIBRARIES} and run["versions"]["numpy"]
    assert run["machine"]["cores"] == os.cpu_count() and run["machine"]["cpu"]
    phases = ("strict", "mutation", "exponents", "calibration", "lemmas", "regime", "figures")
    assert all(p in run["phases"] for p in phases)
    # the phases cover the whole run (each is rounded to 0.1 s in the file)
    assert sum(run["phases"].values()) == pytest.approx(
        run["seconds"], abs=0.06 * (len(run["phases"]) + 1)
    )


# ---------------------------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------------------------


def test_written_configs_rerun_exactly_the_runs_of_each_study(built):
    rep, out = built
    keys = set(rep.configs)
    assert {f"strict-{i:02d}" for i in range(1, 4)} <= keys and "regime" in keys
    for i, r in enumerate(rep.strict, 1):
        (path,) = rep.configs[f"strict-{i:02d}"].files
        sweep = config.load(out / path)
        assert sorted(c.hash for c in sweep.cells) == sorted(c.hash for c in r.check.cells(r.cell))
    for i, study in enumerate(rep.plan.exponents, 1):
        files = rep.configs[f"exponent-{i:02d}"].files
        got = [c.hash for f in files for c in config.load(out / f).cells]
        want = [
            replace(c.with_run(seed=s), init_seed=0).hash
            for c in study.swept()
            for s in study.seeds
        ]
        assert sorted(got) == sorted(want), study.label
    regime = rep.configs["regime"]
    got = {c.hash for f in regime.files for c in config.load(out / f).cells}
    assert len(got) == regime.runs > 0
    claims = rep.configs["claims"]
    got = sorted(c.hash for f in claims.files for c in config.load(out / f).cells)
    st = rep.plan.claims
    want = sorted(
        c.hash
        for d in st.d_vs
        for a in st.algorithms
        for x in variants(a)
        for e in st.etas
        for c in st.cells(d, a, e, x)
    )
    assert got == want


def test_the_configs_hold_every_stored_run_and_nothing_else(built):
    """Together the files are exactly the runs the report computed (its run store, ``runs/``):
    none missing, none invented."""
    rep, out = built
    stored = {p.stem for p in (out / "runs").glob("*.parquet")}
    written = {c.hash for f in (out / "configs").glob("*.toml") for c in config.load(f).cells}
    assert stored and written == stored
    listed = {f for c in rep.configs.values() for f in c.files}
    assert listed == {f"configs/{p.name}" for p in (out / "configs").glob("*.toml")}


def test_grids_merge_only_into_exact_products():
    from partialfed.experiments.cell import Cell
    from partialfed.experiments.report_configs import grids

    cells = [
        Cell.of("quadratic", {"n": 4, "delta": d}, {"T": 5, "m": 2, "gamma_u": g, "seed": s})
        for d, g in ((0.0, 0.1), (1.0, 0.1), (0.0, 0.2), (1.0, 0.2), (2.0, 0.3))
        for s in (0, 1)
    ]
    found = grids(cells)
    assert len(found) == 2  # the 2 x 2 product and the lone (2.0, 0.3)
    got = sorted(c.hash for g in found for c in config.from_dict({**g, "name": "x"}).cells)
    assert got == sorted(c.hash for c in cells)


# ---------------------------------------------------------------------------------------------
# Escaping
# ---------------------------------------------------------------------------------------------


def test_html_escapes_values_and_markdown_keeps_them():
    from partialfed.experiments.report_blocks import section, table, text
    from partialfed.experiments.report_render import render

    evil = '<img src=x onerror="alert(1)"> [x](javascript:alert(1))'
    page = {
        "title": "t <b>",
        "intro": evil,
        "sections": [section("s", "S", [text(evil), table(["a"], [[evil]], name="t")])],
        "figures": {},
        "references": [{"id": "ref-a", "anchor": "a", "level": 2, "body": evil}],
    }
    html = render(page, "html")
    assert "<img" not in html and "onerror=" not in html.replace("onerror=&quot;", "")
    assert 'href="javascript:' not in html and "&lt;img" in html and "t &lt;b&gt;" in html
    assert evil in render(page, "md")


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------


def _browser():
    """``(chromium, chromedriver)`` paths, or ``None``; under CI a missing one is a failure."""
    chromium = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        chromium = None
    if chromium and driver:
        return chromium, driver
    why = "headless Chromium, chromedriver and selenium (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {why}; .ci/run installs them.")
    pytest.skip(f"no {why}")


def test_report_renders_in_headless_chromium(built):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser()
    rep, out = built
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get((out / "report.html").resolve().as_uri())
        images = browser.execute_script(
            "return [...document.images].map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        figures = browser.execute_script(
            "return [...document.querySelectorAll('figure')].map(f => f.id)"
        )
        tables = browser.execute_script(
            "return [...document.querySelectorAll('table[data-name]')]"
            ".map(t => [t.dataset.name, t.rows.length])"
        )
        dangling = browser.execute_script(
            "return [...document.querySelectorAll('a[href^=\"#\"]')]"
            ".map(a => a.getAttribute('href').slice(1))"
            ".filter(id => !document.getElementById(id))"
        )
        files = browser.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"
            ".filter(h => !h.startsWith('#'))"
        )
    finally:
        browser.quit()
    assert len(images) == len(rep.figures) and all(ok and w > 0 for ok, w, _ in images), images
    assert sorted(figures) == sorted(f"fig-{k}" for k in rep.figures)
    page = _view(rep)
    assert [name for name, _ in tables] == _tables(page)
    n_rows = {
        b["name"]: len(b["rows"])
        for s in page["sections"]
        for b in s["blocks"]
        if b["kind"] == "table"
    }
    assert all(rows == n_rows[name] + 1 for name, rows in tables)  # header + every row
    assert dict(tables)["strict"] == len(rep.strict) + 1
    assert dangling == []
    assert files and all((out / f).is_file() for f in files), files  # the configs


def test_every_cited_anchor_has_its_entry_in_the_report(built):
    _, out = built
    html = (out / "report.html").read_text()
    cited = set(re.findall(r'href="#(ref-[A-Za-z0-9_-]+)"', html))
    assert cited and all(f'id="{ref}"' in html for ref in cited)
    assert 'href="#ref-pillutla2022-theorem-main"' in html  # fedalt_main's source
    assert 'id="ref-pillutla2022"' in html  # and the paper it belongs to


def test_what_is_not_a_config_names_definitions_that_exist(built):
    from partialfed.experiments import regime_search
    from partialfed.experiments.report_configs import NOT_A_CONFIG

    rep, out = built
    text = NOT_A_CONFIG["search"]
    assert "`_search` in `experiments/studies.py`" in text and hasattr(studies, "_search")
    assert "`worst_case_search`" in text and hasattr(regime_search, "worst_case_search")
    assert rep.regime_search is None  # the tiny plan has no search: no row for it
    assert 'id="configs-search"' not in (out / "report.md").read_text()


def test_clock_files_cells_and_seconds_under_the_phase_that_ran_them():
    from partialfed.experiments.cell import Cell
    from partialfed.experiments.report_meta import Clock, cpu_model

    ticks = iter([0.0, 2.0, 2.5, 7.0, 7.0])
    clock = Clock(timer=lambda: next(ticks))
    a = Cell.of("quadratic", {"n": 2}, {"T": 2, "m": 1})
    b = a.with_run(seed=1)
    run = clock.runner(lambda cells: [c.hash for c in cells])
    assert run([a]) == [a.hash]
    clock.lap("first")  # t = 2
    run([b, a])
    clock.lap("second")  # t = 2.5
    clock.lap("first")  # t = 7: a phase met twice adds up
    assert clock.stop() == 7.0 and clock.phases == {"first": 6.5, "second": 0.5}
    assert clock.cells == {"first": [a], "second": [b, a]}
    assert clock.as_dict()["seconds"] == 7.0
    assert cpu_model("/nonexistent")  # falls back to the platform's name
