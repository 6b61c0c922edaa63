"""Figure files named from a result folder's metadata stay inside the output folder.

A result file says its own family and knob names (its spec); a crafted one may name them
``../../x`` or ``/abs/dir/x``. ``plot`` turns every such name into a safe file stem and writes
only inside ``--out``; a figure is written atomically, so a full disk leaves no partial PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from partialfed.experiments import cli, plots, store


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _crafted(src: Path, dst: Path, family: str, knob: str, tag: str = "") -> Path:
    """The runs of ``src`` re-stored in ``dst`` with another family, the swept knob ``delta``
    renamed, and ``tag`` appended to the algorithm and to a string knob: valid files
    (``store.verify`` passes: each is named by its spec's hash)."""
    for path in sorted(src.glob("*.parquet")):
        result = store.read(path)
        spec = dict(result.spec, family=family)
        problem = dict(spec["problem"])
        problem[knob] = problem.pop("delta")
        if tag:
            problem["label"] = f"{problem[knob]}{tag}"  # swept: titles a column
            spec["run"] = dict(spec["run"], algorithm=spec["run"]["algorithm"] + tag)
        spec["problem"] = problem
        result.spec = spec
        store.write_bytes(dst, f"{store.spec_hash(spec)}.parquet", store.encode(result))
    assert len(store.completed(dst, quarantine=False)) == len(list(src.glob("*.parquet")))
    return dst


@pytest.mark.parametrize(
    ("family", "knob", "tag"),
    [
        ("../../escaped", "../../../knob", ""),
        ("ABS/escaped", "ABS/knob", ""),
        ("..", "..", ""),
        ("a/" * 200 + "x", "$\\frac{$" + "k" * 300, "$\\frac{$"),  # long, broken mathtext
    ],
)
def test_crafted_names_write_only_inside_out(tiny_results, tmp_path, family, knob, tag):
    outside = tmp_path / "outside"
    outside.mkdir()
    family, knob = (s.replace("ABS", str(outside)) for s in (family, knob))
    work = tmp_path / "a" / "b" / "c"
    crafted = _crafted(tiny_results, work / "res", family, knob, tag)
    out = work / "out"
    before = _files(tmp_path)
    written = plots.plot_directory(crafted, out, formats=("png",))
    assert len(written) == 2
    new = _files(tmp_path) - before
    assert new == set(written)
    assert all(p.parent == out and p.stat().st_size > 1000 for p in written)
    assert not any("/" in p.name or p.name.startswith(".") for p in written)


def test_the_cli_writes_only_inside_out(tiny_results, tmp_path, capsys):
    crafted = _crafted(tiny_results, tmp_path / "res", "../../../cli-escaped", "../../../k")
    before = _files(tmp_path)
    figs = tmp_path / "x" / "figs"
    assert cli.main(["plot", str(crafted), "--out", str(figs), "--json"]) == 0
    new = _files(tmp_path) - before
    assert len(new) == 4 and all(p.parent == figs for p in new), new


def test_file_stem_is_safe_and_distinct():
    assert plots.file_stem("quadratic") == "quadratic"
    stems = {plots.file_stem(n) for n in ("a:b", "a_b", "a/b", "a b", "../a_b", "a_b.")}
    assert len(stems) == 6 and "a_b" in stems
    for name in ("..", ".", "", "/", "-x", "x" * 500, "\udcff"):
        stem = plots.file_stem(name)
        assert stem not in (".", "..", "") and "/" not in stem and not stem.startswith((".", "-"))
        assert len(stem) <= plots.STEM_MAX + 9


def test_a_linked_default_plots_folder_is_refused(tiny_results, tmp_path):
    crafted = _crafted(tiny_results, tmp_path / "res", "quadratic", "delta")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", crafted / "plots")
    with pytest.raises(ValueError, match="'out'.*outside"):
        plots.plot_directory(crafted, formats=("png",))
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_linked_figure_file_is_not_followed(tiny_results, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, out / "quadratic-convergence.png")
    with pytest.raises(ValueError, match="outside the output folder"):
        plots.plot_directory(tiny_results, out, formats=("png",))
    assert victim.read_text() == "keep me"


def test_a_full_disk_leaves_the_previous_figures(tiny_results, tmp_path, full_disk):
    out = tmp_path / "out"
    before = {p: p.read_bytes() for p in plots.plot_directory(tiny_results, out, formats=("png",))}
    full_disk(out)
    with pytest.raises(OSError, match="No space"):
        plots.plot_directory(tiny_results, out, formats=("png",))
    assert {p: p.read_bytes() for p in out.iterdir()} == before
