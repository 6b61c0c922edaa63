"""User-defined problems: ``custom`` wraps a user's jitted loss and gradients into a ``Problem``.

The functions are checked first (shapes, finiteness, finite-difference agreement, unbiased
minibatches); constants not given are estimated by ``synthetic.estimate`` (kind ``estimate``).
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from numba.core.dispatcher import Dispatcher

from partialfed._constraints import Array, Interval, suggest, validate
from partialfed.synthetic._problem import CONSTANT_NAMES, Constants, Problem
from partialfed.synthetic._progress import Stages, wanted
from partialfed.synthetic.estimate import _STAGES, _estimate, estimate_constants

__all__ = ["custom"]

_C_OWNER = "synthetic.custom"


def _check_jitted(fn, name):
    if not isinstance(fn, Dispatcher):
        raise TypeError(
            f"The '{name}' parameter of {_C_OWNER} must be a numba @njit function (see "
            f"docs/families.md). Got {type(fn).__name__}."
        )


def _call(fn, fname, pname, *args):
    try:
        return fn(*args)
    except Exception as exc:  # the user's function, any failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"Calling {fname} of custom problem '{pname}' on the initial point failed: "
            f"{type(exc).__name__}: {first}"
        ) from exc


def _check_functions(p: Problem, name, u, V, rng):
    """Shapes, finiteness, finite-difference agreement and unbiased minibatches."""
    devices = sorted({0, p.n - 1, int(rng.integers(0, p.n))})
    no_idx = np.empty(0, dtype=np.int64)
    for i in devices:
        v = V[i]
        val = _call(p.loss_fn, "loss", name, p.data, i, u, v)
        if not isinstance(val, float | int | np.floating) or not math.isfinite(float(val)):
            raise ValueError(
                f"loss of custom problem '{name}' must return a finite float; got {val!r} at "
                f"device {i}."
            )
        grads = []
        for fn, fname, d in ((p.grad_u_fn, "grad_u", p.d_u), (p.grad_v_fn, "grad_v", p.d_v)):
            out = np.full(d, np.nan)
            _call(fn, fname, name, p.data, i, u, v, out, no_idx)
            if not np.all(np.isfinite(out)):
                raise ValueError(
                    f"{fname} of custom problem '{name}' left non-finite entries in out (shape "
                    f"({d},)) at device {i}: it must fill all of out[:]."
                )
            grads.append(out)
        for block, g, d in (("u", grads[0], p.d_u), ("v", grads[1], p.d_v)):
            for _ in range(3 if d else 0):
                h = rng.standard_normal(d)
                h /= np.linalg.norm(h)
                x = u if block == "u" else v
                eps = 1e-6 * max(1.0, float(np.linalg.norm(x)))
                if block == "u":
                    fp = p.loss_fn(p.data, i, u + eps * h, v)
                    fm = p.loss_fn(p.data, i, u - eps * h, v)
                else:
                    fp = p.loss_fn(p.data, i, u, v + eps * h)
                    fm = p.loss_fn(p.data, i, u, v - eps * h)
                fd = (fp - fm) / (2 * eps)
                an = float(g @ h)
                tol = 1e-4 * (1.0 + float(np.linalg.norm(g))) + 1e-9 * abs(float(val)) / eps
                if not abs(fd - an) <= tol:
                    raise ValueError(
                        f"grad_{block} of custom problem '{name}' disagrees with central finite "
                        f"differences of loss at device {i}: <grad_{block}, h> = {an:.6g} but "
                        f"(F(x+eh) - F(x-eh))/(2e) = {fd:.6g} (tolerance {tol:.2g})."
                    )
        if p.batch and p.sizes[i] <= 2000:
            # Unbiasedness: the mean over single-sample minibatches is the exact gradient.
            N = int(p.sizes[i])
            acc = [np.zeros(p.d_u), np.zeros(p.d_v)]
            for j in range(N):
                idx = np.array([j], dtype=np.int64)
                for b, (fn, d) in enumerate(((p.grad_u_fn, p.d_u), (p.grad_v_fn, p.d_v))):
                    out = np.full(d, np.nan)
                    fn(p.data, i, u, v, out, idx)
                    acc[b] += out
            for b, g in enumerate(grads):
                err = np.linalg.norm(acc[b] / N - g)
                if not err <= 1e-8 * (1.0 + np.linalg.norm(g)):
                    raise ValueError(
                        f"minibatch gradients of custom problem '{name}' are biased at device "
                        f"{i}: the mean over single-sample idx differs from the exact gradient "
                        f"by {err:.3g} (grad(data, i, u, v, out, idx) must average the samples "
                        "idx of range(sizes[i]))."
                    )


def custom(
    name: str,
    n: int,
    d_u: int,
    d_v: int,
    loss,
    grad_u,
    grad_v,
    data: tuple = (),
    init=None,
    constants: Constants | None = None,
    sizes=None,
    batch: int = 0,
    noise_u: float = 0.0,
    noise_v: float = 0.0,
    estimate: dict | None = None,
    progress: bool | None = None,
) -> Problem:
    """A ``Problem`` from your own jitted objective (see docs/families.md for an example).

    Parameters
    ----------
    name : str
        A name for the problem.
    n, d_u, d_v : int
        Devices (>= 1), shared dimension (>= 1), personal dimension (>= 0).
    loss, grad_u, grad_v : numba @njit functions
        The calling convention of ``synthetic._objective``: ``loss(data, i, u, v) -> float``,
        ``grad_u(data, i, u, v, out, idx)`` fills ``out`` with ``grad_u F_i(u, v)`` when
        ``idx`` is empty, else with the average over the samples ``idx`` (indices in
        ``range(sizes[i])``); likewise ``grad_v``. Define them at module level with
        ``cache=True`` so kernels compiled for them are cached on disk.
    data : tuple of arrays
        Passed as the first argument to the three functions.
    init : None, callable or (u0, V0)
        Initial point: ``None`` (standard normal, seeded), ``init(seed) -> (u0, V0)`` or a
        fixed pair.
    constants : Constants or None
        Known constants; ``None`` estimates them with ``estimate_constants`` (kind
        ``estimate``; ``estimate`` gives its keyword arguments).
    sizes : array of n ints or None
        Samples per device of a finite sum (needed when ``batch > 0``).
    batch : int
        Minibatch size, in [0, min(sizes)].
    noise_u, noise_v : float
        Additive gradient-noise standard deviations, >= 0.
    estimate : dict or None
        Keyword arguments of ``estimate_constants`` (``n_pairs``, ``seed``, ``radius``,
        ``power_steps``, ``noise_draws``, ``descent_steps``).
    progress : bool or None
        Show the stages (checking and compiling the functions, then those of
        ``estimate_constants``) as a tqdm bar on stderr; ``None``: only when stderr is a
        terminal and not in a worker process (as ``experiments.sweep.run_sweep`` decides).

    The functions are called once on the initial point (devices 0, n-1 and one at random):
    the loss must be a finite float, the gradients must fill ``out`` with finite values and
    agree with central finite differences of ``loss`` along random directions, and minibatch
    gradients must average to the exact gradient. Any failure raises a ``ValueError`` that
    says which function and device.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"The 'name' parameter of {_C_OWNER} must be a non-empty str. Got {name!r}."
        )
    n = validate(n, "n", _C_OWNER, Interval(int, 1, 10**8))
    d_u = validate(d_u, "d_u", _C_OWNER, Interval(int, 1, 10**6))
    d_v = validate(d_v, "d_v", _C_OWNER, Interval(int, 0, 10**6))
    for fn, pname in ((loss, "loss"), (grad_u, "grad_u"), (grad_v, "grad_v")):
        _check_jitted(fn, pname)
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        raise TypeError(
            f"The 'data' parameter of {_C_OWNER} must be a tuple of arrays. Got "
            f"{type(data).__name__}."
        )
    if sizes is not None:
        sizes = np.asarray(sizes)
        if sizes.shape != (n,) or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
            raise ValueError(f"The 'sizes' parameter of {_C_OWNER} must be n={n} positive ints.")
    lim = int(sizes.min()) if sizes is not None else 0
    batch = validate(batch, "batch", _C_OWNER, Interval(int, 0, lim))
    noise_u = validate(noise_u, "noise_u", _C_OWNER, Interval(float, 0.0, 1e6))
    noise_v = validate(noise_v, "noise_v", _C_OWNER, Interval(float, 0.0, 1e6))
    if constants is not None and not isinstance(constants, Constants):
        raise TypeError(
            f"The 'constants' parameter of {_C_OWNER} must be a synthetic.Constants "
            f"or None. Got {type(constants).__name__}."
        )
    if constants is not None:
        # A2: sigma^2 bounds the whole gradient variance, of which the added noise is a part.
        for block, noise in (("u", noise_u), ("v", noise_v)):
            declared = getattr(constants, f"sigma_{block}")
            if declared < noise:
                raise ValueError(
                    f"The 'constants' parameter of {_C_OWNER} must have sigma_{block} >= "
                    f"noise_{block} (the added noise is part of the variance that sigma_{block} "
                    f"bounds, A2). Got sigma_{block}={declared!r} < noise_{block}={noise!r}."
                )
    estimate = dict(estimate or {})
    for key in estimate:
        if key not in _ESTIMATE_KEYS:
            raise ValueError(
                f"The 'estimate' parameter of {_C_OWNER} has an unknown key {key!r}; allowed: "
                f"{', '.join(_ESTIMATE_KEYS)}." + suggest(str(key), _ESTIMATE_KEYS)
            )
    show = wanted(progress, _C_OWNER)

    if init is None:

        def init_fn(seed):
            g = np.random.default_rng([seed, 0x1717])
            return g.standard_normal(d_u), g.standard_normal((n, d_v))

    elif callable(init):
        init_fn = init
    else:
        try:
            u_fixed, V_fixed = init
        except (TypeError, ValueError):
            raise TypeError(
                f"The 'init' parameter of {_C_OWNER} must be None, a callable "
                "seed -> (u0, V0) or a pair (u0, V0)."
            ) from None
        u_fixed = validate(u_fixed, "init[0]", _C_OWNER, Array((d_u,)))
        V_fixed = validate(V_fixed, "init[1]", _C_OWNER, Array((n, d_v)))

        def init_fn(seed):
            return u_fixed.copy(), V_fixed.copy()

    placeholder = Constants(**{k: 0.0 for k in CONSTANT_NAMES})
    p = Problem(
        name=name,
        n=n,
        d_u=d_u,
        d_v=d_v,
        data=data,
        loss_fn=loss,
        grad_u_fn=grad_u,
        grad_v_fn=grad_v,
        constants=constants if constants is not None else placeholder,
        init=init_fn,
        knobs=dict(n=n, d_u=d_u, d_v=d_v, batch=batch, noise_u=noise_u, noise_v=noise_v),
        sizes=sizes,
        batch=batch,
        noise_u=noise_u,
        noise_v=noise_v,
        description=f"custom problem {name!r}",
    )
    total = 1 + (len(_STAGES) if constants is None else 0)
    stages = Stages(total, f"custom problem {name!r}", show)
    try:
        stages.stage("checking loss and gradients (compiles them)")
        u0, V0 = p.init(0)
        _check_functions(p, name, u0, V0, np.random.default_rng(0xC057))
        if constants is None:
            kw = {**_ESTIMATE_DEFAULTS, **estimate}
            p.constants = _estimate(p, stages, *(kw[k] for k in _ESTIMATE_KEYS))
    finally:
        stages.close()
    return p


_ESTIMATE_KEYS = ("n_pairs", "seed", "radius", "power_steps", "noise_draws", "descent_steps")
_ESTIMATE_DEFAULTS = {
    k: v.default
    for k, v in inspect.signature(estimate_constants).parameters.items()
    if k in _ESTIMATE_KEYS
}
