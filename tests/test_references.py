"""Citations point into the repository: no file cites the project's private notes (the shared
reference notes, or the design contract ``DESIGN.md`` that lives outside the repository), and
every ``docs/references.md#anchor`` and ``docs/architecture.md#anchor`` cited anywhere names a
heading of that page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".txt", ".cfg", ".ini", ".rst", ".yml", ".yaml"}

# Paths outside the repository that code once cited. ``tests/reference/`` (the NumPy reference
# implementations) is a folder of this repository and stays allowed.
FORBIDDEN = re.compile(
    r"\.\./shared"
    r"|shared/reference"
    r"|(?<![\w/])reference/(?:pillutla2022|peers)"
    r"|\bpillutla2022\.md\b"
    r"|\bpeers\.md\b"
)
# The design contract is private to the project's sessions; the repository cites
# docs/architecture.md instead (docs/design-notes.md is a file of the repository and is allowed).
PRIVATE_DESIGN = re.compile(r"(?<![\w-])DESIGN\.md\b", re.IGNORECASE)
# ``docs/references.md#x`` in code, ``references.md#x`` in links between the docs.
CITATION = re.compile(r"references\.md#([A-Za-z0-9_-]+)")
ARCH_CITATION = re.compile(r"architecture\.md#([A-Za-z0-9_-]+)")
# A relative Markdown link to a file, with an optional anchor: ``[text](design-notes.md#x)``.
RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+)(?:#[^)\s]*)?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def _repo_files() -> list[Path]:
    """Files git tracks plus untracked, not ignored ones (new files count before a commit)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        paths = [ROOT / p for p in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "venv", "node_modules", "build", "dist"}
        paths = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return sorted(p for p in paths if p.is_file() and p.suffix in SUFFIXES)


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule: lower case, drop
    punctuation other than ``-`` and ``_``, spaces to hyphens)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    out, fenced = set(), False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            out.add(slug(m.group(1)))
    return out


FILES = _repo_files()
THIS = Path(__file__).resolve()


def test_slug_follows_the_renderer_rule():
    assert slug("pillutla2022-a3") == "pillutla2022-a3"
    assert slug("How to cite: `Bound.source`") == "how-to-cite-boundsource"
    assert anchors("# A b\n```\n# not a heading\n```\n## c-d\n") == {"a-b", "c-d"}


def test_files_were_found():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert "docs/references.md" in names and "theory/pillutla2022.py" in names


def _lines_matching(pattern) -> list[str]:
    """``file:line: text`` of every line of the repository's files (this one aside) that matches."""
    bad = []
    for path in FILES:
        if path == THIS:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for no, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:90]}")
    return bad


def test_no_file_cites_paths_outside_the_repository():
    bad = _lines_matching(FORBIDDEN)
    assert not bad, "cite docs/references.md#<anchor> instead of:\n" + "\n".join(bad)


def test_forbidden_pattern_catches_the_old_forms_and_spares_tests_reference():
    for old in (
        "(reference/pillutla2022.md §4.3)",
        "``../shared/reference/peers.md``",
        "(peers.md §7.8a)",
        "shared/reference/pillutla2022.md",
    ):
        assert FORBIDDEN.search(old), old
    assert not FORBIDDEN.search("the NumPy reference in tests/reference/naive_fl.py")


def test_every_cited_anchor_is_a_heading():
    known = anchors(REFERENCES.read_text(encoding="utf-8"))
    missing = []
    for path in FILES:
        if path == THIS:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for no, line in enumerate(text.splitlines(), 1):
            for anchor in CITATION.findall(line):
                if anchor not in known:
                    missing.append(f"{path.relative_to(ROOT)}:{no}: #{anchor}")
    assert not missing, "no such heading in docs/references.md:\n" + "\n".join(missing)


def test_internal_links_of_references_md_resolve():
    text = REFERENCES.read_text(encoding="utf-8")
    known = anchors(text)
    links = re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text)
    assert links, "references.md should cross-link its items"
    assert sorted(set(links) - known) == []


def test_anchors_are_unique():
    text = REFERENCES.read_text(encoding="utf-8")
    seen, dup, fenced = set(), [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            s = slug(m.group(1))
            if s in seen:
                dup.append(s)
            seen.add(s)
    assert dup == []


@pytest.mark.parametrize("anchor", ["pillutla2022", "fallah2020", "collins2021", "provenance"])
def test_core_entries_exist(anchor):
    assert anchor in anchors(REFERENCES.read_text(encoding="utf-8"))


def _missing_anchors(pattern: re.Pattern, page: Path) -> list[str]:
    """``path:line: #anchor`` for every citation matching ``pattern`` that ``page`` lacks."""
    known = anchors(page.read_text(encoding="utf-8"))
    missing = []
    for path in FILES:
        if path == THIS:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for no, line in enumerate(text.splitlines(), 1):
            for anchor in pattern.findall(line):
                if anchor not in known:
                    missing.append(f"{path.relative_to(ROOT)}:{no}: #{anchor}")
    return missing


def test_no_file_mentions_the_private_design_contract():
    bad = _lines_matching(PRIVATE_DESIGN)
    assert not bad, "cite docs/architecture.md#<anchor> instead of:\n" + "\n".join(bad)


def test_design_pattern_catches_the_old_forms_and_spares_design_notes():
    for old in (
        "(see DESIGN.md, Semantics)",
        'A bound is *data* (``DESIGN.md``, "Bounds")',
        "# Design notes: where partialfed refines DESIGN.md, and why",
        "the contract in design.md",
    ):
        assert PRIVATE_DESIGN.search(old), old
    for fine in ("docs/design-notes.md", "[notes](design-notes.md#threads)", "MY_DESIGN.mdx"):
        assert not PRIVATE_DESIGN.search(fine), fine


def test_architecture_page_exists_with_its_sections():
    known = anchors(ARCHITECTURE.read_text(encoding="utf-8"))
    for anchor in (
        "layers-and-their-imports",
        "one-parameter-from-the-toml-file-to-the-kernel",
        "the-algorithms",
        "the-problem-contract",
        "names",
        "randomness-and-reproducibility",
        "the-kernel-cache",
        "file-names",
    ):
        assert anchor in known, anchor


def test_every_cited_architecture_anchor_is_a_heading():
    missing = _missing_anchors(ARCH_CITATION, ARCHITECTURE)
    assert not missing, "no such heading in docs/architecture.md:\n" + "\n".join(missing)


def test_architecture_citation_pattern_finds_code_and_doc_forms():
    line = "see docs/architecture.md#the-algorithms and [x](architecture.md#names)"
    assert ARCH_CITATION.findall(line) == ["the-algorithms", "names"]


def test_links_of_the_architecture_page_resolve():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    known = anchors(text)
    inner = re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text)
    assert inner, "architecture.md should cross-link its sections"
    assert sorted(set(inner) - known) == []
    files = RELATIVE_LINK.findall(text)
    assert files, "architecture.md should link the other docs"
    assert sorted(f for f in set(files) if not (ARCHITECTURE.parent / f).exists()) == []
