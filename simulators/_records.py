"""The typed records that cross the kernel boundary: ``Alg``, ``Steps``, ``Noise``.

``run`` passes the round kernel one ``Alg`` member and two NamedTuples instead of positional
scalars, so a parameter cannot be swapped silently and keeps its name from the TOML file
(``RunConfig``) to the kernel (``steps.gamma_u``). Numba types an ``IntEnum`` member as a
constant-comparable integer and a NamedTuple as a record with named fields; both classes are
importable, so the kernels' on-disk cache keys stay valid in a new process.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, get_type_hints

import numpy as np

__all__ = ["Alg", "Variant", "VARIANTS", "Steps", "Meta", "Noise", "Tree", "Tracked"]


class Alg(IntEnum):
    """The algorithms of the round kernel: the one encoding of their identity.

    ``simulators.ALGORITHMS`` maps each public name to an ``Algorithm`` record that holds one of
    these members and derives what the wrapper needs from it (``per_device_u``, ...).
    """

    FEDALT = 0
    FEDSIM = 1
    FEDAVG = 2
    LOCAL = 3
    FEDRECON = 4
    PERFEDAVG = 5
    DITTO = 6


class Variant(IntEnum):
    """Per-FedAvg's local step (docs/references.md#fallah2020-algorithm): exact MAML with a
    Hessian-vector product, first order (no Hessian term), Hessian free (central finite
    difference of two gradients)."""

    MAML = 0
    FO = 1
    HF = 2


#: ``RunConfig.variant`` by name.
VARIANTS = {"maml": Variant.MAML, "fo": Variant.FO, "hf": Variant.HF}


class Steps(NamedTuple):
    """Step parameters of a run, named as in ``RunConfig``
    (docs/references.md#pillutla2022-rounds)."""

    T: int
    m: int
    tau_u: int
    tau_v: int
    gamma_u: float
    gamma_v: float
    eval_every: int
    seed: int

    @classmethod
    def of(cls, config) -> Steps:
        """The fields of ``config`` (a ``RunConfig``) with the same names, typed as declared.

        The cast makes the kernel's signature independent of whether a step size was given as
        ``1`` or ``1.0`` (one compiled variant, not two).
        """
        return cls._make(kind(getattr(config, name)) for name, kind in get_type_hints(cls).items())


class Meta(NamedTuple):
    """Parameters of Per-FedAvg and Ditto, named as in ``RunConfig`` (``variant`` as its
    ``Variant`` code)."""

    alpha: float
    variant: int
    hf_delta: float
    ditto_lam: float

    @classmethod
    def of(cls, config) -> Meta:
        """The fields of ``config`` with the same names (``variant`` encoded by ``VARIANTS``)."""
        return cls(
            float(config.alpha),
            int(VARIANTS[config.variant]),
            float(config.hf_delta),
            float(config.ditto_lam),
        )


class Noise(NamedTuple):
    """Additive gradient noise of a problem: ``xi ~ N(0, noise^2/d I)`` per block.

    The knobs ``noise_u, noise_v``, not the A2 constants ``sigma_u, sigma_v`` (which also count
    minibatch variance).
    """

    noise_u: float
    noise_v: float

    @classmethod
    def of(cls, problem) -> Noise:
        """The problem's attributes with the same names, as floats."""
        return cls._make(kind(getattr(problem, name)) for name, kind in get_type_hints(cls).items())


class Tree(IntEnum):
    """How the round kernel evaluates the population metrics (``simulators._incremental``)."""

    FULL = 0  # every device at every recorded round (synthetic's population_metrics)
    SHARED = 1  # split objective, shared u: per-device v-parts in a tree, u-part per class
    PER_DEVICE = 2  # one u per device (local): every per-device term in a tree


class Tracked(NamedTuple):
    """The incremental metrics' state, passed to the round kernel.

    ``tree (2N, 3)``: a perfect binary tree over ``N >= n`` leaves (leaf of device i at row
    ``N + i``, padding rows zero, node k the sum of rows 2k and 2k+1); ``reps, weights (K,)``:
    a representative device of each class of a split objective and its number of devices;
    ``spare``: a second tree, rebuilt from scratch at each recorded round when ``verify``;
    ``check (R, 4)``: the rebuilt tree's metrics and its count of nodes that differ."""

    mode: int
    verify: bool
    reps: np.ndarray
    weights: np.ndarray
    tree: np.ndarray
    spare: np.ndarray
    check: np.ndarray
