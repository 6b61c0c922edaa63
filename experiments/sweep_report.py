"""What a sweep did (``SweepReport``) and how it says it was interrupted (``SweepInterrupted``).

Part of ``experiments.sweep`` (re-exported there; import from ``sweep``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

from partialfed.experiments import store

__all__ = ["SweepReport", "SweepInterrupted"]


@dataclass
class SweepReport:
    """What a sweep did.

    Attributes
    ----------
    directory : Path
        The result folder.
    hashes : list of str
        The hash of every cell of the sweep (computed, skipped or lost), in order.
    total, skipped, computed : int
        Cells in the sweep; already stored (not recomputed); computed now.
    elsewhere : int
        Runs that another sweep on the same folder claimed and stored while this one ran
        (``experiments.claims``): not computed here, but stored when this sweep returns.
    claimed_elsewhere : list of str
        Runs a sweep on another host still holds at the end (its process cannot be checked
        from here): not stored yet; a rerun takes them once their claims are gone.
    statuses : Counter
        Status of each run computed now (``ok``, ``diverged``, ``error``).
    lost : int
        Runs whose task failed outside the runner (for instance a worker crashed); not stored.
    lost_messages : list of str
    quarantined : list of (str, str)
        Files found in the folder that were not valid runs (``store.verify``), with the
        reason; they were moved to ``.quarantine/`` and their runs computed again.
    scheduler : str
    workers : int
    wall_s : float
        Seconds from start to end of the sweep (pool start-up included).
    """

    directory: Path
    hashes: list = field(repr=False)
    total: int = 0
    skipped: int = 0
    computed: int = 0
    elsewhere: int = 0
    claimed_elsewhere: list = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    lost: int = 0
    lost_messages: list = field(default_factory=list)
    quarantined: list = field(default_factory=list)
    scheduler: str = ""
    workers: int = 0
    wall_s: float = 0.0

    def summary(self) -> str:
        """One line for people: what was computed, skipped, failed."""
        parts = [f"{self.computed} computed", f"{self.skipped} skipped (already stored)"]
        for status in ("diverged", "error"):
            if self.statuses.get(status):
                parts.append(f"{self.statuses[status]} {status}")
        if self.elsewhere:
            parts.append(f"{self.elsewhere} computed by another sweep")
        if self.claimed_elsewhere:
            parts.append(f"{len(self.claimed_elsewhere)} claimed elsewhere (rerun to collect)")
        if self.lost:
            parts.append(f"{self.lost} lost (rerun to retry)")
        if self.quarantined:
            parts.append(f"{len(self.quarantined)} bad file(s) moved to {store.QUARANTINE}/")
        return (
            f"{self.total} runs: "
            + ", ".join(parts)
            + f" in {self.wall_s:.1f} s on {self.scheduler} ({self.workers} workers)"
        )

    def as_dict(self) -> dict:
        """JSON-able form (for ``--json``): every field but ``hashes``."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "hashes"}
        out.update(directory=str(self.directory), statuses=dict(self.statuses))
        out.update(lost_messages=list(self.lost_messages))
        out.update(quarantined=[list(q) for q in self.quarantined])
        out.update(claimed_elsewhere=list(self.claimed_elsewhere))
        return out


class SweepInterrupted(KeyboardInterrupt):
    """Raised when a sweep is interrupted; ``report`` says what was stored before."""

    def __init__(self, report: SweepReport):
        super().__init__(report.summary())
        self.report = report
