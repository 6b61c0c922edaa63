"""What every verb of the ``partialfed`` command line shares.

The parser class (a usage error is one line), :class:`UsageError`, :class:`Verb`, JSON output,
the execution options of the verification verbs (``--scheduler``, ``--workers``, ``--cache``)
and their validation, and ``--set`` overrides of a problem/run pair.

Nothing here imports a heavy library or a module of the project at import time: the parser of
every verb is built from this module alone, so ``partialfed VERB --help`` answers at once. The
verbs import what they need inside their functions.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "SCHEDULERS",
    "Parser",
    "UsageError",
    "Verb",
    "add_execution",
    "add_progress",
    "add_set",
    "check_execution",
    "single_values",
    "finite_or_none",
    "overrides",
    "positive",
    "prepare_out",
    "print_json",
    "progress",
    "remove_temporary_caches",
    "runner",
]

#: The named schedulers of ``experiments.sweep.SCHEDULERS`` (from a module that imports
#: nothing heavy, so building the parser does not import the sweep module).
from partialfed.experiments._address import SCHEDULERS  # noqa: E402


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


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action, arg_strings):
        # argparse drops a '--' value ('--workers=--' gave the handler []): refuse it instead
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, not '--'")
        return super()._get_values(action, arg_strings)


def print_json(obj) -> None:
    """Print ``obj`` as indented JSON (NumPy values and paths allowed, NaN written as null)."""
    from partialfed.experiments._json import dumps

    print(dumps(obj, indent=2, sort_keys=False))


def finite_or_none(value):
    """``value`` if it is a finite number (or not a number at all), else ``None``."""
    try:
        return value if math.isfinite(value) else None
    except TypeError:
        return value


def progress(enabled: bool) -> Callable[[str], None]:
    """A ``log(line)`` function writing to stderr, or doing nothing."""
    return (lambda s: print(s, file=sys.stderr, flush=True)) if enabled else (lambda s: None)


def add_set(p: argparse.ArgumentParser, help: str) -> None:
    """Declare the repeatable ``--set KEY=VALUE``."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    """Declare ``--progress``/``--no-progress`` (a bar per study on stderr)."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar per study on stderr, counting runs, and a line when kernels "
        "compile (default: when stderr is a terminal, and not with --json or --quiet)",
    )


def add_execution(p: argparse.ArgumentParser) -> None:
    """Declare ``--scheduler``, ``--workers`` and ``--cache`` (verification verbs)."""
    p.add_argument(
        "--scheduler",
        default="serial",
        help="where runs execute: serial (default; fastest for small checks), local (process "
        "pool), dask-local, or tcp://HOST:PORT",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (local, dask)")
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="store runs here (Parquet) and reuse them next time; default: no cache for "
        "check/regime, OUT/runs for reproduce",
    )


def check_execution(args: argparse.Namespace) -> None:
    """Validate ``--workers`` and ``--scheduler`` before any work starts (imports nothing
    heavy: call it first in a handler, so a bad option fails in milliseconds)."""
    from partialfed.experiments._address import check_scheduler_text

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"The '--workers' option must be an int >= 1. Got {args.workers}.")
    check_scheduler_text(args.scheduler, "'--scheduler' option")


def single_values(pairs, verb: str, lists_ok=()) -> None:
    """Refuse a list value in ``--set`` (a grid) for ``verb``, except for keys in ``lists_ok``.

    Parameters
    ----------
    pairs : list of str
        The ``--set KEY=VALUE`` texts.
    verb : str
        The verb, for the message.
    lists_ok : collection of str
        Keys that may take a list (``regime``'s axes).
    """
    from partialfed.experiments.config import parse_assignment

    for text in pairs:
        key, value = parse_assignment(text)
        if isinstance(value, list) and key not in lists_ok:
            where = f" (lists are for the axes {', '.join(lists_ok)})" if lists_ok else ""
            raise UsageError(
                f"--set '{key}': '{verb}' takes one value per key{where}; grids of values belong "
                f"to 'partialfed run'. Got {value!r}."
            )


def positive(value: float, option: str) -> float:
    """``value`` if it is a finite number > 0, else a one-line error naming ``option``."""
    # argparse hands over [] for '--eta=--' (it drops a '--' value): not a number either
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and value > 0 and value < float("inf")):
        raise ValueError(f"The '{option}' option must be a finite number > 0. Got {value!r}.")
    return value


def prepare_out(path, option: str = "--out") -> Path:
    """Create the output folder or raise a one-line error naming the option."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"The '{option}' folder {str(path)!r} cannot be created: {exc.strerror}."
        ) from None
    return path


#: Temporary run folders of ``runner`` (no ``--cache``) still to remove when the command ends.
TEMPORARY_CACHES: list[Path] = []


def remove_temporary_caches() -> None:
    """Remove the temporary run folders ``runner`` made (``main`` calls it when a verb ends,
    however it ends: done, failed or interrupted)."""
    import shutil

    while TEMPORARY_CACHES:
        shutil.rmtree(TEMPORARY_CACHES.pop(), ignore_errors=True)


def runner(args: argparse.Namespace, default_cache: Path | None):
    """The runner of ``--scheduler``/``--workers``/``--cache``, or ``None`` (serial, no cache)."""
    cache = Path(args.cache) if args.cache else default_cache
    if cache is None and args.scheduler == "serial":
        return None
    from partialfed.experiments.sweep import cached_runner

    if cache is None:  # removed when the command ends (remove_temporary_caches)
        import tempfile

        cache = Path(tempfile.mkdtemp(prefix="partialfed-runs-"))
        TEMPORARY_CACHES.append(cache)
    return cached_runner(
        cache, scheduler=args.scheduler, workers=args.workers, progress=False, retry_errors=True
    )


def overrides(pairs, problem: dict, run: dict) -> tuple[dict, dict]:
    """Apply ``--set key=value`` to a problem/run pair (run fields win, then knobs)."""
    from partialfed.experiments.cell import RUN_FIELDS
    from partialfed.experiments.config import parse_assignment

    problem, run = dict(problem), dict(run)
    fields = set(RUN_FIELDS) - {"seed"}
    for text in pairs:
        key, value = parse_assignment(text)
        if key in fields:
            run[key] = value
        else:
            problem[key] = value
    return problem, run
