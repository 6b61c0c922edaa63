"""Every ``--set`` key of every verb, swept with generated bad values: the message names the key.

For ``run`` (each family's knobs and the run fields), ``check`` (the knobs of its study's family
and the run fields), ``regime`` (the same knobs and its run fields) and ``bound`` (every symbol of
every bound), hypothesis draws invalid values of the key (the strategies of
``test_reliability_inputs_api``) and ``experiments.cli.main`` must exit 2 with one line that
names the key, before anything is simulated. Then the known bad messages of issue 16 (item 13),
each reproduced as it was reported.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    CLI_SETTINGS,
    FOREIGN,
    assert_cli_usage_error,
    batch,
    budget,
    count,
    tiny_knobs,
)
from test_reliability_inputs_api import (
    _IDENT,
    FAMILY_RANGES,
    KNOB_RANGES,
    RUN_RANGES,
    bad_knob,
    bad_symbol_value,
)

from partialfed import synthetic, theory
from partialfed.experiments import cli

SETTINGS = CLI_SETTINGS
SMALL = 4
FAMILIES = sorted(synthetic.FAMILIES)
RUN_KEYS = sorted(set(RUN_RANGES) - {"seed"})


def _literal(value) -> str | None:
    """``value`` as the text of a ``--set`` value, or None (no text form, or a list: a grid)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str) and value.isprintable() and value.strip():
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return None


#: Bad values of a key that takes one of a few words (``algorithm``, ``variant``, quadratic's
#: ``start``).
_BAD_WORD = st.one_of(st.integers(), st.floats(), _IDENT.map(lambda s: "zz" + s))


def _bad_texts(family: str, key: str) -> st.SearchStrategy:
    if key in ("algorithm", "variant") or (
        key not in RUN_RANGES and key not in KNOB_RANGES and (family, key) not in FAMILY_RANGES
    ):
        strategy = _BAD_WORD
    elif key in RUN_RANGES:
        strategy = RUN_RANGES[key]
    else:
        strategy = bad_knob(family, key, synthetic.knobs_of(family)[key])
    return strategy.map(_literal).filter(lambda s: s is not None)


def _main(capsys, argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _assert_named(rc: int, err: str, key: str) -> None:
    line = assert_cli_usage_error(rc, err, key)
    assert not any(lib in line.lower() for lib in FOREIGN), line


@pytest.fixture(scope="module")
def tomls():
    """A valid two-round configuration file per family."""
    with tempfile.TemporaryDirectory(prefix="partialfed-set-") as d:
        out = {}
        for family in FAMILIES:
            knobs = "\n".join(f"{k} = {v!r}" for k, v in tiny_knobs(family).items())
            path = Path(d) / f"{family}.toml"
            path.write_text(f'family = "{family}"\n[problem]\n{knobs}\n[run]\nT = 2\nm = 1\n')
            out[family] = path
        yield Path(d), out


# -- run: every knob of every family, every run field --------------------------------------------
_RUN_CASES = [(f, k) for f in FAMILIES for k in synthetic.knobs_of(f) if k != "seed"]
_RUN_CASES += [("quadratic", k) for k in RUN_KEYS]


@pytest.mark.parametrize(("family", "key"), _RUN_CASES)
@settings(max_examples=budget("test_run_set_names_the_key", 1, len(_RUN_CASES), SMALL), **SETTINGS)
@given(data=st.data())
def test_run_set_names_the_key(capsys, tomls, family, key, data):
    folder, files = tomls
    for text in data.draw(batch(_bad_texts(family, key), SMALL), label=key):
        count("test_run_set_names_the_key")
        argv = ["run", files[family], "--set", f"{key}={text}", "--out", folder / "o"]
        rc, err = _main(capsys, [*argv, "--scheduler", "serial"])
        _assert_named(rc, err, key)


# -- check and regime: the study's knobs and the run fields --------------------------------------
_CHECK_KEYS = [k for k in synthetic.knobs_of("quadratic") if k != "seed"] + RUN_KEYS
_REGIME_KEYS = [k for k in synthetic.knobs_of("quadratic") if k not in ("seed",)]
_REGIME_KEYS += ["T", "m", "tau_u", "tau_v"]


@pytest.mark.parametrize(
    ("verb", "key"), [("check", k) for k in _CHECK_KEYS] + [("regime", k) for k in _REGIME_KEYS]
)
@settings(
    max_examples=budget(
        "test_study_set_names_the_key", 1, len(_CHECK_KEYS) + len(_REGIME_KEYS), SMALL
    ),
    **SETTINGS,
)
@given(data=st.data())
def test_study_set_names_the_key(capsys, verb, key, data):
    """Refused before any simulation (a bad value fails in Cell.of or the step rule)."""
    for text in data.draw(batch(_bad_texts("quadratic", key), SMALL), label=key):
        count("test_study_set_names_the_key")
        argv = [verb] + (["fedsgd_partial"] if verb == "check" else [])
        argv += ["--set", f"{key}={text}", "--seeds", "2", "--scheduler", "serial"]
        rc, err = _main(capsys, argv)
        _assert_named(rc, err, key)


# -- bound: every symbol of every bound ----------------------------------------------------------
_BOUND_CASES = [(b, s) for b in sorted(theory.BOUNDS) for s in theory.BOUNDS[b].required]


@pytest.mark.parametrize(("name", "symbol"), _BOUND_CASES)
@settings(
    max_examples=budget("test_bound_set_names_the_symbol", 1, len(_BOUND_CASES), SMALL),
    **SETTINGS,
)
@given(data=st.data())
def test_bound_set_names_the_symbol(capsys, name, symbol, data):
    bound = theory.BOUNDS[name]
    strategy = bad_symbol_value(symbol).map(_literal).filter(lambda s: s is not None)
    for text in data.draw(batch(strategy, SMALL), label=symbol):
        count("test_bound_set_names_the_symbol")
        argv = ["bound", name, "--set", f"{symbol}={text}"]
        for other in bound.required:
            if other != symbol:
                argv += ["--set", f"{other}=1"]
        rc, err = _main(capsys, argv)
        _assert_named(rc, err, symbol)
