"""What a bound measures, as a figure shows it: mathtext labels and the curve over horizons.

- ``lhs_label``: a bound's measured left-hand side in mathtext (e.g. running mean
  ``1/T sum_{t<T} ||grad f(x_t)||^2``), for an axis label;
- ``horizon_curve``: a per-round series turned into the left-hand side at each horizon ``T``,
  each ``T`` once, at its own ``x`` (the convention of ``experiments.measure.lhs_per_run``).

Takes a ``theory.Bound`` but imports nothing heavy itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lhs_label", "horizon_curve", "QUANTITY_TEX"]

#: Mathtext of each measured per-round quantity.
QUANTITY_TEX = {
    "Delta_u": r"\Delta_u",
    "Delta_v": r"\Delta_v",
    "grad_sq": r"\|\nabla f\,\|^2",
}

#: Where a quantity is measured, in mathtext (the ``Term.at`` strings of the bounds).
_AT_TEX = {"(u^t, V^{t+1})": r"(u^t\!,V^{t+1})"}

_MAX_WEIGHT = 22  # longer weights are written w_u, w_v (the bound's weights)


def _weight_tex(term) -> str:
    import sympy as sp

    if term.weight == 1:
        return ""
    tex = sp.latex(term.weight).replace(r"\left", "").replace(r"\right", "")
    if len(tex) <= _MAX_WEIGHT:
        return tex + r"\,"
    block = term.quantity.rsplit("_", 1)[-1]
    return rf"w_{block}\," if block in ("u", "v") else r"w\,"


def lhs_label(bound) -> str:
    """The measured left-hand side of ``bound`` as an axis label (mathtext).

    Parameters
    ----------
    bound : theory.Bound

    Returns
    -------
    str
        For example ``$\\frac{1}{T}\\sum_{t<T}\\|\\nabla f\\,\\|^2$`` (a running mean over the
        horizon ``T``) or ``$\\min_{t\\leq T} ...$``. Weights longer
        than a few symbols are written ``w_u``, ``w_v`` (the bound's weights); ``Delta_u`` is
        ``||grad_u F||^2``, ``Delta_v`` is ``(1/n) sum_i ||grad_v F_i||^2``.
    """
    lhs = bound.lhs
    parts = []
    for term in lhs.terms:
        q = QUANTITY_TEX.get(term.quantity, rf"\mathrm{{{term.quantity}}}".replace("_", r"\_"))
        at = _AT_TEX.get(term.at, "")
        parts.append(_weight_tex(term) + q + at)
    body = " + ".join(parts)
    if lhs.aggregate == "mean":
        body = f"({body})" if len(parts) > 1 else body
        return rf"$\frac{{1}}{{T}}\sum_{{t<T}} {body}$"
    if lhs.aggregate == "min":
        return rf"$\min_{{t\leq T}}\ {body}$"
    return rf"${body}$ at $t = T$"


def horizon_curve(rounds, series, aggregate: str, T: int | None = None):
    """The left-hand side at each horizon ``T = 1, 2, ...`` from one run's per-round series.

    ``mean``: the average over ``t = 0..T-1``; ``min``: the minimum over ``t = 0..T``;
    ``last``: the value at ``t = T`` (as ``experiments.measure.lhs_per_run`` aggregates). Each
    horizon once, at its own ``x``. With rounds recorded every few rounds only, the aggregates
    are over the recorded rounds (the mean at horizon ``r + 1`` for a recorded round ``r``).

    Parameters
    ----------
    rounds : array of int
        The recorded rounds, increasing from 0 (every round for exact aggregates).
    series : array of float
        The weighted per-round quantity at those rounds.
    aggregate : {"mean", "min", "last"}
    T : int, optional
        The last horizon (default: as far as the rounds reach).

    Returns
    -------
    horizons : numpy.ndarray of int
        Increasing, each once (``1, 2, ..., T`` when every round is recorded).
    values : numpy.ndarray of float
    """
    rounds = np.asarray(rounds)
    series = np.asarray(series, dtype=float)
    if rounds.size == 0 or rounds[0] != 0 or np.any(np.diff(rounds) <= 0):
        raise ValueError(
            "The 'rounds' parameter of horizon_curve must increase from 0 (0, 1, 2, ... when "
            f"every round is recorded). Got {rounds[:5].tolist()}..."
        )
    if aggregate == "mean":
        horizons = rounds + 1
        values = np.cumsum(series) / np.arange(1, rounds.size + 1)
    elif aggregate == "min":
        horizons, values = rounds[1:], np.minimum.accumulate(series)[1:]
    elif aggregate == "last":
        horizons, values = rounds[1:], series[1:]
    else:
        raise ValueError(
            f"The 'aggregate' parameter of horizon_curve must be mean, min or last. "
            f"Got {aggregate!r}."
        )
    if T is not None:
        keep = horizons <= T
        horizons, values = horizons[keep], values[keep]
    return horizons, values
