"""The configuration reader: grid expansion, overrides, and every error path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from partialfed import synthetic
from partialfed.experiments import config
from partialfed.experiments.config import ConfigError


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """
family = "quadratic"
seeds = 2
[problem]
n = 8
delta = [0.0, 1.0, 2.0]
[run]
algorithm = ["fedalt", "fedsim"]
T = 5
m = 2
"""


def test_grid_is_the_cartesian_product(tmp_path):
    s = config.load(_write(tmp_path, BASE))
    assert len(s) == 3 * 2 * 2
    assert s.name == "c"
    assert s.axes == {
        "problem.delta": [0.0, 1.0, 2.0],
        "run.algorithm": ["fedalt", "fedsim"],
        "seed": [0, 1],
    }
    cells = {(dict(c.knobs)["delta"], c.run.algorithm, c.seed) for c in s.cells}
    assert len(cells) == 12


def test_cells_are_complete_and_canonical(tiny_sweep):
    knobs = synthetic.knobs_of("quadratic")
    for cell in tiny_sweep.cells:
        spec = cell.spec()
        assert set(spec) == {"family", "seed", "problem", "run"}
        assert set(spec["problem"]) == set(knobs)
        assert "seed" not in spec["run"]
        assert spec["run"]["T"] == 20 and spec["problem"]["n"] == 8
        # the problem instance follows the cell's seed unless [problem] fixes it
        assert spec["problem"]["seed"] == spec["seed"]
        assert isinstance(spec["problem"]["delta"], float)


def test_fixed_problem_seed_and_int_to_float(tmp_path):
    text = BASE.replace("n = 8", "n = 8\nseed = 7\nchi = 0").replace("seeds = 2", "seeds = [3, 5]")
    s = config.load(_write(tmp_path, text))
    assert {dict(c.knobs)["seed"] for c in s.cells} == {7}
    assert {c.seed for c in s.cells} == {3, 5}
    assert all(type(dict(c.knobs)["chi"]) is float for c in s.cells)


def test_overrides_find_their_section(tiny_path):
    s = config.load(tiny_path, ["delta=[0,1,2]", "m=5", "run.T=7", "seeds=1", "algorithm=fedalt"])
    assert len(s) == 3
    assert {c.run.m for c in s.cells} == {5}
    assert {c.run.T for c in s.cells} == {7}
    assert {dict(c.knobs)["delta"] for c in s.cells} == {0.0, 1.0, 2.0}
    assert {c.run.algorithm for c in s.cells} == {"fedalt"}
    s = config.load(tiny_path, ["problem.chi=[0.1, 0.2]"])
    assert s.axes["problem.chi"] == [0.1, 0.2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delta=[0, 1, 2]", ("delta", [0, 1, 2])),
        ("delta=1e-3", ("delta", 1e-3)),
        ("gamma_u=.5", ("gamma_u", 0.5)),
        ("algorithm=fedalt", ("algorithm", "fedalt")),
        ('algorithm="fedalt"', ("algorithm", "fedalt")),
        ("algorithm=[fedalt, fedsim]", ("algorithm", ["fedalt", "fedsim"])),
        ("flag=true", ("flag", True)),
        ("problem.n=4", ("problem.n", 4)),
    ],
)
def test_parse_assignment(text, expected):
    assert config.parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["delta", "=3", "a b=1", "delta=[1, {", "x=__import__('os')"])
def test_parse_assignment_rejects(text):
    with pytest.raises(ConfigError):
        config.parse_assignment(text)


def test_shipped_configs_resolve_and_expand():
    names = config.shipped()
    assert {"quick", "delta-sweep", "participation-sweep", "coupling-sweep", "noise-sweep"} <= set(
        names
    )
    for name in names:
        s = config.load(name)
        assert len(s) > 0 and s.name == name
    root = Path(__file__).parents[2] / "configs"
    for name, path in names.items():
        assert (root / f"{name}.toml").read_text() == path.read_text()


# Each case: file text (or None for BASE), overrides, words the one-line message must contain.
ERRORS = [
    ("bogus = 1\n" + BASE, [], ["'bogus'", "allowed: name", "c.toml"]),
    (BASE + "\nbogus = 1\n", [], ["'bogus'", "[run]", "allowed: algorithm"]),
    (
        BASE.replace("n = 8", "n = 8\ndetla = 1"),
        [],
        ["'detla'", "[problem]", "Did you mean 'delta'"],
    ),
    (
        BASE.replace("T = 5", "T = 5\ngama_u = 1"),
        [],
        ["'gama_u'", "[run]", "Did you mean 'gamma_u'"],
    ),
    (BASE.replace("T = 5", "T = 5\nseed = 1"), [], ["[run] seed", "seeds"]),
    (BASE.replace('family = "quadratic"', ""), [], ["'family' is missing", "'quadratic'"]),
    (BASE.replace('"quadratic"', '"quadratik"'), [], ["'family'", "Did you mean 'quadratic'"]),
    (BASE.replace("seeds = 2", "seeds = 0"), [], ["'seeds'", "a count", "[1, 100000]", "Got 0"]),
    (BASE.replace("seeds = 2", "seeds = [1, 1]"), [], ["'seeds'", "twice"]),
    (BASE.replace("seeds = 2", 'seeds = "a"'), [], ["'seeds'"]),
    (BASE.replace("[0.0, 1.0, 2.0]", "[]"), [], ["problem.delta", "empty"]),
    (BASE.replace("[0.0, 1.0, 2.0]", "[1.0, 1.0]"), [], ["problem.delta", "twice"]),
    (BASE.replace("[0.0, 1.0, 2.0]", "{a = 1}"), [], ["problem.delta", "number, string"]),
    (BASE.replace("[0.0, 1.0, 2.0]", "[[1.0]]"), [], ["problem.delta"]),
    (BASE.replace("[0.0, 1.0, 2.0]", "-1.0"), [], ["[problem] delta", "'delta' parameter"]),
    (BASE.replace("m = 2", "m = 0"), [], ["[run] m", "'m' parameter", "Got 0"]),
    (BASE.replace("m = 2", "m = 9"), [], ["[run] m", "[1, 8]", "Got 9"]),
    (BASE.replace('"fedsim"', '"fedsimm"'), [], ["[run] algorithm", "Did you mean 'fedsim'"]),
    (BASE.replace("T = 5", "T = 5\ntau_v = 3"), [], ["[run] tau_v"]),
    ("name = 'a b'\n" + BASE, [], ["'name'"]),
    (BASE.replace("[run]", "run = 3\n[x]"), [], ["'x'"]),
    ("family = [", [], ["not valid TOML"]),
    (None, ["detla=1"], ["--set detla=1", "'detla'", "Did you mean 'delta'"]),
    (None, ["seed=1"], ["'seed' is ambiguous", "seeds="]),
    (None, ["prblem.n=1"], ["'prblem'", "Did you mean 'problem'"]),
    (None, ["nokey"], ["key=value"]),
    (None, ["T=-1"], ["[run] T", "'T' parameter"]),
]


@pytest.mark.parametrize(("text", "overrides", "words"), ERRORS)
def test_errors_are_one_line_and_name_key_and_file(tmp_path, text, overrides, words):
    path = _write(tmp_path, BASE if text is None else text)
    with pytest.raises(ConfigError) as info:
        config.load(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    if not message.startswith("--set"):
        assert str(path) in message


def test_missing_file_names_shipped_configs(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("Did you mean 'quick'")):
        config.load("quik")
    with pytest.raises(ConfigError, match="shipped: .*delta-sweep"):
        config.load(tmp_path / "nope.toml")


def test_from_dict_validates_everything_before_running():
    data = {
        "family": "quadratic",
        "problem": {"n": [8, 2]},
        "run": {"m": 3, "T": 2},
    }
    with pytest.raises(ConfigError, match=r"\[1, 2\]"):
        config.from_dict(data, source="mem")


def test_init_seed_is_an_optional_top_level_key(tmp_path):
    s = config.load(_write(tmp_path, "init_seed = 4\n" + BASE))
    assert {c.init_seed for c in s.cells} == {4}
    s = config.load(_write(tmp_path, BASE), ["init_seed=[0, 1]"])
    assert s.axes["init_seed"] == [0, 1] and len(s) == 24
    assert all("init_seed" not in c.spec() for c in config.load(_write(tmp_path, BASE)).cells)
    with pytest.raises(ConfigError, match="'init_seed'"):
        config.load(_write(tmp_path, BASE), ["init_seed=-1"])


def test_family_may_come_from_the_command_line(tmp_path):
    path = _write(tmp_path, BASE.replace('family = "quadratic"', ""))
    assert len(config.load(path, ["family=quadratic"])) == 12


@pytest.mark.parametrize("name", [".", "..", "...", "-", "_."])
def test_a_name_that_would_escape_the_output_folder_is_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="'name' must be .* at least one letter or digit"):
        config.load(_write(tmp_path, f'name = "{name}"\n' + BASE))


def test_run_writes_under_partialfed_results_for_any_accepted_name(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    cfg = _write(tmp_path, 'name = "a..b"\nfamily = "quadratic"\n[problem]\nn = 2\n[run]\nT = 2\n')
    done = subprocess.run(
        [sys.executable, "-m", "partialfed.experiments.cli", "run", str(cfg)]
        + ["--scheduler", "serial"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
    assert written and all(p.parts[:2] == ("partialfed-results", "a..b") for p in written), written
