"""``partialfed bound`` over a ``--set`` grid: a row per point, numbers where every symbol is
given, the missing symbols named; ``--latex`` without a redundant equality; ``--json`` numbers."""

from __future__ import annotations

import json

import sympy as sp

from partialfed import theory
from partialfed.experiments import cli
from partialfed.experiments.cli.theory import BOUND_EXAMPLE

NAME = "sgd_nonconvex"
ALL = ["--set", "T=1000", "--set", "L=1", "--set", "Delta_F0=1", "--set", "gamma=0.1"]


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the grid table (the lines after ``... | bound`` and its rule)."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip().endswith("| bound"))
    cells = [[c.strip() for c in line.split("|")] for line in lines[at + 2 :]]
    return [c.strip() for c in lines[at].split("|")], cells


def _run(capsys, *args):
    rc = cli.main(["bound", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_help_example_shows_one_row_per_grid_point_and_names_what_is_missing(capsys):
    example = next(line for line in BOUND_EXAMPLE.splitlines() if "--latex" in line)
    assert "--set T=1000 --set 'sigma=[0.1,1]'" in example
    rc, out, _ = _run(capsys, NAME, "--set", "T=1000", "--set", "sigma=[0.1,1]")
    assert rc == 0
    header, rows = _table(out)
    b = theory.get_bound(NAME)
    assert header == ["sigma", "bound"] and len(rows) == 2
    for (at, expr), sigma in zip(rows, (0.1, 1), strict=True):
        assert float(at) == sigma
        expected = b.substitute({"T": 1000, "sigma": sigma}).rhs
        shown = sp.sympify(expr, locals=_names(b))
        assert shown.free_symbols == expected.free_symbols  # the missing symbols, as symbols
        at_one = {s: 1.7 for s in expected.free_symbols}
        assert abs(float(shown.subs(at_one)) / float(expected.subs(at_one)) - 1) < 1e-12
    assert "missing:     Delta_F0, L, gamma" in out


def _names(b):
    return {s.name: s for s in b.rhs.free_symbols}


def test_a_grid_with_every_symbol_given_is_evaluated_at_each_point(capsys):
    rc, out, _ = _run(capsys, NAME, *ALL, "--set", "sigma=[0.1,1]", "--set", "L=[1,20]")
    assert rc == 0
    header, rows = _table(out)
    assert header == ["L", "sigma", "bound"]  # in the order the symbols were first set
    b = theory.get_bound(NAME)
    assert len(rows) == 4  # 2 sigmas x 2 Ls
    for L, sigma, value in rows:
        point = {"T": 1000, "Delta_F0": 1, "gamma": 0.1, "sigma": float(sigma), "L": float(L)}
        if float(L) == 20:  # gamma = 0.1 > 1/L: the point is outside the conditions
            assert "gamma <= 1/L is violated" in value
        else:
            assert float(value) == float(f"{float(b.evaluate(point)):.6g}")
    assert "missing" not in out


def test_latex_of_a_number_says_it_once(capsys):
    rc, out, _ = _run(capsys, NAME, *ALL, "--set", "sigma=0.5", "--latex")
    assert rc == 0
    b = theory.get_bound(NAME)
    value = float(b.evaluate({"T": 1000, "L": 1, "Delta_F0": 1, "gamma": 0.1, "sigma": 0.5}))
    assert out.strip() == rf"{b.lhs.latex()} \le {value:.6g}"
    rc, out, _ = _run(capsys, NAME, *ALL, "--set", "sigma=[0.5,1]", "--latex")
    lines = out.strip().splitlines()
    assert rc == 0 and lines[0] == "% sigma = 0.5" and lines[2] == "% sigma = 1"
    assert all("=" not in line.split(r"\le")[1] for line in lines[1::2])  # no "= NUMBER"


def test_latex_over_a_grid_names_the_missing_symbols(capsys):
    rc, out, _ = _run(capsys, NAME, "--set", "T=1000", "--set", "sigma=[0.1,1]", "--latex")
    lines = out.strip().splitlines()
    assert rc == 0 and lines[0] == "% missing: Delta_F0, L, gamma (shown as symbols)"
    assert lines[1] == "% sigma = 0.1" and r"\gamma" in lines[2] and len(lines) == 5
    rc, out, _ = _run(capsys, NAME, *ALL, "--set", "sigma=[0.5,1]", "--latex")
    assert "missing" not in out


def test_json_gives_numbers_or_null(capsys):
    rc, out, _ = _run(capsys, NAME, *ALL, "--set", "sigma=[0.1,1]", "--set", "L=[1,20]", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["missing"] == [] and data["name"] == NAME
    values = [p["value"] for p in data["points"]]
    assert len(values) == 4
    for p in data["points"]:
        if p["at"]["L"] == 1:
            assert isinstance(p["value"], float) and p["error"] is None
        else:
            assert p["value"] is None and "violated" in p["error"]
    rc, out, _ = _run(capsys, NAME, "--set", "sigma=[0.1,1]", "--json")
    data = json.loads(out)
    assert data["missing"] == ["Delta_F0", "L", "T", "gamma"]
    assert all(p["value"] is None and "sigma" not in p["rhs"] for p in data["points"])


def test_an_unknown_symbol_in_a_grid_is_refused_in_one_line(capsys):
    rc, _, err = _run(capsys, NAME, "--set", "sigmaa=[1,2]")
    assert rc == 2
    assert "Unknown parameter 'sigmaa'" in err and "Did you mean 'sigma'" in err
    assert len(err.strip().splitlines()) == 1
