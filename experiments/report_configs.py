"""The runs of each study of ``partialfed reproduce`` as configurations ``partialfed run`` reads.

A configuration (``experiments.config``, ``docs/configs.md``) is a Cartesian grid, so the runs
of one study become one file when they form a grid and several otherwise (an exponent study
whose step follows the swept variable is one file per value). :func:`grids` groups cells that
differ only in their seed, then merges groups that differ in one key into a list axis, until
nothing merges; every grid expands to exactly its cells (same ``Cell.hash``).
:func:`write_configs` writes the files of every study to ``out/configs/`` and returns, per
study, their paths relative to ``out``.

Examples
--------
>>> toml_value([0.5, 1e-05, 3, True, "top"])
'[0.5, 1e-05, 3, true, "top"]'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from partialfed.experiments._atomic import write_text
from partialfed.experiments.steps import STEP_FIELDS

__all__ = [
    "ConfigFiles",
    "NOT_A_CONFIG",
    "grids",
    "slug",
    "toml_text",
    "toml_value",
    "write_configs",
]

#: Studies that cannot be written as a configuration, with the reason and their definition.
NOT_A_CONFIG = {
    "search": (
        "The worst-case search is adaptive (each instance it tries depends on the scores of "
        "those before it) and runs in this process, so no fixed grid describes it; it is defined "
        "by `_search` in `experiments/studies.py` and `worst_case_search` in "
        "`experiments/regime_search.py`."
    ),
}


def toml_value(value) -> str:
    """A scalar or list of scalars as a TOML value (floats by ``repr``: they read back equal).

    Raises
    ------
    ValueError
        For a non-finite float or a value that is not a bool, int, float, str or list of them.
    """
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"A configuration value must be finite. Got {value!r}.")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    raise ValueError(
        "A configuration value must be a bool, int, float, str or a list of them. "
        f"Got {type(value).__name__}."
    )


def toml_text(config: Mapping, comment: str = "") -> str:
    """The TOML file of ``config`` (top-level keys, then ``[problem]`` and ``[run]``)."""
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    for key, value in config.items():
        if key not in ("problem", "run"):
            lines.append(f"{key} = {toml_value(value)}")
    for section in ("problem", "run"):
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in config.get(section, {}).items()]
    return "\n".join(lines) + "\n"


def _group_key(cell) -> tuple:
    run = {k: v for k, v in cell.run.as_dict().items() if k != "seed"}
    knobs = tuple((k, v) for k, v in cell.knobs if v is not None)
    return (cell.family, cell.init_seed, knobs, tuple(run.items()))


def _frozen(group: dict) -> tuple:
    return tuple(
        (k, tuple(v) if isinstance(v, list) else v)
        for k, v in sorted(group.items(), key=lambda kv: kv[0])
    )


def grids(cells: Iterable) -> list[dict]:
    """The fewest configurations found by merging, as dicts of ``family``, ``init_seed``
    (when set), ``seeds`` and the ``problem`` and ``run`` tables, whose union of expanded cells
    is ``cells`` (duplicates removed)."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        seeds = groups.setdefault(_group_key(cell), [])
        if cell.seed not in seeds:
            seeds.append(cell.seed)
    flat = []
    for (family, init_seed, knobs, run), seeds in groups.items():
        g = {"family": family, "init_seed": init_seed, "seeds": tuple(seeds)}
        g.update({f"problem.{k}": [v] for k, v in knobs})
        g.update({f"run.{k}": [v] for k, v in run})
        flat.append(g)
    axes = sorted({k for g in flat for k in g if k.startswith(("problem.", "run."))})
    merged = True
    while merged:
        merged = False
        for axis in axes:
            buckets: dict[tuple, list] = {}
            for g in flat:
                rest = {k: v for k, v in g.items() if k != axis}
                buckets.setdefault(_frozen(rest), []).append(g)
            flat = []
            for same in buckets.values():
                if len(same) > 1:
                    merged = True
                    values = [v for g in same for v in g.get(axis, [])]
                    same[0][axis] = list(dict.fromkeys(values))
                flat.append(same[0])
    return [_config(g) for g in flat]


def _config(g: dict) -> dict:
    out = {"family": g["family"], "seeds": list(g["seeds"])}
    if g["init_seed"] is not None:
        out["init_seed"] = g["init_seed"]
    for section in ("problem", "run"):
        out[section] = {
            k.split(".", 1)[1]: (v[0] if len(v) == 1 else v)
            for k, v in g.items()
            if k.startswith(f"{section}.")
        }
    return out


def slug(text: str, limit: int = 48) -> str:
    """A file-name form of ``text``: lower case, runs of other characters as one ``-``."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "study"


@dataclass(frozen=True)
class ConfigFiles:
    """The configuration files of one study: ``key`` (``strict-01``, ``regime``, ...), a title,
    ``files`` (paths relative to the report folder), the number of runs they hold and, for the
    mutation runs, the bounds on whose instances they ran."""

    key: str
    title: str
    files: tuple
    runs: int
    bounds: tuple = ()

    def as_dict(self) -> dict:
        out = {"title": self.title, "files": list(self.files), "runs": self.runs}
        return {**out, "bounds": list(self.bounds)} if self.bounds else out


def _write(out: Path, name: str, cells: Sequence, title: str, command: str) -> list[str]:
    configs = grids(cells)
    files = []
    for k, config in enumerate(configs, 1):
        stem = name if len(configs) == 1 else f"{name}-{k:02d}"
        config = {"name": stem, "description": title, **config}
        comment = (
            f"Runs of '{title}' in {command} ({len({c.hash for c in cells})} runs in "
            f"{len(configs)} file(s)).\n"
            f"Rerun them: partialfed run configs/{stem}.toml (from the report folder)."
        )
        write_text(out / "configs" / f"{stem}.toml", toml_text(config, comment))
        files.append(f"configs/{stem}.toml")
    return files


def _unseeded(cell) -> tuple:
    run = {k: v for k, v in cell.run.as_dict().items() if k != "seed"}
    return (cell.family, cell.knobs, tuple(run.items()))


def _unstepped(cell) -> tuple:
    run = {k: v for k, v in cell.run.as_dict().items() if k != "seed" and k not in STEP_FIELDS}
    return (cell.family, cell.knobs, tuple(run.items()))


def write_configs(rep, out: str | Path, ran: Mapping | None = None, command: str = "") -> dict:
    """Write the runs of every study of ``rep`` (a ``report.Report``) to ``out/configs/``
    (replacing the ``*.toml`` files a previous report left there).

    Parameters
    ----------
    rep : Report
    out : path
        The report folder.
    ran : mapping, optional
        Phase -> the cells its runner received (``report_meta.Clock.cells``): the exponent,
        mutation and regime runs. The strict runs are taken from the results themselves.
    command : str
        Named in each file's comment.

    Returns
    -------
    dict
        Study key -> :class:`ConfigFiles`.
    """
    out = Path(out)
    (out / "configs").mkdir(parents=True, exist_ok=True)
    for old in (out / "configs").glob("*.toml"):  # a previous report's files
        old.unlink()
    ran = dict(ran or {})
    found: dict[str, ConfigFiles] = {}

    def add(key, name, title, cells, bounds=()):
        if cells:
            files = _write(out, name, cells, title, command)
            runs = len({c.hash for c in cells})  # a study may submit a cell twice
            found[key] = ConfigFiles(key, title, tuple(files), runs, tuple(bounds))

    for i, r in enumerate(rep.strict, 1):
        title = f"strict check of {r.check.bound}: {r.check.label or r.cell.family}"
        name = f"strict-{i:02d}-{slug(r.check.bound)}"
        add(f"strict-{i:02d}", name, title, r.check.cells(r.cell))
    owner = {}
    for i, study in enumerate(rep.plan.exponents, 1):
        for cell in study.swept():
            owner.setdefault(_unseeded(cell), i)
    by_study: dict[int, list] = {}
    for cell in ran.get("exponents", []):
        by_study.setdefault(owner.get(_unseeded(cell), 0), []).append(cell)
    for i, study in enumerate(rep.plan.exponents, 1):
        title = f"exponent study '{study.label}' of {study.bound}"
        add(f"exponent-{i:02d}", f"exponent-{i:02d}-{slug(study.label)}", title, by_study.get(i))
    bounds_of: dict[tuple, list] = {}
    for r in rep.strict:
        names = bounds_of.setdefault(_unstepped(r.cell), [])
        if r.check.bound not in names:
            names.append(r.check.bound)
    by_bounds: dict[tuple, list] = {}
    for cell in ran.get("mutation", []):
        by_bounds.setdefault(tuple(bounds_of.get(_unstepped(cell), ())), []).append(cell)
    for k, (bounds, cells) in enumerate(by_bounds.items(), 1):
        title = (
            f"mutation tests on the instances of {' or '.join(bounds) or 'no strict check'} "
            "(steps from each mutant's conditions)"
        )
        add(f"mutation-{k:02d}", f"mutation-{k:02d}", title, cells, bounds)
    add("regime", "regime", "regime map: FedAlt vs FedSim", ran.get("regime", []))
    add(
        "perfedavg",
        "perfedavg",
        "Per-FedAvg: Theorem 4.5's exponent studies",
        ran.get("perfedavg", []),
    )
    add("claims", "claims", "the paper's claims (a) and (b)", ran.get("claims", []))
    add("contrast", "contrast", "claim (b) on coupled problems", ran.get("contrast", []))
    return found
