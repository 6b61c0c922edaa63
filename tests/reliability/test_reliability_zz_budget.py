"""The bad-input tests generate at least 10,000 invalid inputs (declared and counted).

This module's name sorts last in the folder, so when the whole folder runs, every counted test
has run before these checks.
"""

from __future__ import annotations

import pytest
import test_reliability_inputs_api  # noqa: F401 - registers budgets
import test_reliability_inputs_cli  # noqa: F401 - registers budgets
from reliability_helpers import BUDGETS, INVALID_INPUTS

MINIMUM = 10_000


def test_declared_budget_reaches_ten_thousand():
    """Sum of max_examples x batch size x parameter sets over the property-based tests."""
    assert sum(BUDGETS.values()) >= MINIMUM, BUDGETS


def test_generated_inputs_reach_ten_thousand():
    """Counted at run time (hypothesis may stop early when a space is exhausted)."""
    if not set(BUDGETS) <= set(INVALID_INPUTS):
        pytest.skip("run the whole tests/reliability folder to count every generated input")
    assert sum(INVALID_INPUTS.values()) >= MINIMUM, dict(INVALID_INPUTS)
