"""experiments.pep and checks.pep: the PEP worst case, run by the simulator, attains the PEP value;
the strict PEP check holds there and catches its mutants; the cache and the tightness table.

CI size: n = 2, T = 2 (FedAlt with tau_v = 3, a case no derived bound covers at the iterates);
one simulator run (its round kernel compiles once for the interpolant's data type).
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("PEPit")

from partialfed.experiments import pep  # noqa: E402
from partialfed.experiments.checks.pep import PEP_MUTANTS, pep_check, pep_mutation  # noqa: E402
from partialfed.simulators import RunConfig, run  # noqa: E402
from partialfed.synthetic.interpolant import interpolation_gap  # noqa: E402
from partialfed.theory.pep import PEPSpec  # noqa: E402

SPEC = PEPSpec("fedalt", n=2, T=2, tau_u=1, tau_v=3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("pep-cache")


@pytest.fixture(scope="module")
def worst(folder):
    """The PEP, its worst case as a problem, and the simulator's run on it."""
    result = pep.worst_case(SPEC, samples=True, folder=folder)
    problem = pep.instance(result)
    history = run(problem, pep.run_config(SPEC))
    return result, problem, history


def _eps(result):
    return max(
        interpolation_gap(np.hstack(p[:2]), np.hstack(p[2:4]), p[4], result.spec.L)
        for p in result.samples.points
    )


def test_simulated_worst_case_attains_the_pep_value(worst):
    """The simulator (simulators.run, FedAlt's kernel) on the interpolant of the PEP's samples
    must measure the PEP value: its iterates are the PEP's when the algorithm is the same. The
    interpolant is L-smooth by construction, so the run is an instance of the class and the
    measure cannot exceed the value (up to the dual's accuracy); it falls short by about
    sqrt(eps) when the samples violate the conditions by eps (the solver's accuracy)."""
    result, problem, history = worst
    assert history.status == "ok"
    measured = pep.measure(SPEC, history)
    tol = 20 * np.sqrt(max(_eps(result), 1e-16)) + 1e-7
    assert measured <= result.value * (1 + 1e-6)
    assert measured == pytest.approx(result.value, rel=tol)
    assert history.loss[0] - history.loss[SPEC.T] == pytest.approx(SPEC.Delta_F0, rel=1e-5)


def test_simulator_iterates_are_the_peps(worst):
    """The algorithm check to rounding: on the margin interpolant (which reproduces the samples'
    gradients exactly, at the price of a larger L', docs/derivations/pep_interpolant.md eq.
    (I6)), the simulator's final (u^T, V^T) is the PEP's last point of every device and its
    measure is the PEP's primal value, both to the solver's rounding."""
    result, _, _ = worst
    exact = pep.instance(result, margin=True)
    h = run(exact, pep.run_config(SPEC))
    s = result.samples
    scale = 1 + np.abs(s.points[0][0]).max()
    assert np.allclose(h.u, s.points[0][0][-1], atol=1e-6 * scale)
    for i, p in enumerate(s.points):
        assert np.allclose(h.V[i], p[1][-1], atol=1e-6 * scale)
    assert pep.measure(SPEC, h) == pytest.approx(result.primal, rel=1e-6)


def test_other_update_rules_do_not_attain_it(worst):
    """The agreement is not automatic: the same instance run as FedSim, or FedAlt with one
    personal step, measures something else."""
    result, problem, _ = worst
    for cfg in (
        RunConfig(algorithm="fedalt", T=2, m=2, tau_u=1, tau_v=1, gamma_u=0.5, gamma_v=0.5),
        RunConfig(algorithm="fedsim", T=2, m=2, tau_u=3, tau_v=3, gamma_u=0.5, gamma_v=0.5),
    ):
        other = run(problem, cfg)
        if other.status == "ok":
            assert abs(pep.measure(SPEC, other) / result.value - 1) > 1e-3


def test_strict_check_holds_and_catches_the_mutants(worst, folder):
    """On the worst case the PEP bound holds and each wrong bound (x 0.9; the tau = 1 PEP for a
    tau_v = 3 run) is violated; a run with another step or on a problem whose smoothness is not
    known is outside assumptions."""
    result, problem, history = worst
    verdicts = pep_mutation(SPEC, problem, history, folder=folder)
    assert verdicts["PEP"] == "holds"
    assert set(verdicts) == {"PEP", *PEP_MUTANTS}
    assert all(v == "violated" for k, v in verdicts.items() if k != "PEP"), verdicts
    off = pep_check(replace(SPEC, gamma_u=0.25), problem, history, folder=folder)
    assert off.verdict == "outside assumptions"
    assert any("gamma_u" in r for r in off.reasons)
    unknown = copy.copy(problem)
    unknown.L_joint = None  # judged by its block constants, one of them only estimated
    unknown.constants = replace(
        problem.constants, kind={**problem.constants.kind, "L_uv": "estimate"}
    )
    out = pep_check(SPEC, unknown, history, folder=folder)
    assert out.verdict == "outside assumptions"
    assert any("L_uv" in r for r in out.reasons)
    smaller = pep_check(replace(SPEC, L=0.5), problem, history, folder=folder)
    assert smaller.verdict == "outside assumptions"  # the instance is 1-smooth, not 0.5


def test_cache_key_changes_with_the_pep_source(monkeypatch):
    """A value solved by another formulation of ``theory.pep`` is not reused: the cache key
    holds a digest of its source (a stale cache would feed the PEP check a wrong bound)."""
    name, key = pep._key(SPEC, "CLARABEL")
    assert key["source"] == pep._source_digest() and len(key["source"]) == 16
    monkeypatch.setattr(pep, "_source_digest", lambda: "edited")
    assert pep._key(SPEC, "CLARABEL")[0] != name


def test_cache_returns_the_same_result_without_solving(worst, folder, monkeypatch):
    result, _, _ = worst
    files = list(folder.glob("*.json"))
    doc = json.loads(files[0].read_text())
    assert doc["spec"]["tau_v"] in (1, 3) and doc["pepit"]

    def boom(*a, **k):
        raise AssertionError("solved again instead of reading the cache")

    monkeypatch.setattr(pep, "solve", boom)
    again = pep.worst_case(SPEC, samples=True, folder=folder)
    assert again.value == result.value
    assert np.array_equal(again.samples.points[0][0], result.samples.points[0][0])
    with pytest.raises(AssertionError, match="solved again"):
        pep.worst_case(replace(SPEC, T=1), folder=folder)  # another key: a new solve


def test_tightness_ratio_is_at_least_one(folder):
    """A derived bound at L_u = L_v = L_uv = L_vu = L covers every L-smooth F_i, so bound/PEP
    >= 1 (below 1 the bound would be false). FedSim's bound at chi_bar = 1 pays its factor
    beta = 1 + chi_bar = 2 in the step-size term: its ratio is (1 - gamma/2)/(1 - gamma) = 1.5 at
    gamma = 1/2, the PEP being the descent lemma with beta = 1."""
    rows = {r.bound: r for r in (pep.tightness(b, n=2, T=2, folder=folder) for b in
            ("fedsim_tau1_full", "fedalt_tau1_full"))}  # fmt: skip
    for r in rows.values():
        assert r.ratio >= 1 - 1e-6
    assert rows["fedsim_tau1_full"].ratio == pytest.approx(1.5, rel=1e-5)
    with pytest.raises(ValueError, match="tau_v"):
        pep.tightness("fedsim_tau1_full", tau_v=2, folder=folder)
    with pytest.raises(ValueError, match="derived bound"):
        pep.tightness("gd_tight", folder=folder)


def test_report_section(folder):
    """The report's PEP section at a tiny size: a row per derived bound with bound/PEP >= 1, the
    strict check's verdicts (PEP holds, mutants violated), no finding; and a finding when a
    ratio is below 1 or a mutant is missed."""
    from partialfed.experiments import report_pep

    data = report_pep.run_study(
        report_pep.PEPStudy(n=2, T=1, tau_v=2, check=(1, 1, 2)), folder=folder
    )
    assert len(data["rows"]) == len(pep.TABLE_BOUNDS)
    assert all(r["ratio"] >= 1 - 1e-6 for r in data["rows"])
    assert data["check"]["verdicts"]["PEP"] == "holds"
    assert report_pep.findings(data) == []
    blocks = report_pep.blocks(data)
    tab = next(b for b in blocks if b["kind"] == "table")
    assert len(tab["rows"]) == len(data["rows"])
    from partialfed.experiments.report_refs import link
    from partialfed.experiments.report_render import render_blocks

    md = render_blocks(blocks, "md")
    html = render_blocks(blocks, "html")
    assert "bound/PEP" in md and "pep-tightness" in html
    linked = link(blocks[0]["md"])  # raises KeyError for a citation without an entry
    assert linked != blocks[0]["md"] and "pep-federated" in linked
    # wired into the report: a section of the page, a key of results.json, findings
    from partialfed.experiments import report, studies
    from partialfed.experiments.report_render import render
    from partialfed.experiments.report_view import view

    rep = report.Report(plan=studies.Plan(True, (), (), None, None))
    rep.pep = data
    page = view(rep, "partialfed reproduce")
    assert "pep" in [sec["id"] for sec in page["sections"]]
    assert report_pep.TITLE in render(page, "md") and "pep" in rep.as_dict()
    assert rep.findings() == []
    bad = {**data, "rows": [{**data["rows"][0], "ratio": 0.9}]}
    bad["check"] = {**data["check"], "verdicts": {"PEP": "holds", "value x 0.9": "holds"}}
    found = report_pep.findings(bad)
    assert any("below the PEP" in f for f in found) and any("not caught" in f for f in found)
    rep.pep = bad
    assert rep.findings() == found


def test_a_long_solve_says_so_and_a_delta_pep_needs_a_known_delta(worst):
    """A PEP above ANNOUNCE_SIZE oracle calls announces its solve and its time; the strict
    check of a PEP with a diversity constraint is outside assumptions on a problem whose delta
    is only estimated (the interpolant's)."""
    from partialfed.experiments.progress import Progress

    lines = []
    spec = PEPSpec("fedsim", n=2, T=6)
    assert spec.size > pep.ANNOUNCE_SIZE
    pep.worst_case(spec, cache=False, progress=Progress(log=lines.append))
    assert lines[0].startswith("solving PEP fedsim n=2 T=6") and "solved" in lines[1]
    _, problem, history = worst
    out = pep_check(replace(SPEC, delta=1.0), problem, history)
    assert out.verdict == "outside assumptions"
    assert any(r.startswith("delta") for r in out.reasons)
