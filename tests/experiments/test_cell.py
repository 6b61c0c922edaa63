"""The Cell: canonical fields, a stable content hash, one problem cache, one symbol table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from partialfed import simulators, synthetic, theory
from partialfed.experiments import cell as cell_module
from partialfed.experiments import store
from partialfed.experiments.cell import SINGLE_BLOCK, Cell, CellError, execute
from partialfed.experiments.measure import COLUMNS, column, lhs_series

KNOBS = dict(n=8, d_u=3, d_v=2, delta=1, chi=0.5)
RUN = dict(algorithm="fedsim", T=6, m=3, gamma_u=1, gamma_v=0.05, seed=4)


def test_of_fills_defaults_and_coerces_like_the_config():
    c = Cell.of("quadratic", KNOBS, RUN)
    knobs = dict(c.knobs)
    assert set(knobs) == set(synthetic.knobs_of("quadratic"))
    assert type(knobs["delta"]) is float and type(knobs["n"]) is int
    assert type(c.run.gamma_u) is float and c.seed == 4
    assert c == Cell.of("quadratic", {**KNOBS, "delta": 1.0}, {**RUN, "gamma_u": 1.0})
    assert Cell.from_spec(c.spec()) == c


def test_hash_is_the_store_hash_of_the_spec_the_config_always_wrote():
    c = Cell.of("quadratic", KNOBS, RUN, init_seed=2)
    defaults = synthetic.knobs_of("quadratic")
    # the spec as the configuration reader wrote it before cells existed, built by hand
    spec = {
        "family": "quadratic",
        "seed": 4,
        "problem": {
            k: (float(KNOBS[k]) if k == "delta" else KNOBS.get(k, d)) for k, d in defaults.items()
        },
        "run": dict(
            algorithm="fedsim", T=6, m=3, tau_u=1, tau_v=1, gamma_u=1.0, gamma_v=0.05, eval_every=1
        ),
        "init_seed": 2,
    }
    assert c.spec() == spec
    assert c.hash == store.spec_hash(spec)
    assert c.with_run(seed=5).hash != c.hash != replace(c, init_seed=None).hash
    assert c.with_knobs(delta=2.0).hash != c.hash


def test_errors_name_the_section_and_keep_the_messages():
    with pytest.raises(CellError, match="'T' parameter of RunConfig") as info:
        Cell.of("quadratic", {}, {"T": 0})
    assert info.value.section == "run"
    with pytest.raises(CellError) as info:
        Cell.of("quadratik")
    assert info.value.section == "problem"
    with pytest.raises(CellError, match=r"\[1, 8\].*Got 9") as info:
        Cell.of("quadratic", {"n": 8}, {"m": 9}).validate()
    assert info.value.section == "run"
    with pytest.raises(CellError, match="Unknown knob 'detla'") as info:
        Cell.of("quadratic", {"detla": 1.0}).validate()
    assert info.value.section == "problem"


def test_one_problem_cache_serves_every_cell_of_an_instance():
    cell_module._problem.cache_clear()
    a = Cell.of("quadratic", {"n": 6, "delta": 0.25}, {"m": 2, "seed": 0})
    b = a.with_run(seed=3, algorithm="fedsim", gamma_u=0.2)
    p = a.validate()
    assert b.problem() is p and execute(b).constants == p.constants.as_dict()
    info = cell_module._problem.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert a.with_knobs(delta=0.5).problem() is not p


def test_constants_outlive_the_problem_cache():
    cell_module._problem.cache_clear()
    cell_module._constants.cache_clear()
    cells = [Cell.of("quadratic", {"n": 4, "delta": d}) for d in (0.05, 0.1, 0.15)]
    first = cells[0].values()
    assert first["n"] == 4 and first["delta"] == 0.05
    assert {k: first[k] for k in cells[0].problem().constants.as_dict()} == (
        cells[0].problem().constants.as_dict()
    )
    for c in cells[1:]:
        c.values()
    cell_module._problem.cache_clear()  # as when the problem cache has evicted them
    assert cells[0].values() == first and cells[2].values()["delta"] == 0.15
    assert cell_module._problem.cache_info().misses == 0  # no problem was built again
    first["n"] = -1  # a caller's copy: the cache is not changed through it
    assert cells[0].values()["n"] == 4


def test_values_use_the_config_names_and_the_single_block_table():
    c = Cell.of("quadratic", KNOBS, RUN)
    result = execute(c)
    values = c.values(result.frame)
    p = c.problem()
    for name, value in {**p.constants.as_dict(), **c.run.as_dict()}.items():
        if name not in ("algorithm", "seed", "eval_every"):
            assert values[name] == value, name
    for symbol, name in SINGLE_BLOCK.items():
        assert symbol in theory.SYMBOLS and values[symbol] == values[name]
    loss = result.frame["loss"].to_numpy()
    assert values["Delta_F0"] == max(loss[0] - values["F_low"], 0.0)
    assert values["Delta_FT"] == loss[0] - loss[-1]
    assert {name for name in values} <= set(theory.SYMBOLS)


def test_every_bound_term_has_a_measured_column():
    for name, bound in theory.BOUNDS.items():
        for term in bound.lhs.terms:
            assert column(term.quantity, term.point) in store.METRICS, name
    fedalt = theory.get_bound("fedalt_main").lhs.terms[0]
    assert fedalt.point is theory.At.V_NEXT and COLUMNS[("Delta_u", fedalt.point)] == (
        "grad_u_sq_at_V_next"
    )
    assert theory.get_bound("fedsim_main").lhs.terms[0].point is theory.At.ITERATE
    with pytest.raises(ValueError, match="no recorded column"):
        column("Delta_v", theory.At.V_NEXT)


def test_lhs_reads_the_column_of_the_point():
    c = Cell.of("quadratic", KNOBS, {**RUN, "algorithm": "fedalt"})
    frame = execute(c).frame
    values = c.values(frame)
    bound = theory.get_bound("fedalt_main")
    _, series = lhs_series(frame, bound, values)
    w = bound.weights(values)
    expected = w["Delta_u"] * frame["grad_u_sq_at_V_next"] + w["Delta_v"] * frame["grad_v_sq"]
    np.testing.assert_array_equal(series, expected.to_numpy())


def test_the_cache_tells_equal_values_of_other_types_apart():
    # 2.0 == 2 and True == 1: a cache keyed by value alone would serve a valid problem for a
    # knob value that synthetic.make rejects
    Cell.of("quadratic", {"d_v": 2}).validate()
    with pytest.raises(CellError, match="'d_v' parameter"):
        Cell.of("quadratic", {"d_v": 2.0}).validate()


def test_numpy_scalars_make_the_same_cell_and_hash():
    """Values from numpy (``for T in np.arange(...)``) are canonical too: the cell equals the one
    built from Python numbers, and its spec is JSON (the hash names the result file)."""
    c = Cell.of("quadratic", KNOBS, RUN)
    knobs = {k: np.asarray(v)[()] for k, v in KNOBS.items()}
    run = {k: (v if isinstance(v, str) else np.asarray(v)[()]) for k, v in RUN.items()}
    d = Cell.of("quadratic", knobs, run)
    assert d == c and d.hash == c.hash and d.spec() == c.spec()
    assert c.with_run(T=np.int64(7)).hash == c.with_run(T=7).hash
    assert c.with_knobs(n=np.int64(9)).hash == c.with_knobs(n=9).hash
    assert Cell.of("quadratic", KNOBS, simulators.RunConfig(**run)).hash == c.hash
    assert Cell.of("quadratic", KNOBS, simulators.RunConfig(**RUN)).hash == c.hash  # gamma_u=1


def test_an_unknown_run_field_is_named_with_a_suggestion():
    with pytest.raises(CellError, match="Unknown run field 'gama_u'.*Did you mean 'gamma_u'"):
        Cell.of("quadratic", KNOBS, {"gama_u": 0.1})
