"""The result store: one Parquet file per run, named by the content hash of its spec.

A run's file ``<hash>.parquet`` holds one row per recorded round with the metrics
(``round, loss, grad_u_sq, grad_v_sq, grad_u_sq_at_V_next``); its key-value metadata (key
``partialfed``, JSON) holds the format version, the hash, the spec, the status and message, the
problem's constants and the run time, so the file alone says what it is. ``load`` spreads the
spec and constants into columns.

Files are written atomically: a temporary file in the same folder, ``fsync``, ``os.replace``
(and an ``fsync`` of the folder). A killed writer leaves at most a ``.*.tmp`` file, which
``load`` ignores; a ``*.parquet`` file is always complete.

Examples
--------
>>> spec = {"family": "quadratic", "seed": 0, "problem": {"n": 8}, "run": {"T": 2}}
>>> len(spec_hash(spec))
32
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "RESULT_FORMAT_VERSION",
    "STATUSES",
    "RunResult",
    "spec_hash",
    "canonical_json",
    "path_for",
    "encode",
    "write_bytes",
    "sync_directory",
    "write",
    "read_info",
    "read",
    "completed",
    "load",
    "flatten_spec",
    "spec_columns",
    "swept_columns",
]

#: Part of every content hash: bump it when the meaning or layout of a stored result changes,
#: and every run is computed afresh.
RESULT_FORMAT_VERSION = 2

#: Run statuses: the simulator's ``ok``/``diverged``, and ``error`` for a run that raised.
STATUSES = ("ok", "diverged", "error")


def _metrics() -> tuple:
    """``simulators.METRICS``, imported on first use (importing the store stays free of Numba)."""
    from partialfed.simulators import METRICS

    return METRICS


def _result_columns() -> tuple:
    return ("round", *_metrics(), "gap", "status", "message", "elapsed_s", "hash")


def __getattr__(name: str):
    # METRICS: the per-round metric columns, as simulators.History names them.
    if name == "METRICS":
        return _metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_META_KEY = b"partialfed"
_SUFFIX = ".parquet"


def canonical_json(spec: Mapping) -> str:
    """The canonical JSON text of a spec: sorted keys, no spaces, finite numbers only."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)


def spec_hash(spec: Mapping) -> str:
    """The content hash naming a run's file: sha256 of the canonical spec and the format version.

    Parameters
    ----------
    spec : mapping
        A canonical spec (``experiments.config``): JSON-able, numbers finite.

    Returns
    -------
    str
        32 hexadecimal digits (128 bits).
    """
    text = f"ppfl-result-v{RESULT_FORMAT_VERSION}\n{canonical_json(spec)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def path_for(directory: str | Path, spec: Mapping) -> Path:
    """Where the result of ``spec`` lives in ``directory``."""
    return Path(directory) / f"{spec_hash(spec)}{_SUFFIX}"


@dataclass
class RunResult:
    """The outcome of one run, as a worker returns it.

    Attributes
    ----------
    spec : dict
        The canonical spec.
    frame : DataFrame
        ``round`` and the ``METRICS`` columns, one row per recorded round (empty on ``error``).
    status : str
        One of ``STATUSES``.
    message : str
        One line: why it diverged or failed (empty when ok).
    constants : dict
        The problem's constants (``Constants.as_dict()``), empty if the problem was not built.
    elapsed_s : float
        Seconds spent building the problem and simulating.
    """

    spec: dict
    frame: pd.DataFrame
    status: str = "ok"
    message: str = ""
    constants: dict = field(default_factory=dict)
    elapsed_s: float = 0.0


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


def encode(result: RunResult) -> bytes:
    """The Parquet bytes of one run (what ``write_bytes`` stores)."""
    if result.status not in STATUSES:
        raise ValueError(
            f"The 'status' parameter of RunResult must be one of {', '.join(STATUSES)}. "
            f"Got {result.status!r}."
        )
    frame = result.frame

    def column(name, dtype):
        return np.asarray(frame[name], dtype=dtype) if len(frame) else np.empty(0, dtype=dtype)

    # "region" (simulators.REGION) only for families that record it: other files are unchanged.
    extra = [m for m in ("region",) if m in frame.columns]
    table = pa.table(
        {
            "round": column("round", np.int64),
            **{m: column(m, np.float64) for m in (*_metrics(), *extra)},
        }
    )
    meta = {
        "format": RESULT_FORMAT_VERSION,
        "hash": spec_hash(result.spec),
        "spec": result.spec,
        "status": result.status,
        "message": result.message,
        "constants": {k: float(v) for k, v in result.constants.items()},
        "elapsed_s": float(result.elapsed_s),
    }
    text = json.dumps(meta, sort_keys=True, default=_json_number)
    table = table.replace_schema_metadata({_META_KEY: text.encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serialisable: {value!r}")


def write_bytes(directory: str | Path, name: str, payload: bytes, sync_dir: bool = True) -> Path:
    """Write ``payload`` to ``directory/name`` atomically (temp file, fsync, ``os.replace``).

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    name : str
        File name inside ``directory``.
    payload : bytes
    sync_dir : bool
        Also ``fsync`` the folder, so the rename itself survives a power cut. A sweep passes
        ``False`` and calls ``sync_directory`` once at the end (a rename lost to a power cut only
        means that run is computed again).

    Returns
    -------
    Path
        The final path. Either it holds all of ``payload`` or it is unchanged.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        sync_directory(directory)
    return final


def remove_temporaries(directory: str | Path, hashes) -> int:
    """Delete the temporary files ``write_bytes`` left for these run hashes; return how many."""
    removed = 0
    for h in hashes:
        for tmp in Path(directory).glob(f".{h}.parquet.*.tmp"):
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def sync_directory(directory: str | Path) -> None:
    """``fsync`` a folder, making the renames done in it durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write(directory: str | Path, result: RunResult) -> Path:
    """Store one run atomically; returns its path (``<hash>.parquet``)."""
    return write_bytes(directory, f"{spec_hash(result.spec)}{_SUFFIX}", encode(result))


def read_info(path: str | Path) -> dict:
    """The metadata of one stored run (format, hash, spec, status, message, constants).

    Reads only the file's footer. Raises ``OSError``/``ValueError`` on a damaged file.
    """
    schema = pq.read_schema(path)
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ValueError(f"{path}: not a partialfed result (no 'partialfed' metadata).")
    return json.loads(raw)


def read(path: str | Path) -> RunResult:
    """One stored run as a ``RunResult`` (its frame holds ``round`` and the ``METRICS``).

    Raises ``OSError``/``ValueError`` on a damaged file or one of another result format.
    """
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ValueError("not a partialfed result (no 'partialfed' metadata)")
    info = json.loads(raw)
    if info.get("format") != RESULT_FORMAT_VERSION:
        raise ValueError(f"result format {info.get('format')}, expected {RESULT_FORMAT_VERSION}")
    return RunResult(
        spec=info["spec"],
        frame=table.to_pandas(),
        status=info["status"],
        message=info["message"],
        constants=info.get("constants", {}),
        elapsed_s=info.get("elapsed_s", math.nan),
    )


def completed(directory: str | Path) -> dict[str, str]:
    """The runs already stored in ``directory``: hash -> status.

    Files that cannot be read, or that were written by another result format, are left out (a
    sweep then computes them again and replaces them).
    """
    directory = Path(directory)
    out: dict[str, str] = {}
    if not directory.is_dir():
        return out
    for path in directory.glob(f"*{_SUFFIX}"):
        try:
            info = read_info(path)
        except Exception:  # noqa: BLE001 - a damaged file is simply not "done"
            continue
        if info.get("format") == RESULT_FORMAT_VERSION and info.get("hash") == path.stem:
            out[path.stem] = info.get("status", "ok")
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
        Files that could not be read are appended here as ``(path, message)`` and a warning is
        issued; they never stop the load.

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
            bad.append((str(path), f"{type(exc).__name__}: {exc}".splitlines()[0]))
    if bad and errors is None:
        warnings.warn(
            f"{len(bad)} result file(s) in {directory} could not be read and were skipped; "
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
    result = read(path)
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
