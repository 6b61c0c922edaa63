"""The ``partialfed`` command line: one entry point, one small function pair per verb.

Each verb is an entry of ``VERBS``: ``name -> Verb(help, example, add_arguments, handler)``.
``add_arguments(parser)`` declares its options; ``handler(args) -> int`` does the work and
returns the exit status. A new verb is one more entry.

Modules, one per group of verbs
-------------------------------
_common     the parser class, ``UsageError``, ``Verb``, JSON output, execution options
sweeps      ``run`` (a TOML grid) and ``plot`` (its figures)
theory      ``bound``
verify      ``check``, ``regime``, ``reproduce``
bench       ``bench`` (calls the library functions of ``experiments.bench``)
personalize ``personalize`` (calls ``experiments.personalize`` on the planted family)

Building the parser imports no heavy library and no module of the project beyond this package
(``partialfed VERB --help`` answers at once); each handler imports what it needs.

Exit status: 0 success; 2 usage or input error (one line on stderr, no traceback; set
``PARTIALFED_DEBUG=1`` for the traceback); 1 the work failed (out of memory included, one
line); 130 interrupted. ``check`` also says its verdict: 0 holds, 3 violated, 4 inconclusive,
5 outside assumptions (``verify.CHECK_EXIT``). Warnings are one line on stderr too
(``partialfed VERB: warning: ...``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from partialfed.experiments.cli import bench, personalize, sweeps, theory, verify
from partialfed.experiments.cli._common import Parser, UsageError, Verb, remove_temporary_caches

__all__ = ["main", "build_parser", "VERBS", "Verb", "UsageError"]

#: Verb name -> Verb. Add a verb by adding an entry.
VERBS: dict[str, Verb] = {
    "run": Verb(
        "run a sweep and print final metrics per algorithm",
        sweeps.RUN_EXAMPLE,
        sweeps.add_run,
        sweeps.run,
    ),
    "plot": Verb(
        "draw the figures of a result folder", sweeps.PLOT_EXAMPLE, sweeps.add_plot, sweeps.plot
    ),
    "bound": Verb(
        "show a convergence bound, optionally evaluated",
        theory.BOUND_EXAMPLE,
        theory.add_bound,
        theory.bound,
    ),
    "check": Verb(
        "strict check of a bound against simulation (measured <= bound?)",
        verify.CHECK_EXAMPLE,
        verify.add_check,
        verify.check,
    ),
    "regime": Verb(
        "map where FedAlt or FedSim wins, in simulation and in theory",
        verify.REGIME_EXAMPLE,
        verify.add_regime,
        verify.regime,
    ),
    "bench": Verb(
        "speed of the kernels against NumPy references (ratios from one process)",
        bench.BENCH_EXAMPLE,
        bench.add_bench,
        bench.bench,
    ),
    "personalize": Verb(
        "which coordinates to personalize: Split LBI's voted path on a planted family, then "
        "FedAlt with the recovered, the true and random blocks",
        personalize.PERSONALIZE_EXAMPLE,
        personalize.add_personalize,
        personalize.personalize,
    ),
    "reproduce": Verb(
        "run every verification study and write the report (Markdown + figures)",
        verify.REPRODUCE_EXAMPLE,
        verify.add_reproduce,
        verify.reproduce,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``partialfed`` argument parser with one sub-parser per entry of ``VERBS``."""
    parser = Parser(
        prog="partialfed",
        description="Check convergence theory of partially personalized federated learning "
        "against simulation.",
        epilog="examples:\n"
        + "\n".join(f"  {v.example.splitlines()[1].strip()}" for v in VERBS.values())
        + "\nSee 'partialfed VERB --help' for each verb.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
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
        0 success, 2 usage or input error, 1 the work failed, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"partialfed {args.verb}: warning: {text}", file=sys.stderr)

    shown = warnings.showwarning
    warnings.showwarning = one_line_warning  # a library's warning is one line too
    try:
        return VERBS[args.verb].handler(args)
    except MemoryError as exc:  # the estimates in synthetic._memory refuse most before this
        if os.environ.get("PARTIALFED_DEBUG"):
            raise
        detail = " ".join(str(exc).split())
        print(
            f"partialfed {args.verb}: error: out of memory{': ' + detail if detail else ''}; "
            "use smaller sizes (n, d_u, d_v, samples) or fewer --workers",
            file=sys.stderr,
        )
        return 1
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
    finally:
        remove_temporary_caches()  # the runs of check/regime without --cache
        warnings.showwarning = shown
