"""Fixtures of the synthetic tests; the shared problems live in ``family_cases``."""

from __future__ import annotations

import pytest
from family_cases import get


@pytest.fixture(scope="session")
def problem_of():
    return get
