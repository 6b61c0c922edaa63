"""The one validator (``partialfed._constraints``): its message form, types and suggestions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from partialfed import simulators, synthetic
from partialfed._constraints import (
    Array,
    Interval,
    Options,
    check_names,
    validate,
    validate_args,
    validate_params,
)

FORM = re.compile(r"^The '[^']+' parameter of .+ must be .+\. Got .+\.( Did you mean '[^']+'\?)?$")


def _message(exc_type, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        validate(*args, **kwargs)
    message = str(info.value)
    assert FORM.match(message), message
    return message


@pytest.mark.parametrize(
    ("value", "constraint", "exc", "text"),
    [
        (0, Interval(int, 1, 20), ValueError, "must be an int in [1, 20]. Got 0."),
        (2.0, Interval(int, 1, 20), TypeError, "must be an int in [1, 20]. Got 2.0."),
        (True, Interval(int, 0, None), TypeError, "must be an int in [0, inf). Got True."),
        (1.0, Interval(float, 0, 1, closed="left"), ValueError, "number in [0, 1). Got 1.0."),
        (0.0, Interval(float, 0, None, closed="neither"), ValueError, "in (0, inf). Got 0.0."),
        (math.nan, Interval(float, None, None), ValueError, "in (-inf, inf). Got nan."),
        (10**400, Interval(float, 0, 1), ValueError, "must be a finite real number in [0, 1]."),
        ("x", Interval(float, 0, 1), TypeError, "Got 'x'."),
        ("fedalf", Options(str, ["fedalt", "fedsim"]), ValueError, "Did you mean 'fedalt'?"),
        (3, Options(str, ["fedalt"]), ValueError, "must be one of 'fedalt'. Got 3."),
        (np.zeros(2), Array((3,)), ValueError, "float array of shape 3. Got shape 2."),
        (np.ones(3, bool), Array((3,)), ValueError, "Got an array of dtype bool."),
        ([1.0, np.inf], Array((2,)), ValueError, "Got NaN or inf entries."),
        ([], Array(), ValueError, "Got an empty array."),
        (
            np.array([1.0, -2.0]),
            Array(within=Interval(float, 0, None)),
            ValueError,
            "non-empty array of them in [0, inf). Got -2.0.",
        ),
    ],
)
def test_one_message_form(value, constraint, exc, text):
    message = _message(exc, value, "p", "owner", constraint)
    assert message.startswith("The 'p' parameter of owner must be ")
    assert text in message, message


def test_several_constraints_any_one_suffices():
    assert validate(None, "k", "f", Interval(int, 1, 5), None) is None
    assert validate(np.int64(3), "k", "f", Interval(int, 1, 5), None) == 3
    message = _message(ValueError, 9, "k", "f", Interval(int, 1, 5), None)
    assert "must be an int in [1, 5] or None. Got 9." in message
    _message(TypeError, "a", "k", "f", Interval(int, 1, 5), None)


def test_converted_values():
    assert type(validate(np.int32(4), "n", "f", Interval(int, 1, None))) is int
    assert type(validate(np.float32(0.5), "x", "f", Interval(float, 0, 1))) is float
    arr = validate([[1, 2]], "V", "f", Array((1, 2)))
    assert arr.dtype == np.float64 and arr.flags.c_contiguous


def test_bounds_name_earlier_parameters_or_compute_them():
    cons = {
        "T": [Interval(int, 1, 100)],
        "eval_every": [Interval(int, 1, "T")],
        "d": [Interval(int, 1, 10)],
        "V": [Array(("T", "d"))],
        "x": [Interval(float, 0, lambda p: p["T"] / 2)],
    }
    ok = validate_params(
        {"T": 4, "eval_every": 4, "d": 1, "V": np.zeros((4, 1)), "x": 2}, cons, "f"
    )
    assert ok["x"] == 2.0 and isinstance(ok["x"], float)
    with pytest.raises(
        ValueError, match=re.escape("'eval_every' parameter of f must be an int in [1, 4]. Got 5.")
    ):
        validate_params({"T": 4, "eval_every": 5}, cons, "f")
    with pytest.raises(ValueError, match=re.escape("of shape 4x1. Got shape 1x4.")):
        validate_params({"T": 4, "d": 1, "V": np.zeros((1, 4))}, cons, "f")
    with pytest.raises(ValueError, match=re.escape("in [0, 2]. Got 2.5.")):
        validate_params({"T": 4, "x": 2.5}, cons, "f")


def test_unknown_names_get_one_suggestion():
    with pytest.raises(ValueError) as info:
        check_names(["n", "detla"], ["n", "delta", "d_u"], "quadratic", noun="knob")
    assert str(info.value) == (
        "Unknown knob 'detla' of quadratic; allowed: n, delta, d_u. Did you mean 'delta'?"
    )
    with pytest.raises(ValueError) as info:
        check_names(["zzz"], ["n", "delta"], "quadratic")
    assert "Did you mean" not in str(info.value)
    check_names(["n"], ["n"], "quadratic")


def test_decorated_function_gets_checked_values():
    @validate_args({"n": [Interval(int, 1, 5)], "x": [Interval(float, 0, 1)]}, "g")
    def g(*, n=2, x=0.5):
        return n, x

    assert g(n=np.int64(3)) == (3, 0.5) and type(g(n=np.int64(3))[0]) is int
    assert list(g._parameter_constraints) == ["n", "x"]
    with pytest.raises(ValueError, match=re.escape("The 'x' parameter of g must be")):
        g(x=2)


def test_public_entry_points_declare_their_constraints():
    """Every family factory and RunConfig declare a constraint for each of their parameters."""
    for name, factory in synthetic.FAMILIES.items():
        assert set(factory._parameter_constraints) == set(synthetic.knobs_of(name)), name
    fields = set(simulators.RunConfig.__dataclass_fields__)
    assert set(simulators.RunConfig._parameter_constraints) == fields
