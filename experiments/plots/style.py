"""The one look of every figure: the style file, colours, line styles, labels, log axes, ``save``.

The style lives in ``partialfed.mplstyle`` beside this module (package data), applied with
``plt.style.context(STYLE_FILE)`` (:func:`style_context`); :data:`STYLE` holds the same
settings as a dict. One fixed colour, line style and marker per algorithm (Okabe-Ito palette,
readable in colour-blind vision and in black and white). Log axes use matplotlib's own
locators and mathtext formatters (:func:`log_axis`); axis labels name symbols in mathtext
(:data:`LABELS`). ``save`` writes a figure in that style, reproducibly (no date in SVG
metadata, a fixed SVG hash salt).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from partialfed.experiments._atomic import write_bytes

__all__ = [
    "COLORS",
    "LINESTYLES",
    "MARKERS",
    "LABELS",
    "SYMBOLS",
    "STYLE",
    "STYLE_FILE",
    "style_context",
    "color_of",
    "label",
    "symbol",
    "plain_text",
    "log_axis",
    "line_style",
    "marks_at",
    "value_ticks",
    "save",
    "file_stem",
    "inside",
    "STEM_MAX",
]

#: The style file of every figure (package data).
STYLE_FILE = Path(__file__).with_name("partialfed.mplstyle")

#: The style file's settings as a dict (``plt.rcParams.update(STYLE)`` applies them for good).
STYLE = dict(mpl.rc_params_from_file(STYLE_FILE, use_default_template=False))

#: Fixed colour per algorithm (Okabe & Ito 2008).
COLORS = {
    "fedalt": "#0072B2",
    "fedsim": "#D55E00",
    "fedavg": "#009E73",
    "local": "#CC79A7",
    "fedrecon": "#E69F00",
    "perfedavg": "#56B4E9",
    "ditto": "#000000",
}
_SPARE = ("#F0E442", "#999999", "#882255", "#44AA99")

#: Fixed line style per algorithm (so figures also read in black and white).
LINESTYLES = {
    "fedalt": "-",
    "fedsim": "--",
    "fedavg": "-.",
    "local": ":",
    "fedrecon": (0, (5, 1, 1, 1, 1, 1)),
    "perfedavg": (0, (8, 2)),
    "ditto": (0, (3, 1, 1, 1, 1, 1, 1, 1)),
}

#: Fixed marker per algorithm (drawn every few points, so overlapping curves stay apart).
MARKERS = {
    "fedalt": "o",
    "fedsim": "s",
    "fedavg": "^",
    "local": "D",
    "fedrecon": "v",
    "perfedavg": "P",
    "ditto": "X",
}

#: Mathtext symbol of each knob and constant (axis labels, titles, tick captions).
SYMBOLS = {
    "delta": r"$\delta$",
    "chi": r"$\chi$",
    "rho": r"$\rho$",
    "noise_u": r"$\sigma_u$",
    "noise_v": r"$\sigma_v$",
    "sigma_u": r"$\sigma_u$",
    "sigma_v": r"$\sigma_v$",
    "tau_u": r"$\tau_u$",
    "tau_v": r"$\tau_v$",
    "gamma_u": r"$\gamma_u$",
    "gamma_v": r"$\gamma_v$",
    "eta": r"$\eta$",
    "m": r"$m/n$",
    "n": r"$n$",
    "T": r"$T$",
    "L_u": r"$L_u$",
    "L_v": r"$L_v$",
    "alpha": r"$\alpha$",
    "ditto_lam": r"$\lambda$",
}

#: Axis labels of the metrics and of common knobs (symbols in mathtext).
LABELS = {
    "gap": r"$F(u^t, V^t) - F_{\mathrm{low}}$",
    "loss": r"$F(u^t, V^t)$",
    "grad_u_sq": r"$\|\nabla_u F(u^t, V^t)\|^2$",
    "grad_v_sq": r"$\frac{1}{n}\sum_i \|\nabla_v F_i(u^t, v_i^t)\|^2$",
    "grad_u_sq_at_V_next": r"$\|\nabla_u F(u^t, V^{t+1})\|^2$",
    "meta_grad_sq": r"$\|\nabla \tilde F(w^t)\|^2$",
    "personal_loss": r"personalised loss $\frac{1}{n}\sum_i F_i(\mathrm{model}_i^t)$",
    "personal_accuracy": "personalised test accuracy (round $T$)",
    "round": "round $t$",
    "delta": r"gradient diversity $\delta$",
    "m": "participation $m/n$",
    "chi": r"coupling $\chi$",
    "rho": r"diversity growth $\rho$",
    "noise_u": r"noise std. on $u$, $\sigma_u$",
    "noise_v": r"noise std. on $v$, $\sigma_v$",
    "sigma_u": r"noise std. on $u$, $\sigma_u$",
    "sigma_v": r"noise std. on $v$, $\sigma_v$",
    "tau_u": r"local steps on $u$, $\tau_u$",
    "tau_v": r"local steps on $v$, $\tau_v$",
    "gamma_u": r"step size $\gamma_u$",
    "gamma_v": r"step size $\gamma_v$",
    "T": "rounds $T$",
    "n": "devices $n$",
}


def style_context():
    """A context manager applying the style file (``plt.style.context(STYLE_FILE)``)."""
    return plt.style.context(STYLE_FILE)


def color_of(algorithm: str) -> str:
    """The colour of ``algorithm`` (a stable spare colour for unknown names)."""
    if algorithm in COLORS:
        return COLORS[algorithm]
    return _SPARE[sum(map(ord, str(algorithm))) % len(_SPARE)]


def plain_text(name) -> str:
    """``name`` as text that matplotlib shows as it is (``$`` escaped: no mathtext)."""
    return str(name).replace("$", r"\$")


def label(name: str) -> str:
    """The axis label of a metric or knob (``name`` itself, as plain text, if none is known)."""
    return LABELS.get(name) or plain_text(name)


def symbol(name: str) -> str:
    """The mathtext symbol of a knob or constant (``name`` itself, as plain text, if none is
    known)."""
    return SYMBOLS.get(name) or plain_text(name)


def marks_at(x, i: int, count: int = 9) -> list:
    """Indices of ``count`` log-spaced points of the rounds ``x``, shifted for the ``i``-th
    algorithm so the markers of overlapping curves do not cover each other."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return []
    lo, hi = max(x.min(), 1.0), max(x.max(), 1.0)
    steps = (np.arange(count) + 0.5 + 0.3 * (i % 3)) / (count + 1)
    wanted = lo * (hi / lo) ** steps
    return sorted(set(np.searchsorted(x, wanted).clip(0, x.size - 1).tolist()))


def line_style(alg: str, i: int) -> dict:
    """Colour, line style and marker of ``alg``, the ``i``-th algorithm drawn, a little
    transparency, later ones on top (``markevery``: set per curve, :func:`marks_at`)."""
    return {
        "color": color_of(alg),
        "linestyle": LINESTYLES.get(alg, "-"),
        "marker": MARKERS.get(alg, "o"),
        "markevery": None,
        "markersize": 5,
        "markeredgecolor": "white",
        "markeredgewidth": 0.6,
        "alpha": 0.9,
        "zorder": 3 + i,
    }


def _axis(ax, axis: str):
    if axis not in ("x", "y"):
        raise ValueError(f"The 'axis' parameter must be 'x' or 'y'. Got {axis!r}.")
    return ax.xaxis if axis == "x" else ax.yaxis


def log_axis(ax, axis: str = "y") -> None:
    """A log scale on ``axis`` with matplotlib's ``LogLocator`` and mathtext labels.

    Call it once the data are drawn: the ticks depend on the span. Two decades or more: labels
    at the powers of ten; less: labels at 1, 2 and 5 times a power of ten (a fifth of a decade
    or less: at every integer multiple), all by ``LogFormatterSciNotation`` (a
    ``LogFormatterMathtext``), so every label of the axis has one format (``$10^{-1}$``,
    ``$2\\times10^{-1}$``). Minor ticks unlabelled.

    Parameters
    ----------
    ax : matplotlib Axes
    axis : {"x", "y"}
    """
    which = _axis(ax, axis)
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    decades = np.log10(hi / lo) if lo > 0 and np.isfinite(hi / lo) else 10.0
    if decades >= 2:
        subs, only_base = (1.0,), True
    elif decades >= 0.7:
        subs, only_base = (1.0, 2.0, 5.0), False
    else:
        subs, only_base = tuple(range(1, 10)), False
    which.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=12))
    # the locator decides which ticks exist: label every one of them
    every = (np.inf, np.inf)
    which.set_major_formatter(
        ticker.LogFormatterSciNotation(labelOnlyBase=only_base, minor_thresholds=every)
    )
    which.set_minor_locator(ticker.LogLocator(base=10, subs="auto", numticks=12))
    which.set_minor_formatter(ticker.NullFormatter())


def _plain(value: float) -> str:
    return f"{value:g}"


def value_ticks(ax, axis: str, values, log: bool = True) -> None:
    """Ticks exactly at ``values`` (a swept grid), labelled with the values; no minor ticks.

    Parameters
    ----------
    ax : matplotlib Axes
    axis : {"x", "y"}
    values : sequence of float
        The grid (positive on a log axis).
    log : bool
        Put the axis on a log scale first.
    """
    which = _axis(ax, axis)
    if log:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    grid = sorted({float(v) for v in values})
    which.set_major_locator(ticker.FixedLocator(grid))
    which.set_major_formatter(ticker.FixedFormatter([_plain(v) for v in grid]))
    which.set_minor_locator(ticker.NullLocator())


#: Longest file stem ``file_stem`` makes from a name (before its hash suffix).
STEM_MAX = 64


def file_stem(name) -> str:
    """``name`` made safe as one part of a file name, on every system.

    Names come from stored results (a family, a knob) and are not trusted: every run of
    characters other than letters, digits, ``_``, ``.`` and ``-`` becomes one ``_``, leading
    and trailing dots and dashes go, and the result is cut to ``STEM_MAX`` characters. When
    that changed the name, 8 hexadecimal digits of its SHA-256 are appended, so two names never
    share a stem: ``"mypkg.objectives:make"`` gives ``"mypkg.objectives_make-81a9499b"``,
    ``"../../x"`` gives ``"_.._x-9cdf6a50"``. The result never contains a path separator and is
    never ``.`` or ``..``.
    """
    text = str(name)
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip(".-")[:STEM_MAX]
    if slug and slug == text:
        return slug
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug or '_'}-{digest}"


def inside(folder: str | Path, name: str) -> Path:
    """``folder/name``, checked to resolve to a file directly inside ``folder``.

    Raises
    ------
    ValueError
        When it does not (a name with a path separator, ``..``, or a symbolic link leading
        elsewhere).
    """
    folder = Path(folder)
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise ValueError(
            f"The figure name {name!r} would be written outside the output folder {str(folder)!r}."
        )
    return target


def save(
    fig, path: str | Path, formats: Sequence[str] = ("png", "svg"), crop: bool = True
) -> list[Path]:
    """Save ``fig`` as ``path.<fmt>`` for each format; returns the paths written.

    Each figure is rendered in memory and written atomically (``experiments._atomic``): a full
    disk or a crash leaves the previous file or none, never a truncated one. Every file goes
    directly inside ``path``'s folder (``inside``).

    ``crop`` (default): the image is cropped to what is drawn (the style's ``savefig.bbox:
    tight``), which costs one more layout pass of every artist; ``False`` saves the canvas as
    it is, for a figure already laid out to fit it (``strict_figure``, 72 panels).

    Parameters
    ----------
    fig : matplotlib Figure
    path : str or Path
        The file path without its suffix.
    formats : sequence of {"png", "svg", "pdf"}
    crop : bool

    Returns
    -------
    list of Path
    """
    path = Path(path)
    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(
                f"The 'formats' parameter of save must name png, svg or pdf. Got {fmt!r}."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        target = inside(path.parent, f"{path.name}.{fmt}")
        sink = io.BytesIO()
        # "standard": the whole canvas (an explicit None would mean the style's "tight")
        with style_context(), plt.rc_context({} if crop else {"savefig.bbox": "standard"}):
            fig.savefig(sink, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        out.append(write_bytes(target.parent, target.name, sink.getvalue()))
    return out
