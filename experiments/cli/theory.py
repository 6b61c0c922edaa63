"""The theory verb of ``partialfed``: ``bound`` (list, show or evaluate a convergence bound).

``--set`` gives symbol values; a list value is a grid axis (several lists: every combination).
With a grid, the bound is evaluated at each point: a number where every symbol the bound needs
is given, else the bound's expression with the given values substituted (the symbols still
missing are named). ``--json`` gives the numbers as numbers (``null`` where a point has no
value), ``--latex`` one inequality per point.
"""

from __future__ import annotations

import argparse
import itertools

from partialfed.experiments.cli._common import add_set, print_json

__all__ = ["BOUND_EXAMPLE", "add_bound", "bound", "grid_points"]

BOUND_EXAMPLE = """examples:
  partialfed bound
  partialfed bound fedalt_main
  partialfed bound sgd_nonconvex --set T=1000 --set 'sigma=[0.1,1]' --latex
  partialfed bound sgd_nonconvex --set T=1000 --set L=1 --set gamma=0.1 --set Delta_F0=1 \\
      --set 'sigma=[0.1,1]'          # every symbol given: one number per grid point"""


def add_bound(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="bound name (omit to list them)")
    add_set(p, "value of a symbol (T=1000); a list is a grid axis (delta=[0,1,2])")
    p.add_argument("--latex", action="store_true", help="LaTeX of lhs <= rhs (one per point)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def grid_points(values: dict) -> tuple[dict, dict, list[dict]]:
    """Split ``values`` into scalars and list axes; the points are every combination of the
    axes (in the order given), each with the scalars. Returns ``(scalars, axes, points)``."""
    axes = {k: list(v) for k, v in values.items() if isinstance(v, list | tuple)}
    scalars = {k: v for k, v in values.items() if k not in axes}
    for k, v in axes.items():
        if not v:
            raise ValueError(f"The --set list of {k!r} is empty; give at least one value.")
    combos = itertools.product(*axes.values()) if axes else [()]
    points = [{**scalars, **dict(zip(axes, combo, strict=True))} for combo in combos]
    return scalars, axes, points


def _evaluate(b, point: dict, missing: set) -> dict:
    """One point: its value (float) when nothing is missing, else the substituted expression;
    a violated condition is the point's ``error``."""
    try:
        if missing:
            return {"value": None, "rhs": str(b.substitute(point).rhs), "error": None}
        return {"value": float(b.evaluate(point)), "rhs": None, "error": None}
    except ValueError as exc:
        text = " ".join(str(exc).split()).removeprefix(f"Bound {b.name!r}: ")
        return {"value": None, "rhs": None, "error": text}


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _table(axes: dict, rows: list[tuple[dict, dict]]) -> list[str]:
    head = [*axes, "bound"]
    body = [
        [_fmt(p[k]) for k in axes]
        + [r["error"] or (_fmt(r["value"]) if r["value"] is not None else r["rhs"])]
        for p, r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(head[:-1])]
    fmt = " | ".join(f"{{:>{w}}}" for w in widths)
    out = [f"  {fmt.format(*head[:-1])} | bound"]
    out.append("  " + "-+-".join("-" * w for w in widths) + "-+-" + "-" * 12)
    out += [f"  {fmt.format(*line[:-1])} | {line[-1]}" for line in body]
    return out


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
    b = theory.get_bound(args.name)
    values = dict(parse_assignment(text) for text in args.set)
    theory.validate_values(values, owner=f"Bound {b.name!r}")
    known = {s.name for s in b.free_symbols | b.lhs.free_symbols}
    for k in values:
        if k not in known:  # the error of substitute: unknown name, or one the bound does not use
            b.substitute({k: 1.0})
    scalars, axes, points = grid_points(values)
    missing = set(b.required) - set(values)
    if args.json:
        rows = [(p, _evaluate(b, p, missing)) for p in points] if values else []
        shown = b.substitute(scalars) if scalars else b
        print_json(
            {
                "name": b.name,
                "provenance": b.provenance,
                "algorithm": b.algorithm,
                "lhs": str(b.lhs),
                "rhs": str(shown.rhs),
                "conditions": [c.label for c in b.conditions],
                "free_constants": sorted(s.name for s in b.free_constants),
                "required": list(b.required),
                "given": values,
                "missing": sorted(missing),
                "points": [{"at": {k: p[k] for k in axes}, **r} for p, r in rows],
            }
        )
        return 0
    if not axes:  # no grid: the bound, substituted or evaluated
        print(theory.describe_bound(b.name, values or None, latex=args.latex))
        return 0
    rows = [(p, _evaluate(b, p, missing)) for p in points]
    if args.latex:
        if missing:  # a LaTeX comment, so the output still pastes into a document
            print(f"% missing: {', '.join(sorted(missing))} (shown as symbols)")
        for p, r in rows:
            print("% " + ", ".join(f"{k} = {_fmt(p[k])}" for k in axes))
            if r["error"]:
                print(f"% {r['error']}")
            else:
                print(theory.describe_bound(b.name, p, latex=True))
        return 0
    print((b.substitute(scalars) if scalars else b).describe())
    grid = "; ".join(f"{k} = {', '.join(_fmt(v) for v in vs)}" for k, vs in axes.items())
    print(f"  grid:        {grid} ({len(points)} points)")
    if missing:
        free = (
            " (free constants must be given or fitted)"
            if missing & {s.name for s in b.free_constants}
            else ""
        )
        print(f"  missing:     {', '.join(sorted(missing))}{free}: shown as symbols")
    print("\n".join(_table(axes, rows)))
    return 0
