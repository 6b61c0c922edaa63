"""The one look of every figure: colours, line styles, labels, rc style, and ``save``.

One fixed colour and line style per algorithm (Okabe-Ito palette, readable in colour-blind
vision and in black and white); ``save`` writes a figure in that style, reproducibly (no date
in SVG metadata, a fixed SVG hash salt).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

__all__ = ["COLORS", "LINESTYLES", "LABELS", "STYLE", "color_of", "label", "save", "file_stem"]

#: Fixed colour per algorithm (Okabe & Ito 2008).
COLORS = {
    "fedalt": "#0072B2",
    "fedsim": "#D55E00",
    "fedavg": "#009E73",
    "local": "#CC79A7",
    "fedrecon": "#E69F00",
}
_SPARE = ("#56B4E9", "#F0E442", "#000000", "#999999")

#: Fixed line style per algorithm (so figures also read in black and white).
LINESTYLES = {
    "fedalt": "-",
    "fedsim": "--",
    "fedavg": "-.",
    "local": ":",
    "fedrecon": (0, (5, 1, 1, 1, 1, 1)),
}

#: Axis labels of the metrics and of common knobs.
LABELS = {
    "gap": r"$F(u^t, V^t) - F_{\mathrm{low}}$",
    "loss": r"$F(u^t, V^t)$",
    "grad_u_sq": r"$\|\nabla_u F(u^t, V^t)\|^2$",
    "grad_v_sq": r"$\frac{1}{n}\sum_i \|\nabla_v F_i(u^t, v_i^t)\|^2$",
    "grad_u_sq_at_V_next": r"$\|\nabla_u F(u^t, V^{t+1})\|^2$",
    "round": "round $t$",
    "delta": r"gradient diversity $\delta$",
    "m": "participation $m/n$",
    "chi": r"coupling $\chi$",
    "noise_u": r"additive noise on $u$ (noise_u)",
    "noise_v": r"additive noise on $v$ (noise_v)",
    "tau_u": r"local steps $\tau_u$",
    "tau_v": r"local steps $\tau_v$",
    "T": "rounds $T$",
    "n": "devices $n$",
}

#: The one style of every figure.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "legend.frameon": False,
    "svg.hashsalt": "partialfed",
    "svg.fonttype": "path",
}


def color_of(algorithm: str) -> str:
    """The colour of ``algorithm`` (a stable spare colour for unknown names)."""
    if algorithm in COLORS:
        return COLORS[algorithm]
    return _SPARE[sum(map(ord, str(algorithm))) % len(_SPARE)]


def label(name: str) -> str:
    """The axis label of a metric or knob (``name`` itself if none is known)."""
    return LABELS.get(name, name)


def file_stem(name: str) -> str:
    """``name`` made safe as part of a file name on every system.

    Family names may be import references such as ``"mypkg.objectives:make"``: every run of
    characters other than letters, digits, ``_``, ``.`` and ``-`` becomes one ``_``.
    """
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", str(name)).strip(".") or "_"


def save(fig, path: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``path.<fmt>`` for each format; returns the paths written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(
                f"The 'formats' parameter of save must name png, svg or pdf. Got {fmt!r}."
            )
        target = path.with_name(f"{path.name}.{fmt}")
        with plt.rc_context(STYLE):
            fig.savefig(target, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        out.append(target)
    return out
