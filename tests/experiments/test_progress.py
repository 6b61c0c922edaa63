"""Progress of the verification verbs: bars count runs, a line announces a compilation, and
nothing is shown (nor changed) unless asked."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest

from partialfed import simulators
from partialfed.experiments import cli, progress, sweep
from partialfed.experiments.cell import Cell, execute
from partialfed.experiments.regime import RegimeStudy, regime_map
from partialfed.experiments.steps import TunedEta
from partialfed.simulators import _warm


def _bars(log=None):
    out = io.StringIO()
    return progress.Progress(bars=True, log=log, file=out), out


def test_a_study_counts_every_run_in_process_and_through_a_cached_runner(tmp_path, tiny_sweep):
    cells = list(tiny_sweep.cells)
    pg, out = _bars()
    with pg.study("in process", total=len(cells)) as st:
        results = st.runner(None)(cells)
    assert st.done == len(cells) and len(results) == len(cells)
    assert f"{len(cells)}/{len(cells)}" in out.getvalue()
    assert [r.frame["loss"].tolist() for r in results] == [
        execute(c).frame["loss"].tolist() for c in cells
    ]
    inner = sweep.cached_runner(tmp_path, scheduler="serial", progress=False)
    for _ in ("computed", "found stored"):  # each pass counts every cell
        with pg.study("cached", total=len(cells)) as st:
            st.runner(inner)(cells)
        assert st.done == len(cells)
        assert len(list(tmp_path.glob("*.parquet"))) == len(cells)


def test_a_plain_runner_is_counted_when_it_returns():
    cells = [Cell.of("quadratic", dict(n=4), dict(T=3, m=2))]
    calls = []

    def plain(cs):
        calls.append(len(cs))
        return [execute(c) for c in cs]

    pg, _ = _bars()
    with pg.study("plain") as st:
        st.runner(plain)(cells * 3)
    assert calls == [3] and st.done == 3


def test_nothing_is_shown_or_wrapped_when_progress_is_off(capsys):
    pg = progress.Progress(bars=False, log=None)
    runner = object()
    with pg.study("silent", total=3) as st:
        assert st.runner(runner) is runner and st.runner(None) is None
        st.item("line")
        st.tick(3)
    assert capsys.readouterr() == ("", "")
    assert progress.wanted(None) is False  # pytest's stderr is not a terminal
    assert progress.wanted(True, quiet=True) is True and progress.wanted(False) is False


def test_compilation_is_announced_once_before_the_first_run(monkeypatch):
    monkeypatch.setattr(progress, "_LOOKED_UP", set())
    states = []
    monkeypatch.setattr(
        simulators, "kernel_state", lambda p, algorithm="fedalt": states.append(p.name) or "cold"
    )
    lines = []
    pg = progress.Progress(bars=False, log=lines.append)
    cells = [Cell.of("quadratic", dict(n=4), dict(T=3, m=2, seed=s)) for s in range(3)]
    seen_at_run = []

    def plain(cs):
        seen_at_run.append(list(lines))
        return [execute(c) for c in cs]

    with pg.study("s") as st:
        st.runner(plain)(cells)
        st.runner(plain)(cells)
    assert lines == ["compiling kernels for quadratic (first run only)"]
    assert seen_at_run[0] == lines  # said before the runs started
    assert len(states) == 1  # looked up once per family


def test_no_line_for_a_kernel_that_is_compiled_or_cached(monkeypatch):
    monkeypatch.setattr(progress, "_LOOKED_UP", set())
    lines = []
    pg = progress.Progress(bars=False, log=lines.append)
    cell = Cell.of("quadratic", dict(n=4), dict(T=3, m=2))
    execute(cell)  # compiled or loaded now
    pg.announce([cell])
    assert lines == []


def test_kernel_state_reads_memory_and_the_on_disk_index():
    p = synthetic_problem()
    simulators.run(p, simulators.RunConfig("fedalt", T=2, m=2))
    assert simulators.kernel_state(p) == "memory"
    dispatcher = p.kernels(simulators._api.KERNEL_MODULES).run_rounds
    sig = tuple(dispatcher.typeof_pyval(a) for a in _warm._arguments(p))
    assert sig in dispatcher.overloads  # the arguments are typed as run() types them
    assert _warm._on_disk(dispatcher, sig)  # a cache=True kernel: compiled means written
    assert not _warm._on_disk(dispatcher, sig[:-1])  # a signature never compiled
    # Per-FedAvg and Ditto have a kernel of their own, typed as run() types it.
    meta = p.kernels(simulators._api.META_KERNEL_MODULES).run_meta_rounds
    meta_sig = tuple(meta.typeof_pyval(a) for a in _warm._meta_arguments(p))
    before = simulators.kernel_state(p, "perfedavg")
    assert before in ("disk", "cold") if meta_sig not in meta.overloads else before == "memory"
    simulators.run(p, simulators.RunConfig("ditto", T=2, m=2))
    assert meta_sig in meta.overloads
    assert simulators.kernel_state(p, "perfedavg") == "memory"
    with pytest.raises(ValueError, match="'algorithm' parameter of kernel_state"):
        simulators.kernel_state(p, "fedprox")


def synthetic_problem():
    from partialfed import synthetic

    return synthetic.make("quadratic", n=5, d_u=2, d_v=1, seed=0)


def _regime_study():
    cell = Cell.of(
        "quadratic", dict(n=6, d_u=2, d_v=1, chi=0.5, noise_u=0.1), dict(T=8, m=2, tau_u=1)
    )
    return RegimeStudy(
        cell, "noise_v", (0.1, 1.0), "delta", (0.5,), TunedEta(0.5), (0, 1), (0.25, 0.5), (1.2,)
    )


def test_the_regime_study_runs_as_many_cells_as_it_announces():
    study = _regime_study()
    sizes = []

    def counting(cells):
        sizes.append(len(cells))
        return [execute(c) for c in cells]

    pg, out = _bars()
    with pg.study("regime map", study.runs) as st:
        with_bar = regime_map(study, runner=st.runner(counting))
    assert sum(sizes) == study.runs == st.done == 2 * 2 * 2 * (2 + 1 + 1)
    assert f"{study.runs}/{study.runs}" in out.getvalue()
    plain = regime_map(study)
    assert with_bar.as_dict() == plain.as_dict()


def test_the_search_reports_its_runs_and_stages_without_changing_its_result():
    from partialfed.experiments.regime_search import WorstCaseSearch, worst_case_search

    s = WorstCaseSearch(
        _regime_study().cell,
        space={"chi": (0.1, 0.9, False)},
        candidates=2,
        moves=0,
        seeds=(0,),
        confirm_seeds=(5,),
        etas=(0.25, 0.5),
        fine=(),
    )
    pg, _ = _bars()
    stages = []
    with pg.study("search") as st:
        res = worst_case_search(s, wrap=st.runner, log=stages.append)
    measures = 2 + 2  # two candidates, then each direction's best on fresh seeds
    assert st.done == measures * 2 * len(s.etas)  # both algorithms at every step
    assert stages[:2] == ["candidate 1/2", "candidate 2/2"] and len(stages) == 4
    ref = worst_case_search(s)
    assert [c.knobs for c in res.tried] == [c.knobs for c in ref.tried]
    assert res.best["fedalt"].measured.ratio == ref.best["fedalt"].measured.ratio


@pytest.mark.parametrize("flag", [[], ["--progress"]])
def test_check_shows_a_bar_only_when_asked(capsys, flag):
    rc = cli.main(["check", "fedsgd_partial", "--seeds", "2", "--set", "T=20", *flag])
    assert rc in (0, 4)
    err = capsys.readouterr().err
    if flag:
        assert "check fedsgd_partial" in err and "2/2" in err
    else:
        assert err == ""


def test_regime_json_is_silent_and_progress_prints_the_bar(capsys):
    args = ["regime", "--set", "T=8", "--set", "noise_v=[0.1,1]", "--set", "delta=[0.5,1]"]
    args += ["--seeds", "1"]
    assert cli.main([*args, "--json"]) == 0
    assert capsys.readouterr().err == ""
    assert cli.main([*args, "--json", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "regime map" in err and "run" in err


def test_replace_keeps_runs_consistent():
    study = _regime_study()
    assert replace(study, steps=None).runs == study.runs - 2 * 2 * 2


def test_reproduce_bars_count_every_run_of_each_study(tmp_path, capsys):
    from partialfed.experiments import report, studies
    from partialfed.experiments.studies_strict import strict_checks

    check = next(c for c in strict_checks((0, 1), 40) if c.bound == "sgd_nonconvex")
    exponent = next(e for e in studies.plan(True).exponents if e.variable == "T")
    exponent = replace(exponent, xs=(20, 40), seeds=(0, 1))
    plan = studies.Plan(True, (check,), (exponent,), _regime_study(), None)
    inner = sweep.cached_runner(tmp_path / "runs", scheduler="serial", progress=False)
    report.reproduce(tmp_path, studies=plan, runner=inner, log=None, progress=True)
    err = capsys.readouterr().err
    runs = {"strict checks": 2, "exponent fits": 4, "regime map": plan.regime.runs}
    for name, n in runs.items():
        assert re.search(rf"{name}: 100%\|.*\| {n}/{n} ", err), name
    assert "figures: " in err and "wrote " in err
