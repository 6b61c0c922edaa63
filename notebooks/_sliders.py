"""Sliders for the teaching notebooks, with a static fallback.

``show(draw, delta=Choice(...), ...)`` gives one slider per keyword when ipywidgets is installed
(``pip install -e ".[notebooks]"``) and a frontend is expected; otherwise it calls ``draw`` once
with every slider at its default value. So a notebook runs the same code headless (the tests set
``PARTIALFED_NOTEBOOK_STATIC=1``, and so can ``jupyter execute``) and without ipywidgets.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Choice", "interactive", "show"]


@dataclass(frozen=True)
class Choice:
    """A slider over a few fixed values (each value may cost a simulation, so they are few).

    Parameters
    ----------
    values : tuple
        The values, in slider order.
    default : object
        The value drawn first, and the only one drawn without a frontend; one of ``values``.
    label : str
        The slider's label (default: the keyword's name).
    """

    values: tuple
    default: object
    label: str = ""

    def __post_init__(self):
        if self.default not in self.values:
            raise ValueError(
                f"The 'default' parameter of Choice must be one of {self.values!r}. "
                f"Got {self.default!r}."
            )


def interactive() -> bool:
    """Whether ``show`` draws sliders: ipywidgets installed and ``PARTIALFED_NOTEBOOK_STATIC``
    unset (or ``0``)."""
    static = os.environ.get("PARTIALFED_NOTEBOOK_STATIC", "") not in ("", "0")
    return not static and importlib.util.find_spec("ipywidgets") is not None


def show(draw: Callable, **choices: Choice):
    """Call ``draw(**values)`` under sliders, or once at the defaults (see the module)."""
    if not interactive():
        return draw(**{k: c.default for k, c in choices.items()})
    import ipywidgets

    sliders = {
        k: ipywidgets.SelectionSlider(
            options=list(c.values),
            value=c.default,
            description=c.label or k,
            continuous_update=False,
            style={"description_width": "initial"},
        )
        for k, c in choices.items()
    }
    return ipywidgets.interact(draw, **sliders)
