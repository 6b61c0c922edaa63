"""The bad-input tests generate at least 10,000 invalid inputs (declared and counted), and at
least 3,000 invalid command lines in fresh processes.

This module's name sorts last in the folder, so when the whole folder runs, every counted test
has run before these checks.
"""

from __future__ import annotations

import pytest
import test_reliability_inputs_api  # noqa: F401 - registers budgets
import test_reliability_inputs_cli  # noqa: F401 - registers budgets
import test_reliability_inputs_set  # noqa: F401 - registers budgets
from reliability_helpers import BUDGETS, INVALID_INPUTS, PROCESSES
from test_reliability_inputs_process import PROCESS_RUNS

MINIMUM = 10_000
PROCESS_MINIMUM = 3_000


def test_declared_budget_reaches_ten_thousand():
    """Sum of max_examples x batch size x parameter sets over the property-based tests."""
    assert sum(BUDGETS.values()) >= MINIMUM, BUDGETS


def test_generated_inputs_reach_ten_thousand():
    """Counted at run time (hypothesis may stop early when a space is exhausted)."""
    missing = sorted(set(BUDGETS) - set(INVALID_INPUTS))
    if missing:
        pytest.skip(
            "run the whole tests/reliability folder to count every generated input: "
            f"{missing} did not run here"
        )
    assert sum(INVALID_INPUTS.values()) >= MINIMUM, dict(INVALID_INPUTS)


def test_declared_process_budget_reaches_three_thousand():
    assert PROCESS_RUNS >= PROCESS_MINIMUM


def test_processes_run_reach_three_thousand():
    """Counted at run time: each generated command line ran in its own interpreter."""
    if not PROCESSES:
        pytest.skip("run the whole tests/reliability folder to count the processes")
    assert sum(PROCESSES.values()) >= PROCESS_MINIMUM, dict(PROCESSES)
