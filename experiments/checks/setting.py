"""Whether a run is one its bound is about: the bound's setting (``theory.settings``).

A bound's proof covers runs of some simulator algorithms (``Bound.simulators``) under some
conditions on ``m, n, tau_u, tau_v`` (``Bound.setting``, e.g. full participation ``m = n``).
:func:`cell_setting_reasons` says, one sentence each, which of them a cell breaks; a strict check
(``experiments.checks.strict``), its lemma check and the exact-LHS check
(``experiments.checks.exact``) then say "outside assumptions" with these reasons, never
"violated". It is decided on the cell alone, before any step selection, so that
``experiments.steps.MaxStep`` never sees a setting condition.
"""

from __future__ import annotations

from partialfed import theory
from partialfed.experiments.cell import Cell

__all__ = ["cell_setting_reasons"]


def cell_setting_reasons(bound: theory.Bound, cell: Cell) -> list[str]:
    """Why ``cell``'s run is outside ``bound``'s setting (empty: inside).

    Examples
    --------
    >>> from partialfed import theory
    >>> from partialfed.experiments.cell import Cell
    >>> cell = Cell.of("quadratic", {"n": 10}, {"algorithm": "fedalt", "m": 2, "T": 3})
    >>> cell_setting_reasons(theory.get_bound("fedalt_tauv_full"), cell)
    ['fedalt_tauv_full is proved for full participation (m = n); this run samples m = 2 of n = 10']
    """
    return theory.settings.setting_reasons(bound, cell.run.algorithm, cell.values())
