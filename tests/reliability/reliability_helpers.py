"""Shared helpers of the reliability tests: tiny problems, error checks, an input counter."""

from __future__ import annotations

import collections
import re

from hypothesis import HealthCheck
from hypothesis import strategies as st

from partialfed import synthetic

#: Generated invalid inputs per test (name -> count), filled while the tests run.
INVALID_INPUTS: collections.Counter = collections.Counter()

#: Command lines run in fresh processes per test (test_reliability_inputs_process.py).
PROCESSES: collections.Counter = collections.Counter()

#: Declared budgets (test name -> invalid inputs it generates: examples x batch x parameter
#: sets); their sum must reach 10,000 (checked in test_reliability_zz_budget.py).
BUDGETS: dict[str, int] = {}

#: Invalid inputs drawn per hypothesis example (hypothesis' per-example overhead dominates
#: the cost of one rejected call, so examples carry batches).
BATCH = 10

#: Libraries whose messages must never reach a user verbatim.
FOREIGN = ("numba", "sympy", "pandas", "llvmlite", "pyarrow")


def budget(name: str, examples: int, params: int = 1, per_example: int = BATCH) -> int:
    """Register the input budget of test ``name`` and return its ``max_examples``.

    Parameters
    ----------
    name : str
        The test function's name.
    examples : int
        Its ``max_examples`` (per parameter set).
    params : int
        Number of parameter sets (``pytest.mark.parametrize`` cases).
    per_example : int
        Invalid inputs checked per example (``BATCH`` for batched draws).

    Returns
    -------
    int
        ``examples``, for ``settings(max_examples=budget(...))``.
    """
    BUDGETS[name] = examples * params * per_example
    return examples


def batch(strategy: st.SearchStrategy, size: int = BATCH) -> st.SearchStrategy:
    """Lists of exactly ``size`` values of ``strategy`` (one hypothesis example, many inputs)."""
    return st.lists(strategy, min_size=size, max_size=size)


def count(name: str) -> None:
    """Count one generated invalid input of test ``name``."""
    INVALID_INPUTS[name] += 1


def tiny_knobs(family: str, **extra) -> dict:
    """Knobs of a tiny instance of ``family`` (n = 6, dimensions 3 and 2), only those it has.

    Parameters
    ----------
    family : str
        A key of ``synthetic.FAMILIES``.
    **extra
        Knobs to set on top (ignored when the family lacks them).
    """
    knobs = synthetic.knobs_of(family)
    want = {"n": 6, "seed": 1, "samples": 4}
    if "k" in knobs and "d" in knobs:
        want.update(d=3, k=2)
    else:
        want.update(d_u=3, d_v=2)
    want.update(extra)
    return {k: v for k, v in want.items() if k in knobs}


def tiny_problem(family: str, **extra):
    """``synthetic.make(family, **tiny_knobs(family, **extra))``."""
    return synthetic.make(family, **tiny_knobs(family, **extra))


def assert_one_line(exc: BaseException, *names: str) -> str:
    """Check that ``exc`` is a one-line, user-facing error naming every one of ``names``.

    Parameters
    ----------
    exc : BaseException
        The raised error.
    *names : str
        Parameter names that must appear in the message (quoted or bare).

    Returns
    -------
    str
        The message.
    """
    message = str(exc)
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {message}"
    assert message.strip(), f"empty message from {type(exc).__name__}"
    assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
    for name in names:
        assert names_parameter(message, name), f"{name!r} not named in {message!r}"
    return message


def names_parameter(message: str, name: str) -> bool:
    """Whether ``message`` names parameter ``name``: quoted (``'m'``), as ``section.name``,
    as ``name=`` or, for names of three or more characters, as a whole word."""
    if not isinstance(name, str):
        return repr(name) in message
    quoted = (f"'{name}'", f'"{name}"', repr(name), f"{name}=")
    if any(q in message for q in quoted):
        return True
    if re.search(rf"\.{re.escape(name)}(?![A-Za-z0-9_])", message):
        return True
    word = rf"(?<![A-Za-z0-9_?]){re.escape(name)}(?![A-Za-z0-9_?])"
    return len(name) >= 3 and re.search(word, message) is not None


def assert_allowed_named(message: str) -> None:
    """Check that a message says what is allowed (an interval, a list or a rule)."""
    markers = ("must", "allowed", "expect", "needs", "one of", "Did you mean", "twice")
    assert any(m in message for m in markers), f"no allowed values in {message!r}"


def assert_cli_usage_error(rc: int, err: str, *names: str) -> str:
    """Check a CLI failure: exit status 2, one line on stderr, no traceback or foreign text.

    Parameters
    ----------
    rc : int
        Exit status returned by ``experiments.cli.main``.
    err : str
        Captured stderr.
    *names : str
        Strings that must appear in the line (the offending key, option or file).

    Returns
    -------
    str
        The line.
    """
    assert rc == 2, f"exit status {rc}, stderr {err!r}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    line = lines[0]
    assert line.startswith("partialfed"), line
    for name in names:
        assert names_parameter(line, name), f"{name!r} not named in {line!r}"
    return line


#: Hypothesis settings of the CLI suites (they take pytest fixtures such as ``capsys``).
CLI_SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
