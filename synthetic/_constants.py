"""The constants of a problem (assumptions A0-A3 of Pillutla et al. 2022) and where the local
ones hold: :class:`Constants`, :class:`Region`.

docs/references.md#pillutla2022-assumptions. Every public name is re-exported by
``synthetic._problem`` (the ``Problem`` contract), where the families import them from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from partialfed._constraints import Interval, Options, validate, validate_params

__all__ = [
    "A3_PRIME_DEFAULTS",
    "CONSTANT_NAMES",
    "KINDS",
    "Constants",
    "Region",
    "personal_optima",
]

#: How a declared constant is known.
#: ``exact``: the supremum/infimum itself (attained or approached);
#: ``certified``: a proven upper bound (a proven lower bound for ``F_low``);
#: ``local``: exact or certified only on a region (``Constants.regions``, a :class:`Region`);
#: ``estimate``: measured numerically (``synthetic.estimate_constants``), no guarantee.
KINDS = ("exact", "certified", "local", "estimate")

CONSTANT_NAMES = (
    "L_u",
    "L_v",
    "L_uv",
    "L_vu",
    "sigma_u",
    "sigma_v",
    "delta",
    "rho",
    "F_low",
    "delta_prime",
    "rho_prime",
    "kappa",
)

#: The constants of the extended diversity assumption A3' and the A3 constant each defaults to
#: (docs/derivations/diversity_global.md): A3 with ``(delta, rho)`` implies A3' with
#: ``(delta, rho, kappa = 0)`` wherever A3 holds.
A3_PRIME_DEFAULTS = {"delta_prime": "delta", "rho_prime": "rho", "kappa": "delta"}


@dataclass(frozen=True)
class Region:
    """Where a ``local`` constant holds, as data (``Constants.regions[name]``).

    Parameters
    ----------
    description : str
        The region in words, e.g. ``"V = V*(u), the personal optima"``.
    metric : str or None
        A per-round column of a run (``simulators.METRICS`` or ``"region"``, the value a family's
        jitted region function records, see ``synthetic._objective.register``) that tests
        membership of the iterate ``(u^t, V^t)``: inside when ``metric <= upper``. ``None``: no
        test on a run is known, so membership cannot be verified.
    upper : float
        Largest value of ``metric`` inside the region.

    A region with a test should be a product of convex sets in ``u`` and in each ``v_i``: then
    the points a proof uses between two consecutive iterates inside it (``Where.ITERATES``) are
    inside too.
    """

    description: str
    metric: str | None = None
    upper: float = 0.0

    def inside(self, values) -> np.ndarray:
        """Membership per recorded round: ``values <= upper`` (NaN, e.g. after divergence, is
        outside)."""
        values = np.asarray(values, dtype=float)
        return np.isfinite(values) & (values <= self.upper)


def personal_optima() -> Region:
    """The region ``{(u, V): grad_v F_i(u, v_i) = 0 for all i}`` (every ``v_i`` at its personal
    optimum ``v_i^*(u)``), tested on a run by ``Delta_v = 0`` to rounding. It is not a product
    set: it covers a proof's use at the iterates themselves, not between them."""
    return Region(
        "V = V*(u), the personal optima: (1/n) sum_i ||grad_v F_i(u, v_i)||^2 = 0",
        metric="grad_v_sq",
        upper=1e-20,
    )


@dataclass(frozen=True)
class Constants:
    """The constants of the assumptions A0-A3 of Pillutla et al. (2022), for one problem.

    See docs/references.md#pillutla2022-assumptions.

    A1 smoothness: ``grad_u F_i`` is ``L_u``-Lipschitz in u and ``L_uv``-Lipschitz in v_i;
    ``grad_v F_i`` is ``L_v``-Lipschitz in v_i and ``L_vu``-Lipschitz in u.
    A2 variance: ``E||g_u - grad_u F_i||^2 <= sigma_u^2`` and likewise ``sigma_v^2``.
    A3 partial gradient diversity:
    ``(1/n) sum_i ||grad_u F_i - grad_u F||^2 <= delta^2 + rho^2 ||grad_u F||^2``.
    A3' (docs/derivations/diversity_global.md, eq. (D1)): the same with
    ``delta_prime^2 + rho_prime^2 ||grad_u F||^2 + kappa^2 (1/n) sum_i ||grad_v F_i||^2`` on the
    right, for all ``(u, V)``. A0: ``F >= F_low``.

    ``delta_prime``, ``rho_prime``, ``kappa`` are optional: left out (``None``), they are
    ``delta``, ``rho`` and ``0``, which is A3' wherever A3 holds, and their kinds are those of
    ``delta``, ``rho`` and ``delta`` (unless ``kind`` names them).

    ``kind[name]`` says how each value is known (one of ``KINDS``); ``notes[name]`` says how a
    value was obtained; ``regions[name]`` (a :class:`Region`) where a ``local`` constant holds.
    Every ``local`` constant has a region: one not given gets ``Region(notes[name])`` (no
    test, so a check cannot verify that a run stays in it).
    """

    L_u: float
    L_v: float
    L_uv: float
    L_vu: float
    sigma_u: float
    sigma_v: float
    delta: float
    rho: float
    F_low: float
    delta_prime: float | None = None
    rho_prime: float | None = None
    kappa: float | None = None
    kind: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    regions: Mapping[str, Region] = field(default_factory=dict)

    #: What each field accepts (checked by ``partialfed._constraints``).
    _parameter_constraints = MappingProxyType(
        {
            **{name: [Interval(float, 0.0, None)] for name in CONSTANT_NAMES if name != "F_low"},
            "F_low": [Interval(float, None, None)],
        }
    )

    def __post_init__(self):
        kind = dict(self.kind)
        notes = dict(self.notes)
        defaulted = []  # A3' constants taken from A3: they hold where A3's do (same region)
        for name, a3 in A3_PRIME_DEFAULTS.items():
            if getattr(self, name) is None:
                defaulted.append(name)
                # A3 => A3' with kappa = 0 (diversity_global.md, eq. (D2)), valid where A3 is.
                value = 0.0 if name == "kappa" else getattr(self, a3)
                object.__setattr__(self, name, value)
                kind.setdefault(name, dict(self.kind).get(a3, "estimate"))
                notes.setdefault(name, f"A3 => A3' with kappa = 0: valid where {a3} is")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "notes", notes)
        validate_params(
            {name: getattr(self, name) for name in CONSTANT_NAMES},
            self._parameter_constraints,
            "Constants",
        )
        kind = dict(self.kind)
        for name in CONSTANT_NAMES:
            kind.setdefault(name, "estimate")
            validate(kind[name], f"kind[{name!r}]", "Constants", Options(str, KINDS))
        object.__setattr__(self, "kind", MappingProxyType(kind))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))
        regions = dict(self.regions)
        for name in defaulted:
            a3 = A3_PRIME_DEFAULTS[name]
            if kind[name] == "local" and a3 in regions and name not in regions:
                regions[name] = regions[a3]
        for name, region in regions.items():
            if kind.get(name) != "local" or not isinstance(region, Region):
                raise ValueError(
                    f"The 'regions' parameter of Constants must map local constants to a Region. "
                    f"Got {name!r}: {region!r} (kind {kind.get(name)!r})."
                )
        for name in CONSTANT_NAMES:
            if kind[name] == "local" and name not in regions:
                regions[name] = Region(self.notes.get(name, "region not stated"))
        object.__setattr__(self, "regions", MappingProxyType(regions))

    @property
    def chi(self) -> float:
        """Cross-dependence ``chi = max(L_uv, L_vu) / sqrt(L_u L_v)``.

        A1 of Pillutla et al. 2022 (docs/references.md#pillutla2022-a1).
        """
        if self.L_u == 0 or self.L_v == 0:
            return math.inf if max(self.L_uv, self.L_vu) > 0 else 0.0
        return max(self.L_uv, self.L_vu) / math.sqrt(self.L_u * self.L_v)

    def is_exact(self, name: str) -> bool:
        """Whether constant ``name`` is exact (not only a bound or an estimate)."""
        validate(name, "name", "Constants.is_exact", Options(str, CONSTANT_NAMES))
        return self.kind[name] == "exact"

    def as_dict(self) -> dict:
        """The values by their paper names, plus ``chi``: ready for ``Bound.evaluate(**...)``."""
        out = {name: float(getattr(self, name)) for name in CONSTANT_NAMES}
        out["chi"] = self.chi
        return out

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k):.4g} ({self.kind[k]})" for k in CONSTANT_NAMES)
        return f"Constants({body}, chi={self.chi:.4g})"
