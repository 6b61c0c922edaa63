"""Split Linearized Bregman Iteration (Split LBI) on a smooth loss, with its regularization path.

Split LBI (Huang et al. 2016, docs/references.md#huang2016; for deep networks Fu et al. 2020,
docs/references.md#fu2020) lifts a smooth loss ``L(W)`` to

    Lbar(W, Gamma) = L(W) + ||W - Gamma||^2 / (2 nu)                                   (S1)

and iterates, from ``W_0 = w0``, ``Z_0 = z0`` (default 0), ``Gamma_0 = kappa shrink(Z_0)``,

    W_{k+1}     = W_k - kappa alpha grad_W Lbar(W_k, Gamma_k)
                = W_k - kappa alpha (grad L(W_k) + (W_k - Gamma_k) / nu)                (S2)
    Z_{k+1}     = Z_k - alpha grad_Gamma Lbar(W_k, Gamma_k)
                = Z_k - (alpha / nu) (Gamma_k - W_k)                                    (S3)
    Gamma_{k+1} = kappa prox_{||.||_1}(Z_{k+1}) = kappa shrink(Z_{k+1}, 1)              (S4)

with ``shrink(z, 1) = sign(z) max(|z| - 1, 0)`` entrywise. Only the coordinates in ``lifted``
carry ``Gamma`` and ``Z``; the others get plain gradient steps ``W <- W - kappa alpha grad L(W)``
and no penalty in (S1). (S2)-(S4) are verified against the authors' code
(docs/references.md#fu2020-update): the code's ``lr * kappa`` is ``kappa alpha``, its
``lr / mu`` is ``alpha / nu``. The path is the sequence ``Gamma_k``: coordinates enter
(``Gamma_k[j] != 0``) one after another, from simple to complex models; the sparse estimate is
``W_k * 1[Gamma_k != 0]`` (the code's ``w_star``).

>>> import numpy as np
>>> from partialfed import simulators
>>> c = np.array([3.0, -1.0, 0.2])
>>> def grad(w):
...     return 0.5 * float(np.sum((w - c) ** 2)), w - c
>>> path = simulators.split_lbi(grad, np.zeros(3), kappa=5.0, alpha=0.02, nu=1.0, iters=400)
>>> path.order()[:2].tolist()  # the largest target enters first
[0, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from partialfed._constraints import Array, Interval, validate

__all__ = ["LBIPath", "split_lbi", "shrink", "problem_oracle"]

_OWNER = "split_lbi"
_POSITIVE = Interval(float, 0.0, None, closed="neither")


def shrink(z, threshold: float = 1.0) -> np.ndarray:
    """Entrywise soft threshold ``sign(z) max(|z| - threshold, 0)``: the proximal map of
    ``threshold ||.||_1`` (the shrinkage of (S4), docs/references.md#fu2020-update)."""
    z = np.asarray(z, dtype=float)
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


@dataclass(frozen=True, eq=False)
class LBIPath:
    """The recorded path of one Split LBI run (:func:`split_lbi`).

    Attributes
    ----------
    steps : int array (R,)
        Recorded iteration numbers: 0, every ``record_every``, and ``iters``.
    W, Gamma, Z : float arrays (R, d)
        The iterates at ``steps`` (``Gamma`` and ``Z`` are 0 where not lifted).
    loss : float array (R,)
        ``L(W_k)``.
    lifted_loss : float array (R,)
        ``Lbar(W_k, Gamma_k)`` of (S1).
    grad_norm : float array (R,)
        ``||grad Lbar(W_k, Gamma_k)||`` over ``W`` and the lifted ``Gamma`` (a stationarity
        measure of the lifted loss).
    entry : int array (d,)
        First iteration ``k`` with ``Gamma_k[j] != 0`` (checked at every iteration); -1 if
        never, and -1 for coordinates not lifted.
    increments : float array (iters,)
        ``||(W, Gamma)_{k+1} - (W, Gamma)_k||`` (Euclidean, over all of ``W`` and ``Gamma``).
    kappa, alpha, nu : float
    iters, record_every : int
    lifted : bool array (d,)
    diverged_at : int
        First iteration with a non-finite iterate (-1: none); later rows and increments are NaN.
    """

    steps: np.ndarray
    W: np.ndarray
    Gamma: np.ndarray
    Z: np.ndarray
    loss: np.ndarray
    lifted_loss: np.ndarray
    grad_norm: np.ndarray
    entry: np.ndarray
    increments: np.ndarray
    kappa: float
    alpha: float
    nu: float
    iters: int
    record_every: int
    lifted: np.ndarray = field(repr=False)
    diverged_at: int = -1

    def __post_init__(self):
        for name in (
            "steps",
            "W",
            "Gamma",
            "Z",
            "loss",
            "lifted_loss",
            "grad_norm",
            "entry",
            "increments",
            "lifted",
        ):
            getattr(self, name).setflags(write=False)

    @property
    def d(self) -> int:
        """Dimension of ``W``."""
        return int(self.W.shape[1])

    def _row_at(self, k) -> int:
        k = validate(k, "k", "LBIPath.support", Interval(int, 0, self.iters))
        return int(np.searchsorted(self.steps, k, side="left"))

    def support(self, k) -> np.ndarray:
        """``Gamma != 0`` (bool, (d,)) at the first recorded step ``>= k`` (``0 <= k <= iters``)."""
        return self.Gamma[self._row_at(k)] != 0

    def order(self) -> np.ndarray:
        """The lifted coordinates by entry time (earliest first); ties by larger final ``|Z|``,
        then by index. Coordinates that never enter come last, by decreasing final ``|Z|``
        (closest to the threshold 1 first)."""
        idx = np.flatnonzero(self.lifted)
        entry = self.entry[idx].astype(float)
        entry[entry < 0] = np.inf
        zfin = np.abs(np.nan_to_num(self.Z[-1, idx]))
        return idx[np.lexsort((idx, -zfin, entry))]

    def sparse_estimate(self, r: int = -1) -> np.ndarray:
        """``W * 1[Gamma != 0]`` at recorded row ``r`` (default the last), the sparse estimate
        of the path (the authors' ``w_star``, docs/references.md#fu2020-update). Coordinates not
        lifted have no ``Gamma`` and keep ``W`` (as the code leaves parameters not lifted
        untouched)."""
        r = validate(r, "r", "LBIPath.sparse_estimate", Interval(int, -len(self.steps), None))
        if r >= len(self.steps):
            raise ValueError(
                f"The 'r' parameter of LBIPath.sparse_estimate must be a row in "
                f"[-{len(self.steps)}, {len(self.steps) - 1}]. Got {r}."
            )
        keep = (self.Gamma[r] != 0) | ~self.lifted
        return np.where(keep, self.W[r], 0.0)


def problem_oracle(problem, device: int, *, copy: bool = True) -> Callable:
    """``grad(w) -> (F_i(u, v), concat(grad_u F_i, grad_v F_i))`` of device ``device`` of a
    ``synthetic.Problem``, with ``w = concat(u, v)``: the contract's exact (noise-free) loss and
    gradients, called on the problem's jitted functions without per-call validation."""
    i = validate(device, "device", _OWNER, Interval(int, 0, problem.n - 1))
    problem.check_unchanged()
    d_u, data = problem.d_u, problem.data
    no_idx = np.empty(0, dtype=np.int64)
    loss_fn, gu_fn, gv_fn = problem.loss_fn, problem.grad_u_fn, problem.grad_v_fn

    def grad(w):
        u, v = np.ascontiguousarray(w[:d_u]), np.ascontiguousarray(w[d_u:])
        g = np.empty(w.shape[0])
        gu, gv = g[:d_u], g[d_u:]
        gu_fn(data, i, u, v, gu, no_idx)
        gv_fn(data, i, u, v, gv, no_idx)
        return float(loss_fn(data, i, u, v)), g

    return grad


def _check(grad, w0, kappa, alpha, nu, iters, lifted, z0, record_every, device):
    kappa = validate(kappa, "kappa", _OWNER, _POSITIVE)
    alpha = validate(alpha, "alpha", _OWNER, _POSITIVE)
    nu = validate(nu, "nu", _OWNER, _POSITIVE)
    iters = validate(iters, "iters", _OWNER, Interval(int, 1, 10**8))
    record_every = validate(record_every, "record_every", _OWNER, Interval(int, 1, None))
    w0 = np.asarray(w0) if isinstance(w0, np.ndarray | list | tuple) else w0
    if not isinstance(w0, np.ndarray) or w0.ndim != 1:
        raise ValueError(
            f"The 'w0' parameter of {_OWNER} must be a finite 1-D float array. Got {w0!r:.60}."
        )
    w0 = validate(w0, "w0", _OWNER, Array((w0.shape[0],)))
    d = w0.shape[0]
    if hasattr(grad, "grad_u_fn") and hasattr(grad, "n"):  # a synthetic.Problem
        if device is None:
            raise ValueError(
                f"The 'device' parameter of {_OWNER} must be an int in [0, {grad.n - 1}] when "
                "'grad' is a Problem. Got None."
            )
        if d != grad.d_u + grad.d_v:
            raise ValueError(
                f"The 'w0' parameter of {_OWNER} must have length d_u + d_v = "
                f"{grad.d_u + grad.d_v} (w = concat(u, v)) for this Problem. Got {d}."
            )
        grad = problem_oracle(grad, device)
    elif not callable(grad):
        raise TypeError(
            f"The 'grad' parameter of {_OWNER} must be a callable w -> (loss, gradient) or a "
            f"synthetic.Problem. Got {type(grad).__name__}."
        )
    elif device is not None:
        raise ValueError(
            f"The 'device' parameter of {_OWNER} is only for a Problem 'grad'; got device="
            f"{device!r} with a callable."
        )
    if lifted is None:
        lifted = np.ones(d, dtype=bool)
    else:
        arr = np.asarray(lifted)
        if arr.dtype != np.bool_ or arr.shape != (d,):
            raise ValueError(
                f"The 'lifted' parameter of {_OWNER} must be a boolean mask of shape ({d},) or "
                f"None (all lifted). Got dtype {arr.dtype}, shape {arr.shape}."
            )
        lifted = arr.copy()
    z0 = np.zeros(d) if z0 is None else validate(z0, "z0", _OWNER, Array((d,)))
    return grad, w0, kappa, alpha, nu, iters, lifted, z0, record_every


def _evaluate(grad, w, d):
    out = grad(w)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"The 'grad' callable of {_OWNER} must return a pair (loss, gradient).")
    loss, g = out
    g = np.asarray(g, dtype=float)
    if g.shape != (d,):
        raise ValueError(
            f"The 'grad' callable of {_OWNER} must return a gradient of shape ({d},). "
            f"Got {g.shape}."
        )
    return float(loss), g


def _step(W, Z, grad_W, diff, kappa, alpha, nu, mask):
    """One iteration (S2)-(S4) from ``grad_W = grad_W Lbar(W, Gamma)`` and
    ``diff = (W - Gamma) * mask``: returns ``(W_{k+1}, Z_{k+1}, Gamma_{k+1})``. A function of its
    own so that tests can swap in wrong variants (mutants) of the update."""
    W_new = W - kappa * alpha * grad_W  # (S2)
    Z_new = Z + (alpha / nu) * diff  # (S3): Z - (alpha/nu)(Gamma - W), lifted only
    Gamma_new = kappa * shrink(Z_new) * mask  # (S4)
    return W_new, Z_new, Gamma_new


def split_lbi(
    grad,
    w0,
    *,
    kappa,
    alpha,
    nu,
    iters,
    lifted=None,
    z0=None,
    record_every=1,
    device=None,
) -> LBIPath:
    """Run ``iters`` Split LBI iterations (S2)-(S4) on the smooth loss ``grad`` from ``w0``.

    Parameters
    ----------
    grad : callable or synthetic.Problem
        ``grad(w) -> (loss, gradient)`` of the smooth loss ``L`` (NumPy), or a ``Problem`` with
        ``device``: then ``w = concat(u, v)`` and the loss is ``F_i(u, v)`` with the contract's
        exact gradients (:func:`problem_oracle`).
    w0 : 1-D float array (d,)
        Initial ``W_0`` (finite).
    kappa, alpha, nu : float > 0
        Damping ``kappa`` (``Gamma = kappa shrink(Z)``), step ``alpha`` (``W`` moves by
        ``kappa alpha``, ``Z`` by ``alpha``), and the splitting parameter ``nu`` of (S1).
    iters : int >= 1
        Iterations.
    lifted : bool array (d,), optional
        Coordinates with a sparse ``Gamma`` (default all); the others take plain steps
        ``W <- W - kappa alpha grad L(W)``.
    z0 : float array (d,), optional
        Initial ``Z_0`` (default 0, so ``Gamma_0 = 0``); ignored where not lifted.
    record_every : int >= 1
        Record rows at 0, every ``record_every`` iterations, and at ``iters``.
    device : int, optional
        The device of a ``Problem`` ``grad``.

    Returns
    -------
    LBIPath
    """
    grad, w0, kappa, alpha, nu, iters, lifted, z0, record_every = _check(
        grad, w0, kappa, alpha, nu, iters, lifted, z0, record_every, device
    )
    d = w0.shape[0]
    mask = lifted.astype(float)
    steps = np.unique(np.r_[np.arange(0, iters + 1, record_every), iters]).astype(np.int64)
    R = steps.shape[0]
    rec = {k: np.full((R, d), np.nan) for k in ("W", "Gamma", "Z")}
    loss_rec, lifted_rec, gnorm_rec = np.full(R, np.nan), np.full(R, np.nan), np.full(R, np.nan)
    increments = np.full(iters, np.nan)
    entry = np.full(d, -1, dtype=np.int64)
    W = w0.copy()
    Z = z0 * mask
    Gamma = kappa * shrink(Z) * mask  # (S4) at k = 0
    entry[(Gamma != 0) & lifted] = 0
    row, diverged_at = 0, -1
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(iters + 1):
            loss, g = _evaluate(grad, W, d)
            diff = (W - Gamma) * mask
            grad_W = g + diff / nu  # grad_W Lbar, (S1)
            if k == steps[row]:
                rec["W"][row], rec["Gamma"][row], rec["Z"][row] = W, Gamma, Z
                loss_rec[row] = loss
                lifted_rec[row] = loss + float(diff @ diff) / (2 * nu)
                gnorm_rec[row] = np.sqrt(grad_W @ grad_W + (diff @ diff) / nu**2)
                row += 1
            if k == iters:
                break
            W_new, Z, Gamma_new = _step(W, Z, grad_W, diff, kappa, alpha, nu, mask)
            dW, dG = W_new - W, Gamma_new - Gamma
            increments[k] = np.sqrt(dW @ dW + dG @ dG)
            W, Gamma = W_new, Gamma_new
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(Z))):
                diverged_at = k + 1
                increments[k] = np.nan
                break
            entry[(entry < 0) & (Gamma != 0) & lifted] = k + 1
    return LBIPath(
        steps=steps,
        W=rec["W"],
        Gamma=rec["Gamma"],
        Z=rec["Z"],
        loss=loss_rec,
        lifted_loss=lifted_rec,
        grad_norm=gnorm_rec,
        entry=entry,
        increments=increments,
        kappa=kappa,
        alpha=alpha,
        nu=nu,
        iters=iters,
        record_every=record_every,
        lifted=lifted,
        diverged_at=diverged_at,
    )
