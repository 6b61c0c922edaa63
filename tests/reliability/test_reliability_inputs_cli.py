"""Bad input to the TOML reader and to every ``partialfed`` verb: one line, exit 2, no traceback.

``experiments.config.from_dict``/``load`` get invalid grids and malformed TOML text written to
temporary files; ``experiments.cli.main(argv)`` is called in-process for every verb of
``experiments.cli.VERBS`` with invalid files, ``--set`` values, options and names, and its
stderr is captured. Every generated input is invalid by construction. Known bugs have their own
``xfail(strict=True)`` tests at the end.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    CLI_SETTINGS,
    assert_allowed_named,
    assert_cli_usage_error,
    assert_one_line,
    batch,
    budget,
    count,
    tiny_knobs,
)
from test_reliability_inputs_api import _IDENT, RUN_RANGES, bad_knob

from partialfed import synthetic, theory
from partialfed.experiments import cli, config

SETTINGS = CLI_SETTINGS
SMALL = 5  # CLI calls are slower than API calls: smaller batches
FAMILIES = sorted(synthetic.FAMILIES)


@pytest.fixture(scope="module")
def workdir():
    """A scratch folder for the whole module (hypothesis re-runs examples; no per-test tmp)."""
    with tempfile.TemporaryDirectory(prefix="partialfed-reliability-") as d:
        yield Path(d)


def _base(family: str = "quadratic") -> dict:
    """A valid configuration dict: a tiny problem, 2 rounds."""
    return {"family": family, "problem": tiny_knobs(family), "run": {"T": 2, "m": 2}}


def test_base_configuration_is_valid():
    for family in FAMILIES:
        assert len(config.from_dict(_base(family))) == 1


# -- from_dict ---------------------------------------------------------------------------------
_SECTION_KNOBS = [(f, k) for f in FAMILIES for k in synthetic.knobs_of(f) if k != "seed"]


@pytest.mark.parametrize(("family", "knob"), _SECTION_KNOBS)
@settings(
    max_examples=budget("test_from_dict_rejects_invalid_knob", 3, len(_SECTION_KNOBS)), **SETTINGS
)
@given(data=st.data())
def test_from_dict_rejects_invalid_knob(family, knob, data):
    # A list is a grid axis in a configuration, not a value: leave lists out.
    strategy = bad_knob(family, knob, synthetic.knobs_of(family)[knob]).filter(
        lambda v: not isinstance(v, list)
    )
    for value in data.draw(batch(strategy), label=knob):
        count("test_from_dict_rejects_invalid_knob")
        cfg = _base(family)
        cfg["problem"][knob] = value
        with pytest.raises(config.ConfigError) as info:
            config.from_dict(cfg, source="grid.toml")
        assert_one_line(info.value, knob, "grid.toml")


@pytest.mark.parametrize("field", sorted(set(RUN_RANGES) - {"seed"}))
@settings(
    max_examples=budget("test_from_dict_rejects_invalid_run_field", 5, len(RUN_RANGES) - 1),
    **SETTINGS,
)
@given(data=st.data())
def test_from_dict_rejects_invalid_run_field(field, data):
    strategy = RUN_RANGES[field].filter(lambda v: not isinstance(v, list))
    for value in data.draw(batch(strategy), label=field):
        count("test_from_dict_rejects_invalid_run_field")
        cfg = _base()
        cfg["run"][field] = value
        with pytest.raises(config.ConfigError) as info:
            config.from_dict(cfg, source="grid.toml")
        assert_one_line(info.value, field)


_TOP_BAD = {
    "family": st.one_of(
        _IDENT.filter(lambda s: s not in synthetic.FAMILIES), st.integers(), st.just([])
    ),
    "seeds": st.one_of(
        st.integers(max_value=0),
        st.text(max_size=3),
        st.just([]),
        st.lists(st.integers(max_value=-1), min_size=1, max_size=3),
        st.just([1, 1]),
        st.floats(),
    ),
    "init_seed": st.one_of(st.integers(max_value=-1), st.text(max_size=3), st.floats()),
    "name": st.one_of(
        st.integers(),
        st.text(min_size=1).filter(
            lambda s: not all(c.isalnum() and c.isascii() or c in "_.-" for c in s)
        ),
    ),
    "description": st.one_of(st.integers(), st.lists(st.integers(), max_size=2)),
    "problem": st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)),
    "run": st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)),
}


@pytest.mark.parametrize("key", sorted(_TOP_BAD))
@settings(
    max_examples=budget("test_from_dict_rejects_invalid_top_level", 8, len(_TOP_BAD)), **SETTINGS
)
@given(data=st.data())
def test_from_dict_rejects_invalid_top_level(key, data):
    for value in data.draw(batch(_TOP_BAD[key]), label=key):
        count("test_from_dict_rejects_invalid_top_level")
        cfg = {**_base(), key: value}
        with pytest.raises(config.ConfigError) as info:
            config.from_dict(cfg)
        message = assert_one_line(info.value, key)
        assert_allowed_named(message)


@settings(max_examples=budget("test_from_dict_rejects_unknown_keys", 20, 1, 3 * 10), **SETTINGS)
@given(keys=batch(_IDENT))
def test_from_dict_rejects_unknown_keys(keys):
    knobs = synthetic.knobs_of("quadratic")
    for key in keys:
        for where in ("top", "problem", "run"):
            count("test_from_dict_rejects_unknown_keys")
            cfg = _base()
            taken = {"top": config.TOP_LEVEL_KEYS, "problem": knobs, "run": RUN_RANGES}[where]
            k = key + "_x" if key in taken else key
            (cfg if where == "top" else cfg[where])[k] = 1
            with pytest.raises(config.ConfigError) as info:
                config.from_dict(cfg)
            assert "allowed" in assert_one_line(info.value, k)


# -- load: malformed TOML ------------------------------------------------------------------------
def _not_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True
    return False


_FRAGMENTS = st.sampled_from(
    [
        'family = "quadratic"',
        "[problem",
        "n = ",
        "= 3",
        'x = "unterminated',
        "[run]\n[run]",
        "a = 1\na = 2",
        "T = 1_",
        "d = [1, 2",
        "[[run]]\nT=1\n[run]",
        "seeds = 0x",
        "\x00",
        "{",
    ]
)
MALFORMED = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    st.lists(_FRAGMENTS, min_size=1, max_size=4).map("\n".join),
).filter(_not_toml)


@settings(max_examples=budget("test_load_rejects_malformed_toml", 40), **SETTINGS)
@given(texts=batch(MALFORMED))
def test_load_rejects_malformed_toml(workdir, texts):
    for j, text in enumerate(texts):
        count("test_load_rejects_malformed_toml")
        path = workdir / f"bad{j}.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(config.ConfigError) as info:
            config.load(path)
        message = assert_one_line(info.value)
        assert str(path) in message and "TOML" in message


# -- the CLI -------------------------------------------------------------------------------------
def _main(capsys, argv) -> tuple[int, str]:
    """``cli.main(argv)`` with stdout/stderr captured; returns ``(status, stderr)``."""
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _toml_literal(value) -> str | None:
    """``value`` as a ``--set`` value text, or ``None`` if it has no text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return (
            '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if value.isprintable()
            else None
        )
    return None


def test_every_verb_is_covered():
    """A new verb must get bad-input tests here."""
    verbs = {"run", "plot", "bound", "check", "regime", "reproduce", "bench", "personalize"}
    assert set(cli.VERBS) <= verbs, set(cli.VERBS)


_PERSONALIZE_BAD = st.one_of(
    _IDENT.map(lambda s: (f"zz{s}=1", f"zz{s}")),  # unknown keys
    st.sampled_from(
        [
            ("n=1", "n"),
            ("d=1", "d"),
            ("planted=0", "planted"),
            ("jitter=-1", "jitter"),
            ("jitter=nan", "jitter"),
            ("support=[0,0,1,2]", "support"),
            ("support=[1]", "support"),
            ("alpha=1", "alpha"),
            ("quorum=0", "quorum"),
            ("iters=0", "iters"),
            ("draws=1", "draws"),
            ("seeds=[]", "seeds"),
            ("T=0", "T"),
            ("size=0", "size"),
            ("size=autom", "size"),
            ("m=0", "m"),
            ("gamma_u=-1", "gamma_u"),
            ("decay=[1,2]", "decay"),
        ]
    ),
)


@settings(max_examples=budget("test_cli_personalize_rejects_invalid_set", 12, 1, SMALL), **SETTINGS)
@given(cases=batch(_PERSONALIZE_BAD, SMALL))
def test_cli_personalize_rejects_invalid_set(capsys, cases):
    """``personalize`` refuses a bad ``--set`` in one line naming the key (its checks run before
    any FedAlt run; the Split LBI ones before the path)."""
    for text, name in cases:
        count("test_cli_personalize_rejects_invalid_set")
        small = ["--set", "n=4", "--set", "d=4", "--set", "planted=2"]
        rc, err = _main(capsys, ["personalize", *small, "--set", text])  # the last value wins
        assert_cli_usage_error(rc, err, name)


@pytest.fixture(scope="module")
def good_toml(workdir) -> Path:
    path = workdir / "good.toml"
    path.write_text(
        'family = "quadratic"\n[problem]\nn = 6\nd_u = 3\nd_v = 2\n[run]\nT = 2\nm = 2\n'
    )
    return path


@pytest.mark.parametrize("knob", ["n", "d_u", "delta", "chi", "noise_u", "mu_v", "personal"])
@settings(max_examples=budget("test_cli_run_rejects_invalid_set", 8, 7 + 4, SMALL), **SETTINGS)
@given(data=st.data())
def test_cli_run_rejects_invalid_set(capsys, workdir, good_toml, knob, data):
    strategy = bad_knob("quadratic", knob, 1.0).map(_toml_literal).filter(lambda s: s is not None)
    for text in data.draw(batch(strategy, SMALL), label=knob):
        count("test_cli_run_rejects_invalid_set")
        argv = [
            "run",
            good_toml,
            "--set",
            f"{knob}={text}",
            "--out",
            workdir / "out",
            "--scheduler",
            "serial",
        ]
        rc, err = _main(capsys, argv)
        assert_cli_usage_error(rc, err, knob)


@pytest.mark.parametrize("field", ["T", "m", "tau_u", "gamma_v"])
@settings(max_examples=8, **SETTINGS)
@given(data=st.data())
def test_cli_run_rejects_invalid_run_set(capsys, workdir, good_toml, field, data):
    strategy = RUN_RANGES[field].map(_toml_literal).filter(lambda s: s is not None)
    for text in data.draw(batch(strategy, SMALL), label=field):
        count("test_cli_run_rejects_invalid_set")
        argv = [
            "run",
            good_toml,
            "--set",
            f"run.{field}={text}",
            "--out",
            workdir / "out",
            "--scheduler",
            "serial",
        ]
        rc, err = _main(capsys, argv)
        assert_cli_usage_error(rc, err, field)


_OPTION_BAD = st.one_of(
    st.tuples(st.just("--workers"), st.integers(max_value=0).map(str)),
    st.tuples(
        st.just("--workers"),
        st.text(min_size=1, max_size=4).filter(
            lambda s: not s.strip().lstrip("+-").isdigit() and not s.startswith("-")
        ),
    ),
    st.tuples(
        st.just("--scheduler"), _IDENT.filter(lambda s: s not in ("auto", "serial", "local"))
    ),
    st.tuples(
        st.just("--set"),
        st.text(min_size=1, max_size=10).filter(lambda s: "=" not in s and not s.startswith("-")),
    ),
    st.tuples(_IDENT.map(lambda s: "--zz" + s), st.just("1")),
)


@settings(max_examples=budget("test_cli_run_rejects_invalid_options", 30, 1, SMALL), **SETTINGS)
@given(options=batch(_OPTION_BAD, SMALL))
def test_cli_run_rejects_invalid_options(capsys, workdir, good_toml, options):
    for option, value in options:
        count("test_cli_run_rejects_invalid_options")
        argv = ["run", good_toml, "--out", workdir / "out", option, value]
        if option != "--scheduler":
            argv += ["--scheduler", "serial"]
        rc, err = _main(capsys, argv)
        name = (
            option
            if option.startswith("--zz") or option == "--workers"
            else (value if option == "--scheduler" else "--set")
        )
        assert_cli_usage_error(rc, err, name.split("=")[0] if option != "--set" else "--set")


@settings(max_examples=budget("test_cli_run_rejects_malformed_file", 20, 1, SMALL), **SETTINGS)
@given(texts=batch(MALFORMED, SMALL))
def test_cli_run_rejects_malformed_file(capsys, workdir, texts):
    for j, text in enumerate(texts):
        count("test_cli_run_rejects_malformed_file")
        path = workdir / f"cli{j}.toml"
        path.write_text(text, encoding="utf-8")
        rc, err = _main(capsys, ["run", path, "--out", workdir / "out", "--scheduler", "serial"])
        assert_cli_usage_error(rc, err, str(path))


_BOUND_SYMBOL_BAD = st.one_of(
    # "[]" (an empty array) is a known bug: test_bug_bound_empty_array.
    st.sampled_from(
        ["nan", "inf", "-inf", "-1", "0", "-0.5", '"x"', "[nan]", "{a=1}", "[1, -1]", "true"]
    ),
    st.floats(max_value=0.0, allow_nan=False).map(repr),
    _IDENT.filter(lambda s: s not in ("nan", "inf", "true", "false")),
)


@pytest.mark.parametrize("name", sorted(theory.BOUNDS))
@settings(
    max_examples=budget("test_cli_bound_rejects_invalid_set", 5, len(theory.BOUNDS), SMALL),
    **SETTINGS,
)
@given(data=st.data())
def test_cli_bound_rejects_invalid_set(capsys, name, data):
    bound = theory.BOUNDS[name]
    symbol = data.draw(st.sampled_from(bound.required), label="symbol")
    for text in data.draw(batch(_BOUND_SYMBOL_BAD, SMALL), label=symbol):
        if text == "true" or (
            text in ("0", "-0.0", "0.0") and symbol not in theory.symbols.POSITIVE
        ):
            text = "nan"  # bools are a known bug; 0 is valid for nonnegative symbols
        count("test_cli_bound_rejects_invalid_set")
        others = [f"{k}=1" for k in bound.required if k != symbol]
        argv = ["bound", name, "--set", f"{symbol}={text}"]
        for other in others:
            argv += ["--set", other]
        rc, err = _main(capsys, argv)
        assert_cli_usage_error(rc, err, symbol)


@settings(max_examples=budget("test_cli_rejects_unknown_names", 20, 1, 4 * SMALL), **SETTINGS)
@given(words=batch(_IDENT, SMALL))
def test_cli_rejects_unknown_names(capsys, workdir, words):
    for word in words:
        word = "x" + word
        cases = [
            (["bound", word], word),
            (["bound", "sgd_nonconvex", "--set", f"{word}=1"], word),
            ([word], word),
            (["plot", workdir / word], str(workdir / word)),
        ]
        for argv, name in cases:
            count("test_cli_rejects_unknown_names")
            rc, err = _main(capsys, argv)
            assert_cli_usage_error(rc, err, name)


def test_cli_plot_rejects_a_file_and_an_empty_folder(capsys, workdir, good_toml):
    empty = workdir / "empty"
    empty.mkdir(exist_ok=True)
    for target in (good_toml, empty):
        rc, err = _main(capsys, ["plot", target])
        assert_cli_usage_error(rc, err, str(target))


_STUDY_BAD = st.one_of(
    st.tuples(st.just("--seeds"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--seeds"), st.integers(min_value=10**4 + 1).map(str)),
    st.tuples(st.just("--seeds"), _IDENT),
    st.tuples(
        st.just("--scheduler"), _IDENT.filter(lambda s: s not in ("auto", "serial", "local"))
    ),
    st.tuples(st.just("--set"), _IDENT.map(lambda s: f"zz{s}=1")),
    st.tuples(st.just("--set"), st.sampled_from(["delta=nan", "T=0", "m=-1", "n=0", "chi=2"])),
)


@pytest.mark.parametrize("verb", ["check", "regime"])
@settings(max_examples=budget("test_cli_study_verbs_reject_invalid", 12, 2, SMALL), **SETTINGS)
@given(options=batch(_STUDY_BAD, SMALL))
def test_cli_study_verbs_reject_invalid(capsys, verb, options):
    """``check`` and ``regime`` refuse invalid options before simulating anything."""
    for option, value in options:
        count("test_cli_study_verbs_reject_invalid")
        argv = [verb] + (["fedsgd_partial"] if verb == "check" else [])
        argv += (
            [option, value, "--scheduler", "serial"] if option != "--scheduler" else [option, value]
        )
        rc, err = _main(capsys, argv)
        name = {"--seeds": "--seeds", "--scheduler": value}.get(option, value.split("=")[0])
        if name.startswith("zz") or option == "--seeds":
            name = name if option != "--seeds" else "seeds"
        assert_cli_usage_error(rc, err, name)


@settings(max_examples=budget("test_cli_check_rejects_unknown_bounds", 10, 1, SMALL), **SETTINGS)
@given(words=batch(_IDENT, SMALL))
def test_cli_check_rejects_unknown_bounds(capsys, words):
    for word in words:
        count("test_cli_check_rejects_unknown_bounds")
        rc, err = _main(capsys, ["check", "x" + word, "--scheduler", "serial"])
        assert_cli_usage_error(rc, err, "x" + word)


def test_cli_check_refuses_bounds_with_free_constants(capsys):
    for name, bound in sorted(theory.BOUNDS.items()):
        if bound.has_free_constants:
            rc, err = _main(capsys, ["check", name, "--scheduler", "serial"])
            assert_cli_usage_error(rc, err, name)


# -- known bugs ----------------------------------------------------------------------------------
def test_bug_cli_bound_huge_int(capsys):
    argv = [
        "bound",
        "sgd_nonconvex",
        "--set",
        "T=" + "9" * 400,
        "--set",
        "gamma=0.5",
        "--set",
        "L=1",
        "--set",
        "sigma=0",
        "--set",
        "Delta_F0=1",
    ]
    try:
        rc, err = _main(capsys, argv)
    except OverflowError as exc:
        pytest.fail(f"OverflowError reached the user: {exc}")
    assert_cli_usage_error(rc, err, "T")


def test_bug_cli_bound_ragged_list(capsys):
    rc, err = _main(capsys, ["bound", "sgd_nonconvex", "--set", "T=[[1,2],[3]]"])
    assert_cli_usage_error(rc, err, "T")


def test_bug_cli_bound_overflow(capsys):
    argv = [
        "bound",
        "sgd_nonconvex",
        "--set",
        "T=1",
        "--set",
        "gamma=0.5",
        "--set",
        "L=1",
        "--set",
        "sigma=0",
        "--set",
        "Delta_F0=1e308",
    ]
    rc, err = _main(capsys, argv)
    assert rc == 2 and "Warning" not in err, (rc, err)


def test_bug_cli_run_huge_int_knob(capsys, workdir):
    path = workdir / "huge.toml"
    path.write_text(f'family = "quadratic"\n[problem]\ndelta = {10**400}\n[run]\nT = 2\n')
    try:
        rc, err = _main(capsys, ["run", path, "--out", workdir / "o", "--scheduler", "serial"])
    except OverflowError as exc:
        pytest.fail(f"OverflowError reached the user: {exc}")
    assert_cli_usage_error(rc, err, "delta")


def test_bug_load_non_utf8(capsys, workdir):
    path = workdir / "latin1.toml"
    path.write_bytes(b'family = "quadr\xe4tic"\n')
    rc, err = _main(capsys, ["run", path, "--out", workdir / "o", "--scheduler", "serial"])
    assert_cli_usage_error(rc, err, str(path))


def test_bug_cli_run_bad_out(capsys, good_toml):
    rc, err = _main(
        capsys, ["run", good_toml, "--out", "/proc/no/such/dir", "--scheduler", "serial"]
    )
    assert_cli_usage_error(rc, err, "--out")


@pytest.mark.parametrize("data", [None, [("family", "quadratic")]])
def test_bug_from_dict_non_mapping(data):
    with pytest.raises(config.ConfigError) as info:
        config.from_dict(data)
    assert_one_line(info.value, "data")


def test_bug_load_non_path():
    with pytest.raises(config.ConfigError) as info:
        config.load(3)
    assert_one_line(info.value, "name_or_path")


def test_bug_seeds_unbounded():
    with pytest.raises(config.ConfigError) as info:
        config.from_dict({**_base(), "seeds": 10**12})
    assert_one_line(info.value, "seeds")


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    limit = 6 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from partialfed.experiments import cli
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_bug_quadratic_memory_guard(workdir):
    """A problem too big for memory must be refused up front (as logistic does), not crash."""
    path = workdir / "huge-n.toml"
    path.write_text(
        'family = "quadratic"\n[problem]\nn = 10000000\nd_u = 200\nd_v = 0\n'
        "chi = 0.0\n[run]\nT = 1\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_SCRIPT,
            "run",
            str(path),
            "--out",
            str(workdir / "m"),
            "--scheduler",
            "serial",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PARTIALFED_DEBUG": ""},
    )
    assert_cli_usage_error(proc.returncode, proc.stderr, "n")


@pytest.mark.parametrize("scale", ["nan", "-1", "0"])
def test_bug_cli_check_scale(capsys, scale):
    rc, err = _main(
        capsys,
        [
            "check",
            "fedsgd_partial",
            "--scale",
            scale,
            "--set",
            "T=2",
            "--seeds",
            "1",
            "--scheduler",
            "serial",
        ],
    )
    assert_cli_usage_error(rc, err, "--scale")


@pytest.mark.parametrize("verb", ["check", "regime"])
def test_bug_cli_workers_zero_ignored(capsys, verb):
    argv = [verb] + (
        ["fedsgd_partial"]
        if verb == "check"
        else ["--set", "noise_v=[0,1]", "--set", "delta=[0,1]"]
    )
    argv += ["--workers", "0", "--set", "T=2", "--seeds", "1", "--scheduler", "serial"]
    rc, err = _main(capsys, argv)
    assert_cli_usage_error(rc, err, "--workers")


def test_bug_cli_regime_eta(capsys):
    rc, err = _main(capsys, ["regime", "--eta", "nan", "--scheduler", "serial"])
    assert_cli_usage_error(rc, err, "--eta")


@pytest.mark.parametrize("option", [("--workers", "0"), ("--scheduler", "bogus")])
def test_bug_cli_reproduce_validates_late(capsys, workdir, option):
    rc, err = _main(capsys, ["reproduce", "--quick", "--out", workdir / "rep", *option])
    assert_cli_usage_error(rc, err, option[0] if option[0] == "--workers" else option[1])


def test_bug_bound_empty_array(capsys):
    argv = [
        "bound",
        "sgd_nonconvex",
        "--set",
        "T=[]",
        "--set",
        "gamma=0.5",
        "--set",
        "L=1",
        "--set",
        "sigma=0",
        "--set",
        "Delta_F0=1",
    ]
    rc, err = _main(capsys, argv)
    assert_cli_usage_error(rc, err, "T")


@pytest.mark.parametrize(
    ("argv", "name"),
    [(["--clock", "bogus"], "--clock"), (["--rounds", "5"], "--rounds"), (["extra"], "extra")],
)
def test_cli_bench_bad_options(capsys, argv, name):
    rc, err = _main(capsys, ["bench", *argv])
    assert_cli_usage_error(rc, err, name)
