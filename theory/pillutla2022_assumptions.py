"""The assumptions A0-A3 of Pillutla et al. (ICML 2022) as data, and the definitions of ``chi``.

Re-exported by ``theory.pillutla2022``; provenance as there (docs/references.md#provenance):
the slide form of ``chi`` (``chi^2 = L_uv^2/(L_u L_v)``, FLOW talk slides 33, 40), bounded
variance (A2) and the diversity with ``rho = 0`` (A3) are **verified**; the lower bound (A0),
the two-constant ``chi`` and the ``rho`` term are **unverified (recalled)**.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from partialfed.theory.bound import validate_values
from partialfed.theory.symbols import L_u, L_uv, L_v, L_vu

__all__ = ["Assumption", "ASSUMPTIONS", "CHI_DEF", "CHI_SLIDE_DEF", "chi_from"]

# ---------------------------------------------------------------------------------------------
# Assumptions A0-A3 as data (docs/references.md#pillutla2022-assumptions)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    """One assumption of the analysis.

    Parameters
    ----------
    key : str
        Short key, e.g. ``"A1"``.
    title : str
        Its name.
    constants : tuple of str
        The symbols it introduces.
    definition : str
        The statement, in plain text.
    algorithms : tuple of str
        Algorithms whose theorems need it.
    provenance : str
        ``"verified"``, ``"unverified"`` (recalled), ``"reconstructed"`` or a mix, with the
        source in ``source``.
    source : str
        Where it was read.
    """

    key: str
    title: str
    constants: tuple[str, ...]
    definition: str
    algorithms: tuple[str, ...]
    provenance: str
    source: str


ASSUMPTIONS: dict[str, Assumption] = {
    a.key: a
    for a in [
        Assumption(
            "A0",
            "lower bound",
            ("F_low", "Delta_F0"),
            "F* = inf_{u,V} F(u,V) > -inf (F* >= F_low); Delta_F0 = F(u^0, V^0) - F*.",
            ("fedalt", "fedsim"),
            "unverified",
            "Pillutla et al. 2022, A0 (recalled; docs/references.md#pillutla2022-a0)",
        ),
        Assumption(
            "A1",
            "smoothness",
            ("L_u", "L_v", "L_uv", "L_vu", "chi"),
            "grad_u F_i is L_u-Lipschitz in u and L_uv-Lipschitz in v_i; grad_v F_i is "
            "L_v-Lipschitz in v_i and L_vu-Lipschitz in u; chi = max(L_uv, L_vu)/sqrt(L_u L_v).",
            ("fedalt", "fedsim"),
            "verified (slide form chi^2 = L_uv^2/(L_u L_v)); two-constant chi unverified",
            "FLOW talk slides 33, 40; paper's chi recalled",
        ),
        Assumption(
            "A2",
            "bounded variance",
            ("sigma_u", "sigma_v"),
            "E||grad_u f_i(u,v_i,z) - grad_u F_i(u,v_i)||^2 <= sigma_u^2 and the same for v "
            "with sigma_v^2, for all u, v_i, i (unbiased stochastic gradients).",
            ("fedalt", "fedsim"),
            "verified",
            "FLOW talk slide 34",
        ),
        Assumption(
            "A3",
            "partial gradient diversity",
            ("delta", "rho"),
            "(1/n) sum_i ||grad_u F_i(u,v_i) - grad_u F(u,V)||^2 <= delta^2 "
            "+ rho^2 ||grad_u F(u,V)||^2 (u-gradients only; the slide has rho = 0).",
            ("fedalt", "fedsim"),
            "verified for rho = 0; the rho term unverified",
            "FLOW talk slide 34; rho term recalled",
        ),
    ]
}
"""The assumptions of the FedAlt/FedSim theorems, with provenance."""

# ---------------------------------------------------------------------------------------------
# chi (docs/references.md#pillutla2022-a1)
# ---------------------------------------------------------------------------------------------

CHI_DEF = sp.Max(L_uv, L_vu) / sp.sqrt(L_u * L_v)
"""chi = max(L_uv, L_vu)/sqrt(L_u L_v)  -- the paper's definition, unverified (recalled)."""

CHI_SLIDE_DEF = L_uv / sp.sqrt(L_u * L_v)
"""chi = L_uv/sqrt(L_u L_v)  -- verified: FLOW talk slides 33, 40 (chi^2 = L_uv^2/(L_u L_v))."""


def chi_from(L_u, L_v, L_uv, L_vu=None):
    """Numeric ``chi = max(L_uv, L_vu)/sqrt(L_u L_v)`` (A1; slide form if ``L_vu`` is None).

    Parameters
    ----------
    L_u, L_v, L_uv : float or array-like
        Smoothness constants (positive).
    L_vu : float or array-like, optional
        Defaults to ``L_uv`` (then the slide-33 definition).

    Returns
    -------
    numpy.ndarray
    """
    vals = {"L_u": L_u, "L_v": L_v, "L_uv": L_uv, "L_vu": L_uv if L_vu is None else L_vu}
    a = validate_values(vals, owner="chi_from")
    return np.maximum(a["L_uv"], a["L_vu"]) / np.sqrt(a["L_u"] * a["L_v"])
