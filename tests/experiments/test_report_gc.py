"""reproduce freezes the objects that exist before its studies, and only when nobody else did."""

from __future__ import annotations

import gc

from partialfed.experiments import report


def test_reproduce_freezes_during_the_studies_and_unfreezes_after(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(report, "_reproduce", lambda *a: seen.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    report.reproduce(tmp_path)
    assert seen[0] > 0 and gc.get_freeze_count() == 0


def test_reproduce_leaves_a_callers_freezing_alone(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(report, "_reproduce", lambda *a: seen.append(gc.get_freeze_count()))
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        made_after = [object() for _ in range(3)]  # noqa: F841 - not frozen by the caller
        report.reproduce(tmp_path)
        assert seen == [before] and gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
