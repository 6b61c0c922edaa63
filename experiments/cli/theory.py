"""The theory verb of ``partialfed``: ``bound`` (list, show or evaluate a convergence bound)."""

from __future__ import annotations

import argparse

from partialfed.experiments.cli._common import add_set, print_json

__all__ = ["BOUND_EXAMPLE", "add_bound", "bound"]

BOUND_EXAMPLE = """examples:
  partialfed bound
  partialfed bound fedalt_main
  partialfed bound sgd_nonconvex --set T=1000 --set 'sigma=[0.1,1]' --latex"""


def add_bound(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="bound name (omit to list them)")
    add_set(p, "value of a symbol (T=1000, delta=[0,1,2])")
    p.add_argument("--latex", action="store_true", help="LaTeX of lhs <= rhs")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def bound(args: argparse.Namespace) -> int:
    """``partialfed bound``: list the bounds, or show one (evaluated with ``--set`` values)."""
    from partialfed import theory
    from partialfed.experiments.config import parse_assignment

    if args.name is None:
        names = sorted(theory.BOUNDS)
        if args.json:
            print_json({"bounds": names})
        else:
            print("\n".join(names))
        return 0
    values = dict(parse_assignment(text) for text in args.set)
    text = theory.describe_bound(args.name, values or None, latex=args.latex)
    if args.json:
        print_json({"name": args.name, "values": values, "latex": args.latex, "text": text})
    else:
        print(text)
    return 0
