"""reproduce freezes the objects that exist before its studies, and only when nobody else did."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest

from partialfed.experiments import report


def test_reproduce_freezes_during_the_studies_and_unfreezes_after(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(report, "_reproduce", lambda *a: seen.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    report.reproduce(tmp_path)
    assert seen[0] > 0 and gc.get_freeze_count() == 0


def _fake_gc(frozen: int, calls: list):
    return SimpleNamespace(
        get_freeze_count=lambda: frozen,
        freeze=lambda: calls.append("freeze"),
        unfreeze=lambda: calls.append("unfreeze"),
    )


def test_reproduce_unfreezes_what_it_froze_even_when_a_study_fails(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(report, "gc", _fake_gc(0, calls))

    def failing(*args):
        calls.append("studies")
        raise RuntimeError("a study failed")

    monkeypatch.setattr(report, "_reproduce", failing)
    with pytest.raises(RuntimeError, match="a study failed"):
        report.reproduce(tmp_path)
    assert calls == ["freeze", "studies", "unfreeze"]


def test_reproduce_leaves_a_callers_freezing_alone(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(report, "gc", _fake_gc(724, calls))  # the caller froze objects
    monkeypatch.setattr(report, "_reproduce", lambda *a: calls.append("studies"))
    report.reproduce(tmp_path)
    assert calls == ["studies"]  # neither freezes what the caller made since nor unfreezes theirs
