"""The verification verbs of ``partialfed``: ``check``, ``regime`` and ``reproduce``.

They are registered in ``experiments.cli.VERBS``; argument errors raise ``ValueError`` with one
line, which the CLI prints and turns into exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import replace
from pathlib import Path

from partialfed.experiments._atomic import write_text
from partialfed.experiments._json import dumps
from partialfed.experiments.cli._common import (
    UsageError,
    add_execution,
    add_progress,
    add_set,
    check_execution,
    overrides,
    positive,
    prepare_out,
    progress,
    runner,
    single_values,
)

__all__ = [
    "CHECK_EXAMPLE",
    "REGIME_EXAMPLE",
    "REPRODUCE_EXAMPLE",
    "add_check",
    "check",
    "add_regime",
    "regime",
    "add_reproduce",
    "reproduce",
    "summary_line",
]

#: Exit status of ``check`` per verdict (1: the work failed, 2: usage, as for every verb).
CHECK_EXIT = {"holds": 0, "violated": 3, "inconclusive": 4, "outside assumptions": 5}

CHECK_EXAMPLE = """examples:
  partialfed check fedsgd_partial
  partialfed check fedalt_tau1_full --set chi=0.9 --set T=1000 --seeds 8
  partialfed check sgd_nonconvex --scale 0.5 --json      # half the bound: reported violated

exit status:
  0  the bound holds                 3  the bound is violated
  4  inconclusive (the 95% interval contains the bound, or one seed of a noisy run)
  5  outside assumptions (the problem's constants do not cover the proof on these runs;
     the reasons are printed)
  1  the work failed                 2  usage or input error"""

REGIME_EXAMPLE = """examples:
  partialfed regime
  partialfed regime --set m=2 --set 'noise_v=[0.1,1,10]' --set 'delta=[0.1,1,10]' --out regime"""

REPRODUCE_EXAMPLE = """examples:
  partialfed reproduce --quick
  partialfed reproduce --out partialfed-report --scheduler local --workers 2"""


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def add_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("bound", help="a bound without free constants (see 'partialfed bound')")
    p.add_argument("--family", default=None, help="problem family (default: the shipped study's)")
    add_set(p, "a problem knob or run field; gamma_u=max picks the largest allowed step")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: study's)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the bound (default 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_progress(p)
    add_execution(p)


def check(args: argparse.Namespace) -> int:
    # The options first: a bad one fails before the heavy imports below.
    check_execution(args)
    positive(args.scale, "--scale")
    if args.seeds is not None and not 1 <= args.seeds <= 10_000:
        raise ValueError(f"The '--seeds' option must be an int in [1, 10000]. Got {args.seeds}.")
    from partialfed import theory
    from partialfed.experiments.cell import Cell
    from partialfed.experiments.checks import Check, strict_check
    from partialfed.experiments.config import parse_assignment
    from partialfed.experiments.progress import Progress, wanted
    from partialfed.experiments.steps import STEP_FIELDS, MaxStep
    from partialfed.experiments.studies import plan

    single_values(args.set, "check")
    if args.family is not None:
        from partialfed.synthetic._registry import family_error

        why = family_error(args.family)
        if why is not None:
            raise UsageError(f"The '--family' option {why}")
    bound = theory.get_bound(args.bound)
    if bound.has_free_constants:
        free = ", ".join(sorted(s.name for s in bound.free_constants))
        raise ValueError(
            f"Bound '{bound.name}' has free constants ({free}) and cannot be checked strictly; "
            "its exponent checks and calibrated fit are in 'partialfed reproduce'."
        )
    shipped = [c for c in plan(quick=True).strict if c.bound == bound.name]
    if shipped:
        check = shipped[0]
    else:
        algorithm = bound.algorithm if bound.algorithm in ("fedalt", "fedsim") else "fedalt"
        check = Check(
            bound.name,
            Cell.of(
                "quadratic",
                dict(n=10, d_u=2, d_v=2, chi=0.5, noise_u=0.5, noise_v=0.5),
                dict(algorithm=algorithm, T=300, m=10),
            ),
            steps=MaxStep(fraction=0.5),
        )
    # gamma_u=max asks for the largest allowed step; a number fixes the step.
    maxed = set(check.steps.fields) if isinstance(check.steps, MaxStep) else set()
    # Another family has other knobs: start from its defaults, not the study's knobs.
    knobs = dict(check.cell.knobs) if args.family in (None, check.cell.family) else {}
    run = {k: v for k, v in check.cell.run.as_dict().items() if k != "seed"}
    problem, run = overrides(args.set, knobs, run)
    given = dict(parse_assignment(text) for text in args.set)
    for f in STEP_FIELDS:
        if isinstance(given.get(f), str) and given[f] != "max":
            raise UsageError(
                f"--set '{f}': a step must be a number in [0, 1e6] or max (the largest step "
                f"the bound allows). Got {given[f]!r}."
            )
        if given.get(f) == "max":
            maxed.add(f)
            run[f] = 0.0
        elif f in given:
            maxed.discard(f)
    fraction = check.steps.fraction if isinstance(check.steps, MaxStep) else 1.0
    fractions = check.steps.fractions if isinstance(check.steps, MaxStep) else ()
    fields = tuple(f for f in STEP_FIELDS if f in maxed)
    cell = Cell.of(args.family or check.cell.family, problem, run)
    check = replace(
        check,
        cell=cell,
        steps=MaxStep(fraction, fields, fractions) if maxed else None,
        seeds=tuple(range(args.seeds)) if args.seeds else check.seeds,
    )
    pg = Progress(bars=wanted(args.progress, quiet=args.json))
    with pg.study(f"check {bound.name}", len(check.seeds)) as st:
        r = strict_check(check, scale=args.scale, runner=st.runner(runner(args, None)))
    out = r.as_dict()
    run = out["run"]
    if args.json:
        print(dumps(out))
    else:
        steps = ", ".join(f"{k}={run[k]:.4g}" for k in ("gamma_u", "gamma_v"))
        from partialfed.experiments.regime_text import knob_text

        print(f"{bound.name} ({r.provenance}) on {cell.family}: {knob_text(dict(cell.knobs))}")
        print(
            f"  run: {run['algorithm']}, T={run['T']}, m={run['m']}, {steps}, "
            f"{len(check.seeds)} seeds"
        )
        print(
            f"  measured {r.measured.mean:.6g} (95% upper {r.measured.upper:.6g}) vs bound "
            f"{r.bound_value:.6g}{'' if args.scale == 1 else f' (x{args.scale:g})'}: "
            f"ratio {r.ratio:.3f} -> {r.verdict}"
        )
        for reason in r.reasons:
            print(f"  - {reason}")
    return CHECK_EXIT[r.verdict]


# ---------------------------------------------------------------------------------------------
# regime
# ---------------------------------------------------------------------------------------------


def add_regime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--x", default="noise_v", help="knob on the x axis (default noise_v)")
    p.add_argument("--y", default="delta", help="knob on the y axis (default delta)")
    add_set(p, "a problem knob or run field (T, m, tau_u, tau_v); lists for the --x/--y axes")
    p.add_argument(
        "--eta",
        type=float,
        default=None,
        help="the theorem policy's step: one normalised eta for both (default: each its "
        "theorem-tuned eta(T)); the headline policy (best step from a grid) is unchanged",
    )
    p.add_argument("--seeds", type=int, default=None, help="number of seeds")
    p.add_argument("--out", default=None, help="write regime.png and regime.json here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_progress(p)
    add_execution(p)


def regime(args: argparse.Namespace) -> int:
    check_execution(args)
    if args.eta is not None:
        positive(args.eta, "--eta")
    if args.seeds is not None and not 1 <= args.seeds <= 1000:
        raise ValueError(f"The '--seeds' option must be an int in [1, 1000]. Got {args.seeds}.")
    import matplotlib.pyplot as plt

    from partialfed.experiments import plots
    from partialfed.experiments.cell import Cell
    from partialfed.experiments.config import parse_assignment
    from partialfed.experiments.progress import Progress, wanted
    from partialfed.experiments.regime import RegimeStudy, regime_map
    from partialfed.experiments.steps import Eta
    from partialfed.experiments.studies import plan

    single_values(args.set, "regime", (args.x, args.y))
    if args.out:
        prepare_out(args.out)
    study = plan(quick=True).regime
    problem = {**dict(study.cell.knobs), study.x: list(study.xs), study.y: list(study.ys)}
    run = {k: getattr(study.cell.run, k) for k in ("T", "m", "tau_u", "tau_v")}
    problem, run = overrides(args.set, problem, run)
    xs, ys = problem.pop(args.x, None), problem.pop(args.y, None)
    for axis, name, values in (("--x", args.x, xs), ("--y", args.y, ys)):
        if not isinstance(values, list) or len(values) < 2:
            raise ValueError(
                f"The {axis} knob '{name}' needs a list of at least 2 values: "
                f"--set '{name}=[0.1,1,10]'."
            )
    # The default study's axes are lists; drop those that are not axes now, unless set here.
    given = {parse_assignment(text)[0] for text in args.set}
    for k in (study.x, study.y):
        if k not in given:
            problem.pop(k, None)
    study = RegimeStudy(
        Cell.of(study.cell.family, problem, run),
        args.x,
        tuple(xs),
        args.y,
        tuple(ys),
        study.steps if args.eta is None else Eta(args.eta),
        tuple(range(args.seeds)) if args.seeds else study.seeds,
    )
    pg = Progress(bars=wanted(args.progress, quiet=args.json))
    with pg.study("regime map", study.runs) as st:
        r = regime_map(study, runner=st.runner(runner(args, None)))
    out = r.as_dict()
    if args.out:
        folder = Path(args.out)  # created by prepare_out above
        fig = plots.regime_figure(r)
        plots.save(fig, folder / "regime", formats=("png",))
        plt.close(fig)
        write_text(folder / "regime.json", dumps(out, indent=2))
    if args.json:
        print(dumps(out))
    else:
        h, c = r.headline, r.counts()
        print(
            "FedSim/FedAlt measured at each algorithm's best step, same quantity for both "
            f"(> 1: FedAlt better), rows {r.y}, columns {r.x}"
        )
        print(f"{r.y:>10} | " + " ".join(f"{x:>8g}" for x in r.xs))
        for iy, yv in enumerate(r.ys):
            cells = []
            for ix in range(len(r.xs)):
                mark = ""
                if r.scored[iy, ix]:
                    w = h.winner[iy, ix]
                    mark = " ~" if w == "unresolved" else " ok" if r.agree[iy, ix] else " !!"
                cells.append(f"{h.ratio[iy, ix]:>5.3f}{mark:<3}")
            print(f"{yv:>10g} | " + " ".join(cells))
        print(
            f"theory predicts a >= 10% difference on {c['scored']} cells; at best steps "
            f"simulation shows theory's winner on {c['agree']}, the other on {c['opposite']} "
            f"('!!'), no winner on {c['unresolved']} ('~': the 95% interval contains 1)"
        )
        for line in r.findings()[1:]:
            print(line)
        if args.out:
            print(f"wrote {Path(args.out) / 'regime.png'}")
    return 0


# ---------------------------------------------------------------------------------------------
# reproduce
# ---------------------------------------------------------------------------------------------


def add_reproduce(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes: a few minutes on 2 cores")
    p.add_argument(
        "--out", default="partialfed-report", help="report folder (default partialfed-report)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", action="store_true", help="print results.json to stdout")
    add_progress(p)
    add_execution(p)


def summary_line(summary: dict) -> str:
    """The one-line summary of ``partialfed reproduce`` from its ``results.json`` (every strict
    verdict counted; the mutation score; lemma violations of the scored lemmas only, as in the
    report's findings)."""
    strict = [r["verdict"] for r in summary["strict"]]
    others = [f"{strict.count(v)} {v}" for v in CHECK_EXIT if v != "holds" and v in strict]
    line = f"strict checks: {strict.count('holds')}/{len(strict)} hold"
    line += f" ({', '.join(others)})" if others else ""
    if "mutation" in summary:
        line += f"; mutation score: {summary['mutation']['score']}"
    verdicts = [e["verdict"] for e in summary["exponents"]]
    line += (
        f"; exponent fits ({len(verdicts)}): {verdicts.count('agrees')} agree, "
        f"{verdicts.count('inconclusive')} inconclusive, {verdicts.count('contradicts')} "
        "contradict"
    )
    scored = [lem for lem in summary["lemmas"] if lem.get("verdict") != "outside assumptions"]
    line += f"; lemma violations: {sum(lem['violations'] for lem in scored)}"
    if "regime" in summary:
        agreement = summary["regime"]["agreement"]  # NaN: theory scores no cell
        shown = "no scored cell" if agreement != agreement else f"{agreement:.0%}"
        line += f"; regime agreement: {shown}"
    return line


def reproduce(args: argparse.Namespace) -> int:
    from partialfed.experiments.progress import wanted
    from partialfed.experiments.report import reproduce as build

    check_execution(args)  # every option before the output folder is made
    for option, path in (("--out", args.out), ("--cache", args.cache)):
        if path is not None and Path(path).exists() and not Path(path).is_dir():
            raise ValueError(f"The '{option}' option must name a folder. Got {str(path)!r}.")
    made = not Path(args.out).exists()
    out = prepare_out(args.out)
    cmd = "partialfed reproduce" + (" --quick" if args.quick else "")
    try:
        rep = build(
            out,
            quick=args.quick,
            runner=runner(args, out / "runs"),
            log=progress(not (args.quiet or args.json)),
            command=cmd,
            progress=wanted(args.progress, quiet=args.quiet or args.json),
        )
    except BaseException:
        if made:  # failed before writing anything (e.g. an unreachable scheduler)
            _remove_empty_folders(out)
        raise
    summary = rep.as_dict()
    if args.json:
        print(dumps(summary))
    else:
        print(summary_line(summary))
        for f in summary["findings"]:
            print(f"  finding: {f}")
        print(f"report: {out / 'report.html'} (and report.md)")
    return 0


def _remove_empty_folders(folder: Path) -> None:
    """Remove ``folder`` and the folders under it if they hold no file (nothing else)."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
