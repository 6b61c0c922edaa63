"""Which of FedAlt and FedSim the theory of Pillutla et al. (ICML 2022) favours (slide 40).

* **verified** -- :data:`BOXED_CONDITION`, the boxed FedAlt-vs-FedSim condition of the FLOW
  talk's slide 40, and its ``(1 + chi^2)^{1/2}`` factor;
* **reconstructed** (in this project, not the paper's text) -- the effective variances
  :data:`A`, :data:`B` and the leading-term variances :data:`SIG_ALT1`, :data:`SIG_SIM1`,
  which reproduce the verified condition exactly;
* :func:`favoured` -- which algorithm wins, and by what factor of the leading ``T^{-1/2}`` term.

Re-exported by ``theory.pillutla2022``, whose main-text theorems use ``SIG_ALT1`` and
``SIG_SIM1`` as their ``T^{-1/2}`` variances (docs/references.md#pillutla2022-comparison).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import sympy as sp

from partialfed.theory.bound import validate_values
from partialfed.theory.symbols import L_u, L_v, chi, delta, m, n, sigma_u, sigma_v

__all__ = ["A", "B", "SIG_ALT1", "SIG_SIM1", "BOXED_CONDITION", "Favoured", "favoured"]

# ---------------------------------------------------------------------------------------------
# Effective variances (docs/references.md#pillutla2022-effective-variances)
# ---------------------------------------------------------------------------------------------

A = sigma_u**2 / (m * L_u) + delta**2 / (m * L_u) * (1 - m / n)
"""Server-side averaging noise of the u-updates: minibatch noise plus without-replacement
sampling variance (reconstructed, docs/references.md#pillutla2022-effective-variances)."""

B = sigma_v**2 / L_v
"""Personal-gradient noise in units of F (reconstructed, as A; the units of slide 40)."""

SIG_ALT1 = A + (m / n + chi**2 * (1 - m / n)) * B
"""sigma^2_{alt,1}: RECONSTRUCTED here, not the paper's formula.

``A + (m/n + chi^2 (1 - m/n)) B``. Together with :data:`SIG_SIM1` it reproduces the verified
slide-40 condition exactly: ``SIG_SIM1 - SIG_ALT1 = chi^2 (A - (1 - 2m/n) B)``
(docs/references.md#pillutla2022-effective-variances)."""

SIG_SIM1 = (1 + chi**2) * (A + m / n * B)
"""sigma^2_{sim,1}: RECONSTRUCTED here, not the paper's formula.

``(1 + chi^2)(A + (m/n) B)``; ratio to :data:`SIG_ALT1` tends to ``1 + chi^2`` as
``sigma_v -> 0`` (the verified factor of slide 40, squared;
docs/references.md#pillutla2022-effective-variances)."""

# ---------------------------------------------------------------------------------------------
# The verified comparison (slide 40; docs/references.md#pillutla2022-comparison)
# ---------------------------------------------------------------------------------------------

BOXED_CONDITION = sp.StrictLessThan(
    sigma_v**2 / L_v * (1 - 2 * m / n),
    sigma_u**2 / (m * L_u) + delta**2 / (m * L_u) * (1 - m / n),
)
"""FedAlt is better than FedSim iff this holds -- VERIFIED (FLOW talk slide 40, boxed):
``sigma_v^2/L_v (1 - 2m/n) < sigma_u^2/(m L_u) + delta^2/(m L_u) (1 - m/n)``."""

# ---------------------------------------------------------------------------------------------
# Which algorithm the theory favours (slide 40)
# ---------------------------------------------------------------------------------------------

_FAV_ARGS = ("n", "m", "L_u", "L_v", "sigma_u", "sigma_v", "delta", "chi")
_SIG_ALT1_F = sp.lambdify(
    [sp.Symbol(k) for k in _FAV_ARGS],
    SIG_ALT1.subs({s: sp.Symbol(s.name) for s in SIG_ALT1.free_symbols}),
    "numpy",
)
_SIG_SIM1_F = sp.lambdify(
    [sp.Symbol(k) for k in _FAV_ARGS],
    SIG_SIM1.subs({s: sp.Symbol(s.name) for s in SIG_SIM1.free_symbols}),
    "numpy",
)


class Favoured(NamedTuple):
    """Result of :func:`favoured`.

    Attributes
    ----------
    algorithm : str or numpy.ndarray of str
        ``"fedalt"``, ``"fedsim"`` or ``"tie"`` (by the reconstructed leading terms).
    factor : float or numpy.ndarray
        ``sqrt(sig_sim1/sig_alt1)``: FedSim's leading ``T^{-1/2}`` term divided by FedAlt's
        (> 1: FedAlt better by this factor; 1 where both vanish).
    fedalt_better : bool or numpy.ndarray
        The verified slide-40 condition :data:`BOXED_CONDITION`.
    """

    algorithm: Any
    factor: Any
    fedalt_better: Any


def favoured(*, rtol: float = 1e-12, **values: Any) -> Favoured:
    """Which algorithm the theory favours, and by what factor of the leading term.

    Parameters
    ----------
    rtol : float
        Relative tolerance under which the two leading terms count as a tie.
    **values : float or array-like
        ``n, m, L_u, L_v, sigma_u, sigma_v, delta, chi`` (arrays broadcast; extra known
        symbols are ignored).

    Returns
    -------
    Favoured
        Scalars for scalar inputs, arrays otherwise.

    Notes
    -----
    The factor uses the reconstructed :data:`SIG_ALT1`, :data:`SIG_SIM1`; for ``chi > 0`` its
    sign of ``factor - 1`` agrees with the verified boxed condition of slide 40 exactly, since
    ``sig_sim1 - sig_alt1 = chi^2 (A - (1 - 2m/n) B)``.
    """
    missing = [k for k in _FAV_ARGS if k not in values]
    if missing:
        raise ValueError(
            f"favoured needs a value for {missing[0]!r}; required: {', '.join(_FAV_ARGS)}."
        )
    v = validate_values({k: values[k] for k in _FAV_ARGS}, owner="favoured")
    if np.any(v["m"] > v["n"]):
        raise ValueError("favoured: condition m <= n is violated.")
    args = [v[k] for k in _FAV_ARGS]
    shape = np.broadcast_shapes(*(a.shape for a in args))
    s_alt = np.broadcast_to(np.asarray(_SIG_ALT1_F(*args), dtype=float), shape)
    s_sim = np.broadcast_to(np.asarray(_SIG_SIM1_F(*args), dtype=float), shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(s_alt > 0, np.sqrt(s_sim / np.where(s_alt > 0, s_alt, 1.0)), 1.0)
    tie = np.abs(s_sim - s_alt) <= rtol * np.maximum(np.abs(s_sim), np.abs(s_alt))
    algo = np.where(tie, "tie", np.where(s_sim > s_alt, "fedalt", "fedsim"))
    n_, m_, L_u_, L_v_, su, sv, d = (v[k] for k in _FAV_ARGS[:7])
    better = sv**2 / L_v_ * (1 - 2 * m_ / n_) < su**2 / (m_ * L_u_) + d**2 / (m_ * L_u_) * (
        1 - m_ / n_
    )
    better = np.broadcast_to(better, shape)
    if shape == ():
        return Favoured(str(algo[()]), float(factor), bool(better))
    return Favoured(algo, factor, better.copy())
