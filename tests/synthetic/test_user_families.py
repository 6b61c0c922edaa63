"""A user's objective as a family: registered by name or named by 'module:function'.

``userobj_example`` (beside this file, hence importable here) holds a factory ``make`` built on
``synthetic.custom``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import userobj_example

from partialfed import synthetic

_registry = synthetic._registry
REF = "userobj_example:make"


@pytest.fixture
def clean_registry(monkeypatch):
    """Registrations and PARTIALFED_FAMILIES made by a test do not outlive it."""
    monkeypatch.setattr(_registry, "_REGISTERED", {})
    monkeypatch.setenv(_registry.ENV_VAR, "")  # recorded, so restored (removed) afterwards
    monkeypatch.delenv(_registry.ENV_VAR)


def test_import_reference_builds_the_users_problem():
    knobs = synthetic.knobs_of(REF)
    assert knobs == {"n": 6, "d_u": 3, "d_v": 2, "scale": 1.0, "seed": 0}
    p = synthetic.make(REF, n=5, scale=2.0, seed=3)
    assert isinstance(p, synthetic.Problem) and (p.n, p.d_u, p.d_v) == (5, 3, 2)
    c = 2.0 * np.random.default_rng(3).standard_normal((5, 3))
    np.testing.assert_array_equal(p.data[0], c)
    # Hessian [[I + P, -E], [-E^T, I]]: the estimates reach L_u = 2, L_v = 1 (lower bounds).
    assert 1.5 < p.constants.L_u <= 2.0 + 1e-6 and p.constants.L_v == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Unknown knob 'scal' .* Did you mean 'scale'"):
        synthetic.make(REF, scal=1.0)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("userobj_exampl:make", "cannot import module 'userobj_exampl'"),
        ("userobj_example:mak", "has no attribute 'mak'"),
        ("userobj_example:ESTIMATE", "is a dict, not a callable"),
        ("quadratik", "Did you mean 'quadratic'"),
        ("my.mod:", ""),
        (3, ""),
    ],
)
def test_a_bad_family_is_one_line_naming_the_parameter_and_what_is_allowed(name, reason):
    for call in (synthetic.make, synthetic.knobs_of):
        with pytest.raises(ValueError) as info:
            call(name)
        message = str(info.value)
        assert "\n" not in message and message.startswith("The 'name' parameter of")
        assert "a registered family ('quadratic', 'separable'" in message
        assert "'module:function'" in message and reason in message


def test_register_then_make_and_list(clean_registry):
    assert "toy" not in synthetic.family_names()
    synthetic.register("toy", userobj_example.make)
    assert synthetic.family_names()[: len(synthetic.FAMILIES)] == tuple(synthetic.FAMILIES)
    assert "toy" in synthetic.family_names() and "toy" not in synthetic.FAMILIES
    assert synthetic.knobs_of("toy") == synthetic.knobs_of(REF)
    assert synthetic.make("toy", n=4).n == 4
    # Importable by name, so exported to worker processes started from now on.
    assert os.environ[_registry.ENV_VAR] == f"toy={REF}"
    synthetic.unregister("toy")
    assert "toy" not in synthetic.family_names() and _registry.ENV_VAR not in os.environ
    with pytest.raises(ValueError, match="'name' parameter .*Got 'toy'"):
        synthetic.make("toy")


def test_an_exported_name_resolves_by_import_as_in_a_fresh_worker(clean_registry, monkeypatch):
    monkeypatch.setenv(_registry.ENV_VAR, f"bad name=x:y,toy2={REF}")
    assert "toy2" in synthetic.family_names() and "bad name" not in synthetic.family_names()
    assert synthetic.make("toy2", n=3).n == 3


def test_a_factory_not_importable_by_name_is_registered_here_only(clean_registry):
    def local_factory(n: int = 4):
        return userobj_example.make(n=n)

    synthetic.register("local-toy", local_factory)
    assert synthetic.make("local-toy").n == 4
    assert _registry.ENV_VAR not in os.environ


def _no_default(n):
    return userobj_example.make(n=n)


def _star(*knobs):
    return userobj_example.make()


def _array_default(c=np.zeros(2)):  # noqa: B008 - the point of the test
    return userobj_example.make()


@pytest.mark.parametrize(
    ("name", "factory", "exc", "words"),
    [
        ("quadratic", userobj_example.make, ValueError, ["'name'", "built-in", "'quadratic'"]),
        ("a:b", userobj_example.make, ValueError, ["'name'", "letters, digits", "needs no"]),
        ("", userobj_example.make, ValueError, ["'name'"]),
        (1, userobj_example.make, TypeError, ["'name'", "Got 1"]),
        ("toy", 3, TypeError, ["'factory'", "callable", "Got int"]),
        ("toy", _no_default, ValueError, ["'factory'", "'n' has no default"]),
        ("toy", _star, ValueError, ["'factory'", "'knobs' is not a keyword knob"]),
        ("toy", _array_default, ValueError, ["'factory'", "'c' is a ndarray"]),
    ],
)
def test_register_refuses_with_one_line(clean_registry, name, factory, exc, words):
    with pytest.raises(exc) as info:
        synthetic.register(name, factory)
    message = str(info.value)
    assert "\n" not in message and "synthetic.register" in message
    for word in words:
        assert word in message
    assert synthetic.family_names() == tuple(synthetic.FAMILIES)


def test_unregister_refuses_an_unknown_name(clean_registry):
    with pytest.raises(ValueError, match="'name' parameter .*registered: none"):
        synthetic.unregister("quadratic")


def test_a_factory_must_return_a_problem(clean_registry):
    synthetic.register("not-a-problem", lambda n=1: n)
    with pytest.raises(TypeError, match="factory of family 'not-a-problem' must return"):
        synthetic.make("not-a-problem")


# -- progress --------------------------------------------------------------------------------------
def _custom(**kw):
    m = userobj_example
    c = np.random.default_rng(0).standard_normal((6, 3))
    return synthetic.custom("toy", 6, 3, 2, m.loss, m.grad_u, m.grad_v, data=(c,), **kw)


def test_custom_shows_its_stages_on_stderr_when_asked(capsys):
    _custom(estimate=userobj_example.ESTIMATE, progress=True)
    err = capsys.readouterr().err
    for stage in ("checking loss and gradients", "compiling kernels", "gradient descent"):
        assert f"custom problem 'toy': {stage}" in err
    assert "(stage 7 of 7)" in err
    _custom(estimate=userobj_example.ESTIMATE, progress=False)
    _custom(estimate=userobj_example.ESTIMATE)  # default: stderr is not a terminal here
    assert capsys.readouterr().err == ""
    given = userobj_example.make().constants
    _custom(constants=given, progress=True)
    err = capsys.readouterr().err
    assert "(stage 1 of 1)" in err and "compiling kernels" not in err


def test_estimate_constants_shows_its_stages_when_asked(capsys, problem_of):
    p = problem_of("quadratic")
    quiet = synthetic.estimate_constants(p, n_pairs=8, descent_steps=5, progress=False)
    assert capsys.readouterr().err == ""
    loud = synthetic.estimate_constants(p, n_pairs=8, descent_steps=5, progress=True)
    assert "estimate_constants: minibatch variance (stage 4 of 6)" in capsys.readouterr().err
    assert loud == quiet  # progress changes nothing else


def test_progress_and_estimate_arguments_are_checked():
    with pytest.raises(TypeError, match="'progress' parameter of synthetic.custom"):
        _custom(progress="yes")
    with pytest.raises(ValueError, match="'estimate' parameter .* 'n_pair'.* Did you mean"):
        _custom(estimate={"n_pair": 8})


# -- the example of docs/families.md -----------------------------------------------------------
def test_the_docs_example_of_a_user_family_runs(clean_registry, tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[2] / "docs" / "families.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    functions = next(b for b in blocks if "def grad_v" in b).split("\nc = ")[0]
    factory = next(b for b in blocks if "def make" in b)
    (tmp_path / "myobjectives.py").write_text(functions + "\n\n" + factory)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = synthetic.make("myobjectives:make", n=4, scale=0.5)
    assert (p.n, p.d_u, p.d_v) == (4, 3, 2) and p.constants.kind["L_u"] == "estimate"
    import myobjectives

    synthetic.register("toy", myobjectives.make)
    assert synthetic.knobs_of("toy") == {"n": 6, "d_u": 3, "d_v": 2, "scale": 1.0, "seed": 0}
    assert os.environ[_registry.ENV_VAR] == "toy=myobjectives:make"
