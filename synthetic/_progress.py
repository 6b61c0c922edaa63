"""Staged progress on stderr for slow constructions (``custom``, ``estimate_constants``).

The rule is the one of ``experiments.sweep.run_sweep``: ``progress=None`` shows a tqdm bar only
when stderr is a terminal, and never in a worker process (a sweep's pool or Dask workers rebuild
problems in parallel; their bars would garble the sweep's own).
"""

from __future__ import annotations

import multiprocessing
import sys

__all__ = ["Stages", "wanted"]


def wanted(progress: bool | None, owner: str) -> bool:
    """Whether to show progress: ``progress`` itself, or for ``None`` the default rule."""
    if progress is None:
        return sys.stderr.isatty() and multiprocessing.parent_process() is None
    if not isinstance(progress, bool):
        raise TypeError(
            f"The 'progress' parameter of {owner} must be True, False or None (when stderr is "
            f"a terminal). Got {type(progress).__name__}."
        )
    return progress


class Stages:
    """A tqdm bar counting named stages: ``stage("compiling kernels")`` starts the next one.

    Parameters
    ----------
    total : int
        Number of stages.
    desc : str
        Shown before the bar.
    enabled : bool
        ``False`` makes every call a no-op (tqdm is then not even imported).
    """

    def __init__(self, total: int, desc: str, enabled: bool):
        self._bar = None
        self._desc = desc
        self._total = total
        self._started = False
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit="stage",
                file=sys.stderr,
                leave=False,
                bar_format="{desc} [{elapsed}]",
            )

    def stage(self, what: str) -> None:
        """Finish the current stage (if any) and start ``what``."""
        if self._bar is None:
            return
        if self._started:
            self._bar.update(1)
        self._started = True
        k = self._bar.n + 1
        self._bar.set_description_str(f"{self._desc}: {what} (stage {k} of {self._total})")

    def close(self) -> None:
        """Finish the last stage and remove the bar."""
        if self._bar is None:
            return
        if self._started:
            self._bar.update(1)
        self._bar.close()
        self._bar = None
