"""The ``Problem`` contract: what a simulator may know about an objective.

A problem is ``F(u, V) = (1/n) sum_i F_i(u, v_i)`` (Pillutla et al. 2022, objective on slides 22,
29, 33) given by three jitted functions of one calling convention (see ``synthetic._objective``), a
tuple of arrays they read, its sizes, a stochastic-gradient model (additive Gaussian noise per
block and/or minibatches of a finite sum), its constants, and an initial point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from partialfed._codegen import specialise
from partialfed._constraints import Array, Interval, validate
from partialfed.synthetic import _kernels as _metric_kernels
from partialfed.synthetic._constants import (
    A3_PRIME_DEFAULTS,
    CONSTANT_NAMES,
    KINDS,
    Constants,
    Region,
    personal_optima,
)
from partialfed.synthetic._heldout import HeldOut, check_heldout
from partialfed.synthetic._objective import dispatches

__all__ = [
    "Constants",
    "Problem",
    "Region",
    "personal_optima",
    "KINDS",
    "CONSTANT_NAMES",
    "SEED",
    "NOISE",
    "check_size",
    "A3_PRIME_DEFAULTS",
    "MAX_FLOATS",
]

# The constants (KINDS, CONSTANT_NAMES, Constants, Region, personal_optima) live in
# ``synthetic._constants``; they are re-exported here, where the families import them from.

#: Constraints shared by the families' factories.
SEED = Interval(int, 0, 2**63 - 1)
NOISE = Interval(float, 0.0, 1e6)

#: Largest number of per-device floats a family may allocate (n * (d_u + d_v)): 1.6 GB each.
MAX_FLOATS = 2 * 10**8


def check_size(n: int, d: int, owner: str, limit: int = MAX_FLOATS) -> None:
    """Refuse instances whose per-device arrays (n x d floats) would not fit in memory."""
    owner = f"{owner} with d_u + d_v = {d} (memory: n * (d_u + d_v) <= {limit:.0e} floats)"
    validate(n, "n", owner, Interval(int, 1, max(limit // max(d, 1), 1)))


class Problem:
    """A partially personalized objective ``F(u, V) = (1/n) sum_i F_i(u, v_i)``.

    Build one with ``synthetic.make(family, **knobs)`` or, for your own objective,
    ``synthetic.custom(...)``. Simulators see a problem only through these attributes.

    Attributes
    ----------
    name : str
        Family name.
    knobs : mapping
        The knobs it was made with (validated, defaults filled in).
    n, d_u, d_v : int
        Devices, shared dimension, personal dimension.
    constants : Constants
    data : tuple of numpy arrays
        Read by the jitted functions ``loss_fn``, ``grad_u_fn``, ``grad_v_fn``.
    sizes : int64 array of shape (n,)
        Samples per device for finite-sum families (minibatches draw from them), zeros otherwise.
    batch : int
        Minibatch size for stochastic gradients (0: exact gradients plus additive noise only).
    noise_u, noise_v : float
        Standard deviations of the additive Gaussian noise (the knobs): ``xi ~ N(0, noise^2/d I)``
        per block, so ``E||xi||^2 = noise^2`` exactly. Not the A2 constants
        ``constants.sigma_u``, ``constants.sigma_v``, which also count minibatch variance.
    witnesses : mapping
        Where exact constants are attained or approached (for tests and for the curious):
        ``'L_u'``, ``'L_v'``, ``'L_uv'``, ``'L_vu'`` map to ``(i, u, v)``, a device and a point
        at which the corresponding Hessian block has that norm; ``'delta'`` and ``'F_low'`` map
        to ``(u, V)``, a population point where the diversity reaches ``delta^2 +
        rho^2 ||grad_u F||^2`` (resp. where ``F = F_low``); ``'delta_prime'`` to ``(u, V)`` where
        the diversity reaches the right side of A3' (``quadratic``). Possibly empty.
    test : HeldOut or None
        Held-out test samples of every device (``synthetic._heldout``) for classification
        families (``teacher``): what ``History.personal_accuracy`` is measured on. ``None``
        for the others.
    """

    def __init__(
        self,
        *,
        name: str,
        n: int,
        d_u: int,
        d_v: int,
        data: tuple,
        loss_fn,
        grad_u_fn,
        grad_v_fn,
        constants: Constants,
        init: Callable[[int], tuple[np.ndarray, np.ndarray]],
        knobs: Mapping | None = None,
        sizes: np.ndarray | None = None,
        batch: int = 0,
        noise_u: float = 0.0,
        noise_v: float = 0.0,
        description: str = "",
        witnesses: Mapping | None = None,
        test=None,
    ):
        owner = f"Problem {name!r}"
        self.name = name
        self.n = validate(n, "n", owner, Interval(int, 1, None))
        self.d_u = validate(d_u, "d_u", owner, Interval(int, 1, None))
        self.d_v = validate(d_v, "d_v", owner, Interval(int, 0, None))
        if not isinstance(data, tuple):
            raise TypeError(f"The 'data' parameter of {owner} must be a tuple of arrays.")
        self.data = data
        self.loss_fn = loss_fn
        self.grad_u_fn = grad_u_fn
        self.grad_v_fn = grad_v_fn
        if not isinstance(constants, Constants):
            raise TypeError(f"The 'constants' parameter of {owner} must be a Constants.")
        self.constants = constants
        self._init = init
        self.knobs = MappingProxyType(dict(knobs or {}))
        self.sizes = (
            np.zeros(self.n, dtype=np.int64) if sizes is None else np.asarray(sizes, np.int64)
        )
        if self.sizes.shape != (self.n,) or np.any(self.sizes < 0):
            raise ValueError(f"The 'sizes' parameter of {owner} must be n non-negative ints.")
        max_batch = int(self.sizes.max()) if self.n else 0
        self.batch = validate(batch, "batch", owner, Interval(int, 0, max_batch))
        self.noise_u = validate(noise_u, "noise_u", owner, Interval(float, 0.0, None))
        self.noise_v = validate(noise_v, "noise_v", owner, Interval(float, 0.0, None))
        self.description = description
        self.witnesses = MappingProxyType(dict(witnesses or {}))
        if test is not None and not isinstance(test, HeldOut):
            raise TypeError(f"The 'test' parameter of {owner} must be a HeldOut or None.")
        if test is not None:
            check_heldout(test, self.n, self.d_u, self.d_v, owner)
        self.test = test
        self._no_idx = np.empty(0, dtype=np.int64)
        self._fingerprint = self._arrays_fingerprint()

    def _arrays_fingerprint(self) -> tuple:
        """What a kernel relies on: each array's shape, type and layout, and the content of the
        integer arrays (sizes, offsets, indices: a changed one indexes out of bounds)."""
        h = hashlib.blake2b(self.sizes.tobytes(), digest_size=16)
        layout = []
        for a in (*self.data, self.sizes):
            if isinstance(a, np.ndarray):
                layout.append((a.shape, a.dtype.str, a.flags.c_contiguous))
                if a.dtype.kind in "iub":
                    h.update(np.ascontiguousarray(a).tobytes())
            else:
                layout.append(type(a).__name__)
        return id(self.data), id(self.sizes), tuple(layout), h.hexdigest()

    def check_unchanged(self) -> None:
        """Raise ``ValueError`` if the problem's arrays were replaced, reshaped or (for integer
        arrays such as ``sizes``) edited since it was built; kernels would read out of bounds.

        ``simulators.run`` and the population metrics call it. Build a new problem
        (``synthetic.make``) instead of editing one.
        """
        if self._arrays_fingerprint() != self._fingerprint:
            raise ValueError(
                f"The arrays of problem {self.name!r} (data or sizes) were changed after it was "
                "built; kernels rely on them. Build a new problem with synthetic.make instead."
            )

    def kernels(self, modules):
        """The kernel module(s) ``modules`` for this objective: a module, or a tuple of modules
        of which the last is wanted (the earlier ones are those it calls).

        A family's data is a NamedTuple registered for its functions (``synthetic._objective``):
        the kernels dispatch on its type, and the module itself is returned. Otherwise (a user's
        objective, ``synthetic.custom``): a module generated for ``loss_fn``, ``grad_u_fn``,
        ``grad_v_fn`` with the same kernels (``partialfed._codegen``, cached on disk).
        """
        modules = modules if isinstance(modules, tuple) else (modules,)
        if dispatches(self.data, self.loss_fn, self.grad_u_fn, self.grad_v_fn):
            return modules[-1]
        return specialise(modules, self.loss_fn, self.grad_u_fn, self.grad_v_fn)

    # -- single device -------------------------------------------------------------------------
    def _check_i(self, i) -> int:
        return validate(i, "i", f"{self.name}.loss/grad", Interval(int, 0, self.n - 1))

    def _check_uv(self, u, v):
        u = validate(u, "u", self.name, Array((self.d_u,)))
        v = validate(v, "v", self.name, Array((self.d_v,)))
        return u, v

    def loss(self, i, u, v) -> float:
        """``F_i(u, v_i)``: the full, noise-free local loss of device ``i``."""
        u, v = self._check_uv(u, v)
        return float(self.loss_fn(self.data, self._check_i(i), u, v))

    def grad(self, i, u, v) -> tuple[np.ndarray, np.ndarray]:
        """``(grad_u F_i(u, v), grad_v F_i(u, v))``, exact."""
        i = self._check_i(i)
        u, v = self._check_uv(u, v)
        gu = np.empty(self.d_u)
        gv = np.empty(self.d_v)
        self.grad_u_fn(self.data, i, u, v, gu, self._no_idx)
        self.grad_v_fn(self.data, i, u, v, gv, self._no_idx)
        return gu, gv

    # -- population ----------------------------------------------------------------------------
    def _metrics(self, u, V):
        self.check_unchanged()
        u = validate(u, "u", self.name, Array((self.d_u,)))
        V = validate(V, "V", self.name, Array((self.n, self.d_v)))
        threads = self.n * (self.d_u + self.d_v) > 2e5
        return self.kernels(_metric_kernels).population_metrics(self.data, u[None, :], V, threads)

    def F(self, u, V) -> float:
        """``F(u, V) = (1/n) sum_i F_i(u, v_i)``."""
        return float(self._metrics(u, V)[0])

    def grad_norms(self, u, V) -> tuple[float, float]:
        """``(||grad_u F(u, V)||^2, (1/n) sum_i ||grad_v F_i(u, v_i)||^2)``: Delta_u, Delta_v."""
        _, gu2, _, gv2 = self._metrics(u, V)
        return float(gu2), float(gv2)

    def diversity(self, u, V) -> float:
        """``(1/n) sum_i ||grad_u F_i(u, v_i) - grad_u F(u, V)||^2`` (assumption A3's left side)."""
        _, gu2, mean_sq, _ = self._metrics(u, V)
        return float(max(mean_sq - gu2, 0.0))

    def init(self, seed=0) -> tuple[np.ndarray, np.ndarray]:
        """The initial point ``(u0, V0)`` of a run with this seed; ``V0`` has shape ``(n, d_v)``."""
        seed = validate(seed, "seed", f"{self.name}.init", SEED)
        u0, V0 = self._init(seed)
        return (
            np.ascontiguousarray(u0, dtype=np.float64),
            np.ascontiguousarray(V0, dtype=np.float64).reshape(self.n, self.d_v),
        )

    def __repr__(self) -> str:
        knobs = ", ".join(f"{k}={v!r}" for k, v in self.knobs.items())
        return f"Problem({self.name!r}, {knobs})"
