"""Fixtures of the experiments tests: a tiny configuration and its results, computed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from partialfed.experiments import config, sweep

HERE = Path(__file__).parent
TINY = HERE / "tiny.toml"


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    """The tiny configuration: 2 deltas x 2 algorithms x 2 seeds, 20 rounds, n = 8."""
    return TINY


@pytest.fixture(scope="session")
def tiny_sweep():
    return config.load(TINY)


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory, tiny_sweep) -> Path:
    """A result folder holding the tiny sweep (computed serially, once per session)."""
    out = tmp_path_factory.mktemp("tiny-results")
    report = sweep.run_sweep(tiny_sweep, out, scheduler="serial", progress=False)
    assert report.computed == len(tiny_sweep) == 8
    return out
