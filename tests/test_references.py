"""Citations point into the repository: no file cites the project's private notes, and every
``docs/references.md#anchor`` cited anywhere names a heading of docs/references.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
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
# ``docs/references.md#x`` in code, ``references.md#x`` in links between the docs.
CITATION = re.compile(r"references\.md#([A-Za-z0-9_-]+)")
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


def test_no_file_cites_paths_outside_the_repository():
    bad = []
    for path in FILES:
        if path == THIS:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for no, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:90]}")
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
