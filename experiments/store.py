"""The result store: one Parquet file per run, named by the content hash of its spec.

A run's file ``<hash>.parquet`` holds one row per recorded round with the metrics
(``round, loss, grad_u_sq, grad_v_sq, grad_u_sq_at_V_next``); its key-value metadata (key
``partialfed``, JSON) holds the format version, the hash, the spec, the status and message, the
problem's constants, the run time and a checksum of the data, so the file alone says what it
is. ``load`` (``store_frame``) spreads the spec and constants into columns.

Files are written atomically (``experiments._atomic``): a temporary file in the same folder,
``fsync``, ``os.replace`` (and an ``fsync`` of the folder). A killed writer leaves at most a
``.*.tmp`` file, which ``load`` ignores and ``completed`` deletes once its writer is gone.

Nothing is trusted by its name: ``verify`` reads a file in full and checks that its name is the
hash of the spec it holds and that its data match their checksum. ``load`` skips and names the
files that fail; ``completed`` (what a sweep asks before computing) also moves them into
``.quarantine/``, so the sweep computes those runs again.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from partialfed.experiments._atomic import (
    remove_stale_temporaries,
    remove_temporaries,
    sync_directory,
    write_bytes,
)

if TYPE_CHECKING:  # re-exported at run time by ``__getattr__`` below
    from partialfed.experiments.store_frame import flatten_spec, load, spec_columns, swept_columns

__all__ = [
    "RESULT_FORMAT_VERSION",
    "STATUSES",
    "RunResult",
    "spec_hash",
    "canonical_json",
    "path_for",
    "encode",
    "encode_stored",
    "write_bytes",
    "sync_directory",
    "remove_temporaries",
    "remove_stale_temporaries",
    "write",
    "read_info",
    "read",
    "verify",
    "BadResult",
    "QUARANTINE",
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


def _personal_metrics() -> tuple:
    """``simulators.PERSONAL_METRICS`` (optional columns of a stored run), imported on use."""
    from partialfed.simulators import PERSONAL_METRICS

    return PERSONAL_METRICS


def _result_columns() -> tuple:
    return (
        "round",
        *_metrics(),
        *_personal_metrics(),
        "gap",
        "status",
        "message",
        "elapsed_s",
        "hash",
    )


# The tidy DataFrame view of a folder lives in ``store_frame``, which imports this module; its
# names are re-exported lazily (PEP 562), so that either module can be imported first.
_FRAME_NAMES = frozenset({"flatten_spec", "load", "spec_columns", "swept_columns"})


def __getattr__(name: str):
    # METRICS: the per-round metric columns, as simulators.History names them.
    if name == "METRICS":
        return _metrics()
    if name in _FRAME_NAMES:
        from partialfed.experiments import store_frame

        return getattr(store_frame, name)
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


def encode(result: RunResult) -> bytes:
    """The Parquet bytes of one run (what ``write_bytes`` stores)."""
    return encode_stored(result, stored=False)[0]


def encode_stored(result: RunResult, stored: bool = True) -> tuple[bytes, RunResult | None]:
    """The Parquet bytes of one run and the ``RunResult`` that ``verify`` returns for them.

    A sweep that keeps its results in memory (``run_sweep(keep=...)``) hands out the second
    instead of reading the file back: the same frame (built from the table that was encoded;
    Parquet stores int64 and float64 exactly) and the metadata as the file's JSON gives them
    back.

    Parameters
    ----------
    result : RunResult
    stored : bool
        Build the second item (default); ``False`` gives ``None`` instead.

    Returns
    -------
    tuple of (bytes, RunResult or None)

    Raises
    ------
    ValueError
        When ``result.status`` is not one of ``STATUSES``.
    """
    if result.status not in STATUSES:
        raise ValueError(
            f"The 'status' parameter of RunResult must be one of {', '.join(STATUSES)}. "
            f"Got {result.status!r}."
        )
    frame = result.frame

    def column(name, dtype):
        return np.asarray(frame[name], dtype=dtype) if len(frame) else np.empty(0, dtype=dtype)

    # "region" (simulators.REGION) only for families that record it, and the personalisation
    # metrics (simulators.PERSONAL_METRICS) when the frame has them: other files are unchanged.
    extra = [m for m in (*_personal_metrics(), "region") if m in frame.columns]
    table = pa.table(
        {
            "round": column("round", np.int64),
            **{m: column(m, np.float64) for m in (*_metrics(), *extra)},
        }
    )
    meta = {
        "checksum": _checksum(table),
        "format": RESULT_FORMAT_VERSION,
        "hash": spec_hash(result.spec),
        "spec": result.spec,
        "status": result.status,
        "message": result.message,
        "constants": {k: float(v) for k, v in result.constants.items()},
        "elapsed_s": float(result.elapsed_s),
    }
    text = json.dumps(meta, sort_keys=True, default=_json_number)
    sink = io.BytesIO()
    pq.write_table(
        table.replace_schema_metadata({_META_KEY: text.encode()}),
        sink,
        compression="zstd",
        write_statistics=False,
    )
    if not stored:
        return sink.getvalue(), None
    back = json.loads(text)  # the spec and numbers exactly as a read of the file has them
    return sink.getvalue(), RunResult(
        spec=back["spec"],
        frame=table.to_pandas(),
        status=back["status"],
        message=back["message"],
        constants=back["constants"],
        elapsed_s=float(back["elapsed_s"]),
    )


def _checksum(table: pa.Table) -> str:
    """SHA-256 of a result table's columns (names, types and values), not of its metadata."""
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        col = table.column(name).to_numpy(zero_copy_only=False)
        h.update(f"{name}:{col.dtype.str}:{len(col)}\0".encode())
        h.update(np.ascontiguousarray(col).tobytes())
    return h.hexdigest()


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serialisable: {value!r}")


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


class BadResult(ValueError):
    """A file in a result folder that is not a valid stored run (the reason is the message)."""


#: Subfolder of a result folder where ``completed`` moves files that are not valid runs (kept
#: for inspection, never loaded; the sweep computes those runs again).
QUARANTINE = ".quarantine"


def _bad(reason: str):
    raise BadResult(reason)


def verify(path: str | Path) -> RunResult:
    """Read one stored run in full and check that it is what its name says.

    Checks, in order: a regular file; decodable Parquet with partialfed metadata of this result
    format; the name equals the stored hash and the hash of the stored spec (a copy under
    another name, or another spec's content under a valid name, fail here); the columns
    ``round`` (int64) and the ``METRICS`` (float64); a known status; and the checksum of the
    data (``encode`` stores it; an edited value fails here). Files written before checksums
    were kept have none, and pass on the other checks.

    Raises
    ------
    BadResult
        With the first reason the file is not a valid run.
    """
    path = Path(path)
    if not path.is_file():
        _bad("not a regular file")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file
        _bad(f"cannot be decoded ({type(exc).__name__}: {exc})".splitlines()[0])
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        _bad("not a partialfed result (no 'partialfed' metadata)")
    try:
        info = json.loads(raw)
    except ValueError:
        _bad("its metadata is not JSON")
    if not isinstance(info, dict):
        _bad("its metadata is not a JSON object")
    if info.get("format") != RESULT_FORMAT_VERSION:
        _bad(f"result format {info.get('format')!r}, expected {RESULT_FORMAT_VERSION}")
    spec = info.get("spec")
    try:
        actual = spec_hash(spec)
    except (TypeError, ValueError):
        _bad("its stored spec cannot be hashed")
    if info.get("hash") != path.stem or actual != path.stem:
        _bad(f"its name does not match its content (the stored spec hashes to {actual})")
    for name, kind in (("round", "int64"), *((m, "double") for m in _metrics())):
        if name not in table.column_names:
            _bad(f"the column {name!r} is missing")
        if str(table.schema.field(name).type) != kind:
            _bad(f"the column {name!r} is {table.schema.field(name).type}, expected {kind}")
    if info.get("status") not in STATUSES or not isinstance(info.get("message"), str):
        _bad(f"status {info.get('status')!r} is not one of {', '.join(STATUSES)}")
    constants = info.get("constants", {})
    if not isinstance(constants, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in constants.values()
    ):
        _bad("its constants are not a table of numbers")
    elapsed = info.get("elapsed_s", math.nan)
    if not isinstance(elapsed, int | float) or isinstance(elapsed, bool):
        _bad("elapsed_s is not a number")
    if "checksum" in info and info["checksum"] != _checksum(table.replace_schema_metadata()):
        _bad("its data do not match their checksum (edited or damaged)")
    return RunResult(
        spec=spec,
        frame=table.to_pandas(),
        status=info["status"],
        message=info["message"],
        constants=constants,
        elapsed_s=float(elapsed),
    )


def read(path: str | Path) -> RunResult:
    """One stored run as a ``RunResult`` (its frame holds ``round`` and the ``METRICS``).

    The same as ``verify``: raises ``BadResult`` (a ``ValueError``) for a file that is not a
    valid run.
    """
    return verify(path)


def completed(
    directory: str | Path,
    hashes: Iterable[str] | None = None,
    problems: list | None = None,
    quarantine: bool = True,
    keep: dict | None = None,
) -> dict[str, str]:
    """The runs validly stored in ``directory``: hash -> status.

    Every file is checked in full (``verify``). One that fails is left out, so a sweep computes
    that run again, and (with ``quarantine``) moved into ``directory/.quarantine/`` so that it
    cannot come back; temporary files of writers that died are deleted.

    Parameters
    ----------
    directory : str or Path
    hashes : iterable of str, optional
        Only look at these runs (a sweep passes its own); default every ``*.parquet``.
    problems : list, optional
        ``(name, reason)`` of each bad file is appended here.
    quarantine : bool
        Move bad files aside (default) or leave them.
    keep : dict, optional
        Hash -> the ``RunResult`` that ``verify`` read, for each valid run (so that a caller
        who needs the runs does not read them twice).
    """
    if keep is not None and not isinstance(keep, dict):
        raise TypeError(
            f"The 'keep' parameter of completed must be a dict or None. Got {type(keep).__name__}."
        )
    directory = Path(directory)
    out: dict[str, str] = {}
    if not directory.is_dir():
        return out
    remove_stale_temporaries(directory)
    if hashes is None:
        paths = sorted(directory.glob(f"*{_SUFFIX}"))
    else:  # only these names: no listing of a folder of thousands of runs
        paths = [p for h in sorted(set(hashes)) if (p := directory / f"{h}{_SUFFIX}").exists()]
    for path in paths:
        try:
            result = verify(path)
            out[path.stem] = result.status
            if keep is not None:
                keep[path.stem] = result
        except BadResult as exc:
            if problems is not None:
                problems.append((path.name, str(exc)))
            if quarantine:
                _quarantine(path)
    return out


def _quarantine(path: Path) -> None:
    """Move a bad file (or folder) into the result folder's ``.quarantine/`` (never fatal)."""
    folder = path.parent / QUARANTINE
    try:
        folder.mkdir(exist_ok=True)
        target = folder / path.name
        k = 1
        while target.exists():
            target, k = folder / f"{path.name}.{k}", k + 1
        os.replace(path, target)
    except OSError:
        pass  # a read-only folder: the run is still left out and computed again
