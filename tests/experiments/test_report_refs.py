"""No dangling sources: every bound's source cites an entry of docs/references.md, the package's
copy of that page is identical to it, and the report's References section is built from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from partialfed import theory
from partialfed.experiments import report_refs

ROOT = Path(__file__).resolve().parents[2]
# A path of the repository named in a source: docs/theory.md, theory/classic.py, ...
REPO_PATH = re.compile(r"\b((?:docs|theory|experiments)/[A-Za-z0-9_/.-]+\.(?:md|py))\b")


def test_the_package_copy_is_docs_references_md():
    shipped = ROOT / "experiments" / "report_assets" / "references.md"
    assert shipped.read_bytes() == (ROOT / "docs" / "references.md").read_bytes(), (
        "copy docs/references.md to experiments/report_assets/references.md"
    )


def test_entries_are_the_headings_with_their_text():
    found = report_refs.entries("# A\nintro\n## b-c\nbody `x`\n```\n# not a heading\n```\n")
    assert list(found) == ["a", "b-c"]
    assert found["b-c"].level == 2 and "# not a heading" in found["b-c"].body


@pytest.mark.parametrize("name", sorted(theory.BOUNDS))
def test_every_bound_source_cites_an_entry_that_exists(name):
    source = theory.BOUNDS[name].source
    cited = report_refs.citations(source)
    assert cited, f"{name}: its source cites no docs/references.md entry: {source!r}"
    assert report_refs.missing(source) == [], f"{name}: {source!r}"
    for path in REPO_PATH.findall(source):
        assert (ROOT / path).is_file(), f"{name} cites {path}, which is not in the repository"


# Built in pieces, so that tests/test_references.py does not read them as citations.
REFS = "docs/references" + ".md#"


def test_a_dangling_citation_is_found_and_refused():
    text = f"see {REFS}no-such-entry and docs/derivations/nowhere.md"
    assert report_refs.missing(text) == ["no-such-entry", "derivation-nowhere"]
    with pytest.raises(KeyError, match="no-such-entry"):
        report_refs.references([text])


def test_links_point_into_the_report_and_skip_code():
    md = report_refs.link(f"a {REFS}ghadimi2013 and `{REFS}x`")
    assert md == f"a [{REFS}ghadimi2013](#ref-ghadimi2013) and `{REFS}x`"


def test_referenced_entries_link_only_to_entries_in_the_report():
    refs = report_refs.references(["docs/references.md#pillutla2022-theorem-main"])
    ids = {r["id"] for r in refs}
    assert {"ref-pillutla2022-theorem-main", "ref-pillutla2022"} <= ids
    for r in refs:
        for target in re.findall(r"\]\(([^)]*)\)", r["body"]):
            assert target.startswith("#") and target[1:] in ids, (r["anchor"], target)
