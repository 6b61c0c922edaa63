"""The pieces of the report's view model: sections of blocks that both templates render.

The report (``experiments.report_view``) is a list of sections; a section is a title, an id
and a list of blocks; a block is one of :func:`text`, :func:`bullets`, :func:`table`,
:func:`figure` or :func:`heading`. Text is inline Markdown (backticks, ``**bold**``,
``*italic*``, ``[links](#id)``): ``report.md.j2`` writes it as it is, ``report.html.j2``
renders it with raw HTML disabled, so a value cannot inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bullets", "figure", "heading", "section", "table", "text"]


def text(md: str) -> dict:
    """A paragraph."""
    return {"kind": "text", "md": md}


def bullets(entries: Sequence[str]) -> dict:
    """A bulleted list."""
    return {"kind": "list", "entries": list(entries)}


def table(header: Sequence[str], rows: Sequence[Sequence[str]], ids=None, name: str = "") -> dict:
    """A table: ``header`` and ``rows`` of inline Markdown; ``ids`` (one per row, or ``None``)
    are the rows' anchors; ``name`` says what the table is (counted by the browser test)."""
    rows = [list(map(str, r)) for r in rows]
    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"Every row of table {name!r} needs {len(header)} cells.")
    return {
        "kind": "table",
        "name": name,
        "header": list(header),
        "rows": rows,
        "ids": list(ids) if ids is not None else [None] * len(rows),
    }


def figure(key: str) -> dict:
    """The figure ``key`` of the report (``strict``, ``exponents``, ...)."""
    return {"kind": "figure", "key": key}


def heading(title: str, id: str, level: int = 3) -> dict:
    """A sub-heading with an anchor."""
    return {"kind": "heading", "title": title, "id": id, "level": level}


def section(id: str, title: str, blocks: Sequence[dict]) -> dict:
    """A section (``##``) with its anchor."""
    return {"id": id, "title": title, "blocks": list(blocks)}
