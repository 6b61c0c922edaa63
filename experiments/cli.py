"""The ``partialfed`` command line: one entry point, one small function pair per verb.

Each verb is an entry of ``VERBS``: ``name -> Verb(help, example, add_arguments, handler)``.
``add_arguments(parser)`` declares its options; ``handler(args) -> int`` does the work and
returns the exit status. A new verb (``check``, ``regime``, ``reproduce``, ``bench``) is one more
entry.

Exit status: 0 success; 2 usage or input error (one line on stderr, no traceback; set
``PARTIALFED_DEBUG=1`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

__all__ = ["main", "VERBS", "Verb", "UsageError"]


from partialfed.experiments import cli_verify  # noqa: E402


class UsageError(ValueError):
    """A command line that cannot be carried out; reported as one line, exit status 2."""


class Verb(NamedTuple):
    """One verb of ``partialfed``.

    Attributes
    ----------
    help : str
        One line for ``partialfed --help``.
    example : str
        Example command lines shown by ``partialfed VERB --help``.
    add_arguments : callable
        ``add_arguments(parser)``.
    handler : callable
        ``handler(args) -> int``.
    """

    help: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False))


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(value):
    try:
        return value if math.isfinite(value) else None
    except TypeError:
        return value


# -- run ---------------------------------------------------------------------------------------
def _add_run(p: argparse.ArgumentParser) -> None:
    from partialfed.experiments.sweep import SCHEDULERS

    p.add_argument(
        "config",
        help="a TOML file, or the name of a shipped configuration (quick, delta-sweep, ...)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the file; a list value is a grid axis (delta=[0,1,2])",
    )
    p.add_argument("--out", type=Path, help="result folder (default: partialfed-results/<config name>)")
    p.add_argument(
        "--scheduler",
        default="local",
        metavar="|".join(SCHEDULERS) + "|tcp://HOST:PORT",
        help="where runs execute (default: local, a process pool)",
    )
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
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


def _run(args: argparse.Namespace) -> int:
    from partialfed.experiments import config, store, tables
    from partialfed.experiments.sweep import SweepInterrupted, run_sweep

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be an int >= 1. Got {args.workers}.")
    sweep = config.load(args.config, args.set)
    out = args.out if args.out is not None else Path("partialfed-results") / sweep.name
    cli_verify.prepare_out(out)
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
        rows = [
            {"algorithm": alg, **{k: _finite_or_none(v) for k, v in row.items()}}
            for alg, row in table.to_dict(orient="index").items()
        ]
        _print_json(
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
        print("final metrics per algorithm (mean over seeds and grid cells of runs that are ok;")
        print("gap = F - F_low at the last round):")
        print(tables.format_table(table))
    return 0


_RUN_EXAMPLE = """examples:
  partialfed run quick
  partialfed run delta-sweep --set T=50 --set 'algorithm=[fedalt,fedsim]' --workers 2
  partialfed run my-sweep.toml --out results/mine --scheduler tcp://10.0.0.1:8786 --json"""


# -- plot --------------------------------------------------------------------------------------
def _add_plot(p: argparse.ArgumentParser) -> None:
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


def _plot(args: argparse.Namespace) -> int:
    from partialfed.experiments import plots

    if not args.directory.is_dir():
        raise UsageError(f"DIRECTORY must be a result folder. Got {str(args.directory)!r}.")
    paths = plots.plot_directory(
        args.directory,
        args.out,
        formats=tuple(args.format or ("png", "svg")),
        metrics=tuple(args.metric or ("gap", "grad_u_sq", "grad_v_sq")),
    )
    if args.json:
        _print_json({"files": [str(p) for p in paths]})
    else:
        for path in paths:
            print(path)
    return 0


_PLOT_EXAMPLE = """examples:
  partialfed plot partialfed-results/quick
  partialfed plot partialfed-results/delta-sweep --out figures --format pdf --metric gap"""


# -- bound -------------------------------------------------------------------------------------
def _add_bound(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="bound name (omit to list them)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="value of a symbol (T=1000, delta=[0,1,2])",
    )
    p.add_argument("--latex", action="store_true", help="LaTeX of lhs <= rhs")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _bound(args: argparse.Namespace) -> int:
    from partialfed.experiments.config import parse_assignment

    try:
        from partialfed import theory
    except ImportError as exc:  # pragma: no cover - theory is part of partialfed
        raise UsageError(f"the theory package cannot be imported: {exc}") from None
    if args.name is None:
        names = sorted(getattr(theory, "BOUNDS", {}))
        if args.json:
            _print_json({"bounds": names})
        else:
            print("\n".join(names))
        return 0
    describe = getattr(theory, "describe_bound", None)
    if describe is None:  # pragma: no cover - older theory
        raise UsageError("this version of theory has no describe_bound.")
    values = {}
    for text in args.set:
        key, value = parse_assignment(text)
        values[key] = value
    text = describe(args.name, values or None, latex=args.latex)
    if args.json:
        _print_json({"name": args.name, "values": values, "latex": args.latex, "text": text})
    else:
        print(text)
    return 0


_BOUND_EXAMPLE = """examples:
  partialfed bound
  partialfed bound fedalt_main
  partialfed bound sgd_nonconvex --set T=1000 --set 'sigma=[0.1,1]' --latex"""


#: Verb name -> Verb. Add a verb by adding an entry.
VERBS: dict[str, Verb] = {
    "run": Verb("run a sweep and print final metrics per algorithm", _RUN_EXAMPLE, _add_run, _run),
    "plot": Verb("draw the figures of a result folder", _PLOT_EXAMPLE, _add_plot, _plot),
    "bound": Verb(
        "show a convergence bound, optionally evaluated", _BOUND_EXAMPLE, _add_bound, _bound
    ),
    "check": Verb(
        "strict check of a bound against simulation (measured <= bound?)",
        cli_verify.CHECK_EXAMPLE,
        cli_verify.add_check,
        cli_verify.check,
    ),
    "regime": Verb(
        "map where FedAlt or FedSim wins, in simulation and in theory",
        cli_verify.REGIME_EXAMPLE,
        cli_verify.add_regime,
        cli_verify.regime,
    ),
    "bench": Verb(
        "speed of the kernels against NumPy references (ratios from one process)",
        cli_verify.BENCH_EXAMPLE,
        cli_verify.add_bench,
        cli_verify.bench,
    ),
    "reproduce": Verb(
        "run every verification study and write the report (Markdown + figures)",
        cli_verify.REPRODUCE_EXAMPLE,
        cli_verify.add_reproduce,
        cli_verify.reproduce,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``partialfed`` argument parser with one sub-parser per entry of ``VERBS``."""
    parser = _Parser(
        prog="partialfed",
        description="Check convergence theory of partially personalized federated learning "
        "against simulation.",
        epilog="examples:\n"
        + "\n".join(f"  {v.example.splitlines()[1].strip()}" for v in VERBS.values())
        + "\nSee 'partialfed VERB --help' for each verb.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for name, verb in VERBS.items():
        p = sub.add_parser(
            name,
            help=verb.help,
            description=verb.help,
            epilog=verb.example,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        verb.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``partialfed`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        0 success, 2 usage or input error, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return VERBS[args.verb].handler(args)
    except BrokenPipeError:  # the reader went away (partialfed run ... | head)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        if os.environ.get("PARTIALFED_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"partialfed {args.verb}: error: {message}", file=sys.stderr)
        return 1 if isinstance(exc, RuntimeError) else 2  # 1: work failed; 2: bad usage
    except KeyboardInterrupt:
        print(f"partialfed {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
