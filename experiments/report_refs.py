"""Citations of the report: every source resolves to an entry of ``docs/references.md``.

The package carries a copy of ``docs/references.md`` (``experiments/report_assets/``; a test
keeps the two identical). A citation is ``docs/references.md#<anchor>`` (an entry, by its
heading) or ``docs/derivations/<file>.md`` (a proof of this project, whose entry is
``derivation-<file>``, underscores as hyphens). :func:`citations` finds them in a text,
:func:`link` turns them into links to the report's References section, and :func:`references`
gives the entries a report cites, with their text.

Examples
--------
>>> citations("eq. (7) of docs/derivations/fedalt_tau1_full.md; docs/references.md#ghadimi2013")
['derivation-fedalt-tau1-full', 'ghadimi2013']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["Entry", "citations", "entries", "link", "missing", "reference_id", "references"]

_CITE = re.compile(r"(?:docs/)?references\.md#([A-Za-z0-9_-]+)")
_PROOF = re.compile(r"docs/derivations/([A-Za-z0-9_]+)\.md")
_ANY = re.compile(f"{_CITE.pattern}|{_PROOF.pattern}")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Entry:
    """One heading of ``references.md``: its anchor, level (1-6) and the text below it, up
    to the next heading."""

    anchor: str
    level: int
    body: str


def _slug(heading: str) -> str:
    # the renderer's rule (tests/test_references.py): lower case, no punctuation but - and _
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def reference_id(anchor: str) -> str:
    """The id of an entry in the report (``ref-<anchor>``)."""
    return f"ref-{anchor}"


def _proof_anchor(stem: str) -> str:
    return "derivation-" + stem.replace("_", "-")


@lru_cache(maxsize=1)
def _text() -> str:
    root = resources.files("partialfed.experiments") / "report_assets" / "references.md"
    return root.read_text(encoding="utf-8")


def entries(text: str | None = None) -> dict[str, Entry]:
    """Every heading of ``references.md`` (the package's copy unless ``text`` is given)."""
    text = _text() if text is None else text
    out: dict[str, Entry] = {}
    current, level, body, fenced = None, 0, [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            if current is not None:
                out[current] = Entry(current, level, _strip(body))
            current, level, body = _slug(m.group(2)), len(m.group(1)), []
        elif current is not None:
            body.append(line)
    if current is not None:
        out[current] = Entry(current, level, _strip(body))
    return out


def _strip(lines: list) -> str:
    """The text of an entry without the rule (``---``) that closes a part of the page."""
    text = "\n".join(lines).strip()
    while text.endswith("---"):
        text = text[:-3].rstrip()
    return text


def citations(text: str) -> list[str]:
    """The anchors ``text`` cites, in order, each once (proofs as ``derivation-<file>``)."""
    found = []
    for m in _ANY.finditer(text):
        anchor = m.group(1) or _proof_anchor(m.group(2))
        if anchor not in found:
            found.append(anchor)
    return found


def missing(text: str, known: dict | None = None) -> list[str]:
    """The anchors ``text`` cites that ``references.md`` lacks."""
    known = entries() if known is None else known
    return [a for a in citations(text) if a not in known]


def link(text: str) -> str:
    """``text`` (inline Markdown) with each citation outside code spans a link to its entry
    in the report."""

    def one(m: re.Match) -> str:
        anchor = m.group(1) or _proof_anchor(m.group(2))
        return f"[{m.group(0)}](#{reference_id(anchor)})"

    parts = text.split("`")
    return "`".join(p if k % 2 else _ANY.sub(one, p) for k, p in enumerate(parts))


_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")


def _cited_by(body: str, known: dict) -> list[str]:
    inner = [m.group(2)[1:] for m in _LINK.finditer(body) if m.group(2).startswith("#")]
    return [a for a in citations(body) + inner if a in known]


def _body(body: str, included: set) -> str:
    """An entry's text for the report: its links to other entries point into the report,
    links to files outside it become plain text, citations become links."""

    def one(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if target.startswith("#") and target[1:] in included:
            return f"[{label}](#{reference_id(target[1:])})"
        return label

    return link(_LINK.sub(one, body))


def references(texts) -> list[dict]:
    """The entries the ``texts`` cite, the paper each belongs to (``pillutla2022`` for
    ``pillutla2022-a3``) and the entries their own text cites or links, in order of first
    citation: ``id``, ``anchor``, ``level`` and the Markdown ``body``, whose links point
    into the report.

    Raises
    ------
    KeyError
        When a text cites an anchor that ``references.md`` lacks (a dangling source).
    """
    known = entries()
    order: list[str] = []
    for text in texts:
        for anchor in citations(text):
            if anchor not in known:
                raise KeyError(f"The report cites docs/references.md#{anchor}, which has no entry.")
            if anchor not in order:
                order.append(anchor)
    k = 0
    while k < len(order):  # each paper's own entry, and what the cited entries cite
        paper = order[k].split("-")[0]
        more = ([paper] if paper in known else []) + _cited_by(known[order[k]].body, known)
        order += [a for a in dict.fromkeys(more) if a not in order]
        k += 1
    included = set(order)
    return [
        {
            "id": reference_id(a),
            "anchor": a,
            "level": known[a].level,
            "body": _body(known[a].body, included) or "(a heading only)",
        }
        for a in order
    ]
