"""Fixtures and bookkeeping of the reliability tests (bad input, divergence, crashes, bits).

``tests/reference`` (the plain-NumPy reference) and this folder are put on ``sys.path`` so the
test modules can import ``naive_fl`` and ``reliability_helpers``. At the end of the session the
number of generated invalid inputs is printed (see ``reliability_helpers.INVALID_INPUTS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parent / "reference"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import reliability_helpers  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Report how many invalid inputs the property-based tests generated, per test."""
    counts = reliability_helpers.INVALID_INPUTS
    if counts:
        total = sum(counts.values())
        terminalreporter.write_line(
            f"reliability: {total} generated invalid inputs over {len(counts)} tests"
        )
    processes = sum(reliability_helpers.PROCESSES.values())
    if processes:
        terminalreporter.write_line(
            f"reliability: {processes} invalid command lines in fresh processes"
        )
