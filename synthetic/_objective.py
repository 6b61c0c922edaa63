"""Dispatch of ``loss``/``grad_u``/``grad_v`` on the type of a family's data.

Every family stores its arrays in a NamedTuple of its own (``QuadraticData``, ...) and registers
its three jitted functions for that type with ``register``. Kernels call the generic ``loss``,
``grad_u`` and ``grad_v`` of this module; numba resolves each call, at compile time, to the
functions registered for the data's type (``numba.extending.overload``), so one kernel module
serves every family, with one cached machine-code variant per data type. The data classes are
importable, so the cache index is valid in a new process (measured in docs/design-notes.md).

Calling convention (the ``Problem`` contract, see ``synthetic._kernels``)::

    loss(data, i, u, v) -> float                  # F_i(u, v), noise free
    grad_u(data, i, u, v, out, idx) -> None        # out[:] = grad_u F_i(u, v)   (idx empty)
    grad_v(data, i, u, v, out, idx) -> None        #   or the minibatch estimate on samples idx

Data of any other type (a plain tuple, as ``synthetic.custom`` takes) is not dispatched: such a
problem gets kernels generated for its functions (``partialfed._codegen``).

A family whose constants hold only on a region (kind ``local``) may also register a jitted
``region(data, i, u, v) -> float``, a number ``<= 1`` exactly when ``(u, v)`` lies in the region
of device ``i`` (e.g. ``max(||B||_2 / beta_B, ||w|| / beta_w)``). ``simulators.run`` then records
its maximum over the devices at every recorded round (``History.region``); for any other data
``region`` is NaN and is never called by the round kernel.

A family whose Hessian-vector products are cheap and exact registers them with
``register_hvp(TheData, hvp)``, in the calling convention::

    hvp(data, i, u, v, pu, pv, out_u, out_v, idx) -> None
        # (out_u, out_v) = hess F_i(u, v) (pu, pv), the joint Hessian of (u, v) applied to the
        # direction (pu, pv); with a non-empty idx, that of the minibatch average over idx

``exact_hvp(numba_type)`` returns the registered function (``None`` otherwise); the Per-FedAvg
kernels (``simulators._meta_kernels``) fall back to central finite differences of the gradients
without one.

A family whose objective splits, for some of its instances, as ``F_i(u, v) = f_{k(i)}(u) +
h_i(v)`` (no coupling, and a u-part shared by every device of a class ``k``) registers the split
with ``register_split(TheData, classes, loss_u, loss_v)``::

    classes(data) -> (n,) int64 array or None   # Python: k(i), or None when it does not split
    loss_u(data, i, u) -> float                 # f_{k(i)}(u)
    loss_v(data, i, v) -> float                 # h_i(v)

and promises that, wherever ``classes`` is not ``None``, ``grad_u(data, i, u, v)`` is the same
(bit for bit) for every ``v`` and every device of a class, and ``grad_v(data, i, u, v)`` the same
for every ``u``. ``simulators.run`` then maintains the population metrics incrementally
(``simulators._incremental``).

A family whose partial gradients are coordinate-wise in the block they move (coordinate ``j`` of
``grad_u F_i(u, v)`` reads ``u_j`` and ``v`` only, and coordinate ``m`` of ``grad_v`` reads
``v_m`` and ``u`` only) may register fused full-batch descent steps with
``register_descent(TheData, descend_u, descend_v, descend_joint)``::

    descend_u(data, i, u, v, gamma) -> None   # u[:] -= gamma * grad_u F_i(u, v), in place
    descend_v(data, i, u, v, gamma) -> None   # v[:] -= gamma * grad_v F_i(u, v), in place
    descend_joint(data, i, u, v, gamma_u, gamma_v, g_v) -> None
        # both at once, both gradients at the same (u, v); g_v (d_v,) is scratch

and promises the bits of ``grad_u(data, i, u, v, out, idx)`` (``idx`` empty) followed by
``u[j] -= gamma * out[j]`` for ``j = 0, 1, ...`` (likewise for v; for the joint step both
gradients first, then both updates): the same operations in the same order, one pass over a
block instead of two. The round kernel
(``simulators._block``) then takes its noise-free full-batch local steps with them; the pass
through a gradient buffer cost about a fifth of a round on ``separable`` (one thread, idle,
``partialfed bench --roofline``: FedAlt 0.30 -> 0.24 ms, FedSim 0.27 -> 0.20 ms per round).
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

__all__ = [
    "register",
    "register_hvp",
    "register_descent",
    "descent",
    "dispatches",
    "has_region",
    "has_exact_hvp",
    "exact_hvp",
    "loss",
    "grad_u",
    "grad_v",
    "region",
    "register_split",
    "split_classes",
    "loss_u",
    "loss_v",
]

_REGISTRY: dict[type, tuple] = {}
_REGIONS: dict[type, object] = {}
_HVPS: dict[type, object] = {}
_SPLITS: dict[type, tuple] = {}
_DESCENTS: dict[type, tuple] = {}


def register(data_class: type, loss_fn, grad_u_fn, grad_v_fn, region_fn=None) -> None:
    """Make the kernels call ``loss_fn``/``grad_u_fn``/``grad_v_fn`` on ``data_class`` data.

    ``data_class`` must be a module-level NamedTuple class (importable by name, so that cached
    kernels for it load in a new process). ``region_fn(data, i, u, v) -> float``, optional, is
    ``<= 1`` exactly inside the region where the family's ``local`` constants hold.
    """
    if not (isinstance(data_class, type) and issubclass(data_class, tuple)):
        raise TypeError(
            f"The 'data_class' parameter of register must be a NamedTuple class. "
            f"Got {data_class!r}."
        )
    _REGISTRY[data_class] = (loss_fn, grad_u_fn, grad_v_fn)
    if region_fn is not None:
        _REGIONS[data_class] = region_fn


def _require_registered(data_class: type, caller: str) -> None:
    """``TypeError`` naming ``caller``'s parameter unless ``register`` has seen ``data_class``."""
    if data_class not in _REGISTRY:
        raise TypeError(
            f"The 'data_class' parameter of {caller} must be registered with register first. "
            f"Got {data_class!r}."
        )


def register_hvp(data_class: type, hvp_fn) -> None:
    """Make the kernels use ``hvp_fn`` as the exact Hessian-vector product on ``data_class``
    data (calling convention in the module docstring). The data class must already be
    registered with ``register``."""
    _require_registered(data_class, "register_hvp")
    _HVPS[data_class] = hvp_fn


def register_descent(data_class: type, descend_u_fn, descend_v_fn, descend_joint_fn) -> None:
    """Make the kernels take noise-free full-batch local steps on ``data_class`` data with the
    fused ``descend_u_fn``/``descend_v_fn``/``descend_joint_fn`` (calling convention and promise
    in the module docstring). The data class must already be registered with ``register``."""
    _require_registered(data_class, "register_descent")
    _DESCENTS[data_class] = (descend_u_fn, descend_v_fn, descend_joint_fn)


def descent(data_type):
    """The fused ``(descend_u, descend_v, descend_joint)`` registered for a numba type
    (``data_type.instance_class``), else ``None`` (for overloads: called at compile time)."""
    return _DESCENTS.get(getattr(data_type, "instance_class", None))


def register_split(data_class: type, classes_fn, loss_u_fn, loss_v_fn) -> None:
    """Declare that ``data_class``'s objective splits into a class-wise u-part and a per-device
    v-part (calling convention and promise in the module docstring). The data class must
    already be registered with ``register``."""
    _require_registered(data_class, "register_split")
    _SPLITS[data_class] = (classes_fn, loss_u_fn, loss_v_fn)


def split_classes(data):
    """The class ``k(i)`` of every device when the objective of ``data`` splits as
    ``f_{k(i)}(u) + h_i(v)`` (``register_split``), else ``None``."""
    entry = _SPLITS.get(type(data))
    return None if entry is None else entry[0](data)


def has_exact_hvp(data) -> bool:
    """Whether an exact Hessian-vector product is registered for the type of ``data``."""
    return type(data) in _HVPS


def exact_hvp(data_type):
    """The exact HVP registered for a numba type (``data_type.instance_class``), else ``None``
    (for overloads: called at compile time)."""
    return _HVPS.get(getattr(data_type, "instance_class", None))


def has_region(data) -> bool:
    """Whether a region function is registered for the type of ``data``."""
    return type(data) in _REGIONS


def dispatches(data, loss_fn, grad_u_fn, grad_v_fn) -> bool:
    """Whether the kernels, called on ``data``, call exactly these three functions (``data``'s
    type is registered for them); otherwise kernels must be generated for the functions."""
    return _REGISTRY.get(type(data)) == (loss_fn, grad_u_fn, grad_v_fn)


def loss(data, i, u, v):
    """``F_i(u, v)`` of the family of ``data`` (callable from jitted code only)."""
    raise NotImplementedError("loss of synthetic._objective is callable from jitted code only")


def grad_u(data, i, u, v, out, idx):
    """``out[:] = grad_u F_i(u, v)`` (or its minibatch estimate; jitted code only)."""
    raise NotImplementedError("grad_u of synthetic._objective is callable from jitted code only")


def grad_v(data, i, u, v, out, idx):
    """``out[:] = grad_v F_i(u, v)`` (or its minibatch estimate; jitted code only)."""
    raise NotImplementedError("grad_v of synthetic._objective is callable from jitted code only")


def region(data, i, u, v):
    """Region value of ``(u, v)`` for device ``i`` (``<= 1`` inside; NaN without a registered
    region function; jitted code only)."""
    raise NotImplementedError("region of synthetic._objective is callable from jitted code only")


def loss_u(data, i, u):
    """``f_{k(i)}(u)``, the u-part of a split objective (NaN without one; jitted code only)."""
    raise NotImplementedError("loss_u of synthetic._objective is callable from jitted code only")


def loss_v(data, i, v):
    """``h_i(v)``, the v-part of a split objective (NaN without one; jitted code only)."""
    raise NotImplementedError("loss_v of synthetic._objective is callable from jitted code only")


def _registered(data, which: int):
    fns = _REGISTRY.get(getattr(data, "instance_class", None))
    return None if fns is None else fns[which]


@overload(loss, inline="always")
def _loss_impl(data, i, u, v):
    fn = _registered(data, 0)
    if fn is None:
        return None

    def impl(data, i, u, v):
        return fn(data, i, u, v)

    return impl


@overload(grad_u, inline="always")
def _grad_u_impl(data, i, u, v, out, idx):
    fn = _registered(data, 1)
    if fn is None:
        return None

    def impl(data, i, u, v, out, idx):
        fn(data, i, u, v, out, idx)

    return impl


@overload(grad_v, inline="always")
def _grad_v_impl(data, i, u, v, out, idx):
    fn = _registered(data, 2)
    if fn is None:
        return None

    def impl(data, i, u, v, out, idx):
        fn(data, i, u, v, out, idx)

    return impl


@overload(region, inline="always")
def _region_impl(data, i, u, v):
    fn = _REGIONS.get(getattr(data, "instance_class", None))
    if fn is None:

        def none(data, i, u, v):
            return np.nan

        return none

    def impl(data, i, u, v):
        return fn(data, i, u, v)

    return impl


def _split_part(data, which: int):
    """The registered u-part (1) or v-part (2) for a numba type, or ``None``."""
    entry = _SPLITS.get(getattr(data, "instance_class", None))
    return None if entry is None else entry[which]


@overload(loss_u, inline="always")
def _loss_u_impl(data, i, u):
    fn = _split_part(data, 1)
    if fn is None:

        def none(data, i, u):
            return np.nan

        return none

    def impl(data, i, u):
        return fn(data, i, u)

    return impl


@overload(loss_v, inline="always")
def _loss_v_impl(data, i, v):
    fn = _split_part(data, 2)
    if fn is None:

        def none(data, i, v):
            return np.nan

        return none

    def impl(data, i, v):
        return fn(data, i, v)

    return impl
