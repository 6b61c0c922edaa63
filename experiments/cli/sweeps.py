"""The sweep verbs of ``partialfed``: ``run`` (a TOML grid) and ``plot`` (its figures)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from partialfed.experiments.cli._common import (
    SCHEDULERS,
    UsageError,
    add_set,
    check_execution,
    finite_or_none,
    prepare_out,
    print_json,
)

__all__ = [
    "RUN_EXAMPLE",
    "PLOT_EXAMPLE",
    "PLOT_METRICS",
    "add_run",
    "run",
    "add_plot",
    "plot",
]

RUN_EXAMPLE = """examples:
  partialfed run quick
  partialfed run delta-sweep --set T=50 --set 'algorithm=[fedalt,fedsim]' --workers 2
  partialfed run my-sweep.toml --out results/mine --scheduler tcp://10.0.0.1:8786 --json"""

PLOT_EXAMPLE = """examples:
  partialfed plot partialfed-results/quick
  partialfed plot partialfed-results/delta-sweep --out figures --format pdf --metric gap"""


# -- run ---------------------------------------------------------------------------------------
def add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config",
        help="a TOML file, or the name of a shipped configuration (quick, delta-sweep, ...)",
    )
    add_set(p, "override a key of the file; a list value is a grid axis (delta=[0,1,2])")
    p.add_argument(
        "--out", type=Path, help="result folder (default: partialfed-results/<config name>)"
    )
    p.add_argument(
        "--scheduler",
        default="auto",
        metavar="|".join(SCHEDULERS) + "|tcp://HOST:PORT",
        help="where runs execute (default: auto, i.e. serial in this process when the runs to "
        "compute are estimated below 5e7 coordinate operations, about 2 s of simulation, "
        "else local, a process pool; --workers asks for the pool)",
    )
    p.add_argument(
        "--workers", type=int, help="worker processes of the pool (default: one per core)"
    )
    p.add_argument("--force", action="store_true", help="recompute runs already stored")
    p.add_argument(
        "--retry-errors", action="store_true", help="recompute stored runs that raised an error"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """``partialfed run``: run (or resume) a sweep, then print final metrics per algorithm."""
    check_execution(args)  # before the heavy imports: a bad option fails in milliseconds
    from partialfed.experiments import config, store, tables
    from partialfed.experiments.progress import Progress, wanted
    from partialfed.experiments.sweep import SweepInterrupted, run_sweep

    sweep = config.load(args.config, args.set, progress=wanted(args.progress))
    if args.out is not None:
        out = args.out
    else:
        base = Path("partialfed-results")
        out = base / sweep.name
        if base.resolve() not in out.resolve().parents:  # config names cannot escape the folder
            raise ValueError(f"the configuration's name {sweep.name!r} leaves {base}/; rename it")
    prepare_out(out)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report = run_sweep(
            sweep,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            force=args.force,
            retry_errors=args.retry_errors,
            progress=args.progress,
            # with the bar, a line before a first compilation (experiments.progress)
            on_todo=Progress(bars=True).announce if wanted(args.progress) else None,
        )
    except SweepInterrupted as exc:
        print(
            f"partialfed run: interrupted; {exc.report.computed} runs stored in {out} this time, "
            f"{exc.report.skipped} before. Run the same command again to compute the rest.",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    problems: list = []
    df = store.load(out, report.hashes, errors=problems)
    table = tables.summarize(df)
    if args.json:
        own = set(tables.own_u_algorithms(table.index))
        rows = [
            {
                "algorithm": alg,
                **{k: finite_or_none(v) for k, v in row.items()},
                # gap = F - F_low; F_low bounds F over one shared u only
                "shared_u": alg not in own,
            }
            for alg, row in table.to_dict(orient="index").items()
        ]
        print_json(
            {
                "config": sweep.name,
                "source": sweep.source,
                "axes": sweep.axes,
                **report.as_dict(),
                "unreadable": [{"path": p, "message": m} for p, m in problems],
                "table": rows,
            }
        )
    else:
        print(f"{sweep.name}: {report.summary()}")
        print(f"results: {out}")
        for path, message in problems:
            print(f"unreadable: {path}: {message}")
        print("final metrics per algorithm (mean over seeds and grid cells of runs that are ok):")
        print(tables.format_table(table))
        for note in tables.gap_notes(table):
            print(f"  {note}")
    return 0


# -- plot --------------------------------------------------------------------------------------
def add_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", type=Path, help="a result folder written by partialfed run")
    p.add_argument("--out", type=Path, help="where to write figures (default: DIRECTORY/plots)")
    p.add_argument(
        "--format",
        action="append",
        choices=("png", "svg", "pdf"),
        help="figure format, repeatable (default: png and svg)",
    )
    p.add_argument(
        "--metric",
        action="append",
        help="metric to draw, repeatable (default: gap, grad_u_sq, grad_v_sq)",
    )
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")


#: What ``--metric`` accepts: ``gap`` and ``simulators.METRICS`` (restated so that a bad value
#: fails before the plotting libraries load; a test asserts that both agree).
PLOT_METRICS = (
    "gap",
    "loss",
    "grad_u_sq",
    "grad_v_sq",
    "grad_u_sq_at_V_next",
    "meta_grad_sq",
    "personal_loss",
    "personal_accuracy",
)


def plot(args: argparse.Namespace) -> int:
    """``partialfed plot``: draw the standard figures of a result folder."""
    for metric in args.metric or ():
        if metric not in PLOT_METRICS:
            raise UsageError(
                f"The '--metric' option must be one of {', '.join(PLOT_METRICS)} (numeric "
                f"metrics). Got {metric!r}."
            )
    if not args.directory.is_dir():
        raise UsageError(f"DIRECTORY must be a result folder. Got {str(args.directory)!r}.")
    from partialfed.experiments import plots

    paths = plots.plot_directory(
        args.directory,
        args.out,
        formats=tuple(args.format or ("png", "svg")),
        metrics=tuple(args.metric or ("gap", "grad_u_sq", "grad_v_sq")),
    )
    if args.json:
        print_json({"files": [str(p) for p in paths]})
    else:
        for path in paths:
            print(path)
    return 0
