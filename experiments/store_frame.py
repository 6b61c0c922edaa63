"""A result folder as one tidy DataFrame: ``load`` and the helpers that read its columns.

Part of ``experiments.store`` (re-exported there; import from ``store``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from partialfed.experiments.store import _SUFFIX, BadResult, _metrics, _result_columns, verify

__all__ = ["by_round", "flatten_spec", "load", "spec_columns", "swept_columns"]


def by_round(frame: pd.DataFrame) -> pd.DataFrame:
    """One run's rows ordered by ``round``: the frame itself when they already are (a stored
    run's are; ``sort_values`` would copy and sort it again on every read), else sorted."""
    if frame["round"].is_monotonic_increasing:
        return frame
    return frame.sort_values("round")


def flatten_spec(spec: Mapping) -> dict:
    """A spec as flat columns: ``family``, ``seed`` (``init_seed``), the knobs, the run fields.

    The problem's own ``seed`` knob becomes ``problem_seed``; a knob whose name is also a run
    field or a result column is prefixed ``problem_`` likewise.
    """
    out = {"family": spec["family"], "seed": spec["seed"]}
    if "init_seed" in spec:
        out["init_seed"] = spec["init_seed"]
    run = dict(spec.get("run", {}))
    taken = set(run) | set(_result_columns()) | set(out)
    for key, value in spec.get("problem", {}).items():
        out[f"problem_{key}" if key in taken else key] = value
    out.update(run)
    return out


def load(
    directory: str | Path,
    hashes: Iterable[str] | None = None,
    errors: list | None = None,
) -> pd.DataFrame:
    """Load stored runs into one tidy DataFrame.

    Parameters
    ----------
    directory : str or Path
        A result folder (as written by ``experiments.sweep.run_sweep``).
    hashes : iterable of str, optional
        Only these runs (for instance those of one configuration); default all.
    errors : list, optional
        Files that are not valid runs (``verify``: undecodable, misnamed, edited) are appended
        here as ``(path, reason)``; without the list a warning names them. They are never
        loaded and never stop the load.

    Returns
    -------
    DataFrame
        One row per run and recorded round. Columns: the spec (``family``, ``seed``, every knob,
        every run field), ``round``, the ``METRICS``, ``gap = loss - const_F_low``, the
        constants ``const_*``, ``status``, ``message``, ``elapsed_s``, ``hash``. A run that
        failed before recording anything has one row with ``round`` missing and NaN metrics.
        Rows are sorted by ``hash`` and ``round``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(
            f"The 'directory' parameter of load must be a folder. Got {str(directory)!r}."
        )
    wanted = None if hashes is None else set(hashes)
    bad = [] if errors is None else errors
    frames = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        if wanted is not None and path.stem not in wanted:
            continue
        try:
            frames.append(_read_one(path))
        except Exception as exc:  # noqa: BLE001 - reported, never fatal
            why = str(exc) if isinstance(exc, BadResult) else f"{type(exc).__name__}: {exc}"
            bad.append((str(path), why.splitlines()[0]))
    if bad and errors is None:
        warnings.warn(
            f"{len(bad)} result file(s) in {directory} are not valid runs and were skipped; "
            f"first: {bad[0][0]}: {bad[0][1]}",
            stacklevel=2,
        )
    if not frames:
        return pd.DataFrame(columns=["family", "seed", *_result_columns()])
    df = pd.concat(frames, ignore_index=True, sort=False)
    df["round"] = df["round"].astype("Int64")
    df = df.sort_values(["hash", "round"], kind="stable", ignore_index=True)
    first = ["family", "algorithm", "seed"]
    ordered = [c for c in first if c in df] + [c for c in df if c not in first]
    return df[ordered]


def _read_one(path: Path) -> pd.DataFrame:
    result = verify(path)
    frame = result.frame
    if frame.empty:
        frame = pd.DataFrame({"round": [pd.NA], **{m: [math.nan] for m in _metrics()}})
    consts = {f"const_{k}": float(v) for k, v in result.constants.items()}
    frame["gap"] = frame["loss"] - consts["const_F_low"] if "const_F_low" in consts else math.nan
    frame = frame.assign(
        **consts, status=result.status, message=result.message, elapsed_s=result.elapsed_s
    )
    for i, (key, value) in enumerate(flatten_spec(result.spec).items()):
        frame.insert(i, key, value)
    frame["hash"] = path.stem
    return frame


def spec_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` that come from the spec (knobs, run fields, family, seed)."""
    skip = set(_result_columns())
    return [c for c in df.columns if c not in skip and not c.startswith("const_")]


def swept_columns(df: pd.DataFrame, exclude: Iterable[str] = ("seed",)) -> list[str]:
    """Spec columns taking more than one value in ``df`` (the knobs a sweep varied)."""
    skip = set(exclude)
    return [c for c in spec_columns(df) if c not in skip and df[c].nunique(dropna=False) > 1]
