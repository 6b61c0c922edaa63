"""The notebooks' slider helper (notebooks/_sliders.py): static fallback and input checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "notebooks" / "_sliders.py"


@pytest.fixture()
def sliders(monkeypatch):
    spec = importlib.util.spec_from_file_location("_sliders", PATH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "_sliders", module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_static_mode_draws_the_defaults_once(sliders, monkeypatch):
    monkeypatch.setenv("PARTIALFED_NOTEBOOK_STATIC", "1")
    calls = []
    out = sliders.show(
        lambda delta, m: calls.append((delta, m)) or "drawn",
        delta=sliders.Choice((0.0, 1.0, 3.0), 1.0),
        m=sliders.Choice((2, 5), 5, "m"),
    )
    assert not sliders.interactive()
    assert calls == [(1.0, 5)] and out == "drawn"


def test_without_ipywidgets_falls_back(sliders, monkeypatch):
    monkeypatch.delenv("PARTIALFED_NOTEBOOK_STATIC", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        sliders.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    assert not sliders.interactive()
    calls = []
    sliders.show(lambda x: calls.append(x), x=sliders.Choice((1, 2), 2))
    assert calls == [2]


def test_static_zero_means_interactive_when_ipywidgets_is_there(sliders, monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("PARTIALFED_NOTEBOOK_STATIC", "0")
    assert sliders.interactive()
    calls = []
    sliders.show(lambda x: calls.append(x), x=sliders.Choice((1, 2), 2, "x"))
    assert calls == [2]  # interact draws the default value once


def test_choice_default_must_be_a_value(sliders):
    with pytest.raises(ValueError, match="'default' parameter of Choice must be one of"):
        sliders.Choice((1, 2), 3)
